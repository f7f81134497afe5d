#include "node/witness.h"

#include <algorithm>

#include "keys/merkle.h"
#include "keys/tree_head.h"

namespace rogatory {

namespace {

std::string Describe(uint64_t size, int64_t timestamp) {
  return "head of size " + std::to_string(size) + " (signed at " + std::to_string(timestamp) +
         " us)";
}

const wire::ConsistencyProof* FindProof(const wire::HeadReply& reply, uint64_t from,
                                        uint64_t to) {
  for (const auto& p : reply.proofs()) {
    if (p.from_size() == from && p.to_size() == to) return &p;
  }
  return nullptr;
}

std::vector<std::string> Path(const wire::ConsistencyProof& p) {
  return {p.path().begin(), p.path().end()};
}

// Whether the held head `e` and the new head are consistent, given what the
// reply proves. nullopt: consistent; else {unproven?, reason, proof}.
struct Failure {
  bool unproven = false;
  std::string reason;
  const wire::ConsistencyProof* proof = nullptr;
};

std::optional<Failure> Compare(const HeldHead& e, const wire::TreeHead& n,
                               const wire::HeadReply& reply) {
  if (e.size == n.size()) {
    if (e.root == n.root()) return std::nullopt;
    return Failure{false, "two signed heads of size " + std::to_string(e.size) +
                              " have different roots", nullptr};
  }
  if (e.size > n.size()) {
    // Signed later over fewer entries, or in answer to a request for a
    // proof from that size: the log shrank. A head signed earlier may just
    // have arrived late (a push crossing a reply).
    const auto& a = reply.answers();
    const bool asked = reply.has_answers() &&
                       (a.known_size() == e.size ||
                        std::find(a.check_sizes().begin(), a.check_sizes().end(), e.size) !=
                            a.check_sizes().end());
    if (!asked && n.timestamp() <= e.timestamp) {
      return Failure{true, "a head of size " + std::to_string(e.size) +
                               " is held but the head shown is older", nullptr};
    }
    return Failure{false, "the log shrank from " + Describe(e.size, e.timestamp) + " to size " +
                              std::to_string(n.size()), nullptr};
  }
  if (e.size == 0) return std::nullopt;
  const wire::ConsistencyProof* p = FindProof(reply, e.size, n.size());
  if (p == nullptr) {
    return Failure{true, "no consistency proof from size " + std::to_string(e.size) + " to " +
                             std::to_string(n.size()), nullptr};
  }
  if (auto s = merkle::VerifyConsistency(e.size, n.size(), e.root, n.root(), Path(*p)); !s.ok()) {
    return Failure{false, "the " + Describe(n.size(), n.timestamp()) + " is not an extension of the " +
                              Describe(e.size, e.timestamp) + ": " + s.error().message, p};
  }
  return std::nullopt;
}

// A restore statement that announces the rollback of held head `e`, with the
// new head extending the head restored to.
std::optional<std::string> ExplainingRestore(const HeldHead& e, const wire::TreeHead& n,
                                             const wire::HeadReply& reply,
                                             std::string_view signing_key) {
  for (const auto& bytes : reply.restores()) {
    auto r = VerifyRestoreStatement(bytes, signing_key);
    if (!r.ok() || r->log() != n.log()) continue;
    auto restored = VerifyTreeHead(r->restored_head(), signing_key);
    if (!restored.ok()) continue;
    // It withdraws heads above the restored size up to abandoned_size,
    // signed before the restore.
    if (e.size <= restored->size() || e.size > r->abandoned_size() ||
        e.timestamp > r->restored_at()) {
      continue;
    }
    HeldHead base{restored->size(), restored->root(), restored->timestamp(), r->restored_head()};
    if (!Compare(base, n, reply)) return bytes;
  }
  return std::nullopt;
}

}  // namespace

std::optional<wire::Equivocation> CompareSameSize(const HeldHead& earlier, const HeldHead& later,
                                                  std::string_view log_fp, int64_t now) {
  if (earlier.size != later.size || earlier.root == later.root) return std::nullopt;
  wire::Equivocation ev;
  ev.set_version(1);
  ev.set_log(std::string(log_fp));
  ev.set_earlier(earlier.signed_head);
  ev.set_later(later.signed_head);
  ev.set_reason("two signed heads of size " + std::to_string(earlier.size) +
                " have different roots");
  ev.set_detected_at(now);
  return ev;
}

Result<HeadVerdict> CheckHeadReply(std::string_view log_fp, std::string_view signing_key,
                                   const wire::HeadReply& reply,
                                   const std::vector<HeldHead>& held, int64_t now) {
  HeadVerdict v;
  ROG_ASSIGN_OR_RETURN(v.head, VerifyTreeHead(reply.signed_tree_head(), signing_key));
  if (v.head.log() != log_fp) {
    return MakeError(Code::kInvalidArgument, "tree head is for another node's log");
  }
  if (v.head.size() == 0 && v.head.root() != merkle::EmptyRoot()) {
    return MakeError(Code::kInvalidArgument, "tree head of an empty log with a non-empty root");
  }
  for (const auto& p : reply.proofs()) {
    if (p.path_size() > 128) return MakeError(Code::kInvalidArgument, "consistency proof too long");
  }
  std::string unproven;
  for (const HeldHead& e : held) {
    auto f = Compare(e, v.head, reply);
    if (!f) continue;
    if (f->unproven) {
      if (unproven.empty()) {
        unproven = f->reason;
        v.unproven_head = e.signed_head;
      }
      continue;
    }
    if (auto r = ExplainingRestore(e, v.head, reply, signing_key)) {
      if (std::find(v.restores_used.begin(), v.restores_used.end(), *r) == v.restores_used.end()) {
        v.restores_used.push_back(*r);
      }
      continue;
    }
    v.outcome = HeadVerdict::Outcome::kInconsistent;
    v.reason = f->reason;
    v.evidence.set_version(1);
    v.evidence.set_log(std::string(log_fp));
    v.evidence.set_earlier(e.signed_head);
    v.evidence.set_later(reply.signed_tree_head());
    if (f->proof != nullptr) *v.evidence.mutable_proof() = *f->proof;
    v.evidence.set_reason(f->reason);
    v.evidence.set_detected_at(now);
    return v;
  }
  if (!unproven.empty()) {
    v.outcome = HeadVerdict::Outcome::kUnproven;
    v.reason = unproven;
  }
  return v;
}

ProofSizes SizesToProve(uint64_t size, uint64_t known_size, const std::vector<uint64_t>& check,
                        const std::vector<uint64_t>& restored) {
  ProofSizes out;
  auto add = [&](uint64_t from) {
    if (from == 0 || from >= size) return;
    if (std::find(out.from.begin(), out.from.end(), from) == out.from.end()) {
      out.from.push_back(from);
    }
  };
  add(known_size);
  for (uint64_t c : check) {
    if (out.from.size() >= 16) break;
    add(c);
  }
  for (uint64_t r : restored) add(r);
  return out;
}

}  // namespace rogatory
