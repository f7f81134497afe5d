#include <gtest/gtest.h>
#include <sodium.h>

#include "keys/armor.h"
#include "keys/crypto.h"
#include "keys/fingerprint.h"
#include "keys/strict_parse.h"
#include "node/clock.h"
#include "proto/wire.pb.h"

namespace rogatory {
namespace {

TEST(Sha256Test, KnownAnswer) {
  ASSERT_TRUE(InitCrypto().ok());
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ToHex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SignTest, LabelsSeparateDomains) {
  ASSERT_TRUE(InitCrypto().ok());
  SecretBytes seed = SecretBytes::From(std::string(32, '\x07'));
  SigningKey key = SigningKey::FromSeed(seed);
  const std::string sig = Sign(key, "rogatory/a/v1", "message");
  EXPECT_TRUE(Verify(key.public_key, "rogatory/a/v1", "message", sig));
  EXPECT_FALSE(Verify(key.public_key, "rogatory/b/v1", "message", sig));
  EXPECT_FALSE(Verify(key.public_key, "rogatory/a/v1", "messagf", sig));
  // label||0||msg is prefix-free: moving bytes between label and message fails.
  EXPECT_FALSE(Verify(key.public_key, "rogatory/a/v", "1message", sig));
}

TEST(FingerprintTest, TextFormAndParsing) {
  ASSERT_TRUE(InitCrypto().ok());
  const std::string raw = FingerprintOf(std::string(32, 'k'));
  ASSERT_EQ(raw.size(), 20u);
  const std::string text = FingerprintText(raw);
  ASSERT_EQ(text.size(), 39u);  // 32 characters + 7 dashes
  for (size_t i = 4; i < text.size(); i += 5) EXPECT_EQ(text[i], '-');
  EXPECT_EQ(*ParseFingerprint(text), raw);
  std::string lower;
  for (char c : text) {
    if (c != '-') lower.push_back(static_cast<char>(std::tolower(c)));
  }
  EXPECT_EQ(*ParseFingerprint(lower), raw);
  EXPECT_FALSE(ParseFingerprint(text.substr(0, 38)).ok());
  EXPECT_FALSE(ParseFingerprint(text + "A").ok());
  EXPECT_FALSE(ParseFingerprint("0000-0000-0000-0000-0000-0000-0000-0000").ok());  // 0 not base32
}

TEST(ArmorTest, RoundTripAndStrictness) {
  ASSERT_TRUE(InitCrypto().ok());
  for (size_t n : {1u, 47u, 48u, 49u, 100u, 1000u}) {
    const std::string bytes = RandomBytes(n);
    const std::string text = Armor("CARD", bytes);
    auto back = Dearmor("CARD", text);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, bytes);
  }
  const std::string text = Armor("CARD", RandomBytes(100));
  EXPECT_FALSE(Dearmor("BUNDLE", text).ok());              // wrong type
  EXPECT_FALSE(Dearmor("CARD", text + "\n").ok());          // trailing blank line
  EXPECT_FALSE(Dearmor("CARD", text.substr(0, text.size() - 1)).ok());  // no final newline
  std::string crlf = text;
  crlf.replace(crlf.find('\n'), 1, "\r\n");
  EXPECT_FALSE(Dearmor("CARD", crlf).ok());
  std::string short_line = text;
  short_line.erase(short_line.find('\n') + 10, 1);  // a 63-character first line
  EXPECT_FALSE(Dearmor("CARD", short_line).ok());
  EXPECT_FALSE(Dearmor("CARD", "").ok());
}

TEST(Base64Test, NonCanonicalIsRefused) {
  EXPECT_TRUE(FromBase64("QQ==").ok());
  EXPECT_FALSE(FromBase64("QR==").ok());  // stray bits
  EXPECT_FALSE(FromBase64("QQ").ok());    // missing padding
  EXPECT_FALSE(FromBase64("Q Q==").ok());
}

TEST(StrictParseTest, UnknownAndNonCanonicalFieldsAreRefused) {
  wire::Receipt r;
  r.set_version(1);
  r.set_message_id("m1");
  const std::string good = SerializeCanonical(r);
  wire::Receipt out;
  EXPECT_TRUE(ParseStrict(good, &out, "receipt").ok());
  // An unknown field 99 (varint) appended.
  std::string unknown = good + std::string("\x98\x06\x01", 3);
  EXPECT_FALSE(ParseStrict(unknown, &out, "receipt").ok());
  // The same field twice (last one wins in protobuf): not canonical.
  std::string repeated = good + std::string("\x08\x01", 2);
  EXPECT_FALSE(ParseStrict(repeated, &out, "receipt").ok());
  // A default value written explicitly: not canonical.
  std::string explicit_zero = std::string("\x20\x00", 2) + good;
  EXPECT_FALSE(ParseStrict(explicit_zero, &out, "receipt").ok());
  // Reordered fields: not canonical.
  std::string reordered = good.substr(2) + good.substr(0, 2);
  EXPECT_FALSE(ParseStrict(reordered, &out, "receipt").ok());
}

TEST(DurationTest, ParsesShortAndIsoForms) {
  EXPECT_EQ(*ParseDuration("30d"), 30LL * 86400 * 1000000);
  EXPECT_EQ(*ParseDuration("2s"), 2LL * 1000000);
  EXPECT_EQ(*ParseDuration("1h30m"), 5400LL * 1000000);
  EXPECT_EQ(*ParseDuration("P30D"), 30LL * 86400 * 1000000);
  EXPECT_EQ(*ParseDuration("PT12H"), 12LL * 3600 * 1000000);
  EXPECT_EQ(*ParseDuration("P1DT2H"), 26LL * 3600 * 1000000);
  // Beyond 1,000 years (and int64 microseconds) is refused, not wrapped.
  for (const char* bad : {"", "30", "d", "P", "PT", "P1H", "30x", "-5d", "P30DT", "99999999w",
                          "P99999999W", "P99999999W99999999W", "366001d"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(Rfc3339Test, Formats) {
  EXPECT_EQ(Rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(Rfc3339(1'700'000'000'123'456), "2023-11-14T22:13:20.123456Z");
}

// The OpenSSL-backed XChaCha20-Poly1305 gives libsodium's bytes exactly, for
// every length around the block and tag boundaries, and refuses any change.
TEST(CryptoTest, XChaChaMatchesLibsodiumByteForByte) {
  ASSERT_TRUE(InitCrypto().ok());
  const SecretBytes key = SecretBytes::From(RandomBytes(32));
  for (size_t n : {0, 1, 15, 16, 63, 64, 65, 1000, 4096, 65537}) {
    const std::string nonce = RandomBytes(24), ad = RandomBytes(n % 40), pt = RandomBytes(n);
    const auto* np = reinterpret_cast<const unsigned char*>(nonce.data());
    std::string ours(n + 16, '\0'), theirs(n + 16, '\0');
    XChaChaSeal(key, np, ad, pt, reinterpret_cast<unsigned char*>(ours.data()));
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(theirs.data()), &len,
        reinterpret_cast<const unsigned char*>(pt.data()), pt.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, np, key.data());
    ASSERT_EQ(ours, theirs) << n;
    std::string back(n, '\0');
    ASSERT_TRUE(XChaChaOpen(key, np, ad, ours, reinterpret_cast<unsigned char*>(back.data())));
    EXPECT_EQ(back, pt);
    std::string bad = ours;
    bad[bad.size() / 2] ^= 1;
    EXPECT_FALSE(XChaChaOpen(key, np, ad, bad, reinterpret_cast<unsigned char*>(back.data())));
    EXPECT_EQ(back, std::string(n, '\0'));  // nothing unauthenticated left behind
  }
}

}  // namespace
}  // namespace rogatory
