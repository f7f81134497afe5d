// The audit log's Merkle tree (keys/merkle.h): RFC 6962 known answers,
// round trips against a reference written straight from RFC 9162 2.1,
// tampering, the cost with a cached source, CompactRange, and errors from
// the source.
#include "keys/merkle.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "keys/crypto.h"

namespace rogatory::merkle {
namespace {

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<std::string> HexList(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const std::string& s : v) out.push_back(ToHex(s));
  return out;
}

std::string EntryLeafHash(uint64_t i) { return LeafHash("entry " + std::to_string(i)); }

std::vector<std::string> Leaves(uint64_t n) {
  std::vector<std::string> out;
  for (uint64_t i = 0; i < n; ++i) out.push_back(EntryLeafHash(i));
  return out;
}

// The RFC 9162 2.1 definitions, written as the RFC writes them (recursion
// over slices), memoized on the range so that a test can ask for thousands
// of proofs. Independent of keys/merkle.cc but for LeafHash/NodeHash.
class Reference {
 public:
  explicit Reference(std::vector<std::string> leaf_hashes) : leaves_(std::move(leaf_hashes)) {}

  std::string Mth(uint64_t begin, uint64_t end) {
    if (end == begin) return EmptyRoot();
    if (end - begin == 1) return leaves_[begin];
    auto it = memo_.find({begin, end});
    if (it != memo_.end()) return it->second;
    const uint64_t k = Split(end - begin);
    std::string h = NodeHash(Mth(begin, begin + k), Mth(begin + k, end));
    memo_[{begin, end}] = h;
    return h;
  }

  std::vector<std::string> Path(uint64_t m, uint64_t begin, uint64_t end) {
    const uint64_t n = end - begin;
    if (n == 1) return {};
    const uint64_t k = Split(n);
    std::vector<std::string> out;
    if (m < k) {
      out = Path(m, begin, begin + k);
      out.push_back(Mth(begin + k, end));
    } else {
      out = Path(m - k, begin + k, end);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

  std::vector<std::string> Subproof(uint64_t m, uint64_t begin, uint64_t end, bool b) {
    const uint64_t n = end - begin;
    if (m == n) return b ? std::vector<std::string>{} : std::vector<std::string>{Mth(begin, end)};
    const uint64_t k = Split(n);
    std::vector<std::string> out;
    if (m <= k) {
      out = Subproof(m, begin, begin + k, b);
      out.push_back(Mth(begin + k, end));
    } else {
      out = Subproof(m - k, begin + k, end, false);
      out.push_back(Mth(begin, begin + k));
    }
    return out;
  }

 private:
  static uint64_t Split(uint64_t n) {
    uint64_t k = 1;
    while (2 * k < n) k *= 2;
    return k;
  }
  std::vector<std::string> leaves_;
  std::map<std::pair<uint64_t, uint64_t>, std::string> memo_;
};

// A plain source: leaf hashes in a vector, no cache. Counts calls and
// remembers any question about something outside the tree.
class VectorSource : public HashSource {
 public:
  explicit VectorSource(std::vector<std::string> leaves) : leaves_(std::move(leaves)) {}

  Result<std::string> Leaf(uint64_t index) override {
    ++calls;
    if (index >= leaves_.size()) {
      out_of_range = true;
      return MakeError(Code::kNotFound, "no leaf " + std::to_string(index));
    }
    return leaves_[index];
  }

  const std::vector<std::string>& leaves() const { return leaves_; }
  int calls = 0;
  bool out_of_range = false;

 protected:
  std::vector<std::string> leaves_;
};

// A source that answers Perfect() for every perfect subtree at the levels
// `cached_level` accepts (all of them by default), as the store does.
class CachingSource : public VectorSource {
 public:
  explicit CachingSource(std::vector<std::string> leaves,
                         std::function<bool(uint32_t)> cached_level = nullptr)
      : VectorSource(std::move(leaves)) {
    Reference ref(leaves_);
    for (uint32_t level = 1; (uint64_t{1} << level) <= leaves_.size(); ++level) {
      if (cached_level && !cached_level(level)) continue;
      for (uint64_t i = 0; ((i + 1) << level) <= leaves_.size(); ++i) {
        cache_[{level, i}] = ref.Mth(i << level, (i + 1) << level);
      }
    }
  }

  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) override {
    ++calls;
    if (level == 0 || level >= 64 || ((index + 1) << level) > leaves_.size()) {
      out_of_range = true;
    }
    auto it = cache_.find({level, index});
    if (it == cache_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

 private:
  std::map<std::pair<uint32_t, uint64_t>, std::string> cache_;
};

class MerkleTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }
};
using MerkleHashTest = MerkleTest;
using MerkleRoundTripTest = MerkleTest;
using MerkleCostTest = MerkleTest;
using MerkleTamperTest = MerkleTest;
using MerkleCompactRangeTest = MerkleTest;
using MerkleSourceTest = MerkleTest;

// ---------------------------------------------------------------------------
// Hashing primitives.

TEST_F(MerkleHashTest, HashingUsesDomainSeparatedSha256) {
  EXPECT_EQ(ToHex(EmptyRoot()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(LeafHash("abc"), Sha256(std::string("\x00", 1) + "abc"));
  const std::string l(32, 'l'), r(32, 'r');
  EXPECT_EQ(NodeHash(l, r), Sha256("\x01" + l + r));
  EXPECT_NE(NodeHash(l, r), NodeHash(r, l));
  // A leaf whose data is two hashes is not the node over them.
  EXPECT_NE(LeafHash(l + r), NodeHash(l, r));
}

// ---------------------------------------------------------------------------
// Known answers: tests/data/rfc6962.json (the Certificate Transparency
// vectors).

class MerkleKnownAnswerTest : public MerkleTest {
 protected:
  void SetUp() override {
    MerkleTest::SetUp();
    std::string path = std::string(__FILE__);
    path = path.substr(0, path.size() - std::string("unit/merkle_test.cc").size()) +
           "data/rfc6962.json";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream text;
    text << in.rdbuf();
    vectors_ = nlohmann::json::parse(text.str());
    for (const auto& hex : vectors_["leaf_inputs_hex"]) {
      leaves_.push_back(LeafHash(FromHex(hex.get<std::string>())));
    }
    ASSERT_EQ(leaves_.size(), 8u);
  }

  std::string RootHex(uint64_t size) {
    return vectors_["root_by_size_hex"][std::to_string(size)].get<std::string>();
  }

  nlohmann::json vectors_;
  std::vector<std::string> leaves_;
};

TEST_F(MerkleKnownAnswerTest, RootOfEverySizeZeroToEight) {
  VectorSource plain(leaves_);
  CachingSource cached(leaves_);
  ASSERT_EQ(vectors_["root_by_size_hex"].size(), 9u);
  CompactRange range;
  for (uint64_t n = 0; n <= 8; ++n) {
    auto a = Root(plain, n);
    auto b = Root(cached, n);
    ASSERT_TRUE(a.ok() && b.ok()) << n;
    EXPECT_EQ(ToHex(*a), RootHex(n)) << "size " << n;
    EXPECT_EQ(ToHex(*b), RootHex(n)) << "size " << n;
    EXPECT_EQ(ToHex(range.Root()), RootHex(n)) << "size " << n;
    if (n < 8) (void)range.Append(leaves_[n]);
  }
  EXPECT_FALSE(plain.out_of_range || cached.out_of_range);
}

TEST_F(MerkleKnownAnswerTest, InclusionProofsMatchAndVerify) {
  VectorSource plain(leaves_);
  CachingSource cached(leaves_);
  ASSERT_FALSE(vectors_["inclusion"].empty());
  for (const auto& v : vectors_["inclusion"]) {
    const uint64_t index = v["leaf_index"].get<uint64_t>();
    const uint64_t size = v["tree_size"].get<uint64_t>();
    const auto want = v["proof_hex"].get<std::vector<std::string>>();
    SCOPED_TRACE("leaf " + std::to_string(index) + " of " + std::to_string(size));
    auto a = InclusionProof(plain, index, size);
    auto b = InclusionProof(cached, index, size);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(HexList(*a), want);
    EXPECT_EQ(HexList(*b), want);
    std::vector<std::string> proof;
    for (const std::string& h : want) proof.push_back(FromHex(h));
    EXPECT_TRUE(VerifyInclusion(leaves_[index], index, size, proof, FromHex(RootHex(size))).ok());
  }
}

TEST_F(MerkleKnownAnswerTest, ConsistencyProofsMatchAndVerify) {
  VectorSource plain(leaves_);
  CachingSource cached(leaves_);
  ASSERT_FALSE(vectors_["consistency"].empty());
  for (const auto& v : vectors_["consistency"]) {
    const uint64_t m = v["old_size"].get<uint64_t>();
    const uint64_t n = v["new_size"].get<uint64_t>();
    const auto want = v["proof_hex"].get<std::vector<std::string>>();
    SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
    auto a = ConsistencyProof(plain, m, n);
    auto b = ConsistencyProof(cached, m, n);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(HexList(*a), want);
    EXPECT_EQ(HexList(*b), want);
    std::vector<std::string> proof;
    for (const std::string& h : want) proof.push_back(FromHex(h));
    EXPECT_TRUE(VerifyConsistency(m, n, FromHex(RootHex(m)), FromHex(RootHex(n)), proof).ok());
  }
}

// ---------------------------------------------------------------------------
// Round trips, against the reference and between the plain and the cached
// source.

constexpr uint64_t kMaxSize = 200;

// The plain source rehashes every subtree a proof needs, O(n) per proof: it
// is checked on a dense subset (all small trees, the sizes around powers of
// two, and a stride through the rest) so that the file stays fast.
bool PlainSubset(uint64_t n, uint64_t i) {
  return n <= 40 || n == 64 || n == 65 || n == 128 || n == 129 || n == kMaxSize || i % 53 == 0;
}

TEST_F(MerkleRoundTripTest, RootMatchesReferenceForEverySize) {
  const auto leaves = Leaves(kMaxSize);
  Reference ref(leaves);
  VectorSource plain(leaves);
  CachingSource cached(leaves);
  CachingSource partial(leaves, [](uint32_t level) { return level % 2 == 1; });
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    const std::string want = ref.Mth(0, n);
    for (HashSource* src : std::initializer_list<HashSource*>{&plain, &cached, &partial}) {
      auto got = Root(*src, n);
      ASSERT_TRUE(got.ok());
      ASSERT_EQ(*got, want) << "size " << n;
    }
  }
  EXPECT_FALSE(plain.out_of_range || cached.out_of_range || partial.out_of_range);
}

TEST_F(MerkleRoundTripTest, InclusionProofRoundTripsForEveryLeafOfEverySize) {
  const auto leaves = Leaves(kMaxSize);
  Reference ref(leaves);
  VectorSource plain(leaves);
  CachingSource cached(leaves);
  for (uint64_t n = 1; n <= kMaxSize; ++n) {
    const std::string root = ref.Mth(0, n);
    for (uint64_t i = 0; i < n; ++i) {
      auto proof = InclusionProof(cached, i, n);
      ASSERT_TRUE(proof.ok());
      ASSERT_EQ(*proof, ref.Path(i, 0, n)) << "leaf " << i << " of " << n;
      // The plain source recomputes every subtree: a dense subset.
      if (PlainSubset(n, i)) {
        auto again = InclusionProof(plain, i, n);
        ASSERT_TRUE(again.ok());
        ASSERT_EQ(*again, *proof) << "leaf " << i << " of " << n;
      }
      Status s = VerifyInclusion(leaves[i], i, n, *proof, root);
      ASSERT_TRUE(s.ok()) << "leaf " << i << " of " << n << ": " << s.error().message;
    }
  }
  EXPECT_FALSE(plain.out_of_range || cached.out_of_range);
}

TEST_F(MerkleRoundTripTest, ConsistencyProofRoundTripsForEveryPairOfSizes) {
  const auto leaves = Leaves(kMaxSize);
  Reference ref(leaves);
  VectorSource plain(leaves);
  CachingSource cached(leaves);
  CachingSource partial(leaves, [](uint32_t level) { return level >= 3; });
  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    const std::string new_root = ref.Mth(0, n);
    for (uint64_t m = 0; m <= n; ++m) {
      auto proof = ConsistencyProof(cached, m, n);
      ASSERT_TRUE(proof.ok());
      const auto want =
          (m == 0 || m == n) ? std::vector<std::string>{} : ref.Subproof(m, 0, n, true);
      ASSERT_EQ(*proof, want) << m << " -> " << n;
      if (PlainSubset(n, m)) {
        auto again = ConsistencyProof(plain, m, n);
        ASSERT_TRUE(again.ok());
        ASSERT_EQ(*again, *proof) << m << " -> " << n;
      }
      if (m % 7 == 0) {
        auto again = ConsistencyProof(partial, m, n);
        ASSERT_TRUE(again.ok());
        ASSERT_EQ(*again, *proof) << m << " -> " << n;
      }
      Status s = VerifyConsistency(m, n, ref.Mth(0, m), new_root, *proof);
      ASSERT_TRUE(s.ok()) << m << " -> " << n << ": " << s.error().message;
    }
  }
  EXPECT_FALSE(plain.out_of_range || cached.out_of_range || partial.out_of_range);
}

// Identical leaves make every perfect subtree of a level the same, so a
// source for a tree of almost 2^64 leaves costs nothing: the arithmetic at
// the top bits (sizes, splits, shifts) gets exercised.
class UniformSource : public HashSource {
 public:
  UniformSource() {
    levels_.push_back(LeafHash("same"));
    for (int l = 1; l < 64; ++l) levels_.push_back(NodeHash(levels_.back(), levels_.back()));
  }
  Result<std::string> Leaf(uint64_t) override { return levels_[0]; }
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t) override {
    return std::optional<std::string>(levels_[level]);
  }

 private:
  std::vector<std::string> levels_;
};

TEST_F(MerkleRoundTripTest, ProofsRoundTripNearTwoToTheSixtyFour) {
  UniformSource src;
  const uint64_t big[] = {
      uint64_t{1} << 63,          (uint64_t{1} << 63) + 1,  ~uint64_t{0},
      ~uint64_t{0} - 1,           0x8000'0000'0000'0001ull, 0xdead'beef'cafe'f00dull,
      (uint64_t{1} << 40) + 12345};
  for (uint64_t n : big) {
    auto root = Root(src, n);
    ASSERT_TRUE(root.ok());
    for (uint64_t i : {uint64_t{0}, n / 3, n / 2, n - 2, n - 1}) {
      auto proof = InclusionProof(src, i, n);
      ASSERT_TRUE(proof.ok());
      EXPECT_LE(proof->size(), 64u);
      EXPECT_TRUE(VerifyInclusion(*Root(src, 1), i, n, *proof, *root).ok()) << i << " of " << n;
    }
    for (uint64_t m : {uint64_t{1}, uint64_t{2}, n / 3, n / 2, n - 1}) {
      auto old_root = Root(src, m);
      auto proof = ConsistencyProof(src, m, n);
      ASSERT_TRUE(old_root.ok() && proof.ok());
      EXPECT_TRUE(VerifyConsistency(m, n, *old_root, *root, *proof).ok()) << m << " -> " << n;
    }
  }
}

// ---------------------------------------------------------------------------
// Cost with a cached source: logarithmic, never a question outside the tree.

class CountingSource : public HashSource {
 public:
  Result<std::string> Leaf(uint64_t) override {
    ++calls;
    return std::string(kHashBytes, 'l');
  }
  Result<std::optional<std::string>> Perfect(uint32_t, uint64_t) override {
    ++calls;
    return std::optional<std::string>(std::string(kHashBytes, 'p'));
  }
  uint64_t calls = 0;
};

TEST_F(MerkleCostTest, CachedSourceCostIsLogarithmic) {
  std::vector<uint64_t> sizes;
  for (uint64_t n = 1; n <= 300; ++n) sizes.push_back(n);
  for (int b = 9; b < 64; b += 3) {
    sizes.push_back(uint64_t{1} << b);
    sizes.push_back((uint64_t{1} << b) - 1);
    sizes.push_back((uint64_t{1} << b) + 1);
  }
  sizes.push_back(~uint64_t{0});
  for (uint64_t n : sizes) {
    const uint64_t log = std::bit_width(n) - 1;  // floor(log2 n)
    CountingSource src;
    ASSERT_TRUE(Root(src, n).ok());
    EXPECT_LE(src.calls, log + 1) << "root of " << n;
    for (uint64_t i : {uint64_t{0}, n / 3, n / 2, n - 2, n - 1}) {
      if (i >= n) continue;
      src.calls = 0;
      ASSERT_TRUE(InclusionProof(src, i, n).ok());
      EXPECT_LE(src.calls, 2 * log) << "leaf " << i << " of " << n;
    }
    for (uint64_t m : {uint64_t{1}, n / 3, n / 2, n - 2, n - 1}) {
      if (m > n) continue;
      src.calls = 0;
      ASSERT_TRUE(ConsistencyProof(src, m, n).ok());
      EXPECT_LE(src.calls, 2 * log + 1) << m << " -> " << n;
    }
    src.calls = 0;
    ASSERT_TRUE(CompactRange::Load(src, n).ok());
    EXPECT_EQ(src.calls, static_cast<uint64_t>(std::popcount(n))) << n;
  }
}

// ---------------------------------------------------------------------------
// Tampering: every change to a proof, and every wrong claim, fails.

bool Fails(const Status& s, Code code) { return !s.ok() && s.error().code == code; }
// The reason names what is wrong, e.g. a proof with too few hashes.
bool FailsWith(const Status& s, const std::string& reason) {
  return Fails(s, Code::kUnauthenticated) && s.error().message.find(reason) != std::string::npos;
}

TEST_F(MerkleTamperTest, InclusionTamperingFails) {
  const auto leaves = Leaves(70);
  Reference ref(leaves);
  CachingSource src(leaves);
  for (uint64_t n : {1, 2, 3, 5, 7, 8, 9, 13, 31, 32, 33, 64, 70}) {
    const std::string root = ref.Mth(0, n);
    for (uint64_t i = 0; i < n; ++i) {
      // Every leaf of the small trees; in the larger ones the first, the
      // last, the ones around the split, and a stride.
      if (n > 13 && i % 7 != 0 && i + 1 != n && i + 1 != std::bit_floor(n - 1) &&
          i != std::bit_floor(n - 1)) {
        continue;
      }
      SCOPED_TRACE("leaf " + std::to_string(i) + " of " + std::to_string(n));
      const auto proof = *InclusionProof(src, i, n);
      const bool all_bytes = n <= 13 || i % 21 == 0;  // every byte: a subset of cases
      for (size_t e = 0; e < proof.size(); ++e) {
        for (size_t b = 0; b < kHashBytes; b += all_bytes ? 1 : 7) {
          auto bad = proof;
          bad[e][b] ^= 0x01;
          ASSERT_TRUE(Fails(VerifyInclusion(leaves[i], i, n, bad, root), Code::kUnauthenticated))
              << "element " << e << " byte " << b;
        }
      }
      std::string bad_leaf = leaves[i];
      bad_leaf[31] ^= 0x80;
      EXPECT_TRUE(Fails(VerifyInclusion(bad_leaf, i, n, proof, root), Code::kUnauthenticated));
      std::string bad_root = root;
      bad_root[0] ^= 0x01;
      EXPECT_TRUE(Fails(VerifyInclusion(leaves[i], i, n, proof, bad_root), Code::kUnauthenticated));
      // Another leaf's hash, or this one at another index.
      for (uint64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        EXPECT_TRUE(Fails(VerifyInclusion(leaves[j], i, n, proof, root), Code::kUnauthenticated));
        EXPECT_TRUE(Fails(VerifyInclusion(leaves[i], j, n, proof, root), Code::kUnauthenticated))
            << "as index " << j;
      }
      // Another size, against that size's root.
      for (uint64_t k = i + 1; k <= 70; ++k) {
        if (k == n) continue;
        EXPECT_TRUE(
            Fails(VerifyInclusion(leaves[i], i, k, proof, ref.Mth(0, k)), Code::kUnauthenticated))
            << "as size " << k;
      }
      // Truncated, extended, reordered.
      if (!proof.empty()) {
        auto shorter = proof;
        shorter.pop_back();
        EXPECT_TRUE(FailsWith(VerifyInclusion(leaves[i], i, n, shorter, root), "fewer hashes"));
        shorter = proof;
        shorter.erase(shorter.begin());
        EXPECT_TRUE(FailsWith(VerifyInclusion(leaves[i], i, n, shorter, root), "fewer hashes"));
      }
      if (proof.size() >= 2) {
        auto swapped = proof;
        std::swap(swapped[0], swapped[1]);
        EXPECT_TRUE(Fails(VerifyInclusion(leaves[i], i, n, swapped, root), Code::kUnauthenticated));
      }
      for (const std::string& extra : {root, leaves[i], std::string(kHashBytes, '\0')}) {
        auto longer = proof;
        longer.push_back(extra);
        EXPECT_TRUE(FailsWith(VerifyInclusion(leaves[i], i, n, longer, root), "more hashes"));
        longer = proof;
        longer.insert(longer.begin(), extra);
        EXPECT_TRUE(FailsWith(VerifyInclusion(leaves[i], i, n, longer, root), "more hashes"));
      }
    }
  }
}

TEST_F(MerkleTamperTest, ConsistencyTamperingFails) {
  const auto leaves = Leaves(70);
  Reference ref(leaves);
  CachingSource src(leaves);
  for (uint64_t n : {2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 64, 70}) {
    for (uint64_t m = 1; m < n; ++m) {
      if (n > 17 && m % 7 != 0 && m + 1 != n && !std::has_single_bit(m)) continue;
      SCOPED_TRACE(std::to_string(m) + " -> " + std::to_string(n));
      const std::string old_root = ref.Mth(0, m), new_root = ref.Mth(0, n);
      const auto proof = *ConsistencyProof(src, m, n);
      ASSERT_FALSE(proof.empty());
      const bool all_bytes = n <= 17 || m % 21 == 0;
      for (size_t e = 0; e < proof.size(); ++e) {
        for (size_t b = 0; b < kHashBytes; b += all_bytes ? 1 : 7) {
          auto bad = proof;
          bad[e][b] ^= 0x01;
          ASSERT_TRUE(
              Fails(VerifyConsistency(m, n, old_root, new_root, bad), Code::kUnauthenticated))
              << "element " << e << " byte " << b;
        }
      }
      std::string bad_old = old_root, bad_new = new_root;
      bad_old[5] ^= 0x04;
      bad_new[5] ^= 0x04;
      EXPECT_TRUE(Fails(VerifyConsistency(m, n, bad_old, new_root, proof), Code::kUnauthenticated));
      EXPECT_TRUE(Fails(VerifyConsistency(m, n, old_root, bad_new, proof), Code::kUnauthenticated));
      EXPECT_TRUE(
          Fails(VerifyConsistency(m, n, new_root, old_root, proof), Code::kUnauthenticated));
      // Other sizes, each with its own root.
      for (uint64_t m2 = 1; m2 < n; ++m2) {
        if (m2 == m) continue;
        EXPECT_TRUE(Fails(VerifyConsistency(m2, n, ref.Mth(0, m2), new_root, proof),
                          Code::kUnauthenticated))
            << "as old size " << m2;
      }
      for (uint64_t n2 = m + 1; n2 <= 70; ++n2) {
        if (n2 == n) continue;
        EXPECT_TRUE(Fails(VerifyConsistency(m, n2, old_root, ref.Mth(0, n2), proof),
                          Code::kUnauthenticated))
            << "as new size " << n2;
      }
      auto shorter = proof;
      shorter.pop_back();
      EXPECT_TRUE(FailsWith(VerifyConsistency(m, n, old_root, new_root, shorter),
                            shorter.empty() ? "proof is empty" : "fewer hashes"));
      shorter = proof;
      shorter.erase(shorter.begin());
      EXPECT_TRUE(FailsWith(VerifyConsistency(m, n, old_root, new_root, shorter),
                            shorter.empty() ? "proof is empty" : "fewer hashes"));
      for (const std::string& extra : {old_root, new_root, std::string(kHashBytes, '\0')}) {
        auto longer = proof;
        longer.push_back(extra);
        EXPECT_TRUE(FailsWith(VerifyConsistency(m, n, old_root, new_root, longer), "more hashes"));
        longer = proof;
        longer.insert(longer.begin(), extra);
        EXPECT_TRUE(FailsWith(VerifyConsistency(m, n, old_root, new_root, longer), "more hashes"));
      }
    }
  }
}

TEST_F(MerkleTamperTest, TrivialConsistencyCases) {
  const auto leaves = Leaves(5);
  Reference ref(leaves);
  const std::string r5 = ref.Mth(0, 5), r4 = ref.Mth(0, 4);
  EXPECT_TRUE(VerifyConsistency(5, 5, r5, r5, {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 5, EmptyRoot(), r5, {}).ok());
  EXPECT_TRUE(VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), {}).ok());
  EXPECT_TRUE(Fails(VerifyConsistency(5, 5, r4, r5, {}), Code::kUnauthenticated));
  EXPECT_TRUE(Fails(VerifyConsistency(5, 5, r5, r5, {r4}), Code::kUnauthenticated));
  EXPECT_TRUE(Fails(VerifyConsistency(0, 5, r4, r5, {}), Code::kUnauthenticated));
  EXPECT_TRUE(Fails(VerifyConsistency(0, 5, EmptyRoot(), r5, {r4}), Code::kUnauthenticated));
  EXPECT_TRUE(Fails(VerifyConsistency(4, 5, r4, r5, {}), Code::kUnauthenticated));
}

TEST_F(MerkleTamperTest, MalformedInputIsInvalidArgument) {
  const auto leaves = Leaves(8);
  Reference ref(leaves);
  VectorSource src(leaves);
  const std::string root = ref.Mth(0, 8);
  const auto proof = *InclusionProof(src, 3, 8);
  EXPECT_TRUE(Fails(VerifyInclusion(leaves[3], 8, 8, proof, root), Code::kInvalidArgument));
  EXPECT_TRUE(Fails(VerifyInclusion(leaves[3], 0, 0, {}, EmptyRoot()), Code::kInvalidArgument));
  EXPECT_TRUE(
      Fails(VerifyInclusion(leaves[3].substr(1), 3, 8, proof, root), Code::kInvalidArgument));
  EXPECT_TRUE(Fails(VerifyInclusion(leaves[3], 3, 8, proof, root + "x"), Code::kInvalidArgument));
  EXPECT_TRUE(Fails(VerifyInclusion(ToHex(leaves[3]), 3, 8, proof, root), Code::kInvalidArgument));
  auto bad = proof;
  bad[1].push_back('\0');
  EXPECT_TRUE(Fails(VerifyInclusion(leaves[3], 3, 8, bad, root), Code::kInvalidArgument));
  bad = proof;
  bad[2].clear();
  EXPECT_TRUE(Fails(VerifyInclusion(leaves[3], 3, 8, bad, root), Code::kInvalidArgument));

  const std::string r5 = ref.Mth(0, 5);
  const auto cons = *ConsistencyProof(src, 5, 8);
  EXPECT_TRUE(VerifyConsistency(5, 8, r5, root, cons).ok());
  EXPECT_TRUE(Fails(VerifyConsistency(8, 5, root, r5, cons), Code::kInvalidArgument));
  EXPECT_TRUE(Fails(VerifyConsistency(5, 8, r5.substr(0, 31), root, cons), Code::kInvalidArgument));
  EXPECT_TRUE(Fails(VerifyConsistency(5, 8, r5, "", cons), Code::kInvalidArgument));
  auto bad_cons = cons;
  bad_cons[0] += "!";
  EXPECT_TRUE(Fails(VerifyConsistency(5, 8, r5, root, bad_cons), Code::kInvalidArgument));

  auto no_leaf = InclusionProof(src, 8, 8);
  ASSERT_FALSE(no_leaf.ok());
  EXPECT_EQ(no_leaf.error().code, Code::kInvalidArgument);
  auto backwards = ConsistencyProof(src, 6, 5);
  ASSERT_FALSE(backwards.ok());
  EXPECT_EQ(backwards.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(src.out_of_range);
}

// ---------------------------------------------------------------------------
// CompactRange.

TEST_F(MerkleCompactRangeTest, AppendMatchesRootAndReportsCompletedSubtrees) {
  constexpr uint64_t kLeaves = 300;
  const auto leaves = Leaves(kLeaves);
  Reference ref(leaves);
  CachingSource src(leaves);
  CompactRange range;
  EXPECT_EQ(range.size(), 0u);
  EXPECT_EQ(range.Root(), EmptyRoot());
  std::set<std::pair<uint32_t, uint64_t>> reported;
  for (uint64_t n = 1; n <= kLeaves; ++n) {
    const auto completed = range.Append(leaves[n - 1]);
    ASSERT_EQ(range.size(), n);
    ASSERT_EQ(range.Root(), *Root(src, n)) << "size " << n;
    // Exactly the perfect subtrees ending at leaf n - 1, smallest first.
    std::vector<CompactRange::Node> want;
    for (uint32_t level = 1; (n & ((uint64_t{1} << level) - 1)) == 0; ++level) {
      const uint64_t index = (n >> level) - 1;
      want.push_back({level, index, ref.Mth(index << level, (index + 1) << level)});
    }
    ASSERT_EQ(completed, want) << "size " << n;
    for (const auto& node : completed) {
      EXPECT_TRUE(reported.insert({node.level, node.index}).second);
    }
    // The state is the size's binary decomposition.
    uint64_t pos = 0;
    ASSERT_EQ(range.nodes().size(), static_cast<size_t>(std::popcount(n)));
    for (const auto& node : range.nodes()) {
      EXPECT_EQ(node.index << node.level, pos);
      EXPECT_EQ(node.hash, ref.Mth(pos, pos + (uint64_t{1} << node.level)));
      pos += uint64_t{1} << node.level;
    }
  }
  // Every perfect subtree of level >= 1 in a tree of 300 leaves, each once.
  size_t all = 0;
  for (uint32_t level = 1; (uint64_t{1} << level) <= kLeaves; ++level) all += kLeaves >> level;
  EXPECT_EQ(reported.size(), all);
}

TEST_F(MerkleCompactRangeTest, LoadThenAppendGivesTheSameRoots) {
  constexpr uint64_t kLeaves = 300;
  const auto leaves = Leaves(kLeaves);
  VectorSource plain(leaves);
  CachingSource cached(leaves);
  std::vector<CompactRange> grown(1);
  for (uint64_t n = 1; n <= kLeaves; ++n) {
    grown.push_back(grown.back());
    (void)grown.back().Append(leaves[n - 1]);
  }
  for (uint64_t n = 0; n <= kLeaves; ++n) {
    auto a = CompactRange::Load(cached, n);
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a->nodes(), grown[n].nodes()) << n;
    ASSERT_EQ(a->size(), n);
    if (n % 5 == 0 || n < 40) {
      auto b = CompactRange::Load(plain, n);
      ASSERT_TRUE(b.ok());
      ASSERT_EQ(b->nodes(), grown[n].nodes()) << n;
    }
    CompactRange& range = *a;
    for (uint64_t k = n; k < std::min(kLeaves, n + 40); ++k) {
      (void)range.Append(leaves[k]);
      ASSERT_EQ(range.Root(), grown[k + 1].Root()) << "loaded at " << n << ", size " << k + 1;
    }
  }
  EXPECT_FALSE(plain.out_of_range || cached.out_of_range);
}

// ---------------------------------------------------------------------------
// Errors from the source.

class FailingSource : public VectorSource {
 public:
  FailingSource(std::vector<std::string> leaves, uint64_t bad_leaf, uint32_t bad_level = 0)
      : VectorSource(std::move(leaves)), bad_leaf_(bad_leaf), bad_level_(bad_level) {}
  Result<std::string> Leaf(uint64_t index) override {
    if (index == bad_leaf_) return MakeError(Code::kUnavailable, "disk I/O error at leaf");
    return VectorSource::Leaf(index);
  }
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) override {
    if (bad_level_ != 0 && level == bad_level_) {
      return MakeError(Code::kDataLoss, "subtree cache row is corrupt");
    }
    (void)index;
    return std::optional<std::string>();
  }

 private:
  uint64_t bad_leaf_;
  uint32_t bad_level_;
};

TEST_F(MerkleSourceTest, ErrorsPropagate) {
  const auto leaves = Leaves(20);
  FailingSource src(leaves, 13);
  auto expect_io = [](const Error& e) {
    EXPECT_EQ(e.code, Code::kUnavailable);
    EXPECT_EQ(e.message, "disk I/O error at leaf");
  };
  auto root = Root(src, 20);
  ASSERT_FALSE(root.ok());
  expect_io(root.error());
  EXPECT_TRUE(Root(src, 13).ok());  // leaf 13 is not in a tree of 13
  auto incl = InclusionProof(src, 2, 20);
  ASSERT_FALSE(incl.ok());
  expect_io(incl.error());
  auto cons = ConsistencyProof(src, 7, 20);
  ASSERT_FALSE(cons.ok());
  expect_io(cons.error());
  auto load = CompactRange::Load(src, 14);
  ASSERT_FALSE(load.ok());
  expect_io(load.error());

  FailingSource cache_fails(leaves, ~uint64_t{0}, 2);
  auto r = Root(cache_fails, 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDataLoss);
  EXPECT_TRUE(Root(cache_fails, 3).ok());  // no subtree of level 2 asked for
  EXPECT_FALSE(InclusionProof(cache_fails, 0, 9).ok());
  EXPECT_FALSE(ConsistencyProof(cache_fails, 3, 9).ok());
  EXPECT_FALSE(CompactRange::Load(cache_fails, 4).ok());
}

class ShortHashSource : public VectorSource {
 public:
  using VectorSource::VectorSource;
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t) override {
    if (level == 3) return std::optional<std::string>(std::string(31, 'x'));
    return std::optional<std::string>();
  }
};

TEST_F(MerkleSourceTest, HashOfWrongLengthIsDataLoss) {
  auto leaves = Leaves(10);
  ShortHashSource bad_cache(leaves);
  auto r = Root(bad_cache, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDataLoss);
  leaves[4] = ToHex(leaves[4]);
  VectorSource bad_leaf(leaves);
  auto p = InclusionProof(bad_leaf, 5, 10);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Code::kDataLoss);
  auto q = InclusionProof(bad_leaf, 9, 10);  // needs MTH(D[0:8]), which covers leaf 4
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.error().code, Code::kDataLoss);
  EXPECT_TRUE(InclusionProof(bad_leaf, 3, 4).ok());  // leaf 4 is outside a tree of 4
}

}  // namespace
}  // namespace rogatory::merkle
