// Strict protobuf parsing for signed and exported structures: the bytes must
// parse, carry no unknown fields (at any depth), and be exactly the bytes
// that deterministic serialization of the parsed message produces. So a
// parsed message has one encoding, and no byte of input is unsigned slack.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "keys/result.h"

namespace rogatory {

// Parses `bytes` into `*msg`. On failure returns kInvalidArgument with a
// message that names `what` ("card", "envelope", ...).
Status ParseStrict(std::string_view bytes, google::protobuf::Message* msg,
                   std::string_view what);

// Deterministic serialization (the form ParseStrict accepts).
std::string SerializeCanonical(const google::protobuf::Message& msg);

}  // namespace rogatory
