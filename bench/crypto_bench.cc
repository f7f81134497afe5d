// Micro-benchmarks of every cryptographic step of the construction (Google
// Benchmark). Run: build/bench/crypto_bench
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "bench/construction.h"
#include "keys/attachment.h"
#include "keys/crypto.h"
#include "keys/labels.h"

namespace rogatory::bench {
namespace {

const Parties& P() {
  static Parties* p = new Parties(MakeParties());
  return *p;
}

void BM_Ed25519Sign1KiB(benchmark::State& state) {
  const std::string msg(1024, 'm');
  for (auto _ : state) benchmark::DoNotOptimize(Sign(P().sender.signing(), "bench", msg));
}
BENCHMARK(BM_Ed25519Sign1KiB);

void BM_Ed25519Verify1KiB(benchmark::State& state) {
  const std::string msg(1024, 'm');
  const std::string sig = Sign(P().sender.signing(), "bench", msg);
  for (auto _ : state) {
    benchmark::DoNotOptimize(Verify(P().sender.signing().public_key, "bench", msg, sig));
  }
}
BENCHMARK(BM_Ed25519Verify1KiB);

void BM_BoxSharedKey(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        BoxSharedKey(P().sender.encryption().secret, P().recipient.encryption().public_key));
  }
}
BENCHMARK(BM_BoxSharedKey);

void BM_SenderSeal(benchmark::State& state) {
  std::string inner;
  for (auto _ : state) {
    benchmark::DoNotOptimize(SenderSeal(P(), static_cast<size_t>(state.range(0)), &inner));
  }
}
BENCHMARK(BM_SenderSeal)->Arg(1024)->Arg(64 * 1024);

void BM_ReceiverAcceptAndSignReceipt(benchmark::State& state) {
  std::string inner;
  const std::string env = SenderSeal(P(), static_cast<size_t>(state.range(0)), &inner);
  for (auto _ : state) benchmark::DoNotOptimize(ReceiverAccept(P(), env));
}
BENCHMARK(BM_ReceiverAcceptAndSignReceipt)->Arg(1024)->Arg(64 * 1024);

void BM_SenderCheckReceipt(benchmark::State& state) {
  std::string inner;
  const std::string env = SenderSeal(P(), 1024, &inner);
  const std::string receipt = ReceiverAccept(P(), env);
  for (auto _ : state) benchmark::DoNotOptimize(SenderCheckReceipt(P(), env, inner, receipt));
}
BENCHMARK(BM_SenderCheckReceipt);

void BM_Sha256OpenSsl(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'd');
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256OpenSsl)->Arg(16 * 1024)->Arg(1 << 20);

void BM_Sha256Libsodium(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'd');
  unsigned char out[32];
  for (auto _ : state) {
    crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(data.data()), data.size());
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256Libsodium)->Arg(16 * 1024)->Arg(1 << 20);

// The attachment chunk construction (XChaCha20-Poly1305, keys/attachment.h):
// what the receiver runs on every 1 MiB chunk, and what the sender ran once.
void BM_AttachmentChunkOpen(benchmark::State& state) {
  (void)P();  // initializes libsodium
  const SecretBytes key = SecretBytes::From(std::string(32, 'k'));
  std::string sealed, plain;
  SealChunk(key, "msg", 7, false, std::string(kDefaultChunkBytes, 'p'), &sealed);
  for (auto _ : state) {
    if (!OpenChunk(key, "msg", 7, false, sealed, &plain)) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(plain.data());
  }
  state.SetBytesProcessed(state.iterations() * kDefaultChunkBytes);
}
BENCHMARK(BM_AttachmentChunkOpen);

void BM_AttachmentChunkSeal(benchmark::State& state) {
  (void)P();
  const SecretBytes key = SecretBytes::From(std::string(32, 'k'));
  const std::string plain(kDefaultChunkBytes, 'p');
  std::string sealed;
  for (auto _ : state) {
    SealChunk(key, "msg", 7, false, plain, &sealed);
    benchmark::DoNotOptimize(sealed.data());
  }
  state.SetBytesProcessed(state.iterations() * kDefaultChunkBytes);
}
BENCHMARK(BM_AttachmentChunkSeal);

// What ZeroMQ's CURVE does to every message, each way (crypto_box_afternm,
// XSalsa20-Poly1305): the transport's own ceiling for a 1 MiB frame.
void BM_CurveMessageBox(benchmark::State& state) {
  std::vector<unsigned char> key(crypto_box_BEFORENMBYTES, 'k'), nonce(crypto_box_NONCEBYTES, 0);
  std::vector<unsigned char> in(crypto_box_ZEROBYTES + kDefaultChunkBytes, 'p'), out(in.size());
  for (auto _ : state) {
    crypto_box_afternm(out.data(), in.data(), in.size(), nonce.data(), key.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * kDefaultChunkBytes);
}
BENCHMARK(BM_CurveMessageBox);

}  // namespace
}  // namespace rogatory::bench

BENCHMARK_MAIN();

// --- The audit log's Merkle tree (keys/merkle.h) ---------------------------
// A log of 2^20 entries held in memory with every perfect subtree cached, as
// the store keeps them: the cost of a proof is then O(log n) lookups plus the
// hashing of the one subtree on the right edge that is not perfect.
#include <random>

#include "keys/merkle.h"

namespace rogatory::bench {
namespace {

constexpr uint64_t kMerkleLeaves = uint64_t{1} << 20;

class CachedTree : public merkle::HashSource {
 public:
  CachedTree() {
    // The store fills its cache from what CompactRange::Append reports.
    levels_.resize(21);
    merkle::CompactRange range;
    for (uint64_t i = 0; i < kMerkleLeaves; ++i) {
      std::string leaf = merkle::LeafHash("audit entry " + std::to_string(i));
      levels_[0] += leaf;
      for (const auto& node : range.Append(std::move(leaf))) levels_[node.level] += node.hash;
    }
  }
  Result<std::string> Leaf(uint64_t index) override { return Get(0, index); }
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) override {
    return std::optional<std::string>(Get(level, index));
  }

 private:
  std::string Get(uint32_t level, uint64_t index) const {
    return levels_[level].substr(index * merkle::kHashBytes, merkle::kHashBytes);
  }
  std::vector<std::string> levels_;  // level l: the roots of its subtrees, 32 bytes each
};

CachedTree& Tree() {
  static CachedTree* t = new CachedTree();
  return *t;
}

// Random queries, drawn once outside the timing: (a, b) with a < b, and the
// roots of the trees of size a and b.
struct MerkleQuery {
  uint64_t a, b;
  std::string root_a, root_b;
};

const std::vector<MerkleQuery>& Queries(bool inclusion) {
  static std::vector<MerkleQuery>* q[2] = {nullptr, nullptr};
  if (q[inclusion] == nullptr) {
    q[inclusion] = new std::vector<MerkleQuery>();
    std::mt19937_64 rng(inclusion ? 6962 : 9162);
    for (int i = 0; i < 1024; ++i) {
      MerkleQuery mq;
      // Tree sizes in the upper half, so most are not powers of two.
      mq.b = kMerkleLeaves / 2 + 1 + rng() % (kMerkleLeaves / 2);
      mq.a = inclusion ? rng() % mq.b : 1 + rng() % (mq.b - 1);
      if (!inclusion) mq.root_a = *merkle::Root(Tree(), mq.a);
      mq.root_b = *merkle::Root(Tree(), mq.b);
      q[inclusion]->push_back(std::move(mq));
    }
  }
  return *q[inclusion];
}

void BM_MerkleInclusionProof1M(benchmark::State& state) {
  const bool verify = state.range(0) != 0;
  const auto& queries = Queries(true);
  size_t i = 0;
  for (auto _ : state) {
    const MerkleQuery& q = queries[i++ % queries.size()];
    auto proof = merkle::InclusionProof(Tree(), q.a, q.b);
    if (verify) {
      std::string leaf = *Tree().Leaf(q.a);
      if (!merkle::VerifyInclusion(leaf, q.a, q.b, *proof, q.root_b).ok()) {
        state.SkipWithError("inclusion proof does not verify");
        break;
      }
    }
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(BM_MerkleInclusionProof1M)->ArgName("verify")->Arg(0)->Arg(1);

void BM_MerkleConsistencyProof1M(benchmark::State& state) {
  const bool verify = state.range(0) != 0;
  const auto& queries = Queries(false);
  size_t i = 0;
  for (auto _ : state) {
    const MerkleQuery& q = queries[i++ % queries.size()];
    auto proof = merkle::ConsistencyProof(Tree(), q.a, q.b);
    if (verify && !merkle::VerifyConsistency(q.a, q.b, q.root_a, q.root_b, *proof).ok()) {
      state.SkipWithError("consistency proof does not verify");
      break;
    }
    benchmark::DoNotOptimize(proof);
  }
}
BENCHMARK(BM_MerkleConsistencyProof1M)->ArgName("verify")->Arg(0)->Arg(1);

}  // namespace
}  // namespace rogatory::bench
