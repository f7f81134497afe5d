#include "keys/case_entry.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "keys/card.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

using test::NewIdentity;

constexpr int64_t kNow = 1'700'000'000'000'000;

// Unwraps the key of `epoch` for `me` from a membership whose lead is `lead`.
Result<SecretBytes> UnwrapAs(const Identity& me, const Identity& lead,
                             const wire::CaseMembership& m, uint64_t epoch) {
  const wire::WrappedEpochKey* w = FindEpochKey(m, me.fingerprint(), epoch);
  if (w == nullptr) return MakeError(Code::kNotFound, "no key for this member");
  ROG_ASSIGN_OR_RETURN(SecretBytes shared,
                       BoxSharedKey(me.encryption().secret, lead.encryption().public_key));
  return UnwrapEpochKey(shared, *w);
}

class CaseEntryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    case_id = CaseId(lead.fingerprint(), case_nonce);
    auto first = MakeMembershipEntry(lead, FirstDraft(), epoch1);
    ASSERT_TRUE(first.ok()) << first.error().message;
    membership1 = *first;
  }

  MembershipDraft FirstDraft() const {
    MembershipDraft d;
    d.case_id = case_id;
    d.title = "Operation Heron";
    d.case_nonce = case_nonce;
    d.seq = 1;
    d.lamport = 1;
    d.epoch = 1;
    d.created_at = kNow;
    d.member_cards = {lead.signed_card(), b.signed_card(), c.signed_card()};
    return d;
  }

  // A note header by `author` under epoch 1 (body not yet sealed).
  wire::CaseEntryHeader NoteHeader(const Identity& author, uint64_t seq = 1) const {
    wire::CaseEntryHeader h;
    h.set_version(1);
    h.set_case_id(case_id);
    h.set_author(author.fingerprint());
    h.set_seq(seq);
    if (seq > 1) h.set_prev(std::string(32, '\x11'));
    h.set_lamport(2);
    h.set_epoch(1);
    h.set_membership(CaseEntryHash(membership1));
    h.set_type(wire::CASE_NOTE);
    h.set_created_at(kNow + 1);
    return h;
  }

  std::string Note(const Identity& author, const std::string& text) const {
    wire::CaseEntryHeader h = NoteHeader(author);
    wire::CaseBody body;
    body.set_text(text);
    std::string ct = SealCaseBody(epoch1, &h, body);
    return SignCaseEntry(h, std::move(ct), author.signing());
  }

  // The body of membership1, parsed, for tests that alter it.
  wire::CaseMembership Membership1() const {
    auto v = VerifyCaseEntry(membership1, lead.signing().public_key);
    EXPECT_TRUE(v.ok());
    wire::CaseMembership m;
    EXPECT_TRUE(m.ParseFromString(v->body));
    return m;
  }

  Identity lead = NewIdentity("lead-node");
  Identity b = NewIdentity("bob-node");
  Identity c = NewIdentity("carol-node");
  Identity outsider = NewIdentity("dave-node");
  std::string case_nonce = std::string(16, '\x42');
  std::string case_id;
  SecretBytes epoch1 = NewEpochKey();
  std::string membership1;
};

TEST_F(CaseEntryTest, MembershipRoundTripGivesEveryMemberTheEpochKey) {
  auto peek = PeekCaseEntryHeader(membership1);
  ASSERT_TRUE(peek.ok()) << peek.error().message;
  EXPECT_EQ(peek->author(), lead.fingerprint());

  auto v = VerifyCaseEntry(membership1, lead.signing().public_key);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->hash, Sha256(membership1));
  EXPECT_EQ(v->bytes, membership1);
  EXPECT_EQ(v->header.type(), wire::CASE_MEMBERSHIP);
  EXPECT_EQ(v->header.case_id(), case_id);
  EXPECT_EQ(v->header.epoch(), 1u);
  EXPECT_TRUE(v->header.membership().empty());
  EXPECT_TRUE(v->header.nonce().empty());

  auto m = ParseMembershipEntry(*v);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->title(), "Operation Heron");
  EXPECT_EQ(m->members_size(), 3);
  EXPECT_EQ(m->keys_size(), 3);
  for (const Identity* member : {&lead, &b, &c}) {
    auto key = UnwrapAs(*member, lead, *m, 1);
    ASSERT_TRUE(key.ok()) << member->card().node_id() << ": " << key.error().message;
    EXPECT_TRUE(key->Equals(epoch1)) << member->card().node_id();
  }
}

TEST_F(CaseEntryTest, NoteRoundTripOpensForAMember) {
  const std::string note = Note(b, "the suspect moved to Lyon");
  auto peek = PeekCaseEntryHeader(note);
  ASSERT_TRUE(peek.ok()) << peek.error().message;
  EXPECT_EQ(peek->author(), b.fingerprint());

  auto v = VerifyCaseEntry(note, b.signing().public_key);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->header.type(), wire::CASE_NOTE);
  EXPECT_EQ(v->header.nonce().size(), kXNonceBytes);
  EXPECT_EQ(v->header.membership(), CaseEntryHash(membership1));

  // Carol learns the key from the membership entry, then reads Bob's note.
  auto key = UnwrapAs(c, lead, Membership1(), 1);
  ASSERT_TRUE(key.ok()) << key.error().message;
  auto body = OpenCaseBody(*key, v->header, v->body);
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body->text(), "the suspect moved to Lyon");
}

TEST_F(CaseEntryTest, SignatureAndAdditionalDataHaveTheDocumentedLayout) {
  const std::string note = Note(b, "layout");
  wire::CaseEntry e;
  ASSERT_TRUE(e.ParseFromString(note));
  // Ed25519 over label || 0x00 || header || SHA-256(body).
  EXPECT_TRUE(Verify(b.signing().public_key, labels::kCaseEntry, e.header() + Sha256(e.body()),
                     e.signature()));
  EXPECT_FALSE(
      Verify(b.signing().public_key, labels::kCaseEntry, e.header() + e.body(), e.signature()));
  // AD = case_id || 0x00 || LE64(epoch) || author || LE64(seq).
  wire::CaseEntryHeader h;
  ASSERT_TRUE(h.ParseFromString(e.header()));
  std::string ad = case_id;
  ad.push_back('\0');
  ad.append(std::string("\x01\0\0\0\0\0\0\0", 8));
  ad.append(b.fingerprint());
  ad.append(std::string("\x01\0\0\0\0\0\0\0", 8));
  auto plain = AeadOpen(epoch1, h.nonce(), e.body(), ad);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  wire::CaseBody body;
  ASSERT_TRUE(body.ParseFromString(*plain));
  EXPECT_EQ(body.text(), "layout");
}

TEST_F(CaseEntryTest, NonMemberCannotUnwrapAnyKey) {
  const wire::CaseMembership m = Membership1();
  EXPECT_EQ(FindEpochKey(m, outsider.fingerprint(), 1), nullptr);
  auto shared = BoxSharedKey(outsider.encryption().secret, lead.encryption().public_key);
  ASSERT_TRUE(shared.ok());
  ASSERT_EQ(m.keys_size(), 3);
  for (const auto& w : m.keys()) {
    auto key = UnwrapEpochKey(*shared, w);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.error().code, Code::kUnauthenticated);
  }
  // Nor can a member open another member's box.
  auto b_shared = BoxSharedKey(b.encryption().secret, lead.encryption().public_key);
  ASSERT_TRUE(b_shared.ok());
  EXPECT_FALSE(UnwrapEpochKey(*b_shared, *FindEpochKey(m, c.fingerprint(), 1)).ok());
}

TEST_F(CaseEntryTest, WrongEpochKeyOrOtherHeaderCannotOpen) {
  const std::string note = Note(b, "secret");
  auto v = VerifyCaseEntry(note, b.signing().public_key);
  ASSERT_TRUE(v.ok());
  auto wrong = OpenCaseBody(NewEpochKey(), v->header, v->body);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Code::kUnauthenticated);

  // The ciphertext is bound to case, epoch, author and sequence number.
  std::vector<std::function<void(wire::CaseEntryHeader*)>> moves = {
      [](wire::CaseEntryHeader* h) { h->set_case_id(CaseId("x", "y")); },
      [](wire::CaseEntryHeader* h) { h->set_epoch(2); },
      [&](wire::CaseEntryHeader* h) { h->set_author(c.fingerprint()); },
      [](wire::CaseEntryHeader* h) { h->set_seq(2); },
  };
  for (size_t i = 0; i < moves.size(); ++i) {
    wire::CaseEntryHeader h = v->header;
    moves[i](&h);
    EXPECT_FALSE(OpenCaseBody(epoch1, h, v->body).ok()) << "move " << i;
  }
  EXPECT_TRUE(OpenCaseBody(epoch1, v->header, v->body).ok());
}

TEST_F(CaseEntryTest, EverySingleByteChangeOrTruncationIsRefused) {
  const std::string note = Note(b, "tamper with me");
  const Identity* authors[] = {&b, &lead};
  const std::string* entries[] = {&note, &membership1};
  for (int which = 0; which < 2; ++which) {
    const std::string& original = *entries[which];
    const Identity& author = *authors[which];
    auto accepted = [&](const std::string& bytes) {
      auto v = VerifyCaseEntry(bytes, author.signing().public_key);
      if (!v.ok()) return false;
      if (v->header.type() == wire::CASE_MEMBERSHIP) return ParseMembershipEntry(*v).ok();
      return OpenCaseBody(epoch1, v->header, v->body).ok();
    };
    ASSERT_TRUE(accepted(original));
    for (size_t i = 0; i < original.size(); ++i) {
      for (int mask : {0x01, 0x80, 0xff}) {
        std::string bad = original;
        bad[i] = static_cast<char>(static_cast<unsigned char>(bad[i]) ^ mask);
        EXPECT_FALSE(accepted(bad)) << "entry " << which << " byte " << i << " mask " << mask;
      }
    }
    for (size_t n = 0; n < original.size(); ++n) {
      EXPECT_FALSE(accepted(original.substr(0, n))) << "entry " << which << " length " << n;
    }
    EXPECT_FALSE(accepted(original + '\0'));
  }
}

TEST_F(CaseEntryTest, HeaderShapeViolationsAreRefused) {
  struct Case {
    const char* name;
    std::function<void(wire::CaseEntryHeader*)> change;
  };
  const std::vector<Case> cases = {
      {"version 0", [](auto* h) { h->set_version(0); }},
      {"version 2", [](auto* h) { h->set_version(2); }},
      {"empty case id", [](auto* h) { h->set_case_id(""); }},
      {"upper-case case id", [](auto* h) { h->set_case_id("C" + h->case_id().substr(1)); }},
      {"short case id", [](auto* h) { h->set_case_id(h->case_id().substr(0, 24)); }},
      {"case id with '1'", [](auto* h) { h->set_case_id(h->case_id().substr(0, 24) + "1"); }},
      {"19-byte author", [](auto* h) { h->set_author(h->author().substr(1)); }},
      {"seq 0", [](auto* h) { h->set_seq(0); }},
      {"seq 1 with prev", [](auto* h) { h->set_prev(std::string(32, 'p')); }},
      {"seq 2 without prev", [](auto* h) { h->set_seq(2); }},
      {"seq 2 with 31-byte prev",
       [](auto* h) {
         h->set_seq(2);
         h->set_prev(std::string(31, 'p'));
       }},
      {"31-byte membership", [](auto* h) { h->set_membership(std::string(31, 'm')); }},
      {"note without membership", [](auto* h) { h->clear_membership(); }},
      {"unspecified type", [](auto* h) { h->set_type(wire::CASE_ENTRY_UNSPECIFIED); }},
      {"unknown type", [](auto* h) { h->set_type(static_cast<wire::CaseEntryType>(99)); }},
      {"note without nonce", [](auto* h) { h->clear_nonce(); }},
      {"note with 23-byte nonce", [](auto* h) { h->set_nonce(std::string(23, 'n')); }},
      {"membership with nonce", [](auto* h) { h->set_type(wire::CASE_MEMBERSHIP); }},
      {"epoch 0", [](auto* h) { h->set_epoch(0); }},
      {"first membership at epoch 2",
       [](auto* h) {
         h->set_type(wire::CASE_MEMBERSHIP);
         h->clear_nonce();
         h->clear_membership();
         h->set_epoch(2);
       }},
      {"first membership naming a membership",
       [](auto* h) {
         h->set_type(wire::CASE_MEMBERSHIP);
         h->clear_nonce();
       }},
      {"later membership at epoch 1",
       [](auto* h) {
         h->set_type(wire::CASE_MEMBERSHIP);
         h->clear_nonce();
         h->set_seq(2);
         h->set_prev(std::string(32, 'p'));
       }},
      {"first membership at seq 2",
       [](auto* h) {
         h->set_type(wire::CASE_MEMBERSHIP);
         h->clear_nonce();
         h->clear_membership();
         h->set_seq(2);
         h->set_prev(std::string(32, 'p'));
       }},
  };
  const std::string body(40, 'x');  // stands for a ciphertext
  wire::CaseEntryHeader good = NoteHeader(b);
  good.set_nonce(std::string(24, 'n'));
  ASSERT_TRUE(VerifyCaseEntry(SignCaseEntry(good, body, b.signing()), b.signing().public_key).ok());
  for (const Case& k : cases) {
    wire::CaseEntryHeader h = good;
    k.change(&h);
    const std::string entry = SignCaseEntry(h, body, b.signing());
    auto v = VerifyCaseEntry(entry, b.signing().public_key);
    ASSERT_FALSE(v.ok()) << k.name;
    EXPECT_EQ(v.error().code, Code::kInvalidArgument) << k.name << ": " << v.error().message;
    EXPECT_FALSE(PeekCaseEntryHeader(entry).ok()) << k.name;
  }
  // An encrypted body shorter than its tag.
  auto short_body = VerifyCaseEntry(SignCaseEntry(good, std::string(15, 'x'), b.signing()),
                                    b.signing().public_key);
  EXPECT_FALSE(short_body.ok());
}

TEST_F(CaseEntryTest, EntrySignedByAnotherKeyThanItsAuthorIsRefused) {
  // Bob's header, signed by the outsider, checked with the outsider's key.
  wire::CaseEntryHeader h = NoteHeader(b);
  wire::CaseBody body;
  body.set_text("forged");
  std::string ct = SealCaseBody(epoch1, &h, body);
  const std::string forged = SignCaseEntry(h, ct, outsider.signing());
  auto v = VerifyCaseEntry(forged, outsider.signing().public_key);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, Code::kUnauthenticated);
  auto w = VerifyCaseEntry(forged, b.signing().public_key);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Code::kUnauthenticated);
}

TEST_F(CaseEntryTest, BodyWithUnknownTaskStateOrBadAssigneeIsRefused) {
  auto sealed = [&](const wire::CaseBody& body) {
    wire::CaseEntryHeader h = NoteHeader(b);
    h.set_type(wire::CASE_TASK);
    std::string ct = SealCaseBody(epoch1, &h, body);
    return OpenCaseBody(epoch1, h, ct);
  };
  wire::CaseBody good;
  good.set_text("find the van");
  good.set_assignee(c.fingerprint());
  good.set_task_state("open");
  EXPECT_TRUE(sealed(good).ok());
  wire::CaseBody bad_state = good;
  bad_state.set_task_state("maybe");
  EXPECT_FALSE(sealed(bad_state).ok());
  wire::CaseBody bad_assignee = good;
  bad_assignee.set_assignee("short");
  EXPECT_FALSE(sealed(bad_assignee).ok());
}

TEST(CaseEntryIdTest, DeterministicWellFormedAndBoundToLeadAndNonce) {
  // Known answer, computed independently (Python hashlib and base64):
  // SHA-256("rogatory/case-id/v1" || 0x00 || 20 x 0x01 || 16 x 0x02)[:15].
  const std::string lead(20, '\x01');
  const std::string nonce(16, '\x02');
  EXPECT_EQ(CaseId(lead, nonce), "ckfqz4gyxk6jkughblqhvptvz");
  const std::string id = CaseId(lead, nonce);
  EXPECT_EQ(CaseId(lead, nonce), id);
  ASSERT_EQ(id.size(), kCaseIdLength);
  EXPECT_EQ(id[0], 'c');
  for (size_t i = 1; i < id.size(); ++i) {
    EXPECT_TRUE((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '2' && id[i] <= '7')) << id;
  }
  EXPECT_TRUE(ValidateCaseId(id).ok());
  EXPECT_NE(CaseId(std::string(20, '\x03'), nonce), id);
  EXPECT_NE(CaseId(lead, std::string(16, '\x04')), id);
  // The boundary between fingerprint and nonce is fixed by the fingerprint's size.
  EXPECT_NE(CaseId(std::string(20, '\x01'), std::string(16, '\x02')),
            CaseId(std::string(21, '\x01'), std::string(15, '\x02')));
  EXPECT_FALSE(ValidateCaseId("").ok());
  EXPECT_FALSE(ValidateCaseId("x" + id.substr(1)).ok());
  EXPECT_FALSE(ValidateCaseId(id + "a").ok());
  EXPECT_FALSE(ValidateCaseId(id.substr(0, 24) + "8").ok());
}

// Membership bodies altered from a valid one, each checked alone.
class CaseEntryMembershipTest : public CaseEntryTest {
 protected:
  // Expects ParseMembership to refuse `m` with a message containing `reason`.
  void ExpectRefused(const wire::CaseMembership& m, const std::string& reason,
                     Code code = Code::kInvalidArgument) {
    auto r = ParseMembership(SerializeCanonical(m));
    ASSERT_FALSE(r.ok()) << reason;
    EXPECT_EQ(r.error().code, code);
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
  }
  // The same for an error from ParseMembershipEntry or MakeMembershipEntry.
  template <typename T>
  static void ExpectError(const Result<T>& r, const std::string& reason) {
    ASSERT_FALSE(r.ok()) << reason;
    EXPECT_NE(r.error().message.find(reason), std::string::npos) << r.error().message;
  }
  // A membership entry by the lead with this body, as the first entry.
  Result<wire::CaseMembership> AsFirstEntry(const wire::CaseMembership& m) {
    wire::CaseEntryHeader h;
    h.set_version(1);
    h.set_case_id(case_id);
    h.set_author(lead.fingerprint());
    h.set_seq(1);
    h.set_lamport(1);
    h.set_epoch(1);
    h.set_type(wire::CASE_MEMBERSHIP);
    h.set_created_at(kNow);
    auto v = VerifyCaseEntry(SignCaseEntry(h, SerializeCanonical(m), lead.signing()),
                             lead.signing().public_key);
    if (!v.ok()) return v.error();
    return ParseMembershipEntry(*v);
  }
};

TEST_F(CaseEntryMembershipTest, UnalteredBodyParses) {
  EXPECT_TRUE(ParseMembership(SerializeCanonical(Membership1())).ok());
  EXPECT_TRUE(AsFirstEntry(Membership1()).ok());
}

TEST_F(CaseEntryMembershipTest, CardOfAnotherNodeIsRefused) {
  wire::CaseMembership m = Membership1();
  m.mutable_members(1)->set_card(c.signed_card());  // Bob's entry carries Carol's card
  ExpectRefused(m, "carries another node's card");
}

TEST_F(CaseEntryMembershipTest, CardThatDoesNotVerifyIsRefused) {
  wire::CaseMembership m = Membership1();
  std::string card = m.members(1).card();
  card[card.size() - 1] = static_cast<char>(card[card.size() - 1] ^ 1);
  m.mutable_members(1)->set_card(card);
  ExpectRefused(m, "identity card signature does not verify", Code::kUnauthenticated);
}

TEST_F(CaseEntryMembershipTest, DuplicateMemberIsRefused) {
  wire::CaseMembership m = Membership1();
  *m.add_members() = m.members(1);
  ExpectRefused(m, "twice");

  MembershipDraft d = FirstDraft();
  d.member_cards.push_back(b.signed_card());
  ExpectError(MakeMembershipEntry(lead, d, epoch1), "twice");
}

TEST_F(CaseEntryMembershipTest, KeyForNonMemberIsRefused) {
  wire::CaseMembership m = Membership1();
  auto shared = BoxSharedKey(lead.encryption().secret, outsider.encryption().public_key);
  ASSERT_TRUE(shared.ok());
  *m.add_keys() = WrapEpochKey(*shared, outsider.fingerprint(), 1, epoch1);
  ExpectRefused(m, "for a node that is not a member");
}

TEST_F(CaseEntryMembershipTest, MalformedOrRepeatedKeyIsRefused) {
  wire::CaseMembership short_box = Membership1();
  short_box.mutable_keys(0)->mutable_box()->pop_back();
  ExpectRefused(short_box, "malformed wrapped key");
  wire::CaseMembership short_nonce = Membership1();
  short_nonce.mutable_keys(0)->mutable_nonce()->pop_back();
  ExpectRefused(short_nonce, "malformed wrapped key");
  wire::CaseMembership twice = Membership1();
  *twice.add_keys() = twice.keys(0);
  ExpectRefused(twice, "wraps the key of epoch 1 twice");
}

TEST_F(CaseEntryMembershipTest, RemovedMemberStillInMembersIsRefused) {
  wire::CaseMembership m = Membership1();
  auto* r = m.add_removed();
  r->set_fingerprint(c.fingerprint());
  r->set_last_seq(3);
  ExpectRefused(m, "but keeps it as a member");

  MembershipDraft d = FirstDraft();
  d.seq = 2;
  d.prev = CaseEntryHash(membership1);
  d.epoch = 2;
  d.previous_membership = CaseEntryHash(membership1);
  d.case_nonce.clear();
  d.removed = {{c.fingerprint(), 3}};  // but Carol's card is still in member_cards
  ExpectError(MakeMembershipEntry(lead, d, NewEpochKey()), "but keeps it as a member");
}

TEST_F(CaseEntryMembershipTest, WrongVersionOrNoMembersIsRefused) {
  wire::CaseMembership v2 = Membership1();
  v2.set_version(2);
  ExpectRefused(v2, "unsupported version 2");
  wire::CaseMembership empty = Membership1();
  empty.clear_members();
  empty.clear_keys();
  ExpectRefused(empty, "has no members");
}

TEST_F(CaseEntryMembershipTest, EntryChecksAgainstItsHeader) {
  // The lead must be a member.
  wire::CaseMembership no_lead = Membership1();
  no_lead.mutable_members()->erase(no_lead.mutable_members()->begin());
  no_lead.mutable_keys()->erase(no_lead.mutable_keys()->begin());
  ASSERT_TRUE(ParseMembership(SerializeCanonical(no_lead)).ok());
  ExpectError(AsFirstEntry(no_lead), "does not name its author");
  // Every member needs the new epoch's key.
  wire::CaseMembership missing_key = Membership1();
  missing_key.mutable_keys()->RemoveLast();
  ASSERT_TRUE(ParseMembership(SerializeCanonical(missing_key)).ok());
  ExpectError(AsFirstEntry(missing_key), "no key for the epoch it starts");
  // No key for a later epoch, and none for an earlier one in a first entry.
  wire::CaseMembership later = Membership1();
  later.mutable_keys(0)->set_epoch(2);
  *later.add_keys() = Membership1().keys(0);
  ExpectError(AsFirstEntry(later), "wraps a key for epoch 2 in an entry of epoch 1");
  wire::CaseMembership earlier = Membership1();
  earlier.mutable_keys(0)->set_epoch(0);
  *earlier.add_keys() = Membership1().keys(0);
  ExpectError(AsFirstEntry(earlier), "wraps a key for epoch 0 in an entry of epoch 1");
  // The first entry binds the case id to the lead and the case nonce.
  wire::CaseMembership other_nonce = Membership1();
  other_nonce.set_case_nonce(std::string(16, '\x43'));
  ExpectError(AsFirstEntry(other_nonce), "does not derive its case id");
  wire::CaseMembership removes = Membership1();
  removes.add_removed()->set_fingerprint(outsider.fingerprint());
  ExpectError(AsFirstEntry(removes), "of a new case removes members");
  // A note is not a membership entry.
  auto note = VerifyCaseEntry(Note(b, "n"), b.signing().public_key);
  ASSERT_TRUE(note.ok());
  EXPECT_FALSE(ParseMembershipEntry(*note).ok());
}

TEST_F(CaseEntryMembershipTest, RemovalAndAdditionStartANewEpoch) {
  SecretBytes epoch2 = NewEpochKey();
  MembershipDraft d;
  d.case_id = case_id;
  d.seq = 2;
  d.prev = CaseEntryHash(membership1);
  d.lamport = 5;
  d.epoch = 2;
  d.previous_membership = CaseEntryHash(membership1);
  d.created_at = kNow + 10;
  d.member_cards = {lead.signed_card(), b.signed_card(), outsider.signed_card()};
  d.removed = {{c.fingerprint(), 3}};
  d.history_keys = {{1, &epoch1}};
  d.added = {outsider.fingerprint()};
  auto entry = MakeMembershipEntry(lead, d, epoch2);
  ASSERT_TRUE(entry.ok()) << entry.error().message;

  auto v = VerifyCaseEntry(*entry, lead.signing().public_key);
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->header.membership(), CaseEntryHash(membership1));
  auto m = ParseMembershipEntry(*v);
  ASSERT_TRUE(m.ok()) << m.error().message;
  ASSERT_EQ(m->removed_size(), 1);
  EXPECT_EQ(m->removed(0).fingerprint(), c.fingerprint());
  EXPECT_EQ(m->removed(0).last_seq(), 3u);

  // The newcomer reads the old epoch and the new one; Bob gets only the new
  // one (he has the old); Carol gets nothing.
  auto d1 = UnwrapAs(outsider, lead, *m, 1);
  ASSERT_TRUE(d1.ok()) << d1.error().message;
  EXPECT_TRUE(d1->Equals(epoch1));
  auto d2 = UnwrapAs(outsider, lead, *m, 2);
  ASSERT_TRUE(d2.ok());
  EXPECT_TRUE(d2->Equals(epoch2));
  auto b2 = UnwrapAs(b, lead, *m, 2);
  ASSERT_TRUE(b2.ok());
  EXPECT_TRUE(b2->Equals(epoch2));
  EXPECT_EQ(FindEpochKey(*m, b.fingerprint(), 1), nullptr);
  EXPECT_EQ(FindEpochKey(*m, c.fingerprint(), 1), nullptr);
  EXPECT_EQ(FindEpochKey(*m, c.fingerprint(), 2), nullptr);

  // Drafts that must not produce an entry.
  MembershipDraft not_added = d;
  not_added.added = {c.fingerprint()};
  ExpectError(MakeMembershipEntry(lead, not_added, epoch2), "is not a member of the new epoch");
  MembershipDraft future_history = d;
  future_history.history_keys = {{2, &epoch1}};
  ExpectError(MakeMembershipEntry(lead, future_history, epoch2), "not earlier than the new epoch");
  MembershipDraft no_lead = d;
  no_lead.member_cards = {b.signed_card(), outsider.signed_card()};
  ExpectError(MakeMembershipEntry(lead, no_lead, epoch2), "does not name its author");
}

}  // namespace
}  // namespace rogatory
