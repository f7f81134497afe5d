// ASCII armor for cards and bundles, strict in both directions:
//   -----BEGIN ROGATORY <TYPE>-----\n
//   base64 (standard alphabet, padded) in lines of exactly 64 characters,
//   the last line 1..64 characters\n
//   -----END ROGATORY <TYPE>-----\n
// Nothing else is accepted: no blank lines, no CR, no trailing text, no
// header fields. Decode(Encode(x)) == x and Encode(Decode(t)) == t.
#pragma once

#include <string>
#include <string_view>

#include "keys/result.h"

namespace rogatory {

std::string Armor(std::string_view type, std::string_view bytes);
// Returns the bytes, or kInvalidArgument saying what is wrong with the text.
Result<std::string> Dearmor(std::string_view type, std::string_view text);

}  // namespace rogatory
