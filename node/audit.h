// The node's audit log (SPEC 4 and promises 7-8): every envelope the node
// sends or stores and every receipt it accepts is a leaf of an append-only
// Merkle log with RFC 6962 hashing (keys/merkle.h), kept in the store's
// audit_log and audit_nodes tables. A leaf is appended in the same
// transaction as what it records, so the log has no gap and no torn entry
// after a crash. audit_nodes caches the root of every complete perfect
// subtree, so roots and proofs cost O(log n) lookups, never a rebuild.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keys/merkle.h"
#include "keys/crypto.h"
#include "keys/result.h"
#include "node/store.h"
#include "proto/wire.pb.h"

namespace rogatory {

// merkle::HashSource over the store's audit tables.
class StoreHashSource final : public merkle::HashSource {
 public:
  explicit StoreHashSource(Store* store) : store_(store) {}
  Result<std::string> Leaf(uint64_t index) override;
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) override;

 private:
  Store* store_;
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Load(Store* store);

  // Appends `entry` (inside the caller's transaction); returns its index.
  Result<int64_t> Append(const wire::LogEntry& entry);
  // Re-reads the state from the store: after the caller's transaction or
  // savepoint was rolled back, the in-memory state was ahead of it.
  Status Reload();

  // Signs a tree head for the log as it is now and stores it (inside the
  // caller's transaction). The owner is `log_fp`, the signer `key`.
  Result<TreeHeadRow> SignHead(const std::string& log_fp, const SigningKey& key, int64_t now);

  uint64_t size() const { return range_.size(); }
  std::string Root() const { return range_.Root(); }
  Result<std::string> RootAt(uint64_t size) { return merkle::Root(source_, size); }
  Result<std::vector<std::string>> InclusionProof(uint64_t index, uint64_t size);
  Result<std::vector<std::string>> ConsistencyProof(uint64_t old_size, uint64_t new_size);

 private:
  explicit AuditLog(Store* store) : store_(store), source_(store) {}
  Store* store_;
  StoreHashSource source_;
  merkle::CompactRange range_;
};

// `rogatory audit verify`: recomputes every leaf hash from its entry, every
// cached subtree root from the leaves, and checks the indices run 0..n-1
// without a gap. The first mismatch is named.
// Every stored tree head must carry the owner's valid signature over the
// root recomputed at its size (so consecutive heads are consistent, and a
// log cut below a signed size is caught).
struct AuditReport {
  bool ok = true;
  uint64_t size = 0;
  std::string root;            // recomputed
  int64_t nodes_checked = 0;
  int64_t heads_checked = 0;
  std::string first_error;     // names the first bad entry or tree head
};
// `owner_signing_keys`: every identity key of the owner's card chain (heads
// signed before an identity rotation verify with the key of their time).
Result<AuditReport> VerifyAuditLog(Store* store, std::string_view owner_fp,
                                   const std::vector<std::string>& owner_signing_keys);

}  // namespace rogatory
