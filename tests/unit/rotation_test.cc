// Key rotation (SPEC 9): cards chained to the card they replace, the
// pre-rotation next-key hash, roster updates, kept key pairs in the keystore,
// and signatures made before an identity rotation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "keys/card.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

constexpr int64_t kFrom = 2'000'000;
constexpr int64_t kUntil = 4'102'444'800LL * 1'000'000;

Identity Rotate(const Identity& id, bool new_identity) {
  auto r = id.Rotated(new_identity, kFrom, kUntil);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

VerifiedCard Verified(const std::string& signed_card) {
  auto r = VerifyCard(signed_card);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

SigningKey RandomSigningKey() {
  return SigningKey::FromSeed(SecretBytes::From(RandomBytes(32)));
}

// The successor of `id`'s card as a forger would write it: the same fields
// with the next sequence and fresh encryption and transport keys.
wire::Card NextCard(const Identity& id) {
  wire::Card c = id.card();
  c.set_sequence(id.card().sequence() + 1);
  c.set_encryption_key(BoxKey::Generate().public_key);
  c.set_transport_key(BoxKey::Generate().public_key);
  return c;
}

void ExpectRefused(const std::string& signed_card, Code code) {
  auto r = VerifyCard(signed_card);
  ASSERT_FALSE(r.ok()) << "a forged card verified";
  EXPECT_EQ(r.error().code, code) << r.error().message;
}

TEST(RotationTest, RotationWithoutIdentityKeepsTheSigningKeyAndTheOldKeyPairs) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, /*new_identity=*/false);

  EXPECT_EQ(id2.card().sequence(), id1.card().sequence() + 1);
  EXPECT_EQ(id2.signing().public_key, id1.signing().public_key);
  EXPECT_EQ(id2.card().signing_key(), id1.card().signing_key());
  EXPECT_NE(id2.encryption().public_key, id1.encryption().public_key);
  EXPECT_NE(id2.transport().public_key, id1.transport().public_key);
  EXPECT_EQ(id2.card().encryption_key(), id2.encryption().public_key);
  EXPECT_EQ(id2.card().transport_key(), id2.transport().public_key);
  EXPECT_EQ(id2.card().valid_from(), kFrom);
  EXPECT_EQ(id2.card().valid_until(), kUntil);
  // The next-key commitment is unchanged: the identity key did not move.
  EXPECT_EQ(id2.card().next_key_hash(), id1.card().next_key_hash());

  const VerifiedCard vc = Verified(id2.signed_card());
  EXPECT_EQ(vc.fingerprint, id1.fingerprint());
  EXPECT_EQ(id2.fingerprint(), id1.fingerprint());
  ASSERT_EQ(vc.chain.size(), 2u);
  EXPECT_EQ(SerializeCanonical(vc.chain[0]), SerializeCanonical(id1.card()));
  EXPECT_EQ(SerializeCanonical(vc.chain[1]), SerializeCanonical(id2.card()));
  EXPECT_EQ(vc.SigningKeys(), std::vector<std::string>{id1.signing().public_key});
  EXPECT_EQ(id2.signing_keys(), std::vector<std::string>{id1.signing().public_key});
  ASSERT_NE(vc.AtSequence(1), nullptr);
  EXPECT_EQ(vc.AtSequence(1)->encryption_key(), id1.encryption().public_key);
  EXPECT_EQ(vc.AtSequence(3), nullptr);

  ASSERT_EQ(id2.previous().size(), 1u);
  const PreviousKeys& old = id2.previous()[0];
  EXPECT_EQ(old.sequence, id1.card().sequence());
  EXPECT_EQ(old.encryption.public_key, id1.encryption().public_key);
  EXPECT_EQ(old.transport.public_key, id1.transport().public_key);
  EXPECT_EQ(old.encryption.secret.view(), id1.encryption().secret.view());
  EXPECT_EQ(old.transport.secret.view(), id1.transport().secret.view());

  ASSERT_NE(id2.TransportOf(1), nullptr);
  EXPECT_EQ(id2.TransportOf(1)->public_key, id1.transport().public_key);
  ASSERT_NE(id2.TransportOf(2), nullptr);
  EXPECT_EQ(id2.TransportOf(2)->public_key, id2.transport().public_key);
  EXPECT_EQ(id2.TransportOf(3), nullptr);
  EXPECT_EQ(id2.TransportOf(0), nullptr);
}

TEST(RotationTest, EmptyValidityIsRefused) {
  const Identity id = test::NewIdentity("fr-pnat");
  auto r = id.Rotated(false, kUntil, kFrom);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST(RotationTest, IdentityRotationMovesToTheCommittedKey) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, /*new_identity=*/true);

  EXPECT_NE(id2.signing().public_key, id1.signing().public_key);
  EXPECT_EQ(id2.card().signing_key(), id2.signing().public_key);
  EXPECT_EQ(NextKeyHash(id2.signing().public_key), id1.card().next_key_hash());
  // A fresh commitment for the key after that.
  EXPECT_NE(id2.card().next_key_hash(), id1.card().next_key_hash());
  EXPECT_EQ(id2.card().sequence(), 2u);

  const VerifiedCard v2 = Verified(id2.signed_card());
  EXPECT_EQ(v2.fingerprint, id1.fingerprint());
  EXPECT_EQ(id2.fingerprint(), id1.fingerprint());
  EXPECT_NE(v2.fingerprint, FingerprintOf(id2.signing().public_key));
  const std::vector<std::string> keys2{id2.signing().public_key, id1.signing().public_key};
  EXPECT_EQ(v2.SigningKeys(), keys2);
  EXPECT_EQ(id2.signing_keys(), keys2);
  ASSERT_EQ(id2.previous().size(), 1u);
  EXPECT_EQ(id2.previous()[0].sequence, 1u);

  // A second identity rotation: to the key the second card committed to.
  const Identity id3 = Rotate(id2, /*new_identity=*/true);
  EXPECT_EQ(NextKeyHash(id3.signing().public_key), id2.card().next_key_hash());
  const VerifiedCard v3 = Verified(id3.signed_card());
  ASSERT_EQ(v3.chain.size(), 3u);
  EXPECT_EQ(v3.chain[0].sequence(), 1u);
  EXPECT_EQ(v3.chain[1].sequence(), 2u);
  EXPECT_EQ(v3.chain[2].sequence(), 3u);
  EXPECT_EQ(v3.fingerprint, id1.fingerprint());
  EXPECT_EQ(id3.fingerprint(), id1.fingerprint());
  const std::vector<std::string> keys3{id3.signing().public_key, id2.signing().public_key,
                                       id1.signing().public_key};
  EXPECT_EQ(v3.SigningKeys(), keys3);
  EXPECT_EQ(id3.signing_keys(), keys3);
  ASSERT_EQ(id3.previous().size(), 2u);
  EXPECT_EQ(id3.previous()[0].sequence, 2u);  // newest first
  EXPECT_EQ(id3.previous()[1].sequence, 1u);
  EXPECT_EQ(id3.previous()[0].transport.public_key, id2.transport().public_key);
  EXPECT_EQ(id3.previous()[1].transport.public_key, id1.transport().public_key);
}

TEST(RotationTest, RotationSignedByAnotherKeyIsRefused) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const SigningKey stranger = RandomSigningKey();
  // The card is the node's own (its key signs it) but the rotation
  // signature is not made by the previous card's identity key.
  ExpectRefused(SignRotatedCard(NextCard(id1), id1.signing(), id1.signed_card(), stranger),
                Code::kUnauthenticated);
  // A stranger's card put after the real one, signed throughout by the stranger.
  wire::Card c = NextCard(id1);
  c.set_signing_key(stranger.public_key);
  ExpectRefused(SignRotatedCard(c, stranger, id1.signed_card(), stranger),
                Code::kUnauthenticated);
  // The rotation signature made with the right key but the wrong label.
  wire::SignedCard sc;
  ASSERT_TRUE(sc.ParseFromString(
      SignRotatedCard(NextCard(id1), id1.signing(), id1.signed_card(), id1.signing())));
  sc.set_previous_signature(Sign(id1.signing(), labels::kCard, sc.card()));
  ExpectRefused(SerializeCanonical(sc), Code::kUnauthenticated);
}

TEST(RotationTest, ThiefOfTheCurrentKeyCannotMoveToAKeyOfItsOwn) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const SigningKey thief = RandomSigningKey();
  wire::Card c = NextCard(id1);
  c.set_signing_key(thief.public_key);
  c.set_next_key_hash(NextKeyHash(RandomSigningKey().public_key));
  // Correctly signed by the current identity key, but the new key is not
  // the committed one.
  ExpectRefused(SignRotatedCard(c, thief, id1.signed_card(), id1.signing()),
                Code::kUnauthenticated);
}

// A rotation that keeps the identity key keeps the next-key hash: else a
// thief of the current key could first commit to a key of its own and then
// rotate to it (found by this test; keys/card.cc refuses it).
TEST(RotationTest, ThiefCannotRecommitTheNextKeyWithoutAnIdentityRotation) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const SigningKey thief = RandomSigningKey();
  wire::Card c2 = NextCard(id1);  // same identity key, new commitment
  c2.set_next_key_hash(NextKeyHash(thief.public_key));
  const std::string s2 = SignRotatedCard(c2, id1.signing(), id1.signed_card(), id1.signing());
  wire::Card c3 = c2;
  c3.set_sequence(3);
  c3.set_signing_key(thief.public_key);
  const std::string s3 = SignRotatedCard(c3, thief, s2, id1.signing());
  auto r = VerifyCard(s3);
  EXPECT_FALSE(r.ok()) << "the thief moved the node to its own identity key";
}

TEST(RotationTest, RotationToAnotherNodeIdIsRefused) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  wire::Card c = NextCard(id1);
  c.set_node_id("fr-other");
  ExpectRefused(SignRotatedCard(c, id1.signing(), id1.signed_card(), id1.signing()),
                Code::kUnauthenticated);
}

// Each card follows the one it replaces by exactly one: a card that jumps
// (to the top of the range, say) would leave no room for the owner's next.
TEST(RotationTest, RotationWithASequenceNotTheNextIsRefused) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, false);
  for (uint64_t seq : {uint64_t{1}, uint64_t{2}, uint64_t{7}, UINT64_MAX}) {
    wire::Card c = NextCard(id2);
    c.set_sequence(seq);
    ExpectRefused(SignRotatedCard(c, id2.signing(), id2.signed_card(), id2.signing()),
                  Code::kUnauthenticated);
  }
  // Sanity: the same forge with the next sequence verifies, so the
  // refusals above are about the sequence.
  wire::Card ok = NextCard(id2);
  ok.set_sequence(3);
  EXPECT_TRUE(VerifyCard(SignRotatedCard(ok, id2.signing(), id2.signed_card(), id2.signing())).ok());
}

TEST(RotationTest, PreviousWithoutSignatureIsRefused) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, false);
  wire::SignedCard sc;
  ASSERT_TRUE(sc.ParseFromString(id2.signed_card()));
  sc.clear_previous_signature();
  ExpectRefused(SerializeCanonical(sc), Code::kInvalidArgument);
}

TEST(RotationTest, CheckCardUpdateAcceptsTheRealRotation) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, true);
  const Identity id3 = Rotate(id2, false);
  const VerifiedCard v1 = Verified(id1.signed_card());
  const VerifiedCard v2 = Verified(id2.signed_card());
  const VerifiedCard v3 = Verified(id3.signed_card());
  EXPECT_TRUE(CheckCardUpdate(v1, v2).ok());
  EXPECT_TRUE(CheckCardUpdate(v1, v3).ok());
  EXPECT_TRUE(CheckCardUpdate(v2, v3).ok());
  EXPECT_TRUE(CheckCardUpdate(v2, v2).ok());
  // An older card does not replace a newer one.
  auto older = CheckCardUpdate(v2, v1);
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code, Code::kFailedPrecondition);
}

TEST(RotationTest, CheckCardUpdateRefusesAnotherNode) {
  const Identity a = test::NewIdentity("fr-pnat");
  // Same node id, different first key: a different fingerprint.
  const Identity b = test::NewIdentity("fr-pnat");
  const Identity b2 = Rotate(b, false);
  auto r = CheckCardUpdate(Verified(a.signed_card()), Verified(b2.signed_card()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnauthenticated);
}

TEST(RotationTest, CheckCardUpdateRefusesAForkFromARetiredKey) {
  const Identity id1 = test::NewIdentity("fr-pnat");  // seq 1, key K0
  const Identity id2 = Rotate(id1, true);             // seq 2, key K1
  // A thief holding K0 forks at sequence 2, then 3, keeping K0.
  const std::string fork2 =
      SignRotatedCard(NextCard(id1), id1.signing(), id1.signed_card(), id1.signing());
  wire::Card c3 = NextCard(id1);
  c3.set_sequence(3);
  const std::string fork3 = SignRotatedCard(c3, id1.signing(), fork2, id1.signing());
  // Each is a well-formed chain of its own, with the node's fingerprint...
  for (const std::string& forged : {fork2, fork3}) {
    const VerifiedCard vf = Verified(forged);
    EXPECT_EQ(vf.fingerprint, id1.fingerprint());
    // ...but does not hold the card a peer already trusts.
    auto r = CheckCardUpdate(Verified(id2.signed_card()), vf);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  }
  // A card that skips a sequence is not a chain at all.
  ExpectRefused(SignRotatedCard(c3, id1.signing(), id1.signed_card(), id1.signing()),
                Code::kUnauthenticated);
}

// Pre-rotation recovery: a thief of the current identity key issues
// same-key cards with keys of its own (peers take them: they chain); the
// owner's rotation to the committed key replaces them, whatever their
// sequence, and the thief cannot replace the owner's card back.
TEST(RotationTest, TheOwnersRotationToTheCommittedKeyWinsOverAThiefsCards) {
  const Identity id1 = test::NewIdentity("fr-pnat");  // K0, commits to K1
  const std::string t2 =
      SignRotatedCard(NextCard(id1), id1.signing(), id1.signed_card(), id1.signing());
  wire::Card c3 = NextCard(id1);
  c3.set_sequence(3);
  const std::string t3 = SignRotatedCard(c3, id1.signing(), t2, id1.signing());
  const VerifiedCard thief2 = Verified(t2);
  const VerifiedCard thief3 = Verified(t3);
  ASSERT_TRUE(CheckCardUpdate(Verified(id1.signed_card()), thief3).ok());  // they chain

  const Identity owner = Rotate(id1, /*new_identity=*/true);  // seq 2, K1
  const VerifiedCard recovered = Verified(owner.signed_card());
  for (const VerifiedCard* stolen : {&thief2, &thief3}) {
    EXPECT_TRUE(CheckCardUpdate(*stolen, recovered).ok());
    EXPECT_TRUE(IsRecovery(*stolen, recovered));
    // The thief cannot take it back, neither with its old branch nor with a
    // new same-key card chained to the first card.
    EXPECT_FALSE(CheckCardUpdate(recovered, *stolen).ok());
  }
  // A plain successor is not a recovery.
  EXPECT_FALSE(IsRecovery(Verified(id1.signed_card()), recovered));
  // A branch that moved to a key other than the committed one never verifies
  // (RotationTest.ThiefOfTheCurrentKeyCannotMoveToAKeyOfItsOwn), and a
  // same-key sibling of the trusted card is no recovery.
  const Identity other = Rotate(id1, /*new_identity=*/false);
  EXPECT_FALSE(CheckCardUpdate(thief2, Verified(other.signed_card())).ok());
}

class RotationKeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-rot-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  void ExpectSameIdentity(const Identity& back, const Identity& id) {
    EXPECT_EQ(back.signed_card(), id.signed_card());
    EXPECT_EQ(SerializeCanonical(back.card()), SerializeCanonical(id.card()));
    EXPECT_EQ(back.fingerprint(), id.fingerprint());
    EXPECT_EQ(back.signing().public_key, id.signing().public_key);
    EXPECT_EQ(back.encryption().public_key, id.encryption().public_key);
    EXPECT_EQ(back.transport().public_key, id.transport().public_key);
    EXPECT_EQ(back.signing_keys(), id.signing_keys());
    ASSERT_EQ(back.previous().size(), id.previous().size());
    for (size_t i = 0; i < id.previous().size(); ++i) {
      const PreviousKeys& b = back.previous()[i];
      const PreviousKeys& o = id.previous()[i];
      EXPECT_EQ(b.sequence, o.sequence);
      EXPECT_EQ(b.encryption.public_key, o.encryption.public_key);
      EXPECT_EQ(b.transport.public_key, o.transport.public_key);
      EXPECT_EQ(b.encryption.secret.view(), o.encryption.secret.view());
      EXPECT_EQ(b.transport.secret.view(), o.transport.secret.view());
    }
  }

  std::string dir;
};

TEST_F(RotationKeystoreTest, KeptKeyPairsRoundTrip) {
  const Identity id1 = test::NewIdentity("fr-pnat");
  const Identity id2 = Rotate(id1, true);
  const Identity id3 = Rotate(id2, false);
  ASSERT_EQ(id3.previous().size(), 2u);

  const std::string plain_path = dir + "/plain.bin";
  ASSERT_TRUE(id3.WriteKeystore(plain_path, std::nullopt).ok());
  auto plain = Identity::ReadKeystore(plain_path, std::nullopt);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  ExpectSameIdentity(*plain, id3);
  EXPECT_EQ(plain->fingerprint(), id1.fingerprint());
  EXPECT_EQ(plain->previous()[0].sequence, 2u);
  EXPECT_EQ(plain->previous()[1].sequence, 1u);
  ASSERT_NE(plain->TransportOf(1), nullptr);
  EXPECT_EQ(plain->TransportOf(1)->public_key, id1.transport().public_key);

  const std::string locked_path = dir + "/locked.bin";
  ASSERT_TRUE(id3.WriteKeystore(locked_path, SecretBytes::From("correct horse")).ok());
  auto locked = Identity::ReadKeystore(locked_path, SecretBytes::From("correct horse"));
  ASSERT_TRUE(locked.ok()) << locked.error().message;
  ExpectSameIdentity(*locked, id3);

  // What was read rotates on as the original would: to the committed key.
  const Identity id4 = Rotate(*locked, true);
  EXPECT_EQ(NextKeyHash(id4.signing().public_key), id3.card().next_key_hash());
  EXPECT_EQ(id4.fingerprint(), id1.fingerprint());
}

TEST_F(RotationKeystoreTest, OnlyTheNewestKeptKeyPairsAreKept) {
  Identity id = test::NewIdentity("fr-pnat");
  std::vector<std::string> transports{id.transport().public_key};  // index = sequence - 1
  for (int i = 0; i < 20; ++i) {
    id = Rotate(id, i % 5 == 0);
    transports.push_back(id.transport().public_key);
  }
  ASSERT_EQ(id.card().sequence(), 21u);
  ASSERT_EQ(id.previous().size(), kMaxPreviousKeys);
  for (size_t i = 0; i < kMaxPreviousKeys; ++i) {
    EXPECT_EQ(id.previous()[i].sequence, 20u - i);
    EXPECT_EQ(id.previous()[i].transport.public_key, transports[19 - i]);
  }
  EXPECT_NE(id.TransportOf(5), nullptr);
  EXPECT_EQ(id.TransportOf(4), nullptr);  // wiped

  const std::string path = dir + "/keys.bin";
  ASSERT_TRUE(id.WriteKeystore(path, std::nullopt).ok());
  auto back = Identity::ReadKeystore(path, std::nullopt);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ExpectSameIdentity(*back, id);
  EXPECT_EQ(back->TransportOf(4), nullptr);
}

TEST(RotationTest, EnvelopeSealedBeforeAnIdentityRotationVerifiesWithTheOldKey) {
  const Identity sender1 = test::NewIdentity("fr-pnat");
  const Identity bob = test::NewIdentity("nl-om");
  auto sealed = SealEnvelope(sender1, test::SimpleDraft({&bob}, "before the rotation"));
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  auto env = ParseEnvelope(*sealed);
  ASSERT_TRUE(env.ok()) << env.error().message;

  const Identity sender2 = Rotate(sender1, /*new_identity=*/true);
  const std::string& old_key = sender1.signing().public_key;
  const std::string& new_key = sender2.signing().public_key;
  ASSERT_EQ(sender2.fingerprint(), sender1.fingerprint());

  EXPECT_TRUE(VerifyOuterSignature(*env, old_key).ok());
  EXPECT_TRUE(VerifyOuterSignature(*env, old_key, sender2.fingerprint()).ok());
  auto with_new = VerifyOuterSignature(*env, new_key, sender2.fingerprint());
  ASSERT_FALSE(with_new.ok());
  EXPECT_EQ(with_new.error().code, Code::kUnauthenticated);
  // The owner named must be the envelope's sender.
  EXPECT_FALSE(VerifyOuterSignature(*env, old_key, bob.fingerprint()).ok());

  // An envelope sealed after the rotation: the new key, named by its owner.
  auto after = SealEnvelope(sender2, test::SimpleDraft({&bob}, "after the rotation"));
  ASSERT_TRUE(after.ok()) << after.error().message;
  auto env2 = ParseEnvelope(*after);
  ASSERT_TRUE(env2.ok()) << env2.error().message;
  EXPECT_EQ(env2->outer.sender(), sender1.fingerprint());
  EXPECT_TRUE(VerifyOuterSignature(*env2, new_key, sender2.fingerprint()).ok());
  // Without the owner the new key names another fingerprint.
  EXPECT_FALSE(VerifyOuterSignature(*env2, new_key).ok());
  EXPECT_FALSE(VerifyOuterSignature(*env2, old_key, sender2.fingerprint()).ok());
}

TEST(RotationTest, ChainLongerThanTheLimitIsRefused) {
  Identity id = test::NewIdentity("fr-pnat");
  for (int i = 1; i < kMaxCardChain; ++i) id = Rotate(id, false);
  // kMaxCardChain cards: the limit itself is accepted.
  const VerifiedCard full = Verified(id.signed_card());
  EXPECT_EQ(full.chain.size(), static_cast<size_t>(kMaxCardChain));
  EXPECT_EQ(full.fingerprint, id.fingerprint());

  // One card more is refused.
  const std::string over =
      SignRotatedCard(NextCard(id), id.signing(), id.signed_card(), id.signing());
  ExpectRefused(over, Code::kInvalidArgument);
  // And the node cannot make one.
  EXPECT_FALSE(id.Rotated(false, kFrom, kUntil).ok());
}

}  // namespace
}  // namespace rogatory
