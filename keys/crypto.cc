#include "keys/crypto.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstring>

namespace rogatory {

Status InitCrypto() {
  if (sodium_init() < 0) {
    return MakeError(Code::kInternal, "libsodium failed to initialize");
  }
  return {};
}

std::string Sha256(std::string_view data) {
  Sha256Stream s;
  s.Update(data);
  return s.Finish();
}

// Fetched once: an implicit fetch on every init costs more than hashing a
// 64-byte Merkle node (OpenSSL 3).
const EVP_MD* Sha256Md() {
  static const EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex2(static_cast<EVP_MD_CTX*>(ctx_), Sha256Md(), nullptr);
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::string_view data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}

std::string Sha256Stream::Finish() {
  std::string out(kSha256Bytes, '\0');
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_),
                     reinterpret_cast<unsigned char*>(out.data()), &len);
  return out;
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

SigningKey SigningKey::FromSeed(const SecretBytes& seed) {
  SigningKey key{SecretBytes(crypto_sign_SECRETKEYBYTES),
                 std::string(crypto_sign_PUBLICKEYBYTES, '\0')};
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(key.public_key.data()),
                           key.secret.data(), seed.data());
  return key;
}

namespace {

std::string Labeled(std::string_view label, std::string_view message) {
  std::string input;
  input.reserve(label.size() + 1 + message.size());
  input.append(label);
  input.push_back('\0');
  input.append(message);
  return input;
}

const unsigned char* U(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* U(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace

std::string Sign(const SigningKey& key, std::string_view label,
                 std::string_view message) {
  const std::string input = Labeled(label, message);
  std::string sig(crypto_sign_BYTES, '\0');
  crypto_sign_detached(U(sig), nullptr, U(input), input.size(), key.secret.data());
  return sig;
}

bool Verify(std::string_view public_key, std::string_view label,
            std::string_view message, std::string_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES ||
      signature.size() != crypto_sign_BYTES) {
    return false;
  }
  const std::string input = Labeled(label, message);
  return crypto_sign_verify_detached(U(signature), U(input), input.size(),
                                     U(public_key)) == 0;
}

BoxKey BoxKey::FromSecret(const SecretBytes& secret) {
  BoxKey key{secret.Clone(), std::string(crypto_box_PUBLICKEYBYTES, '\0')};
  crypto_scalarmult_base(U(key.public_key), key.secret.data());
  return key;
}

BoxKey BoxKey::Generate() {
  SecretBytes secret(crypto_box_SECRETKEYBYTES);
  randombytes_buf(secret.data(), secret.size());
  return FromSecret(secret);
}

Result<SecretBytes> BoxSharedKey(const SecretBytes& our_secret,
                                 std::string_view their_public) {
  if (their_public.size() != crypto_box_PUBLICKEYBYTES) {
    return MakeError(Code::kInvalidArgument, "encryption public key has the wrong size");
  }
  SecretBytes shared(crypto_box_BEFORENMBYTES);
  if (crypto_box_beforenm(shared.data(), U(their_public), our_secret.data()) != 0) {
    return MakeError(Code::kInvalidArgument, "encryption public key is a weak point");
  }
  return shared;
}

std::string BoxSeal(const SecretBytes& shared, std::string_view plaintext,
                    std::string* nonce_out) {
  *nonce_out = RandomBytes(crypto_box_NONCEBYTES);
  std::string box(plaintext.size() + crypto_box_MACBYTES, '\0');
  crypto_box_easy_afternm(U(box), U(plaintext), plaintext.size(), U(*nonce_out),
                          shared.data());
  return box;
}

Result<SecretBytes> BoxOpen(const SecretBytes& shared, std::string_view nonce,
                            std::string_view box) {
  if (nonce.size() != crypto_box_NONCEBYTES || box.size() < crypto_box_MACBYTES) {
    return MakeError(Code::kUnauthenticated, "wrapped key is malformed");
  }
  SecretBytes out(box.size() - crypto_box_MACBYTES);
  if (crypto_box_open_easy_afternm(out.data(), U(box), box.size(), U(nonce),
                                   shared.data()) != 0) {
    return MakeError(Code::kUnauthenticated, "wrapped key does not open");
  }
  return out;
}

std::string AeadSeal(const SecretBytes& key, std::string_view plaintext,
                     std::string_view ad, std::string* nonce_out) {
  *nonce_out = RandomBytes(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  std::string ct(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(U(ct), &ct_len, U(plaintext),
                                             plaintext.size(), U(ad), ad.size(),
                                             nullptr, U(*nonce_out), key.data());
  ct.resize(ct_len);
  return ct;
}

Result<std::string> AeadOpen(const SecretBytes& key, std::string_view nonce,
                             std::string_view ciphertext, std::string_view ad) {
  if (key.size() != crypto_aead_xchacha20poly1305_ietf_KEYBYTES ||
      nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      ciphertext.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return MakeError(Code::kUnauthenticated, "ciphertext is malformed");
  }
  std::string pt(ciphertext.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long pt_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(U(pt), &pt_len, nullptr,
                                                 U(ciphertext), ciphertext.size(),
                                                 U(ad), ad.size(), U(nonce),
                                                 key.data()) != 0) {
    return MakeError(Code::kUnauthenticated, "ciphertext does not decrypt");
  }
  pt.resize(pt_len);
  return pt;
}

namespace {

// The ChaCha20-Poly1305 key and 96-bit nonce XChaCha20 derives from a
// 256-bit key and 192-bit nonce (draft-irtf-cfrg-xchacha, section 2.3).
struct XChaChaDerived {
  unsigned char subkey[32];
  unsigned char nonce12[12] = {0, 0, 0, 0};
  XChaChaDerived(const SecretBytes& key, const unsigned char nonce[24]) {
    crypto_core_hchacha20(subkey, nonce, key.data(), nullptr);
    std::memcpy(nonce12 + 4, nonce + 16, 8);
  }
  ~XChaChaDerived() { sodium_memzero(subkey, sizeof subkey); }
};

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};

}  // namespace

void XChaChaSeal(const SecretBytes& key, const unsigned char nonce[24], std::string_view ad,
                 std::string_view plaintext, unsigned char* out) {
  const XChaChaDerived d(key, nonce);
  CipherCtx c;
  int len = 0;
  const bool ok =
      c.ctx != nullptr &&
      EVP_EncryptInit_ex(c.ctx, EVP_chacha20_poly1305(), nullptr, d.subkey, d.nonce12) == 1 &&
      EVP_EncryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())) == 1 &&
      EVP_EncryptUpdate(c.ctx, out, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) == 1 &&
      EVP_EncryptFinal_ex(c.ctx, out + len, &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_AEAD_GET_TAG, 16, out + plaintext.size()) == 1;
  if (!ok) std::abort();  // out of memory in OpenSSL: nothing sensible to return
}

bool XChaChaOpen(const SecretBytes& key, const unsigned char nonce[24], std::string_view ad,
                 std::string_view sealed, unsigned char* out) {
  if (sealed.size() < 16) return false;
  const size_t n = sealed.size() - 16;
  const XChaChaDerived d(key, nonce);
  CipherCtx c;
  int len = 0;
  std::string tag(sealed.substr(n));
  const bool ok =
      c.ctx != nullptr &&
      EVP_DecryptInit_ex(c.ctx, EVP_chacha20_poly1305(), nullptr, d.subkey, d.nonce12) == 1 &&
      EVP_DecryptUpdate(c.ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(ad.data()),
                        static_cast<int>(ad.size())) == 1 &&
      EVP_DecryptUpdate(c.ctx, out, &len, reinterpret_cast<const unsigned char*>(sealed.data()),
                        static_cast<int>(n)) == 1 &&
      EVP_CIPHER_CTX_ctrl(c.ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(c.ctx, out + len, &len) == 1;
  if (!ok) sodium_memzero(out, n);  // no unauthenticated plaintext escapes
  return ok;
}

std::string KeyedHash(const SecretBytes& key, std::string_view label) {
  std::string out(32, '\0');
  crypto_generichash(U(out), out.size(), U(label), label.size(), key.data(), key.size());
  return out;
}

std::string ToHex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), U(bytes), bytes.size());
  out.pop_back();
  return out;
}

std::string ToBase64(std::string_view bytes) {
  const size_t len = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(len, '\0');
  sodium_bin2base64(out.data(), len, U(bytes), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // trailing NUL
  return out;
}

Result<std::string> FromBase64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(U(out), out.size(), text.data(), text.size(), nullptr, &len,
                        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return MakeError(Code::kInvalidArgument, "invalid base64");
  }
  out.resize(len);
  // Reject non-canonical encodings (stray bits in the last character).
  if (ToBase64(out) != text) {
    return MakeError(Code::kInvalidArgument, "non-canonical base64");
  }
  return out;
}

}  // namespace rogatory
