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
