#include "keys/tree_head.h"

#include "keys/crypto.h"
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

std::string TreeHeadBytes(std::string_view signed_head) {
  wire::SignedTreeHead sth;
  if (!ParseStrict(signed_head, &sth, "tree head").ok()) return "";
  return sth.tree_head();
}

std::string Cosign(std::string_view signed_head, const wire::TreeHead& head,
                   std::string_view witness_fp, const SigningKey& witness_key, int64_t now) {
  wire::Cosignature c;
  c.set_version(1);
  c.set_log(head.log());
  c.set_size(head.size());
  c.set_tree_head_sha256(Sha256(TreeHeadBytes(signed_head)));
  c.set_witness(std::string(witness_fp));
  c.set_witnessed_at(now);
  wire::SignedCosignature sc;
  sc.set_cosignature(SerializeCanonical(c));
  sc.set_signature(Sign(witness_key, labels::kCosignature, sc.cosignature()));
  return SerializeCanonical(sc);
}

Result<wire::Cosignature> VerifyCosignature(std::string_view signed_cosignature,
                                            std::string_view witness_signing_key,
                                            std::string_view signed_head) {
  wire::SignedCosignature sc;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_cosignature, &sc, "cosignature"));
  if (!Verify(witness_signing_key, labels::kCosignature, sc.cosignature(), sc.signature())) {
    return MakeError(Code::kUnauthenticated, "cosignature does not verify");
  }
  wire::Cosignature c;
  ROG_RETURN_IF_ERROR(ParseStrict(sc.cosignature(), &c, "cosignature body"));
  if (c.version() != 1 || c.log().size() != kFingerprintBytes ||
      c.witness().size() != kFingerprintBytes || c.tree_head_sha256().size() != 32) {
    return MakeError(Code::kInvalidArgument, "cosignature has an unsupported version or shape");
  }
  const std::string head = TreeHeadBytes(signed_head);
  wire::TreeHead h;
  if (head.empty() || Sha256(head) != c.tree_head_sha256() || !h.ParseFromString(head) ||
      h.log() != c.log() || h.size() != c.size()) {
    return MakeError(Code::kUnauthenticated, "cosignature is for a different tree head");
  }
  return c;
}

std::string CosignatureWitness(std::string_view signed_cosignature) {
  wire::SignedCosignature sc;
  wire::Cosignature c;
  if (!ParseStrict(signed_cosignature, &sc, "cosignature").ok() ||
      !ParseStrict(sc.cosignature(), &c, "cosignature body").ok()) {
    return "";
  }
  return c.witness();
}

std::string SignRestoreStatement(const wire::RestoreStatement& statement, const SigningKey& key) {
  wire::SignedRestoreStatement s;
  s.set_statement(SerializeCanonical(statement));
  s.set_signature(Sign(key, labels::kRestore, s.statement()));
  return SerializeCanonical(s);
}

Result<wire::RestoreStatement> VerifyRestoreStatement(std::string_view signed_statement,
                                                      std::string_view owner_signing_key) {
  wire::SignedRestoreStatement s;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_statement, &s, "restore statement"));
  if (!Verify(owner_signing_key, labels::kRestore, s.statement(), s.signature())) {
    return MakeError(Code::kUnauthenticated, "restore statement signature does not verify");
  }
  wire::RestoreStatement r;
  ROG_RETURN_IF_ERROR(ParseStrict(s.statement(), &r, "restore statement body"));
  if (r.version() != 1 || r.log().size() != kFingerprintBytes) {
    return MakeError(Code::kInvalidArgument,
                     "restore statement has an unsupported version or shape");
  }
  auto head = VerifyTreeHead(r.restored_head(), owner_signing_key);
  if (!head.ok()) return head.error();
  if (head->log() != r.log() || head->size() > r.abandoned_size()) {
    return MakeError(Code::kInvalidArgument,
                     "restore statement names a head of another log or one beyond what it abandons");
  }
  return r;
}

}  // namespace rogatory
