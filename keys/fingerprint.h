// Node fingerprints (SPEC section 4): the first 20 bytes of SHA-256 over the
// Ed25519 signing public key, written as 32 base32 characters (RFC 4648
// alphabet) in eight groups of four joined by '-'.
#pragma once

#include <string>
#include <string_view>

#include "keys/result.h"

namespace rogatory {

inline constexpr size_t kFingerprintBytes = 20;

// Raw 20-byte fingerprint of a signing public key.
std::string FingerprintOf(std::string_view signing_public_key);
// "ABCD-EFGH-..." text form of a raw fingerprint.
std::string FingerprintText(std::string_view raw);
// RFC 4648 base32, upper case, no padding (the last group zero-filled).
std::string Base32(std::string_view raw);
// Parses the text form in any case, with or without dashes. Returns the raw
// 20 bytes, or kInvalidArgument naming what is wrong.
Result<std::string> ParseFingerprint(std::string_view text);

}  // namespace rogatory
