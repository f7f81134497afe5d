// Identity cards (SPEC section 4): a node's id, authority, country,
// endpoints and three public keys, signed by its identity key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

inline constexpr char kCardArmorType[] = "CARD";

// A card whose signature and fields were checked.
struct VerifiedCard {
  wire::Card card;
  std::string signed_bytes;  // serialized SignedCard, as received
  std::string fingerprint;   // raw 20 bytes
};

Status ValidateNodeId(std::string_view id);
Status ValidateCountry(std::string_view cc);
// tcp://HOST:PORT. HOST: `*`, an IPv6 address in brackets, or letters,
// digits, '.', '-' and '_' (a name, an IPv4 address, an interface). Cards
// already signed are checked with `strict_host` false: any HOST without
// control characters, spaces, quotes or backslashes, so a card made by an
// older build stays valid.
Status ValidateEndpoint(std::string_view endpoint, bool strict_host = true);

// Signs `card` with `key`; returns the serialized SignedCard.
std::string SignCard(const wire::Card& card, const SigningKey& key);

// Strictly parses a serialized SignedCard, verifies its self-signature and
// its fields. kInvalidArgument for malformed input, kUnauthenticated for a
// bad signature.
Result<VerifiedCard> VerifyCard(std::string_view signed_card);

// Same, from the armored text form.
Result<VerifiedCard> VerifyArmoredCard(std::string_view text);

// SHA-256 commitment to a next identity key (pre-rotation).
std::string NextKeyHash(std::string_view next_signing_public_key);

}  // namespace rogatory
