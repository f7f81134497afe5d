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

// The TreeHead bytes a SignedTreeHead carries, unverified ("" if it does not
// parse): what a cosignature's tree_head_sha256 hashes.
std::string TreeHeadBytes(std::string_view signed_head);

// A witness's cosignature of `signed_head` (which it verified), returned
// serialized as a SignedCosignature.
std::string Cosign(std::string_view signed_head, const wire::TreeHead& head,
                   std::string_view witness_fp, const SigningKey& witness_key, int64_t now);

// Checks a SignedCosignature with the witness's signing key, then its shape,
// and that it countersigns exactly `signed_head`.
Result<wire::Cosignature> VerifyCosignature(std::string_view signed_cosignature,
                                            std::string_view witness_signing_key,
                                            std::string_view signed_head);

// The witness fingerprint a SignedCosignature names, unverified ("" if it
// does not parse): for finding the card whose key must verify it.
std::string CosignatureWitness(std::string_view signed_cosignature);

// Restore statements (SPEC 9): signed by the restored node.
std::string SignRestoreStatement(const wire::RestoreStatement& statement, const SigningKey& key);
Result<wire::RestoreStatement> VerifyRestoreStatement(std::string_view signed_statement,
                                                      std::string_view owner_signing_key);

}  // namespace rogatory
