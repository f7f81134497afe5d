// Thin, typed wrappers over libsodium (and OpenSSL's SHA-256) in the verbs
// the rest of the code uses: Sign/Verify, Seal/Open, Hash. Byte strings are
// std::string, as protobuf's `bytes` fields are. All functions are
// thread-safe once InitCrypto() has returned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

inline constexpr size_t kSha256Bytes = 32;
inline constexpr size_t kSignatureBytes = 64;
inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSymmetricKeyBytes = 32;
inline constexpr size_t kXNonceBytes = 24;
inline constexpr size_t kAeadTagBytes = 16;

// Initializes libsodium. Must be called once before anything else here.
Status InitCrypto();

// SHA-256 (OpenSSL EVP: uses the CPU's SHA extensions).
std::string Sha256(std::string_view data);
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  std::string Finish();  // 32 bytes; the stream cannot be used afterwards
 private:
  void* ctx_;
};

std::string RandomBytes(size_t n);

// An Ed25519 signing key (64-byte libsodium secret key) and its public key.
struct SigningKey {
  SecretBytes secret;      // crypto_sign_SECRETKEYBYTES
  std::string public_key;  // 32 bytes
  static SigningKey FromSeed(const SecretBytes& seed);
};

// Signs label || 0x00 || message. Labels are fixed ASCII strings naming the
// structure and its version (keys/labels.h); the NUL keeps them prefix-free.
std::string Sign(const SigningKey& key, std::string_view label,
                 std::string_view message);
[[nodiscard]] bool Verify(std::string_view public_key, std::string_view label,
                          std::string_view message, std::string_view signature);

// An X25519 key pair (for crypto_box and for CURVE).
struct BoxKey {
  SecretBytes secret;      // 32 bytes
  std::string public_key;  // 32 bytes
  static BoxKey FromSecret(const SecretBytes& secret);
  static BoxKey Generate();
};

// The crypto_box shared key between our secret and a peer's public key
// (crypto_box_beforenm). Symmetric: both ends derive the same key.
Result<SecretBytes> BoxSharedKey(const SecretBytes& our_secret,
                                 std::string_view their_public);
// crypto_box_easy_afternm with a random nonce; returns nonce || box.
std::string BoxSeal(const SecretBytes& shared, std::string_view plaintext,
                    std::string* nonce_out);
[[nodiscard]] Result<SecretBytes> BoxOpen(const SecretBytes& shared,
                                          std::string_view nonce,
                                          std::string_view box);

// XChaCha20-Poly1305-IETF with a random nonce.
std::string AeadSeal(const SecretBytes& key, std::string_view plaintext,
                     std::string_view ad, std::string* nonce_out);
[[nodiscard]] Result<std::string> AeadOpen(const SecretBytes& key,
                                           std::string_view nonce,
                                           std::string_view ciphertext,
                                           std::string_view ad);

// XChaCha20-Poly1305-IETF with a caller-chosen nonce (combined mode: the
// 16-byte tag follows the ciphertext), byte-identical to libsodium's
// crypto_aead_xchacha20poly1305_ietf_*: the subkey comes from libsodium's
// HChaCha20 and the bulk ChaCha20-Poly1305 (RFC 8439) from OpenSSL, which
// runs it about four times faster on this hardware (docs/performance.md).
// For bulk data (attachment chunks). `out` has room for plaintext + 16
// bytes (seal) or sealed - 16 bytes (open); Open returns false, leaving
// `out` zeroed, when the tag does not verify.
void XChaChaSeal(const SecretBytes& key, const unsigned char nonce[24], std::string_view ad,
                 std::string_view plaintext, unsigned char* out);
[[nodiscard]] bool XChaChaOpen(const SecretBytes& key, const unsigned char nonce[24],
                               std::string_view ad, std::string_view sealed, unsigned char* out);

// BLAKE2b-256 of `label` keyed by `key` (key commitment, keyed hashes).
std::string KeyedHash(const SecretBytes& key, std::string_view label);

std::string ToHex(std::string_view bytes);
std::string ToBase64(std::string_view bytes);
// Strict: standard alphabet with padding, no whitespace.
Result<std::string> FromBase64(std::string_view text);

}  // namespace rogatory
