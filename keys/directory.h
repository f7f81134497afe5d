// Signed directories (docs/protocol.md 26): identity cards published by a
// directory authority that operators choose to trust. This is the format and
// its checks only; applying a directory to a roster is node/directory.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

inline constexpr char kDirectoryArmorType[] = "DIRECTORY";

// Entries one directory may list (a region's authorities, with room).
inline constexpr size_t kMaxDirectoryEntries = 100000;

struct VerifiedDirectory {
  wire::Directory directory;
  std::string signed_bytes;         // serialized SignedDirectory, as read
  VerifiedCard authority;           // the card that signed it, with its chain
  std::vector<VerifiedCard> cards;  // one per entry, in the entries' order
};

// Signs `directory` (its authority_card must be `key`'s card); returns the
// serialized SignedDirectory.
std::string SignDirectory(const wire::Directory& directory, const SigningKey& key);

// Strictly parses a serialized SignedDirectory and checks everything that
// needs no roster: version 1; the authority's card and chain; the signature
// by that card's identity key; every entry's card verifies and has the
// fingerprint the entry names; no node listed twice (by fingerprint or node
// id); no node both listed and removed; removals name 20-byte fingerprints.
// Self-revocations are checked when applied (against the card they name).
// kInvalidArgument for malformed input, kUnauthenticated for a bad signature
// or an entry whose card does not match it. Says nothing about whether the
// authority is trusted: the caller compares `authority.fingerprint`.
Result<VerifiedDirectory> VerifyDirectory(std::string_view signed_directory);

// Same, from the armored text form.
Result<VerifiedDirectory> VerifyArmoredDirectory(std::string_view text);

}  // namespace rogatory
