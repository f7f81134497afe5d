// Micro-benchmarks of every cryptographic step of the construction (Google
// Benchmark). Run: build/bench/crypto_bench
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "bench/construction.h"
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

}  // namespace
}  // namespace rogatory::bench

BENCHMARK_MAIN();
