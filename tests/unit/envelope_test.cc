#include <gtest/gtest.h>

#include "keys/envelope.h"
#include "keys/labels.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

using test::NewIdentity;
using test::SimpleDraft;

// Everything a recipient does before storing: parse, outer signature, open.
Status Accept(const std::string& bytes, const Identity& sender, const Identity& me) {
  ROG_ASSIGN_OR_RETURN(ParsedEnvelope env, ParseEnvelope(bytes));
  ROG_RETURN_IF_ERROR(VerifyOuterSignature(env, sender.signing().public_key));
  auto opened = OpenEnvelope(env, me.encryption().secret, me.fingerprint(),
                             sender.encryption().public_key, sender.signing().public_key);
  if (!opened.ok()) return opened.error();
  return {};
}

class EnvelopeTest : public ::testing::Test {
 protected:
  Identity a = NewIdentity("alice-node");
  Identity b = NewIdentity("bob-node");
  Identity c = NewIdentity("carol-node");
  Identity d = NewIdentity("dave-node");
};

TEST_F(EnvelopeTest, RoundTripToOneRecipient) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "the body"));
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  auto env = ParseEnvelope(*bytes);
  ASSERT_TRUE(env.ok());
  ASSERT_TRUE(VerifyOuterSignature(*env, a.signing().public_key).ok());
  auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                             a.encryption().public_key, a.signing().public_key);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->payload.body(), "the body");
  EXPECT_EQ(opened->inner.subject(), "subject");
  EXPECT_EQ(opened->inner.outer_header(), env->sealed.outer_header());
  EXPECT_EQ(opened->body_sha256, Sha256("the body"));
}

TEST_F(EnvelopeTest, RoundTripToThreeRecipientsAndTheSender) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b, &c, &d}, "to three"));
  ASSERT_TRUE(bytes.ok());
  auto env = ParseEnvelope(*bytes);
  ASSERT_TRUE(env.ok());
  std::string inner_digest;
  for (const Identity* r : {&b, &c, &d}) {
    auto opened = OpenEnvelope(*env, r->encryption().secret, r->fingerprint(),
                               a.encryption().public_key, a.signing().public_key);
    ASSERT_TRUE(opened.ok()) << r->card().node_id();
    EXPECT_EQ(opened->payload.body(), "to three");
    if (inner_digest.empty()) inner_digest = opened->inner_signed_sha256;
    EXPECT_EQ(opened->inner_signed_sha256, inner_digest);
  }
  // The sender can open its own envelope through any recipient's wrapped key.
  auto own = OpenEnvelope(*env, a.encryption().secret, c.fingerprint(),
                          c.encryption().public_key, a.signing().public_key);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->payload.body(), "to three");
}

TEST_F(EnvelopeTest, FlippingAnyByteIsRejected) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b, &c}, "integrity matters"));
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(Accept(*bytes, a, b).ok());
  for (size_t i = 0; i < bytes->size(); ++i) {
    for (uint8_t mask : {0x01, 0x80}) {
      std::string t = *bytes;
      t[i] = static_cast<char>(t[i] ^ mask);
      EXPECT_FALSE(Accept(t, a, b).ok()) << "byte " << i << " mask " << int(mask);
    }
  }
}

TEST_F(EnvelopeTest, FlippingAnyByteOfAnyInnerFieldIsRejected) {
  // Tamper inside the plaintext layers too, re-signing the outer layer as a
  // malicious sender-side relay cannot, but checking the inner checks alone.
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "inner"));
  auto env = ParseEnvelope(*bytes);
  auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                             a.encryption().public_key, a.signing().public_key);
  ASSERT_TRUE(opened.ok());
  const std::string payload = SerializeCanonical(opened->payload);
  for (size_t i = 0; i < payload.size(); i += 3) {
    std::string t = payload;
    t[i] = static_cast<char>(t[i] ^ 0x04);
    wire::SealedMessage sealed = env->sealed;
    std::string nonce;
    sealed.set_ciphertext(AeadSeal(opened->content_key, t, sealed.outer_header(), &nonce));
    sealed.set_nonce(nonce);
    ParsedEnvelope forged = *env;
    forged.sealed = sealed;
    auto r = OpenWithContentKey(forged, opened->content_key.Clone(), a.signing().public_key);
    EXPECT_FALSE(r.ok()) << "payload byte " << i;
  }
}

TEST_F(EnvelopeTest, ARecipientNotAddressedCannotOpen) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "for bob only"));
  auto env = ParseEnvelope(*bytes);
  auto opened = OpenEnvelope(*env, c.encryption().secret, c.fingerprint(),
                             a.encryption().public_key, a.signing().public_key);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code, Code::kPermissionDenied);
  // Pretending to be bob with carol's key does not unwrap bob's key either.
  auto stolen = OpenEnvelope(*env, c.encryption().secret, b.fingerprint(),
                             a.encryption().public_key, a.signing().public_key);
  EXPECT_FALSE(stolen.ok());
}

TEST_F(EnvelopeTest, ReaddressingASignedPlaintextIsDetected) {
  // Bob receives alice's signed plaintext and builds a new envelope that
  // delivers it to carol, even with an outer layer alice's key signed.
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "for bob"));
  auto env = ParseEnvelope(*bytes);
  auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                             a.encryption().public_key, a.signing().public_key);
  ASSERT_TRUE(opened.ok());

  wire::OuterHeader outer = env->outer;
  outer.clear_recipients();
  outer.add_recipients(c.fingerprint());
  const std::string outer_bytes = SerializeCanonical(outer);
  wire::SealedMessage sealed;
  sealed.set_outer_header(outer_bytes);
  auto shared = BoxSharedKey(b.encryption().secret, c.encryption().public_key);
  auto* wk = sealed.add_wrapped_keys();
  wk->set_recipient(c.fingerprint());
  std::string nonce;
  wk->set_box(BoxSeal(*shared, opened->content_key.view(), &nonce));
  wk->set_nonce(nonce);
  sealed.set_ciphertext(AeadSeal(opened->content_key, SerializeCanonical(opened->payload),
                                 outer_bytes, &nonce));
  sealed.set_nonce(nonce);
  wire::Envelope forged;
  forged.set_sealed(SerializeCanonical(sealed));
  forged.set_signature(Sign(a.signing(), labels::kEnvelopeOuter, forged.sealed()));
  auto penv = ParseEnvelope(SerializeCanonical(forged));
  ASSERT_TRUE(penv.ok());
  ASSERT_TRUE(VerifyOuterSignature(*penv, a.signing().public_key).ok());
  auto r = OpenEnvelope(*penv, c.encryption().secret, c.fingerprint(),
                        b.encryption().public_key, a.signing().public_key);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("re-addressed"), std::string::npos) << r.error().message;
}

TEST_F(EnvelopeTest, WrongContentKeyFailsTheCommitment) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "committed"));
  auto env = ParseEnvelope(*bytes);
  SecretBytes other = SecretBytes::From(RandomBytes(32));
  auto r = OpenWithContentKey(*env, std::move(other), a.signing().public_key);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("key commitment"), std::string::npos);
}

TEST_F(EnvelopeTest, WrongSenderKeyFailsBothSignatures) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "from alice"));
  auto env = ParseEnvelope(*bytes);
  EXPECT_FALSE(VerifyOuterSignature(*env, c.signing().public_key).ok());
  auto r = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(), a.encryption().public_key,
                        c.signing().public_key);
  EXPECT_FALSE(r.ok());
}

TEST_F(EnvelopeTest, StructuralLimits) {
  Draft none = SimpleDraft({}, "x");
  EXPECT_FALSE(SealEnvelope(a, none).ok());
  Draft twice = SimpleDraft({&b, &b}, "x");
  EXPECT_FALSE(SealEnvelope(a, twice).ok());
  Draft bad_id = SimpleDraft({&b}, "x");
  bad_id.message_id = "-starts-with-dash";
  EXPECT_FALSE(SealEnvelope(a, bad_id).ok());
  Draft backwards = SimpleDraft({&b}, "x");
  backwards.expires_at_us = backwards.created_at_us;
  EXPECT_FALSE(SealEnvelope(a, backwards).ok());
  EXPECT_FALSE(ParseEnvelope("").ok());
  EXPECT_FALSE(ParseEnvelope(RandomBytes(200)).ok());
}

// A code no recipient accepts is refused when sealing, not after the
// message was confirmed and queued (found by review of the control path).
TEST_F(EnvelopeTest, CodesOutsideTheirRangeAreNeverSealed) {
  Draft ok = SimpleDraft({&b}, "x");
  ok.priority = wire::PRIORITY_URGENT;
  ok.inner.set_kind(wire::KIND_INFO);
  ok.inner.set_handling(wire::HANDLING_H3);
  auto sealed = SealEnvelope(a, ok);
  ASSERT_TRUE(sealed.ok()) << sealed.error().message;
  ASSERT_TRUE(Accept(*sealed, a, b).ok());

  Draft priority = ok;
  priority.priority = static_cast<wire::Priority>(4);
  auto r = SealEnvelope(a, priority);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown priority code 4 (known: 1 to 3)");
  priority.priority = wire::PRIORITY_UNSPECIFIED;
  EXPECT_FALSE(SealEnvelope(a, priority).ok());
  // A control request's uint32 0xFFFFFFFF arrives as -1 (found in review).
  priority.priority = static_cast<wire::Priority>(-1);
  EXPECT_FALSE(SealEnvelope(a, priority).ok());
  Draft negative = ok;
  negative.inner.set_kind(static_cast<wire::Kind>(-1));
  EXPECT_FALSE(SealEnvelope(a, negative).ok());
  negative = ok;
  negative.inner.set_handling(static_cast<wire::Handling>(-2));
  EXPECT_FALSE(SealEnvelope(a, negative).ok());

  Draft kind = ok;
  kind.inner.set_kind(static_cast<wire::Kind>(5));
  r = SealEnvelope(a, kind);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown kind code 5 (known: 0 to 4)");

  Draft handling = ok;
  handling.inner.set_handling(static_cast<wire::Handling>(1000));
  r = SealEnvelope(a, handling);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "unknown handling code 1000 (known: 0 to 3)");
}

TEST_F(EnvelopeTest, ReceiptSignedByTheRecipientNamesTheEnvelope) {
  auto bytes = SealEnvelope(a, SimpleDraft({&b}, "receipted"));
  wire::Receipt r;
  r.set_version(1);
  r.set_message_id("m");
  r.set_sender(a.fingerprint());
  r.set_recipient(b.fingerprint());
  r.set_envelope_sha256(Sha256(*bytes));
  r.set_inner_sha256(std::string(32, 'i'));
  const std::string signed_receipt = SignReceipt(r, b.signing());
  auto ok = VerifyReceipt(signed_receipt, b.signing().public_key);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckReceiptMatches(*ok, "m", a.fingerprint(), b.fingerprint(), Sha256(*bytes),
                                  std::string(32, 'i'))
                  .ok());
  // Wrong signer, wrong digest.
  EXPECT_FALSE(VerifyReceipt(signed_receipt, c.signing().public_key).ok());
  EXPECT_FALSE(CheckReceiptMatches(*ok, "m", a.fingerprint(), b.fingerprint(), Sha256("other"),
                                   "")
                   .ok());
  EXPECT_FALSE(VerifyReceipt(SignReceipt(r, c.signing()), b.signing().public_key).ok());
}

TEST(MessageIdTest, FreshIdsAreValidUniqueAndSortByTime) {
  ASSERT_TRUE(InitCrypto().ok());
  const std::string first = NewMessageId(1'700'000'000'000'000);
  const std::string later = NewMessageId(1'700'000'001'000'000);
  EXPECT_TRUE(ValidateMessageId(first).ok());
  EXPECT_EQ(first.size(), 26u);
  EXPECT_LT(first, later);
  EXPECT_NE(NewMessageId(1), NewMessageId(1));
}

}  // namespace
}  // namespace rogatory
