// Signed receipts and refusals (SPEC section 4). A receipt names the exact
// envelope and inner signed bytes the recipient stored; a refusal is a
// recipient's signed, permanent "no" with a one-line reason.
#pragma once

#include <string>
#include <string_view>

#include "keys/crypto.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

// Signs `receipt` (all fields set by the caller); returns a serialized
// SignedReceipt.
std::string SignReceipt(const wire::Receipt& receipt, const SigningKey& key);

// Strictly parses and verifies a SignedReceipt against the recipient's
// signing key. kInvalidArgument if malformed, kUnauthenticated if the
// signature fails.
Result<wire::Receipt> VerifyReceipt(std::string_view signed_receipt,
                                    std::string_view recipient_signing_key);

// Checks that a verified receipt names exactly this envelope.
Status CheckReceiptMatches(const wire::Receipt& receipt, std::string_view message_id,
                           std::string_view sender_fp, std::string_view recipient_fp,
                           std::string_view envelope_sha256,
                           std::string_view inner_sha256 /* empty: unknown */);

std::string SignRefusal(const wire::Refusal& refusal, const SigningKey& key);
Result<wire::Refusal> VerifyRefusal(std::string_view signed_refusal,
                                    std::string_view refuser_signing_key);

}  // namespace rogatory
