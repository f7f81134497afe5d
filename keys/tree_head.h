// Signed tree heads of a node's audit log (SPEC 4): label, log owner
// fingerprint, size, root and time, signed by the owner's identity key.
#pragma once

#include <string>
#include <string_view>

#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

// Returns the serialized SignedTreeHead.
std::string SignTreeHead(const wire::TreeHead& head, const SigningKey& key);

// Checks the signature with the owner's signing key, then parses strictly
// and checks the shape (version, 20-byte log, 32-byte root).
Result<wire::TreeHead> VerifyTreeHead(std::string_view signed_head,
                                      std::string_view owner_signing_key);

}  // namespace rogatory
