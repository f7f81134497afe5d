// Joint investigations between real daemons (SPEC 8): a case replicates to
// every member by anti-entropy, in one order everywhere; a member that was
// away catches up through any member; a removed member reads nothing
// written after its removal; forged, foreign and forked entries are refused
// and reported.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "keys/case_entry.h"
#include "keys/crypto.h"
#include "keys/identity.h"
#include "keys/strict_parse.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

constexpr char kFastSync[] = "[cases]\nsync_interval_s = 1\n";

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

class CaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TrustEachOther({&a, &b, &c});
    for (Node* n : {&a, &b, &c}) n->WriteConfig(kFastSync);
  }
  std::string Create(const std::string& members) {
    auto r = a.Cli({"case", "create", "Operation Harbour", "--members", members, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["id"];
  }
  void Post(const Node& n, const std::string& id, const std::string& text) {
    auto r = n.Cli({"case", "post", id, "--text", text});
    ASSERT_EQ(r.exit_code, 0) << n.id() << ": " << r.err;
  }
  nlohmann::json Log(const Node& n, const std::string& id) {
    auto r = n.Cli({"case", "log", id, "--json"});
    if (r.exit_code != 0) return nlohmann::json::array();
    return nlohmann::json::parse(r.out);
  }
  bool HasEntries(const Node& n, const std::string& id, size_t count) {
    return Log(n, id).size() == count;
  }
  nlohmann::json CaseInfo(const Node& n, const std::string& id) {
    const auto list = n.Json({"case", "list", "--json"});
    for (const auto& c : list) {
      if (c["id"] == id) return c;
    }
    return nlohmann::json();
  }

  TempDir dir;
  Node a{dir.path(), "fr-pnat", "FR"};
  Node b{dir.path(), "de-bka", "DE"};
  Node c{dir.path(), "nl-om", "NL"};
};

// Key rotation and cases (SPEC 9): a member's case card is the one it had
// when invited. After a member rotates its identity key, and after the
// lead rotates its encryption key and restarts, everyone still posts, and
// every member reads every entry.
TEST_F(CaseTest, CasesKeepWorkingAcrossKeyRotations) {
  for (Node* n : {&a, &b, &c}) n->Start();
  const std::string id = Create("de-bka,nl-om");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, 1) && HasEntries(c, id, 1); }));
  Post(b, id, "before");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(a, id, 2) && HasEntries(c, id, 2); }));

  auto r = b.Cli({"keys", "rotate", "--identity"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(a.WaitLog("de-bka (" + b.fingerprint() + ") rotated its identity")) << a.Log();
  ASSERT_TRUE(c.WaitLog("de-bka (" + b.fingerprint() + ") rotated its identity")) << c.Log();
  Post(b, id, "signed with the new identity key");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(a, id, 3) && HasEntries(c, id, 3); }))
      << a.Log() << c.Log();

  r = a.Cli({"keys", "rotate"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(b.WaitLog("fr-pnat (" + a.fingerprint() + ") rotated its encryption")) << b.Log();
  ASSERT_TRUE(c.WaitLog("fr-pnat (" + a.fingerprint() + ") rotated its encryption")) << c.Log();
  ASSERT_EQ(a.Stop(), 0);
  a.Start();  // the epoch keys are unwrapped again at start, with the kept key
  Post(a, id, "lead after its rotation");
  // A new epoch after the rotations: the lead wraps its keys again.
  r = a.Cli({"case", "remove", id, "nl-om"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Post(a, id, "new epoch");
  Post(b, id, "member in the new epoch");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(a, id, 7) && HasEntries(b, id, 7); }))
      << Log(a, id).dump() << Log(b, id).dump() << a.Log() << b.Log();
  for (const auto& e : Log(b, id)) {
    EXPECT_NE(e.value("readable", true), false) << e.dump();
  }
  for (const auto& e : Log(a, id)) {
    EXPECT_NE(e.value("readable", true), false) << e.dump();
  }
}

TEST_F(CaseTest, ThreeMembersPostAndEveryLogIsIdentical) {
  for (Node* n : {&a, &b, &c}) n->Start();
  const std::string id = Create("de-bka,nl-om");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, 1) && HasEntries(c, id, 1); }));
  Post(a, id, "seized phone imaged");
  Post(b, id, "bank records requested");
  Post(c, id, "witness heard");
  auto task = b.Cli({"case", "post", id, "--type", "task", "--assign", "nl-om", "--text",
                     "trace the container"});
  ASSERT_EQ(task.exit_code, 0) << task.err;
  ASSERT_TRUE(WaitFor([&] {
    return HasEntries(a, id, 5) && HasEntries(b, id, 5) && HasEntries(c, id, 5);
  })) << Log(a, id).dump() << Log(c, id).dump();
  const auto la = Log(a, id);
  EXPECT_EQ(la, Log(b, id));
  EXPECT_EQ(la, Log(c, id));
  EXPECT_EQ(la[0]["type"], "membership");
  EXPECT_EQ(la[0]["author"], "fr-pnat");
  std::map<std::string, std::string> texts;
  for (const auto& e : la) texts[e["author"]] += e["text"].get<std::string>();
  EXPECT_NE(texts["nl-om"].find("witness heard"), std::string::npos);
  for (const auto& e : la) {
    if (e["type"] == "task") {
      EXPECT_EQ(e["assignee"], "nl-om");
      EXPECT_EQ(e["task_state"], "open");
    }
  }
  auto info = CaseInfo(c, id);
  EXPECT_EQ(info["title"], "Operation Harbour");
  EXPECT_EQ(info["lead"], "fr-pnat");
  EXPECT_EQ(info["members"].size(), 3u);
  // Every entry is in each node's audit log.
  auto audit = c.Json({"audit", "verify", "--json"});
  EXPECT_EQ(audit["valid"], true);
  EXPECT_GE(audit["size"].get<int>(), 5);
}

TEST_F(CaseTest, AnEvidenceItemCarriesItsFilesToEveryMember) {
  for (Node* n : {&a, &b, &c}) n->Start();
  const std::string id = Create("de-bka,nl-om");
  const std::string file = dir.path() + "/phone-image.bin";
  std::string content(300 * 1024, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31 + 7);
  {
    std::ofstream(file, std::ios::binary) << content;
  }
  auto r = a.Cli({"case", "post", id, "--type", "evidence", "--text", "image of the seized phone",
                  "--attach", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, 2) && HasEntries(c, id, 2); }));
  const auto log_c = Log(c, id);
  ASSERT_EQ(log_c.size(), 2u) << log_c.dump();
  const auto entry = log_c[1];
  ASSERT_TRUE(entry.contains("attachments")) << entry.dump();
  ASSERT_EQ(entry["type"], "evidence");
  ASSERT_EQ(entry["attachments"].size(), 1u);
  EXPECT_EQ(entry["attachments"][0]["name"], "phone-image.bin");
  EXPECT_EQ(entry["attachments"][0]["size"], content.size());
  EXPECT_EQ(entry["attachments"][0]["sha256"], ToHex(Sha256(content)));
  EXPECT_EQ(Log(a, id), Log(c, id));
  // The files came as one message; each member fetches them and the hash
  // is the one the signed entry names.
  const std::string msg = entry["attachments_message"];
  for (Node* n : {&b, &c}) {
    ASSERT_TRUE(WaitFor([&] { return n->Cli({"show", msg, "--json"}).exit_code == 0; }));
    const std::string out = dir.path() + "/" + n->id() + "-image.bin";
    auto f = n->Cli({"fetch", msg, "--attachment", "0", "-o", out});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    EXPECT_EQ(ToHex(Sha256(ReadFileText(out))), entry["attachments"][0]["sha256"]);
  }
}

TEST_F(CaseTest, AMemberAwayCatchesUpFromAnyMemberWhileTheAuthorIsAway) {
  const int n = EnvInt("ROGATORY_CASE_ENTRIES", 500);
  a.Start();
  b.Start();
  c.Start();
  const std::string id = Create("de-bka,nl-om");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(c, id, 1); }));
  c.Stop();
  for (int i = 0; i < n; ++i) Post(i % 2 == 0 ? a : b, id, "entry " + std::to_string(i));
  const size_t total = static_cast<size_t>(n) + 1;
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, total); }, std::chrono::seconds(120)));
  a.Stop();  // the lead and author of half the entries is away
  c.Start();
  ASSERT_TRUE(WaitFor([&] { return HasEntries(c, id, total); }, std::chrono::seconds(300)))
      << Log(c, id).size() << " of " << total;
  EXPECT_EQ(Log(c, id), Log(b, id));
}

TEST_F(CaseTest, ARemovedMemberReadsNothingNewAndANewMemberReadsEverything) {
  Node d{dir.path(), "be-fed", "BE"};
  for (Node* n : {&a, &b, &c}) {
    n->Trust(d);
    d.Trust(*n);
  }
  d.WriteConfig(kFastSync);
  for (Node* n : {&a, &b, &c, &d}) n->Start();
  const std::string id = Create("de-bka,nl-om");
  Post(a, id, "before removal");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(c, id, 2); }));
  ASSERT_EQ(a.Cli({"case", "remove", id, "nl-om"}).exit_code, 0);
  // c learns it was removed.
  ASSERT_TRUE(WaitFor([&] { return CaseInfo(c, id)["removed"] == true; })) << CaseInfo(c, id);
  Post(a, id, "after removal: the container number");
  Post(b, id, "after removal: the vessel");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, 5); }));
  // c can post nothing more.
  auto refused = c.Cli({"case", "post", id, "--text", "still here?"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("removed"), std::string::npos) << refused.err;
  // Nothing c holds opens what was written after the removal: c's store
  // has no such entry, and its epoch keys do not open b's copies.
  const auto lc = Log(c, id);
  for (const auto& e : lc) {
    EXPECT_EQ(e["text"].get<std::string>().find("after removal"), std::string::npos) << e;
  }
  {
    SQLite::Database cdb(c.home() + "/store.db");
    SQLite::Statement q(cdb, "SELECT COUNT(*) FROM case_entries WHERE epoch >= 2 AND type != 1");
    ASSERT_TRUE(q.executeStep());
    EXPECT_EQ(q.getColumn(0).getInt(), 0);
  }
  // Every epoch key c can unwrap from every membership entry it holds...
  ASSERT_TRUE(InitCrypto().ok());
  auto cid = Identity::ReadKeystore(c.home() + "/keys.bin", std::nullopt);
  ASSERT_TRUE(cid.ok()) << cid.error().message;
  std::vector<SecretBytes> keys;
  {
    SQLite::Database cdb(c.home() + "/store.db");
    SQLite::Statement q(cdb, "SELECT entry FROM case_entries WHERE type = 1");
    while (q.executeStep()) {
      const auto* p = static_cast<const char*>(q.getColumn(0).getBlob());
      wire::CaseEntry raw;
      wire::CaseEntryHeader h;
      ASSERT_TRUE(raw.ParseFromArray(p, q.getColumn(0).getBytes()));
      ASSERT_TRUE(h.ParseFromString(raw.header()));
      auto m = ParseMembership(raw.body());
      ASSERT_TRUE(m.ok());
      std::string lead_enc;
      for (const auto& member : m->members()) {
        wire::SignedCard sc;
        wire::Card card;
        if (member.fingerprint() == h.author() && sc.ParseFromString(member.card()) &&
            card.ParseFromString(sc.card())) {
          lead_enc = card.encryption_key();
        }
      }
      for (const auto& w : m->keys()) {
        if (w.recipient() != cid->fingerprint()) continue;
        auto shared = BoxSharedKey(cid->encryption().secret, lead_enc);
        ASSERT_TRUE(shared.ok());
        auto key = UnwrapEpochKey(*shared, w);
        if (key.ok()) keys.push_back(std::move(*key));
      }
    }
  }
  ASSERT_FALSE(keys.empty());
  // ...opens what was written before the removal, and nothing written after.
  SQLite::Database bdb(b.home() + "/store.db");
  SQLite::Statement q(bdb, "SELECT epoch, entry FROM case_entries WHERE type != 1");
  int before = 0, after = 0;
  while (q.executeStep()) {
    const auto* p = static_cast<const char*>(q.getColumn(1).getBlob());
    wire::CaseEntry raw;
    wire::CaseEntryHeader h;
    ASSERT_TRUE(raw.ParseFromArray(p, q.getColumn(1).getBytes()));
    ASSERT_TRUE(h.ParseFromString(raw.header()));
    bool opened = false;
    for (const auto& k : keys) opened = opened || OpenCaseBody(k, h, raw.body()).ok();
    if (h.epoch() == 1) {
      EXPECT_TRUE(opened);
      ++before;
    } else {
      EXPECT_FALSE(opened) << "entry " << h.seq() << " of epoch " << h.epoch();
      ++after;
    }
  }
  EXPECT_EQ(before, 1);
  EXPECT_EQ(after, 2);
  // d is invited and reads the whole history, before and after.
  ASSERT_EQ(a.Cli({"case", "invite", id, "be-fed"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] { return HasEntries(d, id, 6); })) << Log(d, id).dump();
  std::string all;
  for (const auto& e : Log(d, id)) {
    EXPECT_FALSE(e.contains("readable")) << e;
    all += e["text"].get<std::string>() + "|";
  }
  EXPECT_NE(all.find("before removal"), std::string::npos);
  EXPECT_NE(all.find("the vessel"), std::string::npos);
  EXPECT_EQ(Log(d, id), Log(a, id));
}

TEST_F(CaseTest, ConcurrentPostingWhileLinksFlapConvergesToOneLog) {
  const int rounds = EnvInt("ROGATORY_CASE_FLAP_ROUNDS", 6);
  for (Node* n : {&a, &b, &c}) n->Start();
  const std::string id = Create("de-bka,nl-om");
  ASSERT_TRUE(WaitFor([&] { return HasEntries(b, id, 1) && HasEntries(c, id, 1); }));
  Node* nodes[] = {&a, &b, &c};
  size_t posted = 1;
  for (int r = 0; r < rounds; ++r) {
    // Everyone posts without waiting for the others...
    for (Node* n : nodes) {
      Post(*n, id, n->id() + " round " + std::to_string(r));
      ++posted;
    }
    // ...then one node's links go down hard (killed), the others post on,
    // and it comes back.
    Node* down = nodes[r % 3];
    down->Kill();
    for (Node* n : nodes) {
      if (n == down) continue;
      Post(*n, id, n->id() + " while " + down->id() + " is down, round " + std::to_string(r));
      ++posted;
    }
    down->Start();
  }
  ASSERT_TRUE(WaitFor([&] {
    return HasEntries(a, id, posted) && HasEntries(b, id, posted) && HasEntries(c, id, posted);
  }, std::chrono::seconds(60))) << Log(a, id).size() << " " << Log(b, id).size() << " "
                                << Log(c, id).size() << " of " << posted;
  const auto la = Log(a, id);
  EXPECT_EQ(la, Log(b, id));
  EXPECT_EQ(la, Log(c, id));
  // Ordered by Lamport counter, then author and sequence: never by arrival.
  for (size_t i = 1; i < la.size(); ++i) {
    EXPECT_LE(la[i - 1]["lamport"].get<uint64_t>(), la[i]["lamport"].get<uint64_t>());
  }
  for (Node* n : nodes) EXPECT_TRUE(CaseInfo(*n, id)["reports"].empty()) << n->id();
}

}  // namespace
}  // namespace rogatory::test
