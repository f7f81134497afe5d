#include "keys/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keys/card.h"
#include "keys/file.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "proto/storage.pb.h"

namespace rogatory {

namespace {

constexpr size_t kSecretsSize = 4 * 32;
constexpr size_t kPreviousSize = 8 + 2 * 32;
// Argon2id at libsodium's "moderate"-minus setting: about 0.3 s and 128 MiB
// here; documented in docs/operator-guide.md.
constexpr unsigned long long kOpsLimit = 3;
constexpr size_t kMemLimit = 128u << 20;

Result<SecretBytes> DeriveKey(const SecretBytes& passphrase,
                              const storage::KdfParams& kdf) {
  if (kdf.salt().size() != crypto_pwhash_SALTBYTES ||
      kdf.algorithm() != crypto_pwhash_ALG_ARGON2ID13 || kdf.opslimit() > 16 ||
      kdf.memlimit() > (1ull << 31)) {
    return MakeError(Code::kDataLoss, "keystore has invalid key-derivation parameters");
  }
  SecretBytes key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  if (crypto_pwhash(key.data(), key.size(),
                    reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    reinterpret_cast<const unsigned char*>(kdf.salt().data()),
                    kdf.opslimit(), kdf.memlimit(), kdf.algorithm()) != 0) {
    return MakeError(Code::kUnavailable, "not enough memory to derive the keystore key");
  }
  return key;
}

}  // namespace

Result<Identity> Identity::Generate(const CardParams& p) {
  ROG_RETURN_IF_ERROR(ValidateNodeId(p.node_id));
  ROG_RETURN_IF_ERROR(ValidateCountry(p.country));
  for (const auto& e : p.endpoints) ROG_RETURN_IF_ERROR(ValidateEndpoint(e));
  if (p.authority.empty()) {
    return MakeError(Code::kInvalidArgument, "authority name is empty");
  }
  Identity id;
  SecretBytes seed(crypto_sign_SEEDBYTES);
  randombytes_buf(seed.data(), seed.size());
  id.signing_ = SigningKey::FromSeed(seed);
  id.encryption_ = BoxKey::Generate();
  id.transport_ = BoxKey::Generate();
  id.next_seed_ = SecretBytes(crypto_sign_SEEDBYTES);
  randombytes_buf(id.next_seed_.data(), id.next_seed_.size());
  const SigningKey next = SigningKey::FromSeed(id.next_seed_);

  wire::Card& c = id.card_;
  c.set_version(1);
  c.set_node_id(p.node_id);
  c.set_authority(p.authority);
  c.set_country(p.country);
  for (const auto& e : p.endpoints) c.add_endpoints(e);
  c.set_signing_key(id.signing_.public_key);
  c.set_encryption_key(id.encryption_.public_key);
  c.set_transport_key(id.transport_.public_key);
  c.set_valid_from(p.valid_from_us);
  c.set_valid_until(p.valid_until_us);
  c.set_sequence(1);
  c.set_next_key_hash(NextKeyHash(next.public_key));
  id.signed_card_ = SignCard(c, id.signing_);
  id.fingerprint_ = FingerprintOf(id.signing_.public_key);
  id.signing_keys_ = {id.signing_.public_key};
  return id;
}

namespace {

SecretBytes Copy(const SecretBytes& s) { return SecretBytes::From(s.view()); }

BoxKey CopyBoxKey(const BoxKey& k) { return BoxKey{Copy(k.secret), k.public_key}; }

}  // namespace

Result<Identity> Identity::Rotated(bool new_identity, int64_t valid_from_us,
                                   int64_t valid_until_us) const {
  if (valid_until_us <= valid_from_us) {
    return MakeError(Code::kInvalidArgument, "the new card's validity period is empty");
  }
  if (auto chain = VerifyCard(signed_card_);
      chain.ok() && chain->chain.size() >= static_cast<size_t>(kMaxCardChain)) {
    return MakeError(Code::kFailedPrecondition,
                     "this node's card chain holds " + std::to_string(kMaxCardChain) +
                         " cards, the most a card may carry",
                     "the node needs a new identity (rogatory init) and a new card exchange");
  }
  Identity id;
  if (new_identity) {
    id.signing_ = SigningKey::FromSeed(next_seed_);
    id.next_seed_ = SecretBytes(crypto_sign_SEEDBYTES);
    randombytes_buf(id.next_seed_.data(), id.next_seed_.size());
  } else {
    id.signing_ = SigningKey{Copy(signing_.secret), signing_.public_key};
    id.next_seed_ = Copy(next_seed_);
  }
  id.encryption_ = BoxKey::Generate();
  id.transport_ = BoxKey::Generate();
  id.previous_.push_back(
      PreviousKeys{card_.sequence(), CopyBoxKey(encryption_), CopyBoxKey(transport_)});
  for (const auto& p : previous_) {
    if (id.previous_.size() >= kMaxPreviousKeys) break;
    id.previous_.push_back(
        PreviousKeys{p.sequence, CopyBoxKey(p.encryption), CopyBoxKey(p.transport)});
  }
  wire::Card& c = id.card_;
  c = card_;
  c.set_signing_key(id.signing_.public_key);
  c.set_encryption_key(id.encryption_.public_key);
  c.set_transport_key(id.transport_.public_key);
  c.set_valid_from(valid_from_us);
  c.set_valid_until(valid_until_us);
  c.set_sequence(card_.sequence() + 1);
  c.set_next_key_hash(NextKeyHash(SigningKey::FromSeed(id.next_seed_).public_key));
  id.signed_card_ = SignRotatedCard(c, id.signing_, signed_card_, signing_);
  // Checked as every peer will check it, before anything is written.
  auto verified = VerifyCard(id.signed_card_);
  if (!verified.ok()) {
    return MakeError(Code::kInternal, "the rotated card does not verify: " +
                                          verified.error().message);
  }
  id.fingerprint_ = verified->fingerprint;
  id.signing_keys_ = verified->SigningKeys();
  return id;
}

const BoxKey* Identity::TransportOf(uint64_t sequence) const {
  if (sequence == card_.sequence()) return &transport_;
  for (const auto& p : previous_) {
    if (p.sequence == sequence) return &p.transport;
  }
  return nullptr;
}

Status Identity::WriteKeystore(const std::string& path,
                               const std::optional<SecretBytes>& passphrase) const {
  SecretBytes secrets(kSecretsSize + kPreviousSize * previous_.size());
  // The Ed25519 seed is the first half of libsodium's 64-byte secret key.
  std::memcpy(secrets.data(), signing_.secret.data(), 32);
  std::memcpy(secrets.data() + 32, encryption_.secret.data(), 32);
  std::memcpy(secrets.data() + 64, transport_.secret.data(), 32);
  std::memcpy(secrets.data() + 96, next_seed_.data(), 32);
  for (size_t i = 0; i < previous_.size(); ++i) {
    unsigned char* at = secrets.data() + kSecretsSize + i * kPreviousSize;
    for (int b = 0; b < 8; ++b) at[b] = static_cast<unsigned char>(previous_[i].sequence >> (8 * b));
    std::memcpy(at + 8, previous_[i].encryption.secret.data(), 32);
    std::memcpy(at + 40, previous_[i].transport.secret.data(), 32);
  }

  storage::Keystore ks;
  ks.set_version(1);
  ks.set_card(signed_card_);
  if (passphrase.has_value()) {
    auto* kdf = ks.mutable_kdf();
    kdf->set_salt(RandomBytes(crypto_pwhash_SALTBYTES));
    kdf->set_opslimit(kOpsLimit);
    kdf->set_memlimit(kMemLimit);
    kdf->set_algorithm(crypto_pwhash_ALG_ARGON2ID13);
    ROG_ASSIGN_OR_RETURN(SecretBytes key, DeriveKey(*passphrase, *kdf));
    std::string nonce;
    ks.set_secrets(AeadSeal(key, secrets.view(), labels::kKeystore, &nonce));
    ks.set_nonce(nonce);
  } else {
    ks.set_secrets(std::string(secrets.view()));
  }
  std::string bytes = SerializeCanonical(ks);
  WipeString(*ks.mutable_secrets());

  const Status written = WriteFileDurably(path, bytes, 0600, /*overwrite=*/false, "keystore");
  WipeString(bytes);
  return written;
}

namespace {

// Reads and strictly parses a keystore file (permission-checked).
Result<storage::Keystore> LoadKeystoreFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return MakeError(err == ENOENT ? Code::kNotFound : Code::kUnavailable,
                     "cannot open keystore " + path + ": " + std::strerror(err),
                     err == ENOENT ? "run 'rogatory init' to create this node's keys" : "");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return MakeError(Code::kPermissionDenied,
                     "keystore " + path + " is readable by group or others",
                     "run: chmod 600 " + path);
  }
  std::string bytes;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return MakeError(Code::kUnavailable, "cannot read keystore " + path);
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
    if (bytes.size() > (1u << 20)) break;
  }
  ::close(fd);
  sodium_memzero(buf, sizeof buf);

  storage::Keystore ks;
  const Status parsed = ParseStrict(bytes, &ks, "keystore");
  WipeString(bytes);
  if (!parsed.ok() || ks.version() != 1) {
    WipeString(*ks.mutable_secrets());
    return MakeError(Code::kDataLoss, "keystore " + path + " is corrupt or of an unknown version");
  }
  return ks;
}

}  // namespace

Result<std::string> Identity::ReadCard(const std::string& path) {
  ROG_ASSIGN_OR_RETURN(storage::Keystore ks, LoadKeystoreFile(path));
  WipeString(*ks.mutable_secrets());
  return ks.card();
}

Result<Identity> Identity::ReadKeystore(const std::string& path,
                                        const std::optional<SecretBytes>& passphrase) {
  ROG_ASSIGN_OR_RETURN(storage::Keystore ks, LoadKeystoreFile(path));
  SecretBytes secrets;
  if (ks.has_kdf()) {
    if (!passphrase.has_value()) {
      return MakeError(Code::kFailedPrecondition,
                       "keystore " + path + " is protected by a passphrase",
                       "pass --passphrase-file FILE");
    }
    ROG_ASSIGN_OR_RETURN(SecretBytes key, DeriveKey(*passphrase, ks.kdf()));
    auto plain = AeadOpen(key, ks.nonce(), ks.secrets(), labels::kKeystore);
    if (!plain.ok()) {
      return MakeError(Code::kUnauthenticated, "wrong passphrase for keystore " + path);
    }
    secrets = SecretBytes::From(plain.value());
    WipeString(plain.value());
  } else {
    secrets = SecretBytes::From(ks.secrets());
  }
  WipeString(*ks.mutable_secrets());
  if (secrets.size() < kSecretsSize || (secrets.size() - kSecretsSize) % kPreviousSize != 0 ||
      (secrets.size() - kSecretsSize) / kPreviousSize > kMaxPreviousKeys) {
    return MakeError(Code::kDataLoss, "keystore " + path + " has secrets of the wrong size");
  }

  Identity id;
  SecretBytes part(32);
  std::memcpy(part.data(), secrets.data(), 32);
  id.signing_ = SigningKey::FromSeed(part);
  std::memcpy(part.data(), secrets.data() + 32, 32);
  id.encryption_ = BoxKey::FromSecret(part);
  std::memcpy(part.data(), secrets.data() + 64, 32);
  id.transport_ = BoxKey::FromSecret(part);
  std::memcpy(part.data(), secrets.data() + 96, 32);
  id.next_seed_ = std::move(part);
  for (size_t off = kSecretsSize; off < secrets.size(); off += kPreviousSize) {
    PreviousKeys p;
    for (int b = 0; b < 8; ++b) p.sequence |= uint64_t{secrets.data()[off + b]} << (8 * b);
    SecretBytes k(32);
    std::memcpy(k.data(), secrets.data() + off + 8, 32);
    p.encryption = BoxKey::FromSecret(k);
    std::memcpy(k.data(), secrets.data() + off + 40, 32);
    p.transport = BoxKey::FromSecret(k);
    id.previous_.push_back(std::move(p));
  }

  auto card = VerifyCard(ks.card());
  if (!card.ok()) {
    return MakeError(Code::kDataLoss, "keystore " + path + " holds an invalid card: " +
                                          card.error().message);
  }
  const wire::Card& c = card->card;
  if (c.signing_key() != id.signing_.public_key ||
      c.encryption_key() != id.encryption_.public_key ||
      c.transport_key() != id.transport_.public_key) {
    return MakeError(Code::kDataLoss, "keystore " + path + ": keys do not match the card");
  }
  id.card_ = c;
  id.signed_card_ = card->signed_bytes;
  id.fingerprint_ = card->fingerprint;
  id.signing_keys_ = card->SigningKeys();
  for (const auto& p : id.previous_) {
    const wire::Card* old = card->AtSequence(p.sequence);
    if (old == nullptr || old->encryption_key() != p.encryption.public_key ||
        old->transport_key() != p.transport.public_key) {
      return MakeError(Code::kDataLoss,
                       "keystore " + path + ": kept keys do not match the card chain");
    }
  }
  return id;
}

}  // namespace rogatory
