// A node's own identity: its three key pairs, the seed of its next identity
// key (pre-rotation), and its signed card; and the keystore file that holds
// them (mode 0600, optionally encrypted under an Argon2id passphrase key).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

struct CardParams {
  std::string node_id;
  std::string authority;
  std::string country;
  std::vector<std::string> endpoints;
  int64_t valid_from_us = 0;
  int64_t valid_until_us = 0;
};

// Encryption and transport keys of an earlier card, kept after a rotation
// so messages sealed to them still open and peers that have not yet taken
// the new card still admit this node (SPEC 4).
struct PreviousKeys {
  uint64_t sequence = 0;  // the card they belonged to
  BoxKey encryption;
  BoxKey transport;
};

// Earlier key pairs a keystore keeps (newest first); older ones are wiped.
inline constexpr size_t kMaxPreviousKeys = 16;

class Identity {
 public:
  // Fresh keys and a card with sequence 1. Validates every parameter.
  static Result<Identity> Generate(const CardParams& params);

  // Key rotation (SPEC 9): new encryption and transport keys and, with
  // `new_identity`, the identity key committed to by the current card's
  // next-key hash (and a fresh next key). The new card has the next
  // sequence, is valid from `valid_from_us` to `valid_until_us`, carries the
  // current card as its predecessor and is signed by the current identity
  // key as well. The current encryption and transport keys are kept.
  Result<Identity> Rotated(bool new_identity, int64_t valid_from_us,
                           int64_t valid_until_us) const;

  const SigningKey& signing() const { return signing_; }
  const BoxKey& encryption() const { return encryption_; }
  const BoxKey& transport() const { return transport_; }
  const wire::Card& card() const { return card_; }
  const std::string& signed_card() const { return signed_card_; }
  const std::string& fingerprint() const { return fingerprint_; }  // raw
  // Every identity key of the card chain, the current one first.
  const std::vector<std::string>& signing_keys() const { return signing_keys_; }
  const std::vector<PreviousKeys>& previous() const { return previous_; }
  // The transport key pair of card `sequence`: the current one, a kept
  // earlier one, or nullptr when that card's keys are no longer kept.
  const BoxKey* TransportOf(uint64_t sequence) const;

  // Writes a new keystore at `path` with O_CREAT|O_EXCL, mode 0600. With a
  // passphrase, secrets are encrypted under an Argon2id-derived key.
  Status WriteKeystore(const std::string& path,
                       const std::optional<SecretBytes>& passphrase) const;
  // Reads a keystore. Refuses a file readable by group or others
  // (kPermissionDenied), a wrong passphrase (kUnauthenticated), a missing
  // passphrase for an encrypted store (kFailedPrecondition).
  // Reads only the public card from a keystore (no passphrase needed).
  static Result<std::string> ReadCard(const std::string& path);
  static Result<Identity> ReadKeystore(const std::string& path,
                                       const std::optional<SecretBytes>& passphrase);

 private:
  Identity() = default;
  SigningKey signing_;
  BoxKey encryption_;
  BoxKey transport_;
  SecretBytes next_seed_;
  wire::Card card_;
  std::string signed_card_;
  std::string fingerprint_;
  std::vector<std::string> signing_keys_;
  std::vector<PreviousKeys> previous_;
};

}  // namespace rogatory
