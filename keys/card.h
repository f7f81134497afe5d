// Identity cards (SPEC section 4): a node's id, authority, country,
// endpoints and three public keys, signed by its identity key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

inline constexpr char kCardArmorType[] = "CARD";

// Most cards a chain may hold (a node's first card and its rotations).
inline constexpr int kMaxCardChain = 64;

// A card whose signature and fields were checked, with the chain of cards it
// replaced (key rotation, SPEC 9).
struct VerifiedCard {
  wire::Card card;
  std::string signed_bytes;  // serialized SignedCard, as received
  // Raw 20 bytes: names the identity key of the node's FIRST card, and so
  // stays the same through every rotation, the identity key's included.
  std::string fingerprint;
  std::vector<wire::Card> chain;  // oldest first; chain.back() is `card`

  // Every identity key the chain holds, the current one first: signatures
  // made before a rotation verify with the key of their time.
  std::vector<std::string> SigningKeys() const;
  // The card of sequence `seq` in the chain, or nullptr.
  const wire::Card* AtSequence(uint64_t seq) const;
};

Status ValidateNodeId(std::string_view id);
Status ValidateCountry(std::string_view cc);
// tcp://HOST:PORT. HOST: `*`, an IPv6 address in brackets, or letters,
// digits, '.', '-' and '_' (a name, an IPv4 address, an interface). Cards
// already signed are checked with `strict_host` false: any HOST without
// control characters, spaces, quotes or backslashes, so a card made by an
// older build stays valid.
Status ValidateEndpoint(std::string_view endpoint, bool strict_host = true);

// Runs `verify(key)` with each identity key of a node, the current one
// first: a signature made before an identity rotation verifies with the key
// of its time. The first success, else the current key's result.
template <class F>
auto WithAnyKey(const std::vector<std::string>& keys, F&& verify) {
  auto first = verify(keys.front());
  for (size_t i = 1; i < keys.size() && !first.ok(); ++i) {
    auto r = verify(keys[i]);
    if (r.ok()) return r;
  }
  return first;
}

// For a plain signature check.
inline bool VerifiesWithAny(const std::vector<std::string>& keys, std::string_view label,
                            std::string_view message, std::string_view signature) {
  for (const auto& k : keys) {
    if (Verify(k, label, message, signature)) return true;
  }
  return false;
}

// Signs `card` with `key`; returns the serialized SignedCard.
std::string SignCard(const wire::Card& card, const SigningKey& key);

// Signs `card` as the successor of `previous` (a serialized SignedCard):
// with `key` (the card's own identity key) and with `previous_key`, the
// identity key of the card it replaces.
std::string SignRotatedCard(const wire::Card& card, const SigningKey& key,
                            std::string_view previous, const SigningKey& previous_key);

// Strictly parses a serialized SignedCard, verifies its self-signature, its
// fields and its chain: each card in it signed by the identity key of the
// card before, of the same node id, with the next sequence, and a new
// identity key only if it matches the next-key hash the card before
// committed to. kInvalidArgument for malformed input, kUnauthenticated for a
// bad signature or a broken chain.
Result<VerifiedCard> VerifyCard(std::string_view signed_card);

// Whether `update` may replace `trusted`, the card a roster holds for the
// same node: same fingerprint and node id, and either `trusted` itself in
// the update's chain (a card chained only to some older key of the node is
// refused: a thief of a retired key cannot rotate), or recovery: the chains
// part after a common card A, every trusted card after A kept A's identity
// key, and the update moved to the key A committed to. A thief of the
// current key can issue same-key cards with encryption and transport keys
// of its own; the owner's rotation to the committed key replaces them,
// whatever their sequence numbers.
Status CheckCardUpdate(const VerifiedCard& trusted, const VerifiedCard& update);
// After CheckCardUpdate passed: whether it passed by the recovery rule.
bool IsRecovery(const VerifiedCard& trusted, const VerifiedCard& update);

// Same, from the armored text form.
Result<VerifiedCard> VerifyArmoredCard(std::string_view text);

// A node's revocation of its own identity key (SPEC 9): signs it with that
// key; returns the serialized SignedRevocation.
std::string SignRevocation(const wire::Revocation& revocation, const SigningKey& key);
// Verifies a SignedRevocation against the card chain of the node it names:
// signed by the key it revokes, which is one of the chain's identity keys.
Result<wire::Revocation> VerifyRevocation(std::string_view signed_revocation,
                                          const VerifiedCard& card);

// SHA-256 commitment to a next identity key (pre-rotation).
std::string NextKeyHash(std::string_view next_signing_public_key);

}  // namespace rogatory
