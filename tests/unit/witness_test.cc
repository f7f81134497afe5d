// The head-checking rules of witnessing (node/witness.h): a head that
// extends every held head is consistent, a missing proof leaves it
// unproven, a contradiction is evidence, and a signed restore statement
// explains an announced rollback.
#include <gtest/gtest.h>

#include "keys/labels.h"
#include "keys/merkle.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "node/witness.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

// An in-memory log whose entries are "prefix-i".
class MemoryLog : public merkle::HashSource {
 public:
  explicit MemoryLog(std::string prefix) : prefix_(std::move(prefix)) {}
  void Grow(uint64_t n) {
    while (leaves_.size() < n) {
      leaves_.push_back(merkle::LeafHash(prefix_ + "-" + std::to_string(leaves_.size())));
    }
  }
  Result<std::string> Leaf(uint64_t index) override {
    if (index >= leaves_.size()) return MakeError(Code::kNotFound, "no leaf");
    return leaves_[index];
  }
  Result<std::optional<std::string>> Perfect(uint32_t, uint64_t) override {
    return std::optional<std::string>();
  }

 private:
  std::string prefix_;
  std::vector<std::string> leaves_;
};

class WitnessRulesTest : public ::testing::Test {
 protected:
  // A signed head of `log` at `size`.
  HeldHead Head(MemoryLog& log, uint64_t size, int64_t at) {
    log.Grow(size);
    wire::TreeHead h;
    h.set_version(1);
    h.set_log(owner.fingerprint());
    h.set_size(size);
    h.set_root(*merkle::Root(log, size));
    h.set_timestamp(at);
    return {size, h.root(), at, SignTreeHead(h, owner.signing())};
  }
  wire::HeadReply Reply(const HeldHead& head) {
    wire::HeadReply r;
    r.set_signed_tree_head(head.signed_head);
    return r;
  }
  void Prove(MemoryLog& log, wire::HeadReply* r, uint64_t from, uint64_t to) {
    auto path = merkle::ConsistencyProof(log, from, to);
    ASSERT_TRUE(path.ok());
    auto* p = r->add_proofs();
    p->set_from_size(from);
    p->set_to_size(to);
    for (auto& h : *path) p->add_path(h);
  }
  HeadVerdict Check(const wire::HeadReply& r, const std::vector<HeldHead>& held) {
    auto v = CheckHeadReply(owner.fingerprint(), owner.card().signing_key(), r, held, 99);
    EXPECT_TRUE(v.ok()) << v.error().message;
    return v.ok() ? *v : HeadVerdict{};
  }
  std::string Restore(const HeldHead& to, uint64_t abandoned, int64_t at) {
    wire::RestoreStatement s;
    s.set_version(1);
    s.set_log(owner.fingerprint());
    s.set_restored_head(to.signed_head);
    s.set_abandoned_size(abandoned);
    s.set_restored_at(at);
    return SignRestoreStatement(s, owner.signing());
  }

  Identity owner = test::NewIdentity("owner");
  Identity other = test::NewIdentity("other");
  MemoryLog first{"first"};
  MemoryLog second{"second"};
  using Outcome = HeadVerdict::Outcome;
};

TEST_F(WitnessRulesTest, AHeadThatExtendsTheHeldOneIsConsistent) {
  const HeldHead old = Head(first, 5, 10);
  const HeldHead now = Head(first, 9, 20);
  auto r = Reply(now);
  Prove(first, &r, 5, 9);
  auto v = Check(r, {old});
  EXPECT_EQ(v.outcome, Outcome::kConsistent);
  EXPECT_EQ(v.head.size(), 9u);
  // With nothing held, any signed head is the first one seen.
  EXPECT_EQ(Check(Reply(now), {}).outcome, Outcome::kConsistent);
  // The same head again needs no proof.
  EXPECT_EQ(Check(Reply(now), {now}).outcome, Outcome::kConsistent);
}

TEST_F(WitnessRulesTest, AMissingProofLeavesTheHeadUnproven) {
  const HeldHead old = Head(first, 5, 10);
  auto r = Reply(Head(first, 9, 20));
  Prove(first, &r, 4, 9);  // from a size not held
  auto v = Check(r, {old});
  EXPECT_EQ(v.outcome, Outcome::kUnproven);
  EXPECT_NE(v.reason.find("from size 5"), std::string::npos) << v.reason;
}

TEST_F(WitnessRulesTest, ARewrittenHistoryIsInconsistentWithEvidence) {
  const HeldHead old = Head(first, 5, 10);
  // The owner rewrote its history: a log that shares no entry with it.
  const HeldHead now = Head(second, 9, 20);
  auto r = Reply(now);
  Prove(second, &r, 5, 9);
  auto v = Check(r, {old});
  ASSERT_EQ(v.outcome, Outcome::kInconsistent);
  EXPECT_NE(v.reason.find("not an extension"), std::string::npos) << v.reason;
  EXPECT_EQ(v.evidence.earlier(), old.signed_head);
  EXPECT_EQ(v.evidence.later(), now.signed_head);
  EXPECT_EQ(v.evidence.proof().from_size(), 5u);
  EXPECT_EQ(v.evidence.log(), owner.fingerprint());
}

TEST_F(WitnessRulesTest, TwoHeadsOfOneSizeWithDifferentRootsAreInconsistent) {
  const HeldHead a = Head(first, 6, 10);
  const HeldHead b = Head(second, 6, 11);
  auto v = Check(Reply(b), {a});
  ASSERT_EQ(v.outcome, Outcome::kInconsistent);
  EXPECT_NE(v.reason.find("different roots"), std::string::npos);
  ASSERT_TRUE(CompareSameSize(a, b, owner.fingerprint(), 5).has_value());
  EXPECT_FALSE(CompareSameSize(a, a, owner.fingerprint(), 5).has_value());
}

TEST_F(WitnessRulesTest, AShrunkLogIsInconsistentWhenSignedLaterOrAskedFor) {
  const HeldHead big = Head(first, 8, 10);
  // Signed before the held head, pushed: it may just have arrived late.
  const HeldHead older = Head(first, 4, 5);
  auto v = Check(Reply(older), {big});
  EXPECT_EQ(v.outcome, Outcome::kUnproven);
  EXPECT_EQ(v.unproven_head, big.signed_head);
  // Signed after it over fewer entries: the owner's own signatures show the
  // log shrank.
  const HeldHead later = Head(first, 4, 20);
  v = Check(Reply(later), {big});
  EXPECT_EQ(v.outcome, Outcome::kInconsistent);
  EXPECT_NE(v.reason.find("shrank"), std::string::npos);
  // Answering a request that named size 8, even an old head is a shrunk log.
  auto r = Reply(older);
  r.mutable_answers()->set_known_size(8);
  EXPECT_EQ(Check(r, {big}).outcome, Outcome::kInconsistent);
  auto g = Reply(older);
  g.mutable_answers()->add_check_sizes(8);
  EXPECT_EQ(Check(g, {big}).outcome, Outcome::kInconsistent);
}

TEST_F(WitnessRulesTest, AnAnnouncedRestoreIsNotEquivocation) {
  const HeldHead kept = Head(first, 3, 10);   // the backup's head
  const HeldHead lost = Head(first, 8, 20);   // signed after the backup, then lost
  // Restored to `kept`, the node appended a different history up to 9:
  // entries 3.. differ from `first`'s.
  class Forked : public merkle::HashSource {
   public:
    explicit Forked(MemoryLog* base) : base_(base) {}
    Result<std::string> Leaf(uint64_t i) override {
      if (i < 3) return base_->Leaf(i);
      return merkle::LeafHash("after-" + std::to_string(i));
    }
    Result<std::optional<std::string>> Perfect(uint32_t, uint64_t) override {
      return std::optional<std::string>();
    }
    MemoryLog* base_;
  } forked(&first);
  wire::TreeHead h;
  h.set_version(1);
  h.set_log(owner.fingerprint());
  h.set_size(9);
  h.set_root(*merkle::Root(forked, 9));
  h.set_timestamp(40);
  const std::string now = SignTreeHead(h, owner.signing());

  wire::HeadReply r;
  r.set_signed_tree_head(now);
  r.mutable_answers()->set_known_size(8);
  auto proof_from = [&](uint64_t from) {
    auto* p = r.add_proofs();
    p->set_from_size(from);
    p->set_to_size(9);
    auto path = merkle::ConsistencyProof(forked, from, 9);
    ASSERT_TRUE(path.ok());
    for (auto& x : *path) p->add_path(x);
  };
  proof_from(8);  // a proof over the new history: it cannot lead to `lost`
  proof_from(3);  // from the restored head
  // Without a statement: equivocation.
  EXPECT_EQ(Check(r, {lost}).outcome, Outcome::kInconsistent);
  // With the owner's signed statement: an announced rollback.
  r.add_restores(Restore(kept, 8, 30));
  auto v = Check(r, {lost});
  EXPECT_EQ(v.outcome, Outcome::kConsistent) << v.reason;
  ASSERT_EQ(v.restores_used.size(), 1u);

  // A statement that does not cover the lost head, or dated before it, or
  // signed by someone else, explains nothing.
  for (const std::string& bad :
       {Restore(kept, 7, 30), Restore(kept, 8, 15), std::string("junk")}) {
    wire::HeadReply b = r;
    b.clear_restores();
    b.add_restores(bad);
    EXPECT_EQ(Check(b, {lost}).outcome, Outcome::kInconsistent);
  }
  wire::RestoreStatement forged;
  forged.set_version(1);
  forged.set_log(owner.fingerprint());
  forged.set_restored_head(kept.signed_head);
  forged.set_abandoned_size(8);
  forged.set_restored_at(30);
  wire::HeadReply b = r;
  b.clear_restores();
  b.add_restores(SignRestoreStatement(forged, other.signing()));
  EXPECT_EQ(Check(b, {lost}).outcome, Outcome::kInconsistent);
}

TEST_F(WitnessRulesTest, AReplyNotSignedByTheOwnerIsRefusedNotEvidence) {
  const HeldHead h = Head(first, 4, 10);
  wire::TreeHead forged;
  forged.set_version(1);
  forged.set_log(owner.fingerprint());
  forged.set_size(4);
  forged.set_root(std::string(32, 'x'));
  forged.set_timestamp(11);
  wire::HeadReply r;
  r.set_signed_tree_head(SignTreeHead(forged, other.signing()));
  EXPECT_FALSE(CheckHeadReply(owner.fingerprint(), owner.card().signing_key(), r, {h}, 1).ok());
  // A head of another log, even signed by its owner's key.
  forged.set_log(other.fingerprint());
  r.set_signed_tree_head(SignTreeHead(forged, owner.signing()));
  EXPECT_FALSE(CheckHeadReply(owner.fingerprint(), owner.card().signing_key(), r, {h}, 1).ok());
}

TEST_F(WitnessRulesTest, CosignaturesBindTheWitnessToTheExactHead) {
  const HeldHead h = Head(first, 4, 10);
  auto parsed = VerifyTreeHead(h.signed_head, owner.card().signing_key());
  ASSERT_TRUE(parsed.ok());
  const std::string c = Cosign(h.signed_head, *parsed, other.fingerprint(), other.signing(), 12);
  EXPECT_EQ(CosignatureWitness(c), other.fingerprint());
  auto v = VerifyCosignature(c, other.card().signing_key(), h.signed_head);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->size(), 4u);
  EXPECT_FALSE(VerifyCosignature(c, owner.card().signing_key(), h.signed_head).ok());
  const HeldHead later = Head(first, 4, 11);  // same tree, another signing
  EXPECT_FALSE(VerifyCosignature(c, other.card().signing_key(), later.signed_head).ok());
  // A cosignature whose hash matches but whose log or size do not.
  for (int field = 0; field < 2; ++field) {
    wire::SignedCosignature sc;
    ASSERT_TRUE(sc.ParseFromString(c));
    wire::Cosignature body;
    ASSERT_TRUE(body.ParseFromString(sc.cosignature()));
    if (field == 0) body.set_size(5);
    else body.set_log(other.fingerprint());
    sc.set_cosignature(SerializeCanonical(body));
    sc.set_signature(Sign(other.signing(), labels::kCosignature, sc.cosignature()));
    EXPECT_FALSE(VerifyCosignature(SerializeCanonical(sc), other.card().signing_key(),
                                   h.signed_head).ok()) << field;
  }
}

TEST_F(WitnessRulesTest, TheOwnerProvesFromEverySizeAskedOnce) {
  auto s = SizesToProve(10, 4, {4, 6, 12, 0}, {2});
  EXPECT_EQ(s.from, (std::vector<uint64_t>{4, 6, 2}));
  EXPECT_TRUE(SizesToProve(10, 10, {}, {}).from.empty());
}

}  // namespace
}  // namespace rogatory
