#include <gtest/gtest.h>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/strict_parse.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

TEST(CardTest, GeneratedCardVerifies) {
  Identity id = test::NewIdentity("fr-pnat");
  auto vc = VerifyArmoredCard(Armor(kCardArmorType, id.signed_card()));
  ASSERT_TRUE(vc.ok()) << vc.error().message;
  EXPECT_EQ(vc->card.node_id(), "fr-pnat");
  EXPECT_EQ(vc->fingerprint, id.fingerprint());
  EXPECT_EQ(vc->fingerprint, FingerprintOf(id.signing().public_key));
  EXPECT_EQ(vc->card.sequence(), 1u);
  EXPECT_EQ(vc->card.next_key_hash().size(), 32u);
}

TEST(CardTest, WrongSignatureIsRefused) {
  Identity id = test::NewIdentity("fr-pnat");
  Identity other = test::NewIdentity("nl-om");
  // The card's body signed by someone else's key.
  wire::SignedCard sc;
  ASSERT_TRUE(sc.ParseFromString(id.signed_card()));
  sc.set_signature(Sign(other.signing(), "rogatory/card/v1", sc.card()));
  auto vc = VerifyCard(SerializeCanonical(sc));
  ASSERT_FALSE(vc.ok());
  EXPECT_EQ(vc.error().code, Code::kUnauthenticated);
}

TEST(CardTest, AnyFlippedByteIsRefusedOrChangesTheFingerprint) {
  Identity id = test::NewIdentity("fr-pnat");
  const std::string& bytes = id.signed_card();
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string t = bytes;
    t[i] = static_cast<char>(t[i] ^ 0x01);
    auto vc = VerifyCard(t);
    EXPECT_FALSE(vc.ok() && vc->fingerprint == id.fingerprint()) << "byte " << i;
  }
}

TEST(CardTest, SubstitutedKeysChangeTheFingerprint) {
  // An attacker re-signs a card with its own key: valid card, other fingerprint,
  // which `peer add --fingerprint` then refuses.
  Identity id = test::NewIdentity("fr-pnat");
  Identity attacker = test::NewIdentity("fr-pnat");
  auto vc = VerifyCard(attacker.signed_card());
  ASSERT_TRUE(vc.ok());
  EXPECT_NE(vc->fingerprint, id.fingerprint());
}

TEST(CardTest, InvalidFieldsAreRefused) {
  EXPECT_FALSE(ValidateNodeId("A-upper").ok());
  EXPECT_FALSE(ValidateNodeId("-lead").ok());
  EXPECT_FALSE(ValidateNodeId("x").ok());
  EXPECT_FALSE(ValidateNodeId(std::string(33, 'a')).ok());
  EXPECT_TRUE(ValidateNodeId("fr-pnat").ok());
  EXPECT_FALSE(ValidateCountry("fr").ok());
  EXPECT_FALSE(ValidateCountry("FRA").ok());
  EXPECT_TRUE(ValidateCountry("FR").ok());
  EXPECT_FALSE(ValidateEndpoint("udp://1.2.3.4:5").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://host").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://host:99999").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://127.0.0.1:7001").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://*:7001").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://[::1]:7001").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://[fe80::1%eth0]:7001").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://node-1.justice.example:7001").ok());
  EXPECT_TRUE(ValidateEndpoint("tcp://eth0:7001").ok());
  // Found by the config fuzzer: a host with backslashes and a form feed
  // passed, and `init` then wrote a node.toml that does not parse.
  EXPECT_FALSE(ValidateEndpoint("tcp://193.0:'\\\fm\\:ai:1080").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://a b:7001").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://a\"b:7001").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://[]:7001").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://::1:7001").ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://:7001").ok());
  // Cards signed by older builds keep any printable host.
  EXPECT_TRUE(ValidateEndpoint("tcp://::1:7001", /*strict_host=*/false).ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://a\\b:7001", /*strict_host=*/false).ok());
  EXPECT_FALSE(ValidateEndpoint("tcp://a\fb:7001", /*strict_host=*/false).ok());
  auto e = ValidateEndpoint("tcp://bad\fhost:7001");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().message.find('\f'), std::string::npos);
}

}  // namespace
}  // namespace rogatory
