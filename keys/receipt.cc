#include "keys/receipt.h"

#include "keys/labels.h"
#include "keys/strict_parse.h"

namespace rogatory {

std::string SignReceipt(const wire::Receipt& receipt, const SigningKey& key) {
  wire::SignedReceipt sr;
  sr.set_receipt(SerializeCanonical(receipt));
  sr.set_signature(Sign(key, labels::kReceipt, sr.receipt()));
  return SerializeCanonical(sr);
}

Result<wire::Receipt> VerifyReceipt(std::string_view signed_receipt,
                                    std::string_view recipient_signing_key) {
  wire::SignedReceipt sr;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_receipt, &sr, "receipt"));
  if (!Verify(recipient_signing_key, labels::kReceipt, sr.receipt(), sr.signature())) {
    return MakeError(Code::kUnauthenticated, "receipt signature does not verify");
  }
  wire::Receipt r;
  ROG_RETURN_IF_ERROR(ParseStrict(sr.receipt(), &r, "receipt body"));
  if (r.version() != 1) {
    return MakeError(Code::kInvalidArgument, "receipt has unsupported version");
  }
  return r;
}

Status CheckReceiptMatches(const wire::Receipt& r, std::string_view message_id,
                           std::string_view sender_fp, std::string_view recipient_fp,
                           std::string_view envelope_sha256,
                           std::string_view inner_sha256) {
  if (r.message_id() != message_id || r.sender() != sender_fp ||
      r.recipient() != recipient_fp) {
    return MakeError(Code::kUnauthenticated, "receipt names a different message or party");
  }
  if (r.envelope_sha256() != envelope_sha256) {
    return MakeError(Code::kUnauthenticated, "receipt names a different envelope digest");
  }
  if (!inner_sha256.empty() && r.inner_sha256() != inner_sha256) {
    return MakeError(Code::kUnauthenticated, "receipt names a different plaintext digest");
  }
  return {};
}

std::string SignRefusal(const wire::Refusal& refusal, const SigningKey& key) {
  wire::SignedRefusal sr;
  sr.set_refusal(SerializeCanonical(refusal));
  sr.set_signature(Sign(key, labels::kRefusal, sr.refusal()));
  return SerializeCanonical(sr);
}

Result<wire::Refusal> VerifyRefusal(std::string_view signed_refusal,
                                    std::string_view refuser_signing_key) {
  wire::SignedRefusal sr;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_refusal, &sr, "refusal"));
  if (!Verify(refuser_signing_key, labels::kRefusal, sr.refusal(), sr.signature())) {
    return MakeError(Code::kUnauthenticated, "refusal signature does not verify");
  }
  wire::Refusal r;
  ROG_RETURN_IF_ERROR(ParseStrict(sr.refusal(), &r, "refusal body"));
  return r;
}

}  // namespace rogatory
