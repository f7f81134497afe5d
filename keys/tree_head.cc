#include "keys/tree_head.h"

#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"

namespace rogatory {

std::string SignTreeHead(const wire::TreeHead& head, const SigningKey& key) {
  wire::SignedTreeHead sth;
  sth.set_tree_head(SerializeCanonical(head));
  sth.set_signature(Sign(key, labels::kTreeHead, sth.tree_head()));
  return SerializeCanonical(sth);
}

Result<wire::TreeHead> VerifyTreeHead(std::string_view signed_head,
                                      std::string_view owner_signing_key) {
  wire::SignedTreeHead sth;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_head, &sth, "tree head"));
  if (!Verify(owner_signing_key, labels::kTreeHead, sth.tree_head(), sth.signature())) {
    return MakeError(Code::kUnauthenticated, "tree head signature does not verify");
  }
  wire::TreeHead h;
  ROG_RETURN_IF_ERROR(ParseStrict(sth.tree_head(), &h, "tree head body"));
  if (h.version() != 1 || h.log().size() != kFingerprintBytes || h.root().size() != 32) {
    return MakeError(Code::kInvalidArgument, "tree head has an unsupported version or shape");
  }
  return h;
}

}  // namespace rogatory
