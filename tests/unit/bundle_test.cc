#include <gtest/gtest.h>

#include "keys/armor.h"
#include "keys/bundle.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

using test::NewIdentity;
using test::SimpleDraft;

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bytes = SealEnvelope(a, SimpleDraft({&b}, "evidence"));
    ASSERT_TRUE(bytes.ok());
    envelope = *bytes;
    auto env = ParseEnvelope(envelope);
    auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                               a.encryption().public_key, a.signing().public_key);
    ASSERT_TRUE(opened.ok());
    key = opened->content_key.Clone();
    wire::Receipt r;
    r.set_version(1);
    r.set_message_id(env->outer.message_id());
    r.set_sender(a.fingerprint());
    r.set_recipient(b.fingerprint());
    r.set_envelope_sha256(Sha256(envelope));
    r.set_inner_sha256(opened->inner_signed_sha256);
    r.set_received_at(1'700'000'000'500'000);
    receipt = SignReceipt(r, b.signing());
  }

  std::string Make(std::vector<std::string> receipts) {
    BundleParts p;
    p.envelope = envelope;
    p.content_key = &key;
    p.cards = {a.signed_card(), b.signed_card()};
    p.receipts = std::move(receipts);
    p.exported_at_us = 1'700'000'001'000'000;
    return MakeBundle(p);
  }

  Identity a = NewIdentity("sender-node");
  Identity b = NewIdentity("recipient-node");
  Identity c = NewIdentity("third-node");
  std::string envelope;
  SecretBytes key;
  std::string receipt;
};

TEST_F(BundleTest, ValidBundleVerifiesEveryCheck) {
  const VerifyReport r = VerifyBundle(Make({receipt}), FingerprintText(a.fingerprint()));
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.sender.id, "sender-node");
  EXPECT_EQ(r.sender.fingerprint, FingerprintText(a.fingerprint()));
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].id, "recipient-node");
  EXPECT_EQ(r.body_sha256_hex, ToHex(Sha256("evidence")));
  std::set<std::string> names;
  for (const auto& c : r.checks) {
    EXPECT_TRUE(c.ok) << c.name << ": " << c.detail;
    names.insert(c.name);
  }
  for (const char* n : {"outer_signature", "inner_signature", "receipt", "cards"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

TEST_F(BundleTest, AnyChangedCharacterFails) {
  const std::string text = Make({receipt});
  // Every character of the armored text, changed to another base64 character.
  for (size_t i = 0; i < text.size(); i += 7) {
    std::string t = text;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    if (t == text) continue;
    EXPECT_FALSE(VerifyBundle(t, "").valid) << "character " << i;
  }
}

TEST_F(BundleTest, ExpectedFingerprintMustMatch) {
  EXPECT_FALSE(VerifyBundle(Make({receipt}), FingerprintText(b.fingerprint())).valid);
}

TEST_F(BundleTest, ForgedReceiptsFail) {
  // Signed by someone who is not a recipient.
  wire::SignedReceipt sr;
  ASSERT_TRUE(sr.ParseFromString(receipt));
  wire::Receipt body;
  ASSERT_TRUE(body.ParseFromString(sr.receipt()));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(body, c.signing())}), "").valid);
  // Right signer, wrong envelope digest.
  wire::Receipt wrong = body;
  wrong.set_envelope_sha256(Sha256("another envelope"));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(wrong, b.signing())}), "").valid);
  // Right signer, wrong plaintext digest.
  wrong = body;
  wrong.set_inner_sha256(Sha256("another plaintext"));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(wrong, b.signing())}), "").valid);
}

TEST_F(BundleTest, NonCanonicalBundleFails) {
  const std::string text = Make({receipt});
  auto bytes = Dearmor(kBundleArmorType, text);
  ASSERT_TRUE(bytes.ok());
  // Unsigned slack: an unknown field appended to the bundle.
  const std::string slack = Armor(kBundleArmorType, *bytes + std::string("\xf8\x07\x01", 3));
  const VerifyReport r = VerifyBundle(slack, "");
  EXPECT_FALSE(r.valid);
  // Missing the sender's card.
  BundleParts p;
  p.envelope = envelope;
  p.content_key = &key;
  p.cards = {b.signed_card()};
  EXPECT_FALSE(VerifyBundle(MakeBundle(p), "").valid);
  // Not a bundle at all.
  EXPECT_FALSE(VerifyBundle("hello", "").valid);
  EXPECT_FALSE(VerifyBundle(Armor(kCardArmorType, a.signed_card()), "").valid);
}

TEST_F(BundleTest, WrongContentKeyFails) {
  BundleParts p;
  p.envelope = envelope;
  SecretBytes wrong = SecretBytes::From(RandomBytes(32));
  p.content_key = &wrong;
  p.cards = {a.signed_card(), b.signed_card()};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
}

}  // namespace
}  // namespace rogatory

namespace rogatory {
namespace {

TEST(BundleValidityTest, MessageCreatedOutsideTheSenderCardValidityFails) {
  ASSERT_TRUE(InitCrypto().ok());
  auto expired = Identity::Generate({"old-node", "Old", "FR", {"tcp://127.0.0.1:7000"},
                                     1'000'000, 2'000'000});  // valid for one second in 1970
  ASSERT_TRUE(expired.ok());
  Identity b = test::NewIdentity("recipient-node");
  auto bytes = SealEnvelope(*expired, test::SimpleDraft({&b}, "late"));
  ASSERT_TRUE(bytes.ok());
  auto env = ParseEnvelope(*bytes);
  auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                             expired->encryption().public_key, expired->signing().public_key);
  ASSERT_TRUE(opened.ok());
  BundleParts p;
  p.envelope = *bytes;
  p.content_key = &opened->content_key;
  p.cards = {expired->signed_card(), b.signed_card()};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  bool found = false;
  for (const auto& c : r.checks) {
    if (c.name == "sender_card_validity") found = !c.ok;
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace rogatory
