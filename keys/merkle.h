// The audit log's Merkle tree: RFC 6962 / RFC 9162 section 2.1 hashing,
// inclusion and consistency proofs, their verification, and the running
// state of a growing log (SPEC section 4, "Audit log").
//
// The tree (RFC 9162 2.1.1). For n entries D[0:n], with SHA-256 as HASH:
//   MTH({})       = HASH()                                  (EmptyRoot)
//   MTH({d[0]})   = HASH(0x00 || d[0])                      (LeafHash)
//   MTH(D[0:n])   = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n])) (NodeHash)
//                   where k is the largest power of two smaller than n.
// So the left part of every node is a perfect subtree, and the tree of n
// leaves is the perfect subtrees of n's binary decomposition, largest first,
// hashed together from the right. The 0x00/0x01 prefixes keep a leaf from
// ever being taken for a node.
//
// Proofs (RFC 9162 2.1.3.1 PATH and 2.1.4.1 PROOF/SUBPROOF) are lists of
// 32-byte node hashes, ordered from the leaf (or the old tree) upwards, the
// same bytes and order as RFC 6962 and the Certificate Transparency logs.
// Verification follows RFC 9162 2.1.3.2 and 2.1.4.2 step by step.
//
// Entry indices are 0-based. Every function here is thread-safe as far as
// it goes: the free functions keep no state; a HashSource and a CompactRange
// are used from one thread at a time unless their implementation says more.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/result.h"

namespace rogatory::merkle {

inline constexpr size_t kHashBytes = 32;

// SHA-256(0x00 || data): the hash of entry `data` as a leaf.
std::string LeafHash(std::string_view data);
// SHA-256(0x01 || left || right): the hash of an interior node. Both inputs
// are 32-byte hashes (not checked here: callers pass hashes they computed or
// checked).
std::string NodeHash(std::string_view left, std::string_view right);
// SHA-256(""): the root of the tree with no entries.
std::string EmptyRoot();

// Where the tree's hashes come from (the store implements this over its
// tables; tests over a vector).
//
// Leaf(i) returns the 32-byte leaf hash of entry i (LeafHash of its data).
// Perfect(level, index), level >= 1, may return the cached root of the
// perfect subtree of 2^level leaves covering [index << level,
// (index + 1) << level), or nullopt: the root is then computed from the two
// halves below (recursively, down to Leaf()). It is asked only about
// subtrees lying wholly inside the tree being hashed, never for level 0.
// CompactRange::Append reports every such root as it completes, which is
// how a store fills its cache.
//
// Any error either returns (I/O, missing entry) is passed through unchanged
// by the functions below. A hash that is not 32 bytes is reported as
// kDataLoss.
class HashSource {
 public:
  virtual ~HashSource() = default;
  virtual Result<std::string> Leaf(uint64_t index) = 0;
  virtual Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) {
    (void)level;
    (void)index;
    return std::optional<std::string>();
  }
};

// Costs below count calls to `src`: "cached" means Perfect() answers for
// every level >= 1; without a cache a subtree of s leaves costs s Leaf()
// calls and s - 1 hashes.

// MTH(D[0:size]): the 32-byte root of the first `size` entries; EmptyRoot()
// for size 0. Cached: at most floor(log2(size)) + 1 calls.
Result<std::string> Root(HashSource& src, uint64_t size);

// PATH(index, D[0:size]) (RFC 9162 2.1.3.1): the audit path of entry
// `index` in the tree of `size` entries, from the leaf's sibling up to the
// root's child. Empty for size 1. kInvalidArgument if index >= size.
// Cached: at most 2 * floor(log2(size)) calls.
Result<std::vector<std::string>> InclusionProof(HashSource& src, uint64_t index, uint64_t size);

// PROOF(old_size, D[0:new_size]) (RFC 9162 2.1.4.1): the consistency proof
// that the tree of `old_size` entries is a prefix of the tree of `new_size`.
// Empty when old_size is 0 or equal to new_size (RFC 9162 defines PROOF for
// 0 < m < n only; these are the trivial cases VerifyConsistency accepts with
// an empty proof). kInvalidArgument if old_size > new_size.
// Cached: at most 2 * floor(log2(new_size)) + 1 calls.
Result<std::vector<std::string>> ConsistencyProof(HashSource& src, uint64_t old_size,
                                                  uint64_t new_size);

// Checks that `proof` leads from `leaf_hash` (LeafHash of the entry, not the
// entry itself) at `index` to `root`, the root of a tree of `size` entries
// (RFC 9162 2.1.3.2). OK if it does. kInvalidArgument for input that cannot
// be a proof at all: index >= size, or a leaf hash, root or proof element
// that is not 32 bytes. kUnauthenticated, with a one-line reason, when the
// proof does not lead to the root: a wrong hash anywhere, or a proof with
// more or fewer hashes than `index` in a tree of `size` needs.
[[nodiscard]] Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t size,
                                     const std::vector<std::string>& proof, std::string_view root);

// Checks that the tree of `old_size` entries with root `old_root` is a
// prefix of the tree of `new_size` entries with root `new_root`, given
// `proof` (RFC 9162 2.1.4.2). OK if it is. The trivial cases want an empty
// proof: old_size == new_size needs old_root == new_root; old_size == 0
// needs old_root == EmptyRoot() (any tree extends the empty one).
// kInvalidArgument for old_size > new_size, or a root or proof element that
// is not 32 bytes. kUnauthenticated, with a one-line reason, when the proof
// does not lead to both roots or has the wrong number of hashes.
[[nodiscard]] Status VerifyConsistency(uint64_t old_size, uint64_t new_size,
                                       std::string_view old_root, std::string_view new_root,
                                       const std::vector<std::string>& proof);

// The running state of a growing log: its "compact range", the roots of the
// perfect subtrees making up the tree (one per set bit of size(), largest
// and leftmost first). Enough to append and to compute the root, in
// O(log n) space. A value type: copyable, not thread-safe.
class CompactRange {
 public:
  struct Node {
    uint32_t level;    // the subtree has 2^level leaves
    uint64_t index;    // it covers leaves [index << level, (index + 1) << level)
    std::string hash;  // its root, 32 bytes
    bool operator==(const Node&) const = default;
  };

  CompactRange() = default;  // the empty tree

  // The state of the tree of the first `size` entries of `src`: one
  // Perfect() (or Leaf(), for the last entry if size is odd) per set bit of
  // `size` when cached; without a cache every leaf is read. Errors from
  // `src` pass through.
  static Result<CompactRange> Load(HashSource& src, uint64_t size);

  // Appends the entry whose leaf hash (LeafHash of its data, 32 bytes) is
  // `leaf_hash`. Returns the perfect subtrees of level >= 1 that this leaf
  // completed, smallest first: as many as trailing zero bits of the new
  // size (none when the new size is odd). The leaf itself (level 0) is not
  // among them: a store already has it as Leaf(). A leaf hash that is not
  // 32 bytes is a bug and aborts.
  std::vector<Node> Append(std::string leaf_hash);

  uint64_t size() const { return size_; }
  // MTH of the entries appended so far: EmptyRoot() for size 0. O(log n)
  // hashes.
  std::string Root() const;
  // The perfect subtree roots making up the tree, largest first.
  const std::vector<Node>& nodes() const { return nodes_; }

 private:
  uint64_t size_ = 0;
  std::vector<Node> nodes_;
};

}  // namespace rogatory::merkle
