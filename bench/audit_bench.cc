// audit_bench: the node's audit log (node/audit.h) on a store of 10^6
// entries (issue 5): appends per second with proofs available, and the time
// of inclusion and consistency proofs at 10^6 leaves. Google Benchmark.
//
//   build/bench/audit_bench --benchmark_repetitions=3
//                           --benchmark_enable_random_interleaving=true
//
// Before any benchmark runs, one store file is created in a fresh temporary
// directory with Store::Open, as the daemon opens its store (WAL,
// synchronous=FULL), and filled to 10^6 LogEntry leaves through
// AuditLog::Append, 10,000 per transaction. The fill time, file size and
// root are printed in the run's context. Every benchmark uses that one
// store; the directory is removed at exit.
//
// The limits, measured in the same run on the same file or filesystem:
//   BM_Sha256          SHA-256 of one leaf (0x00 || entry) and of one node
//                      (0x01 || two hashes), rogatory::Sha256 (OpenSSL);
//   BM_SqliteLookup    a bare prepared point lookup on a second connection
//                      to the store file (SQLiteCpp, as node/store.cc uses),
//                      in audit_nodes (random level 1-19) and in audit_log;
//   BM_StoreAuditNode  the same audit_nodes lookups through Store::AuditNode;
// and, because this shared machine drifts from one second to the next, the
// limit of each audit benchmark again, alternated with it iteration by
// iteration and timed apart (the benchmark's own time is manual time):
//   bare_lookup_us     (proofs) a bare lookup, of the lookups another proof
//                      makes;
//   sha256_us          (verification) as many SHA-256 of 65 bytes as the
//                      verification made NodeHash calls;
//   bare_per_s         (appends) a bare INSERT of a row the size of an
//                      audit_log row, as many per BEGIN IMMEDIATE ... COMMIT
//                      as appends, in a second file in the same directory,
//                      WAL and synchronous=FULL.
//
// Times are real (wall-clock) time: a durable commit waits for the disk, not
// the CPU. Random interleaving runs the repetitions of all benchmarks in a
// random order. The appends grow the log beyond 10^6 (their `log_size`
// counter says from where); proofs are always asked of the tree of the first
// 10^6 entries.
#include <SQLiteCpp/SQLiteCpp.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "keys/crypto.h"
#include "keys/merkle.h"
#include "keys/strict_parse.h"
#include "node/audit.h"
#include "node/store.h"
#include "proto/wire.pb.h"

namespace rogatory::bench {
namespace {

constexpr uint64_t kLeaves = 1'000'000;
constexpr int kFillPerTransaction = 10'000;
constexpr int kQueries = 4096;

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// splitmix64: the leaves' "random" bytes cost nanoseconds, so an append
// measures the log and not a random source (RandomBytes is a system call).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

std::string MixBytes(uint64_t seed, size_t n) {
  std::string out(n, '\0');
  for (size_t k = 0; k < n; ++k) out[k] = static_cast<char>(Mix(seed + k / 8) >> (8 * (k % 8)));
  return out;
}

// The format of NewMessageId (docs/protocol.md section 7): 26 characters,
// 10 of millisecond time and 16 of 80 "random" bits.
std::string MessageId(uint64_t i, int64_t now_us) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  std::string out(26, '0');
  uint64_t ms = static_cast<uint64_t>(now_us / 1000);
  for (int k = 9; k >= 0; --k, ms >>= 5) out[static_cast<size_t>(k)] = kAlphabet[ms & 31];
  uint64_t hi = Mix(i), lo = Mix(~i);
  for (int k = 10; k < 26; ++k) {
    uint64_t& bits = k < 18 ? hi : lo;
    out[static_cast<size_t>(k)] = kAlphabet[bits & 31];
    bits >>= 5;
  }
  return out;
}

// A leaf as the daemon logs one (Daemon::LogAudit): a message id, 20-byte
// fingerprints, the SHA-256 of an envelope or receipt, microsecond time.
// `i` varies the kind and the bytes.
wire::LogEntry MakeEntry(uint64_t i, int64_t now_us) {
  wire::LogEntry e;
  e.set_version(1);
  const int kind = 1 + static_cast<int>(i % 3);
  e.set_kind(static_cast<wire::LogKind>(kind));
  e.set_message_id(MessageId(i, now_us));
  e.set_sender(MixBytes(i % 16, 20));  // a few peers
  if (kind != wire::LOG_ENVELOPE_SENT) e.set_peer(MixBytes(1000 + i % 16, 20));
  e.set_sha256(MixBytes(i << 8, 32));
  e.set_logged_at(now_us);
  return e;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One lookup a proof makes: a leaf hash (audit_log) or the cached root of a
// perfect subtree (audit_nodes).
struct Lookup {
  bool leaf;
  uint32_t level;
  uint64_t index;
};

// Records what a proof asks of the store.
class RecordingSource final : public merkle::HashSource {
 public:
  explicit RecordingSource(merkle::HashSource* inner) : inner_(inner) {}
  Result<std::string> Leaf(uint64_t index) override {
    lookups.push_back({true, 0, index});
    return inner_->Leaf(index);
  }
  Result<std::optional<std::string>> Perfect(uint32_t level, uint64_t index) override {
    lookups.push_back({false, level, index});
    return inner_->Perfect(level, index);
  }
  std::vector<Lookup> lookups;

 private:
  merkle::HashSource* inner_;
};

// The limit for a lookup: the bare prepared statement on a connection of
// its own, the row copied out as node/store.cc copies it.
class BareLookups {
 public:
  explicit BareLookups(SQLite::Database& db)
      : leaf_(db, "SELECT leaf_hash FROM audit_log WHERE idx=?1"),
        node_(db, "SELECT hash FROM audit_nodes WHERE level=?1 AND idx=?2") {}
  ~BareLookups() {
    leaf_.reset();
    node_.reset();
  }
  // The 32-byte hash, or "" when there is no such row.
  std::string Get(const Lookup& l) {
    SQLite::Statement& q = l.leaf ? leaf_ : node_;
    q.reset();
    if (l.leaf) {
      q.bind(1, static_cast<int64_t>(l.index));
    } else {
      q.bind(1, static_cast<int64_t>(l.level));
      q.bind(2, static_cast<int64_t>(l.index));
    }
    if (!q.executeStep()) return {};
    const SQLite::Column c = q.getColumn(0);
    return std::string(static_cast<const char*>(c.getBlob()), static_cast<size_t>(c.getBytes()));
  }

 private:
  SQLite::Statement leaf_;
  SQLite::Statement node_;
};

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// The store of 10^6 entries and everything drawn from it once.
struct Fixture {
  std::filesystem::path dir;
  std::string store_path;
  std::unique_ptr<Store> store;
  std::unique_ptr<AuditLog> log;
  std::string root;  // of the first kLeaves entries
  double fill_seconds = 0;
  uint64_t file_bytes = 0;                      // store file and its WAL after the fill
  std::vector<uint64_t> leaves;                 // random leaf indices
  std::vector<uint64_t> old_sizes;              // random sizes in [1, kLeaves)
  std::vector<Lookup> nodes;                    // random cached subtrees
  std::unique_ptr<SQLite::Database> reader;     // bare second connection
  std::unique_ptr<SQLite::Database> insert_db;  // bare durable inserts
  int64_t insert_next = 0;
};

Fixture* g_fixture = nullptr;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "audit_bench: %s\n", what.c_str());
  if (g_fixture != nullptr) {
    g_fixture->log.reset();
    g_fixture->store.reset();
    std::error_code ec;
    std::filesystem::remove_all(g_fixture->dir, ec);
  }
  std::exit(1);
}

template <typename T>
T Check(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.error().message);
  return std::move(r).value();
}

void Check(Status s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.error().message);
}

Fixture& F() {
  if (g_fixture != nullptr) return *g_fixture;
  Check(InitCrypto(), "init");
  g_fixture = new Fixture();
  Fixture& f = *g_fixture;
  std::string tmpl = (std::filesystem::temp_directory_path() / "rogatory-audit-bench-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) Die("cannot create a temporary directory");
  f.dir = tmpl;
  f.store_path = (f.dir / "store.db").string();
  f.store = Check(Store::Open(f.store_path), "open store");
  f.log = Check(AuditLog::Load(f.store.get()), "load audit log");

  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < kLeaves;) {
    Check(f.store->Begin(), "begin");
    for (int k = 0; k < kFillPerTransaction && i < kLeaves; ++k, ++i) {
      Check(f.log->Append(MakeEntry(i, NowMicros())), "append");
    }
    Check(f.store->Commit(), "commit");
  }
  f.fill_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const char* suffix : {"", "-wal"}) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(f.store_path + suffix, ec);
    if (!ec) f.file_bytes += n;
  }

  // The root from the store must be the one the appends computed.
  f.root = f.log->Root();
  StoreHashSource source(f.store.get());
  if (Check(merkle::Root(source, kLeaves), "root from the store") != f.root) {
    Die("the root read from the store differs from the appended one");
  }

  std::mt19937_64 rng(6962);
  for (int i = 0; i < kQueries; ++i) {
    f.leaves.push_back(rng() % kLeaves);
    f.old_sizes.push_back(1 + rng() % (kLeaves - 1));
    // One level of a proof's path at a time: levels 1..19 equally likely,
    // as an inclusion proof asks for about one subtree per level.
    const uint32_t level = 1 + static_cast<uint32_t>(rng() % 19);
    f.nodes.push_back({false, level, rng() % (kLeaves >> level)});
  }

  f.reader = std::make_unique<SQLite::Database>(f.store_path, SQLite::OPEN_READONLY);
  f.insert_db = std::make_unique<SQLite::Database>((f.dir / "insert.db").string(),
                                                   SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  f.insert_db->exec("PRAGMA journal_mode=WAL");
  f.insert_db->exec("PRAGMA synchronous=FULL");
  f.insert_db->exec(
      "CREATE TABLE t(idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, leaf_hash BLOB NOT NULL)");
  return f;
}

void DestroyFixture() {
  if (g_fixture == nullptr) return;
  g_fixture->reader.reset();
  g_fixture->insert_db.reset();
  g_fixture->log.reset();
  g_fixture->store.reset();
  std::error_code ec;
  std::filesystem::remove_all(g_fixture->dir, ec);
  delete g_fixture;
  g_fixture = nullptr;
}

const std::string& EntryBytes() {
  static const std::string bytes = SerializeCanonical(MakeEntry(1, NowMicros()));
  return bytes;
}

// ---- limits

void BM_Sha256(benchmark::State& state) {
  // range(0) == 0: a leaf, 0x00 || a serialized entry; 1: a node, 0x01 || 64.
  std::string data(1, state.range(0) == 0 ? '\0' : '\1');
  data += state.range(0) == 0 ? EntryBytes() : std::string(64, 'h');
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  state.counters["bytes"] = static_cast<double>(data.size());
}
BENCHMARK(BM_Sha256)->ArgName("node")->Arg(0)->Arg(1)->UseRealTime();

void BM_SqliteLookup(benchmark::State& state) {
  Fixture& f = F();
  const bool leaf = state.range(0) != 0;
  BareLookups bare(*f.reader);
  size_t i = 0;
  for (auto _ : state) {
    const Lookup l =
        leaf ? Lookup{true, 0, f.leaves[i % f.leaves.size()]} : f.nodes[i % f.nodes.size()];
    ++i;
    std::string hash = bare.Get(l);
    if (hash.empty()) {
      state.SkipWithError("row not found");
      break;
    }
    benchmark::DoNotOptimize(hash);
  }
}
BENCHMARK(BM_SqliteLookup)->ArgName("audit_log")->Arg(0)->Arg(1)->UseRealTime();

void BM_StoreAuditNode(benchmark::State& state) {
  Fixture& f = F();
  size_t i = 0;
  for (auto _ : state) {
    const Lookup& n = f.nodes[i++ % f.nodes.size()];
    auto hash = f.store->AuditNode(n.level, n.index);
    if (!hash.ok() || !hash->has_value()) {
      state.SkipWithError("node not found");
      break;
    }
    benchmark::DoNotOptimize(hash);
  }
}
BENCHMARK(BM_StoreAuditNode)->UseRealTime();

// ---- proofs at 10^6

// Each iteration makes one proof from the store through AuditLog (the
// reported time, manual), then makes the lookups that another proof makes
// (recorded beforehand; another, so that no page is warm from this one),
// bare on the second connection, timed apart: `bare_lookup_us` per lookup.
// `leaf_lookups` and `node_lookups` are the lookups per proof, averaged over
// the 4096 queries.
void ProofBenchmark(benchmark::State& state, bool inclusion) {
  Fixture& f = F();
  const std::vector<uint64_t>& args = inclusion ? f.leaves : f.old_sizes;
  struct Case {
    uint64_t arg;
    std::vector<Lookup> lookups;
  };
  std::vector<Case> cases;
  StoreHashSource store_source(f.store.get());
  double leaf_lookups = 0, node_lookups = 0;
  for (uint64_t arg : args) {
    RecordingSource recording(&store_source);
    if (!(inclusion ? merkle::InclusionProof(recording, arg, kLeaves)
                    : merkle::ConsistencyProof(recording, arg, kLeaves))
             .ok()) {
      state.SkipWithError("proof failed");
      return;
    }
    for (const Lookup& l : recording.lookups) (l.leaf ? leaf_lookups : node_lookups) += 1;
    cases.push_back({arg, std::move(recording.lookups)});
  }
  BareLookups bare(*f.reader);
  double bare_seconds = 0, bare_lookups = 0;
  size_t i = 0;
  for (auto _ : state) {
    const Case& c = cases[i % cases.size()];
    const Case& other = cases[(i + cases.size() / 2) % cases.size()];
    ++i;
    const auto t0 = std::chrono::steady_clock::now();
    auto proof =
        inclusion ? f.log->InclusionProof(c.arg, kLeaves) : f.log->ConsistencyProof(c.arg, kLeaves);
    const auto t1 = std::chrono::steady_clock::now();
    if (!proof.ok()) {
      state.SkipWithError("proof failed");
      break;
    }
    benchmark::DoNotOptimize(proof);
    for (const Lookup& l : other.lookups) {
      std::string hash = bare.Get(l);
      if (hash.empty()) state.SkipWithError("row not found");
      benchmark::DoNotOptimize(hash);
    }
    const auto t2 = std::chrono::steady_clock::now();
    state.SetIterationTime(Seconds(t1 - t0));
    bare_seconds += Seconds(t2 - t1);
    bare_lookups += static_cast<double>(other.lookups.size());
  }
  state.counters["leaf_lookups"] = leaf_lookups / static_cast<double>(cases.size());
  state.counters["node_lookups"] = node_lookups / static_cast<double>(cases.size());
  if (bare_lookups > 0) state.counters["bare_lookup_us"] = 1e6 * bare_seconds / bare_lookups;
}

void BM_AuditInclusionProof(benchmark::State& state) { ProofBenchmark(state, true); }
BENCHMARK(BM_AuditInclusionProof)->Unit(benchmark::kMicrosecond)->UseManualTime();

void BM_AuditConsistencyProof(benchmark::State& state) { ProofBenchmark(state, false); }
BENCHMARK(BM_AuditConsistencyProof)->Unit(benchmark::kMicrosecond)->UseManualTime();

// The NodeHash calls merkle::VerifyConsistency makes for this proof (its
// loop, RFC 9162 2.1.4.2 steps 2-6, without the hashing): two for an element
// that extends both the old and the new root, one for an element that
// extends only the new one.
int ConsistencyVerifyHashes(uint64_t old_size, uint64_t new_size, size_t proof_size) {
  size_t next = std::has_single_bit(old_size) ? 0 : 1;
  uint64_t fn = old_size - 1;
  uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  int hashes = 0;
  for (; next < proof_size; ++next) {
    if ((fn & 1) == 1 || fn == sn) {
      hashes += 2;
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      hashes += 1;
    }
    fn >>= 1;
    sn >>= 1;
  }
  return hashes;
}

// Each iteration verifies one proof (the reported time, manual), then
// computes as many raw SHA-256 of 65 bytes (0x01 || two hashes) as the
// verification made NodeHash calls, timed apart: `sha256_us`. `node_hashes`
// is that count and `proof_hashes` the proof's length, averaged.
void VerifyBenchmark(benchmark::State& state, bool inclusion) {
  Fixture& f = F();
  struct Case {
    uint64_t arg;
    std::string leaf_or_old_root;
    std::vector<std::string> proof;
    int hashes;
  };
  std::vector<Case> cases;
  StoreHashSource source(f.store.get());
  double proof_hashes = 0, node_hashes = 0;
  for (uint64_t arg : inclusion ? f.leaves : f.old_sizes) {
    Case c{arg, {}, {}, 0};
    if (inclusion) {
      c.leaf_or_old_root = Check(f.store->AuditLeafHash(static_cast<int64_t>(arg)), "leaf");
      c.proof = Check(f.log->InclusionProof(arg, kLeaves), "inclusion proof");
      c.hashes = static_cast<int>(c.proof.size());
    } else {
      c.leaf_or_old_root = Check(merkle::Root(source, arg), "old root");
      c.proof = Check(f.log->ConsistencyProof(arg, kLeaves), "consistency proof");
      c.hashes = ConsistencyVerifyHashes(arg, kLeaves, c.proof.size());
    }
    proof_hashes += static_cast<double>(c.proof.size());
    node_hashes += c.hashes;
    cases.push_back(std::move(c));
  }
  const std::string node = std::string(1, '\1') + std::string(64, 'h');
  double sha_seconds = 0;
  size_t i = 0;
  for (auto _ : state) {
    const Case& c = cases[i++ % cases.size()];
    const auto t0 = std::chrono::steady_clock::now();
    const Status ok =
        inclusion ? merkle::VerifyInclusion(c.leaf_or_old_root, c.arg, kLeaves, c.proof, f.root)
                  : merkle::VerifyConsistency(c.arg, kLeaves, c.leaf_or_old_root, f.root, c.proof);
    const auto t1 = std::chrono::steady_clock::now();
    if (!ok.ok()) {
      state.SkipWithError("proof does not verify");
      break;
    }
    for (int k = 0; k < c.hashes; ++k) benchmark::DoNotOptimize(Sha256(node));
    const auto t2 = std::chrono::steady_clock::now();
    state.SetIterationTime(Seconds(t1 - t0));
    sha_seconds += Seconds(t2 - t1);
  }
  state.counters["proof_hashes"] = proof_hashes / static_cast<double>(cases.size());
  state.counters["node_hashes"] = node_hashes / static_cast<double>(cases.size());
  if (state.iterations() > 0) {
    state.counters["sha256_us"] = 1e6 * sha_seconds / static_cast<double>(state.iterations());
  }
}

void BM_AuditInclusionVerify(benchmark::State& state) { VerifyBenchmark(state, true); }
BENCHMARK(BM_AuditInclusionVerify)->Unit(benchmark::kMicrosecond)->UseManualTime();

void BM_AuditConsistencyVerify(benchmark::State& state) { VerifyBenchmark(state, false); }
BENCHMARK(BM_AuditConsistencyVerify)->Unit(benchmark::kMicrosecond)->UseManualTime();

// ---- appends into the store of 10^6 (and growing)

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// The limit: `per_tx` bare INSERTs of a row the size of an audit_log row in
// one BEGIN IMMEDIATE ... COMMIT, in the second file (WAL, synchronous=FULL).
// False on a SQLite error.
bool BareInsertTransaction(Fixture& f, SQLite::Statement& q, int per_tx) {
  static const std::string leaf_hash(32, 'l');
  const std::string& entry = EntryBytes();
  try {
    f.insert_db->exec("BEGIN IMMEDIATE");
    for (int k = 0; k < per_tx; ++k) {
      q.reset();
      q.bind(1, f.insert_next++);
      q.bind(2, entry.data(), static_cast<int>(entry.size()));
      q.bind(3, leaf_hash.data(), static_cast<int>(leaf_hash.size()));
      q.exec();
    }
    f.insert_db->exec("COMMIT");
  } catch (const SQLite::Exception&) {
    return false;
  }
  return true;
}

// range(0) appends per durable transaction: 1 is a message stored on its
// own (Begin() is synchronous=FULL, as the daemon's); 100 is a busy loop
// turn. This machine's fsync time swings between about 0.05 and 4 ms from
// one second to the next (other processes' writes), so each iteration runs
// an append transaction and then the bare INSERT transaction with as many
// rows, timed apart: the reported time and items_per_second are the
// appends' alone (manual time), `bare_per_s` is the limit measured through
// the same seconds, and `*_cpu_us` are CPU time per append or per bare row.
void BM_AuditAppend(benchmark::State& state) {
  Fixture& f = F();
  const int per_tx = static_cast<int>(state.range(0));
  state.counters["log_size"] = static_cast<double>(f.log->size());
  SQLite::Statement insert(*f.insert_db, "INSERT INTO t(idx, entry, leaf_hash) VALUES(?1,?2,?3)");
  uint64_t n = f.log->size();
  double bare_seconds = 0, append_cpu = 0, bare_cpu = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = ThreadCpuSeconds();
    bool ok = f.store->Begin(true).ok();
    for (int k = 0; k < per_tx && ok; ++k) ok = f.log->Append(MakeEntry(n++, NowMicros())).ok();
    if (!ok || !f.store->Commit().ok()) {
      state.SkipWithError("append failed");
      break;
    }
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = ThreadCpuSeconds();
    if (!BareInsertTransaction(f, insert, per_tx)) {
      state.SkipWithError("bare insert failed");
      break;
    }
    const auto t2 = std::chrono::steady_clock::now();
    const double c2 = ThreadCpuSeconds();
    state.SetIterationTime(Seconds(t1 - t0));
    bare_seconds += Seconds(t2 - t1);
    append_cpu += c1 - c0;
    bare_cpu += c2 - c1;
  }
  const double items = static_cast<double>(state.iterations()) * per_tx;
  state.SetItemsProcessed(static_cast<int64_t>(items));
  if (items > 0) {
    state.counters["bare_per_s"] = items / bare_seconds;
    state.counters["append_cpu_us"] = 1e6 * append_cpu / items;
    state.counters["bare_cpu_us"] = 1e6 * bare_cpu / items;
  }
}
BENCHMARK(BM_AuditAppend)->ArgName("per_tx")->Arg(1)->Arg(100)->UseManualTime();

}  // namespace
}  // namespace rogatory::bench

int main(int argc, char** argv) {
  using namespace rogatory::bench;
  bool list_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind("--benchmark_list_tests", 0) == 0) list_only = true;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!list_only) {
    Fixture& f = F();
    char fill[160];
    std::snprintf(fill, sizeof fill, "%llu entries, %d per transaction, %.1f s (%.0f entries/s)",
                  static_cast<unsigned long long>(kLeaves), kFillPerTransaction, f.fill_seconds,
                  static_cast<double>(kLeaves) / f.fill_seconds);
    benchmark::AddCustomContext("audit_fill", fill);
    benchmark::AddCustomContext("audit_store_bytes", std::to_string(f.file_bytes));
    benchmark::AddCustomContext("audit_entry_bytes", std::to_string(EntryBytes().size()));
    benchmark::AddCustomContext("audit_root", Hex(f.root));
    benchmark::AddCustomContext("audit_dir", f.dir.string());
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  DestroyFixture();
  return 0;
}
