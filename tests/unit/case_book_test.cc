// The case book (node/cases.h) over real stores: an entry's validity never
// depends on arrival order — entries that come before what they depend on
// wait, and go in when it arrives — and every member ends with the same
// log. Removal and invitation move the keys as SPEC 8 says.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "node/cases.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

class CaseBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-cases-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  struct Member {
    Identity id;
    std::unique_ptr<Store> store;
    std::unique_ptr<CaseBook> book;
    int logged = 0;
  };
  std::unique_ptr<Member> Open(const std::string& name) {
    auto m = std::make_unique<Member>(Member{test::NewIdentity(name), nullptr, nullptr, 0});
    auto s = Store::Open(dir + "/" + name + ".db");
    EXPECT_TRUE(s.ok());
    m->store = std::move(*s);
    Member* raw = m.get();
    m->book = std::make_unique<CaseBook>(
        m->store.get(), &m->id,
        [raw](const std::string&, const std::string&, const std::string&) {
          ++raw->logged;
          return Status{};
        });
    EXPECT_TRUE(m->book->Load().ok());
    return m;
  }
  static std::vector<std::string> Entries(Member& m, const std::string& id) {
    std::vector<std::string> out;
    const auto rows = m.store->CaseLog(id);
    for (const auto& row : *rows) out.push_back(row.entry);
    return out;
  }
  static std::vector<std::string> Hashes(Member& m, const std::string& id) {
    std::vector<std::string> out;
    const auto rows = m.store->CaseLog(id);
    for (const auto& row : *rows) out.push_back(row.hash);
    return out;
  }
  static std::vector<std::string> Texts(Member& m, const std::string& id) {
    std::vector<std::string> out;
    const auto rows = m.store->CaseLog(id);
    for (const auto& row : *rows) {
      if (row.type == wire::CASE_MEMBERSHIP) continue;
      auto body = m.book->Open(row);
      out.push_back(body ? body->text() : "?");
    }
    return out;
  }
  static wire::CaseBody Note(const std::string& text) {
    wire::CaseBody b;
    b.set_text(text);
    return b;
  }

  std::string dir;
  int64_t now = 1'800'000'000'000'000;
};

TEST_F(CaseBookTest, AnyArrivalOrderGivesTheSameLog) {
  auto lead = Open("lead");
  auto member = Open("member");
  auto id = lead->book->Create("t", {member->id.signed_card()}, now);
  ASSERT_TRUE(id.ok()) << id.error().message;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(lead->book->Post(*id, wire::CASE_NOTE, Note("n" + std::to_string(i)), ++now).ok());
  }
  const auto entries = Entries(*lead, *id);
  ASSERT_EQ(entries.size(), 7u);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    auto copy = Open("copy" + std::to_string(trial));
    auto order = entries;
    if (trial == 0) {
      std::reverse(order.begin(), order.end());  // the case's first entry last
    } else {
      std::shuffle(order.begin(), order.end(), rng);
    }
    for (const auto& e : order) ASSERT_TRUE(copy->book->Accept(e, now).ok());
    EXPECT_EQ(Hashes(*copy, *id), Hashes(*lead, *id)) << "trial " << trial;
    EXPECT_EQ(*copy->store->CountCasePending(*id), 0);
    EXPECT_EQ(copy->logged, 7);
  }
  // The member reads every entry; a duplicate changes nothing.
  for (const auto& e : entries) ASSERT_TRUE(member->book->Accept(e, now).ok());
  EXPECT_EQ(Texts(*member, *id), Texts(*lead, *id));
  auto again = member->book->Accept(entries[3], now);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->outcome, CaseBook::Outcome::kDuplicate);
}

TEST_F(CaseBookTest, RemovalCutsTheKeyAndInvitationHandsOverTheHistory) {
  auto lead = Open("lead");
  auto gone = Open("gone");
  auto late = Open("late");
  auto id = lead->book->Create("t", {gone->id.signed_card()}, now);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(lead->book->Post(*id, wire::CASE_NOTE, Note("before"), ++now).ok());
  for (const auto& e : Entries(*lead, *id)) ASSERT_TRUE(gone->book->Accept(e, now).ok());
  // `gone` writes an entry the lead has not seen when it removes it.
  auto late_post = gone->book->Post(*id, wire::CASE_NOTE, Note("concurrent"), ++now);
  ASSERT_TRUE(late_post.ok());
  const std::string concurrent = Entries(*gone, *id).back();
  ASSERT_TRUE(lead->book->Remove(*id, gone->id.fingerprint(), ++now).ok());
  ASSERT_TRUE(lead->book->Post(*id, wire::CASE_NOTE, Note("after"), ++now).ok());
  for (const auto& e : Entries(*lead, *id)) ASSERT_TRUE(gone->book->Accept(e, now).ok());
  const CaseState* seen = gone->book->Find(*id);
  ASSERT_NE(seen, nullptr);
  EXPECT_FALSE(seen->IsMember(gone->id.fingerprint()));
  EXPECT_EQ(seen->keys.count(2), 0u);  // never receives the new epoch's key
  auto texts = Texts(*gone, *id);
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "after"), 0);
  EXPECT_EQ(std::count(texts.begin(), texts.end(), "?"), 1);  // stored, unreadable
  // Its entry written after the removal's cut-off is refused by the lead.
  // (`gone` itself took it out of its log when the removal arrived.)
  EXPECT_FALSE(gone->store->FindCaseEntry(*id, gone->id.fingerprint(), 1)->has_value());
  auto refused = lead->book->Accept(concurrent, now);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->outcome, CaseBook::Outcome::kRefused);
  EXPECT_EQ(lead->store->CaseReports(*id)->at(0).kind, "removed");
  // A member invited afterwards gets every epoch's key and reads it all.
  ASSERT_TRUE(lead->book->Invite(*id, late->id.signed_card(), ++now).ok());
  for (const auto& e : Entries(*lead, *id)) ASSERT_TRUE(late->book->Accept(e, now).ok());
  auto all = Texts(*late, *id);
  EXPECT_EQ(std::count(all.begin(), all.end(), "before"), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "after"), 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), "?"), 0);
  // Only the lead changes members.
  EXPECT_FALSE(late->book->Remove(*id, lead->id.fingerprint(), ++now).ok());
}

TEST_F(CaseBookTest, AnEntryPastTheRemovalCutOffLeavesEveryLogAndTheMemberMayReturn) {
  auto lead = Open("lead");
  auto gone = Open("gone");
  auto watcher = Open("watcher");
  auto id = lead->book->Create("t", {gone->id.signed_card(), watcher->id.signed_card()}, now);
  ASSERT_TRUE(id.ok());
  for (const auto& e : Entries(*lead, *id)) {
    ASSERT_TRUE(gone->book->Accept(e, now).ok());
    ASSERT_TRUE(watcher->book->Accept(e, now).ok());
  }
  // `gone` posts; the watcher has it before the lead's removal arrives.
  ASSERT_TRUE(gone->book->Post(*id, wire::CASE_NOTE, Note("racing"), ++now).ok());
  const auto racing = Entries(*gone, *id).back();
  ASSERT_EQ(watcher->book->Accept(racing, now)->outcome, CaseBook::Outcome::kAccepted);
  ASSERT_TRUE(lead->book->Remove(*id, gone->id.fingerprint(), ++now).ok());
  for (const auto& e : Entries(*lead, *id)) ASSERT_TRUE(watcher->book->Accept(e, now).ok());
  // The watcher took it out again and reported it: both logs are the same.
  EXPECT_EQ(Hashes(*watcher, *id), Hashes(*lead, *id));
  auto reports = watcher->store->CaseReports(*id);
  ASSERT_TRUE(reports.ok());
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ((*reports)[0].kind, "removed");
  EXPECT_EQ((*reports)[0].evidence, racing);
  EXPECT_EQ(watcher->book->Find(*id)->heads.count(gone->id.fingerprint()), 0u);
  // Invited back, `gone` posts again, and the entry goes in everywhere.
  ASSERT_TRUE(lead->book->Invite(*id, gone->id.signed_card(), ++now).ok());
  for (const auto& e : Entries(*lead, *id)) ASSERT_TRUE(gone->book->Accept(e, now).ok());
  EXPECT_TRUE(gone->book->CanPost(*id).ok());
}

TEST_F(CaseBookTest, TwoMembershipEntriesForOneEpochAreAFork) {
  auto lead = Open("lead");
  auto member = Open("member");
  auto extra = Open("extra");
  auto id = lead->book->Create("t", {member->id.signed_card()}, now);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(lead->book->Invite(*id, extra->id.signed_card(), ++now).ok());
  const auto entries = Entries(*lead, *id);
  for (const auto& e : entries) ASSERT_TRUE(member->book->Accept(e, now).ok());
  // The lead signs another epoch 2 (say, from a restored copy of its store).
  const CaseState* c = lead->book->Find(*id);
  MembershipDraft d;
  d.case_id = *id;
  d.seq = 3;
  d.prev = c->heads.at(lead->id.fingerprint()).second;
  d.lamport = 9;
  d.epoch = 2;
  d.previous_membership = c->epochs.at(1).hash;
  d.created_at = ++now;
  d.member_cards = {lead->id.signed_card(), member->id.signed_card()};
  SecretBytes key = NewEpochKey();
  auto other = MakeMembershipEntry(lead->id, d, key);
  ASSERT_TRUE(other.ok()) << other.error().message;
  auto r = member->book->Accept(*other, now);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, CaseBook::Outcome::kRefused);
  auto reports = member->store->CaseReports(*id);
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ((*reports)[0].kind, "fork");
  EXPECT_EQ(member->book->Find(*id)->latest().members.size(), 3u);  // unchanged
}

}  // namespace
}  // namespace rogatory
