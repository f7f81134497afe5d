// Witnessing (SPEC promise 7, docs/protocol.md 21): a node checks each tree
// head a peer shows it against every earlier head of that log it holds, and
// decides whether the new head extends them (then it cosigns it), cannot be
// judged yet (a proof is missing: it asks again), or contradicts them (a
// rewritten history: evidence). Pure functions over verified data; the
// daemon does the I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

// A head of the log already held: the checked one, or one learnt by gossip.
struct HeldHead {
  uint64_t size = 0;
  std::string root;
  int64_t timestamp = 0;
  std::string signed_head;  // serialized SignedTreeHead
};

struct HeadVerdict {
  enum class Outcome {
    kConsistent,    // the new head extends every held head: cosign it
    kUnproven,      // a proof for some held head is missing: ask with its size
    kInconsistent,  // the log owner showed two incompatible histories
  };
  Outcome outcome = Outcome::kConsistent;
  wire::TreeHead head;  // the new head, signature verified
  std::string reason;   // one line, for kUnproven and kInconsistent
  std::string unproven_head;  // kUnproven: the held head it could not be checked against
  // kInconsistent: the evidence (both signed heads, the failing proof).
  wire::Equivocation evidence;
  // Restore statements that explained a rollback (kConsistent only).
  std::vector<std::string> restores_used;
};

// Checks `reply` from the owner of log `log_fp` (whose identity key is
// `signing_key`) against `held`. An error means the reply itself is invalid
// (not signed by the owner, another log, malformed): it proves nothing and
// is refused, never stored as evidence.
Result<HeadVerdict> CheckHeadReply(std::string_view log_fp, std::string_view signing_key,
                                   const wire::HeadReply& reply,
                                   const std::vector<HeldHead>& held, int64_t now);

// Two signed heads of one log at the same size with different roots: the
// evidence of a split view, when a third party shows the second one.
// `earlier` and `later` are verified; returns nothing when they agree.
std::optional<wire::Equivocation> CompareSameSize(const HeldHead& earlier, const HeldHead& later,
                                                  std::string_view log_fp, int64_t now);

// The proofs an owner attaches to its latest head: from each size asked
// for (sizes above `size` are skipped: the asker will find the log shrank).
struct ProofSizes {
  std::vector<uint64_t> from;
};
ProofSizes SizesToProve(uint64_t size, uint64_t known_size, const std::vector<uint64_t>& check,
                        const std::vector<uint64_t>& restored);

}  // namespace rogatory
