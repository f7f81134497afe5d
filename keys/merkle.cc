#include "keys/merkle.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <utility>

#include "keys/crypto.h"

namespace rogatory::merkle {
namespace {

static_assert(kHashBytes == kSha256Bytes);

// A half-open range of leaves [begin, end) that is a node of the tree: either
// a perfect subtree (aligned to its size) or the right part of a split, whose
// begin is aligned to the largest power of two below its size. Both can be
// cut, largest first, into aligned perfect subtrees.
struct Range {
  uint64_t begin;
  uint64_t end;
};

// The largest power of two smaller than n (n >= 2): the k of RFC 9162 2.1.1.
uint64_t SplitPoint(uint64_t n) { return std::bit_floor(n - 1); }

Status CheckFromSource(const std::string& hash, const char* what, uint64_t index) {
  if (hash.size() == kHashBytes) return {};
  return MakeError(Code::kDataLoss, "the audit log's " + std::string(what) + " hash at " +
                                        std::to_string(index) + " has " +
                                        std::to_string(hash.size()) + " bytes, not 32");
}

// The root of the perfect subtree of 2^level leaves at `index`: from the
// cache when it has it, else from its two halves. Recursion depth <= level
// <= 63.
Result<std::string> PerfectRoot(HashSource& src, uint32_t level, uint64_t index) {
  if (level == 0) {
    ROG_ASSIGN_OR_RETURN(std::string leaf, src.Leaf(index));
    ROG_RETURN_IF_ERROR(CheckFromSource(leaf, "leaf", index));
    return leaf;
  }
  ROG_ASSIGN_OR_RETURN(std::optional<std::string> cached, src.Perfect(level, index));
  if (cached.has_value()) {
    ROG_RETURN_IF_ERROR(CheckFromSource(*cached, "subtree", index << level));
    return std::move(*cached);
  }
  ROG_ASSIGN_OR_RETURN(std::string left, PerfectRoot(src, level - 1, 2 * index));
  ROG_ASSIGN_OR_RETURN(std::string right, PerfectRoot(src, level - 1, 2 * index + 1));
  return NodeHash(left, right);
}

// MTH(D[r.begin:r.end]) for a node range: the perfect subtrees of the size's
// binary decomposition, largest first, hashed together from the right.
Result<std::string> RangeRoot(HashSource& src, Range r) {
  std::vector<std::string> parts;
  uint64_t pos = r.begin;
  for (uint64_t rest = r.end - r.begin; rest != 0;) {
    const uint32_t level = std::bit_width(rest) - 1;
    if (pos & ((uint64_t{1} << level) - 1)) std::abort();  // a bug: not a node of the tree
    ROG_ASSIGN_OR_RETURN(std::string part, PerfectRoot(src, level, pos >> level));
    parts.push_back(std::move(part));
    pos += uint64_t{1} << level;
    rest -= uint64_t{1} << level;
  }
  std::string root = std::move(parts.back());
  for (size_t i = parts.size() - 1; i-- > 0;) root = NodeHash(parts[i], root);
  return root;
}

// The ranges whose roots make up PATH(index, D[0:size]), leaf first. The
// recursion of RFC 9162 2.1.3.1 walks down from the root; each step adds
// the root of the half the leaf is not in. Only the first step into a left
// half can add a range that is not a perfect subtree (the right part of a
// split of a non-power-of-two size); after it every size is a power of two.
std::vector<Range> InclusionRanges(uint64_t index, uint64_t size) {
  std::vector<Range> ranges;
  uint64_t begin = 0;
  uint64_t n = size;
  uint64_t m = index;
  while (n > 1) {
    const uint64_t k = SplitPoint(n);
    if (m < k) {
      ranges.push_back({begin + k, begin + n});
      n = k;
    } else {
      ranges.push_back({begin, begin + k});
      begin += k;
      m -= k;
      n -= k;
    }
  }
  std::reverse(ranges.begin(), ranges.end());
  return ranges;
}

// The ranges whose roots make up PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n],
// true), 0 < m < n, old tree first (RFC 9162 2.1.4.1).
std::vector<Range> ConsistencyRanges(uint64_t m, uint64_t n) {
  std::vector<Range> ranges;
  uint64_t begin = 0;
  bool whole_old_tree = true;  // SUBPROOF's b: D[begin:begin+m] is the old tree itself
  while (m != n) {
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      ranges.push_back({begin + k, begin + n});
      n = k;
    } else {
      ranges.push_back({begin, begin + k});
      begin += k;
      m -= k;
      n -= k;
      whole_old_tree = false;
    }
  }
  // m == n: the old tree's last subtree, unless it is the old tree itself,
  // whose root the verifier already has.
  if (!whole_old_tree) ranges.push_back({begin, begin + n});
  std::reverse(ranges.begin(), ranges.end());
  return ranges;
}

Result<std::vector<std::string>> RangeRoots(HashSource& src, const std::vector<Range>& ranges) {
  std::vector<std::string> out;
  out.reserve(ranges.size());
  for (const Range& r : ranges) {
    ROG_ASSIGN_OR_RETURN(std::string root, RangeRoot(src, r));
    out.push_back(std::move(root));
  }
  return out;
}

Status CheckHash(std::string_view hash, const char* what) {
  if (hash.size() == kHashBytes) return {};
  return MakeError(Code::kInvalidArgument, std::string(what) + " has " +
                                               std::to_string(hash.size()) +
                                               " bytes; a Merkle tree hash has 32");
}

Status CheckProofHashes(const std::vector<std::string>& proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != kHashBytes) {
      return MakeError(Code::kInvalidArgument, "proof hash " + std::to_string(i) + " has " +
                                                   std::to_string(proof[i].size()) +
                                                   " bytes; a Merkle tree hash has 32");
    }
  }
  return {};
}

Error Refuse(std::string reason) { return MakeError(Code::kUnauthenticated, std::move(reason)); }

// RFC 9162 2.1.3.2 step 4.b.ii and 2.1.4.2 step 6.b.ii: skip the levels where
// the path's node has no right sibling (it is the last, unpaired, node).
void ShiftWhileEvenAndNonZero(uint64_t& fn, uint64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

std::string LeafHash(std::string_view data) {
  Sha256Stream s;
  s.Update(std::string_view("\x00", 1));
  s.Update(data);
  return s.Finish();
}

std::string NodeHash(std::string_view left, std::string_view right) {
  Sha256Stream s;
  s.Update(std::string_view("\x01", 1));
  s.Update(left);
  s.Update(right);
  return s.Finish();
}

std::string EmptyRoot() { return Sha256(""); }

Result<std::string> Root(HashSource& src, uint64_t size) {
  if (size == 0) return EmptyRoot();
  return RangeRoot(src, {0, size});
}

Result<std::vector<std::string>> InclusionProof(HashSource& src, uint64_t index, uint64_t size) {
  if (index >= size) {
    return MakeError(
        Code::kInvalidArgument,
        "no entry " + std::to_string(index) + " in a tree of " + std::to_string(size) + " entries");
  }
  return RangeRoots(src, InclusionRanges(index, size));
}

Result<std::vector<std::string>> ConsistencyProof(HashSource& src, uint64_t old_size,
                                                  uint64_t new_size) {
  if (old_size > new_size) {
    return MakeError(Code::kInvalidArgument, "a tree of " + std::to_string(old_size) +
                                                 " entries cannot be a prefix of one of " +
                                                 std::to_string(new_size));
  }
  if (old_size == 0 || old_size == new_size) return std::vector<std::string>();
  return RangeRoots(src, ConsistencyRanges(old_size, new_size));
}

Status VerifyInclusion(std::string_view leaf_hash, uint64_t index, uint64_t size,
                       const std::vector<std::string>& proof, std::string_view root) {
  if (index >= size) {
    return MakeError(Code::kInvalidArgument, "inclusion proof for entry " + std::to_string(index) +
                                                 " in a tree of " + std::to_string(size) +
                                                 " entries");
  }
  ROG_RETURN_IF_ERROR(CheckHash(leaf_hash, "leaf hash"));
  ROG_RETURN_IF_ERROR(CheckHash(root, "root"));
  ROG_RETURN_IF_ERROR(CheckProofHashes(proof));

  // RFC 9162 2.1.3.2, steps 2-5.
  uint64_t fn = index;
  uint64_t sn = size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) return Refuse("inclusion proof has more hashes than the tree needs");
    if ((fn & 1) == 1 || fn == sn) {
      r = NodeHash(p, r);
      ShiftWhileEvenAndNonZero(fn, sn);
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Refuse("inclusion proof has fewer hashes than the tree needs");
  if (r != root) return Refuse("inclusion proof does not lead to the tree's root");
  return {};
}

Status VerifyConsistency(uint64_t old_size, uint64_t new_size, std::string_view old_root,
                         std::string_view new_root, const std::vector<std::string>& proof) {
  if (old_size > new_size) {
    return MakeError(Code::kInvalidArgument,
                     "consistency proof from a tree of " + std::to_string(old_size) +
                         " entries to a smaller one of " + std::to_string(new_size));
  }
  ROG_RETURN_IF_ERROR(CheckHash(old_root, "old root"));
  ROG_RETURN_IF_ERROR(CheckHash(new_root, "new root"));
  ROG_RETURN_IF_ERROR(CheckProofHashes(proof));

  if (old_size == new_size) {
    if (!proof.empty()) return Refuse("consistency proof between equal sizes is not empty");
    if (old_root != new_root) return Refuse("two different roots for the same tree size");
    return {};
  }
  if (old_size == 0) {
    if (!proof.empty()) return Refuse("consistency proof from the empty tree is not empty");
    if (old_root != EmptyRoot()) return Refuse("old root is not the empty tree's root");
    return {};
  }

  // RFC 9162 2.1.4.2, steps 1-7.
  if (proof.empty()) return Refuse("consistency proof is empty");
  size_t next = 0;
  std::string_view first;
  if (std::has_single_bit(old_size)) {
    first = old_root;  // step 2: the old tree is a node of the new one
  } else {
    first = proof[next++];
  }
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {  // step 4
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr(first);
  std::string sr(first);
  for (; next < proof.size(); ++next) {
    const std::string& c = proof[next];
    if (sn == 0) return Refuse("consistency proof has more hashes than the trees need");
    if ((fn & 1) == 1 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      ShiftWhileEvenAndNonZero(fn, sn);
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Refuse("consistency proof has fewer hashes than the trees need");
  if (fr != old_root) return Refuse("consistency proof does not lead to the old root");
  if (sr != new_root) return Refuse("consistency proof does not lead to the new root");
  return {};
}

Result<CompactRange> CompactRange::Load(HashSource& src, uint64_t size) {
  CompactRange range;
  uint64_t pos = 0;
  for (uint64_t rest = size; rest != 0;) {
    const uint32_t level = std::bit_width(rest) - 1;
    ROG_ASSIGN_OR_RETURN(std::string hash, PerfectRoot(src, level, pos >> level));
    range.nodes_.push_back({level, pos >> level, std::move(hash)});
    pos += uint64_t{1} << level;
    rest -= uint64_t{1} << level;
  }
  range.size_ = size;
  return range;
}

std::vector<CompactRange::Node> CompactRange::Append(std::string leaf_hash) {
  if (leaf_hash.size() != kHashBytes) std::abort();  // a bug: leaf hashes come from LeafHash()
  std::vector<Node> completed;
  nodes_.push_back({0, size_, std::move(leaf_hash)});
  ++size_;
  // Two subtrees of the same size at the end are siblings: merge them, as a
  // binary counter carries.
  while (nodes_.size() >= 2 && nodes_[nodes_.size() - 2].level == nodes_.back().level) {
    Node right = std::move(nodes_.back());
    nodes_.pop_back();
    Node& left = nodes_.back();
    left.hash = NodeHash(left.hash, right.hash);
    left.level += 1;
    left.index >>= 1;
    completed.push_back(left);
  }
  return completed;
}

std::string CompactRange::Root() const {
  if (nodes_.empty()) return EmptyRoot();
  std::string root = nodes_.back().hash;
  for (size_t i = nodes_.size() - 1; i-- > 0;) root = NodeHash(nodes_[i].hash, root);
  return root;
}

}  // namespace rogatory::merkle
