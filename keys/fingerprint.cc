#include "keys/fingerprint.h"

#include "keys/crypto.h"

namespace rogatory {

namespace {
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
}

std::string FingerprintOf(std::string_view signing_public_key) {
  return Sha256(signing_public_key).substr(0, kFingerprintBytes);
}

std::string Base32(std::string_view raw) {
  std::string b32;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      b32.push_back(kAlphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) b32.push_back(kAlphabet[(buffer << (5 - bits)) & 31]);
  return b32;
}

std::string FingerprintText(std::string_view raw) {
  const std::string b32 = Base32(raw);
  std::string out;
  for (size_t i = 0; i < b32.size(); ++i) {
    if (i > 0 && i % 4 == 0) out.push_back('-');
    out.push_back(b32[i]);
  }
  return out;
}

Result<std::string> ParseFingerprint(std::string_view text) {
  std::string raw;
  unsigned buffer = 0;
  int bits = 0;
  size_t chars = 0;
  for (char c : text) {
    if (c == '-') continue;
    int v = -1;
    if (c >= 'a' && c <= 'z') v = c - 'a';
    else if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= '2' && c <= '7') v = c - '2' + 26;
    if (v < 0) {
      return MakeError(Code::kInvalidArgument,
                       std::string("fingerprint contains '") + c +
                           "', which is not a base32 character");
    }
    ++chars;
    buffer = (buffer << 5) | static_cast<unsigned>(v);
    bits += 5;
    if (bits >= 8) {
      raw.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  if (chars != 32) {
    return MakeError(Code::kInvalidArgument,
                     "fingerprint has " + std::to_string(chars) +
                         " characters; expected 32 (eight groups of four)");
  }
  return raw;
}

}  // namespace rogatory
