// Power loss and a full disk under the store (issue 7, "Power loss" and
// "Store safety"), with the fault-injecting VFS of lossy_vfs.h.
//
// PowerLossTest.AcknowledgedWorkSurvivesPowerLoss runs N cycles (20, or
// ROGATORY_POWERLOSS_CYCLES; the long tier runs 200): each opens the store
// on the lossy VFS, does the daemon's kind of work (a received message with
// its audit entry, a queued message with its entry, a receipt marking a
// delivery with its entry, a signed tree head; units in savepoints, 1-3 per
// durable transaction, with the daemon's synchronous=NORMAL bookkeeping
// turns and checkpoints from a second connection in between), records what
// was acknowledged (Commit returned ok), and loses power at a random point:
// inside an I/O operation (a countdown), between transactions, in the middle
// of a transaction, or during a checkpoint; the unsynced sectors are all
// lost, or a random part of them (torn writes), or all of them survive.
// Then it reopens the store on the default VFS and checks that everything
// acknowledged is there, that the transaction in flight is there entirely
// or not at all, that PRAGMA integrity_check says ok, that the audit log
// verifies, and that a further durable commit succeeds. The seed is printed on failure;
// ROGATORY_POWERLOSS_SEED replays it.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "keys/crypto.h"
#include "keys/merkle.h"
#include "keys/strict_parse.h"
#include "node/audit.h"
#include "node/store.h"
#include "tests/unit/lossy_vfs.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

using test::LossyVfs;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoll(v, nullptr, 10);
}

uint64_t MasterSeed() {
  const char* v = std::getenv("ROGATORY_POWERLOSS_SEED");
  if (v != nullptr && *v != '\0') return std::strtoull(v, nullptr, 10);
  return std::random_device{}() ^ (static_cast<uint64_t>(std::random_device{}()) << 32);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(g_); }
  uint64_t Next() { return g_(); }
  std::string Bytes(size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(g_());
    return s;
  }
  std::string Id() {
    static const char* hex = "0123456789abcdef";
    std::string s = "m-";
    for (int i = 0; i < 20; ++i) s += hex[g_() & 15];
    return s;
  }

 private:
  std::mt19937_64 g_;
};

// What a set of transactions stored: what was acknowledged, or what one
// transaction in flight tried to store.
struct Facts {
  std::map<std::pair<std::string, std::string>, std::string> inbox;      // (sender, id) -> receipt
  std::map<std::string, int64_t> outbox;                                 // id -> seq
  std::map<std::string, std::vector<std::string>> recipients;            // id -> fingerprints
  std::map<std::pair<std::string, std::string>, std::string> delivered;  // (id, fp) -> receipt
  std::map<int64_t, std::string> audit;                                  // index -> leaf hash
  std::map<int64_t, std::string> heads;                                  // size -> signed head

  size_t size() const {
    return inbox.size() + outbox.size() + delivered.size() + audit.size() + heads.size();
  }
  void Merge(const Facts& o) {
    for (const auto& [k, v] : o.inbox) inbox[k] = v;
    for (const auto& [k, v] : o.outbox) outbox[k] = v;
    for (const auto& [k, v] : o.recipients) recipients[k] = v;
    for (const auto& [k, v] : o.delivered) delivered[k] = v;
    for (const auto& [k, v] : o.audit) audit[k] = v;
    for (const auto& [k, v] : o.heads) heads[k] = v;
  }
};

// Which of `f` the store holds (each fact checked exactly), and the first
// few that it does not.
struct Found {
  Facts present;
  size_t missing = 0;
  std::string first_missing;
  void Miss(const std::string& what) {
    if (missing++ < 5) first_missing += "  missing: " + what + "\n";
  }
};

Found Lookup(Store& s, const Facts& f) {
  Found r;
  for (const auto& [k, receipt] : f.inbox) {
    auto row = s.FindInbox(k.first, k.second);
    if (row.ok() && row->has_value() && (*row)->receipt == receipt) {
      r.present.inbox[k] = receipt;
    } else {
      r.Miss("inbox " + k.second);
    }
  }
  for (const auto& [id, seq] : f.outbox) {
    auto row = s.GetOutboxById(id);
    if (row.ok() && row->has_value() && (*row)->seq == seq) {
      r.present.outbox[id] = seq;
      r.present.recipients[id] = f.recipients.at(id);
    } else {
      r.Miss("outbox " + id);
    }
  }
  for (const auto& [k, receipt] : f.delivered) {
    auto row = s.GetOutboxById(k.first);
    bool ok = false;
    if (row.ok() && row->has_value()) {
      for (const auto& rc : (*row)->recipients) {
        if (rc.fingerprint == k.second) ok = rc.state == "delivered" && rc.receipt == receipt;
      }
    }
    if (ok) {
      r.present.delivered[k] = receipt;
    } else {
      r.Miss("delivery mark of " + k.first);
    }
  }
  for (const auto& [index, hash] : f.audit) {
    auto leaf = s.AuditLeafHash(index);
    if (leaf.ok() && *leaf == hash) {
      r.present.audit[index] = hash;
    } else {
      r.Miss("audit entry " + std::to_string(index));
    }
  }
  for (const auto& [size, signed_head] : f.heads) {
    auto head = s.TreeHeadAt(size);
    if (head.ok() && head->has_value() && (*head)->signed_head == signed_head) {
      r.present.heads[size] = signed_head;
    } else {
      r.Miss("tree head at size " + std::to_string(size));
    }
  }
  return r;
}

// Stores things the way the daemon does (node/daemon.cc StoreReceived,
// HandleAck, the send path, SignTreeHeadIfGrown): each unit in a savepoint
// with its audit log entry, undone together on error.
class Node {
 public:
  Node(Store* store, AuditLog* audit, const Identity& me, const std::vector<std::string>& peers,
       const Facts* acked, Rng* rng)
      : store_(store), audit_(audit), me_(me), peers_(peers), acked_(acked), rng_(rng) {}

  // One random unit of work, recorded in `tx`.
  Status Unit(Facts* tx) {
    const int pick = rng_->Uniform(0, 9);
    if (pick < 4) return Receive(tx);
    if (pick < 7) return Send(tx);
    if (pick < 9) return Ack(tx);
    return SignHead(tx);
  }

  Status Receive(Facts* tx) {
    InboxRow row;
    row.meta.sender = peers_[static_cast<size_t>(rng_->Uniform(0, 2))];
    row.meta.message_id = rng_->Id();
    row.meta.recipients = me_.fingerprint();
    row.meta.subject = "subject";
    row.meta.created_at = Now();
    row.meta.expires_at = Now() + 3'600'000'000;
    row.envelope = rng_->Bytes(EnvelopeSize());
    row.envelope_sha256 = Sha256(row.envelope);
    row.inner_sha256 = Sha256(row.meta.message_id);
    row.received_at = Now();
    wire::LogEntry e = Entry(wire::LOG_ENVELOPE_RECEIVED, row.meta.message_id, row.meta.sender,
                             row.meta.sender, row.envelope_sha256);
    int64_t index = -1;
    ROG_RETURN_IF_ERROR(InUnit([&]() -> Status {
      ROG_ASSIGN_OR_RETURN(index, audit_->Append(e));
      row.receipt = rng_->Bytes(160);  // stands for the SignedReceipt
      ROG_RETURN_IF_ERROR(store_->InsertInbox(row));
      return {};
    }));
    tx->inbox[{row.meta.sender, row.meta.message_id}] = row.receipt;
    tx->audit[index] = merkle::LeafHash(SerializeCanonical(e));
    return {};
  }

  Status Send(Facts* tx) {
    OutboxRow row;
    row.meta.message_id = rng_->Id();
    row.meta.sender = me_.fingerprint();
    row.meta.subject = "subject";
    row.meta.created_at = Now();
    row.meta.expires_at = Now() + 3'600'000'000;
    row.envelope = rng_->Bytes(EnvelopeSize());
    row.envelope_sha256 = Sha256(row.envelope);
    row.inner_sha256 = Sha256(row.meta.message_id);
    // One or two distinct peers.
    const int first = rng_->Uniform(0, 2);
    const int n = rng_->Uniform(1, 2);
    std::vector<std::string> to;
    for (int i = 0; i < n; ++i) {
      RecipientRow r;
      r.fingerprint = peers_[static_cast<size_t>((first + i) % 3)];
      r.node_id = "peer";
      r.next_attempt_at = Now();
      row.meta.recipients += r.fingerprint;
      row.recipients.push_back(r);
      to.push_back(r.fingerprint);
    }
    wire::LogEntry e = Entry(wire::LOG_ENVELOPE_SENT, row.meta.message_id, me_.fingerprint(), "",
                             row.envelope_sha256);
    int64_t index = -1, seq = -1;
    ROG_RETURN_IF_ERROR(InUnit([&]() -> Status {
      ROG_ASSIGN_OR_RETURN(seq, store_->InsertOutbox(row));
      ROG_ASSIGN_OR_RETURN(index, audit_->Append(e));
      return {};
    }));
    tx->outbox[row.meta.message_id] = seq;
    tx->recipients[row.meta.message_id] = to;
    tx->audit[index] = merkle::LeafHash(SerializeCanonical(e));
    return {};
  }

  // A receipt for an acknowledged queued delivery; a Receive if none is
  // left.
  Status Ack(Facts* tx) {
    std::vector<std::pair<std::string, std::string>> queued;
    for (const auto& [id, to] : acked_->recipients) {
      for (const auto& fp : to) {
        if (!acked_->delivered.count({id, fp}) && !tx->delivered.count({id, fp})) {
          queued.emplace_back(id, fp);
        }
      }
    }
    if (queued.empty()) return Receive(tx);
    const auto [id, fp] = queued[static_cast<size_t>(rng_->Uniform(0, int(queued.size()) - 1))];
    const std::string receipt = rng_->Bytes(200);
    wire::LogEntry e =
        Entry(wire::LOG_RECEIPT_RECEIVED, id, me_.fingerprint(), fp, Sha256(receipt));
    int64_t index = -1;
    ROG_RETURN_IF_ERROR(InUnit([&]() -> Status {
      ROG_RETURN_IF_ERROR(store_->MarkDelivered(acked_->outbox.at(id), fp, receipt, Now()));
      ROG_ASSIGN_OR_RETURN(index, audit_->Append(e));
      return {};
    }));
    tx->delivered[{id, fp}] = receipt;
    tx->audit[index] = merkle::LeafHash(SerializeCanonical(e));
    return {};
  }

  Status SignHead(Facts* tx) {
    const auto size = static_cast<int64_t>(audit_->size());
    if (size == 0) return Receive(tx);
    ROG_ASSIGN_OR_RETURN(auto existing, store_->TreeHeadAt(size));
    if (existing) return {};
    ROG_ASSIGN_OR_RETURN(TreeHeadRow head,
                         audit_->SignHead(me_.fingerprint(), me_.signing(), Now()));
    tx->heads[head.size] = head.signed_head;
    return {};
  }

  // The daemon's scheduling turn: retry bookkeeping, committed without a
  // sync (Begin(false)); never acknowledged to anyone.
  Status Bookkeeping() {
    std::vector<std::pair<std::string, std::string>> queued;
    for (const auto& [id, to] : acked_->recipients) {
      for (const auto& fp : to) {
        if (!acked_->delivered.count({id, fp})) queued.emplace_back(id, fp);
      }
    }
    if (queued.empty()) return {};
    ROG_RETURN_IF_ERROR(store_->Begin(false));
    for (int i = 0; i < 3; ++i) {
      const auto& [id, fp] = queued[static_cast<size_t>(rng_->Uniform(0, int(queued.size()) - 1))];
      Status s = store_->RecordAttempt(acked_->outbox.at(id), fp, rng_->Uniform(1, 9),
                                       Now() + rng_->Uniform(1, 1000) * 1'000'000LL);
      if (!s.ok()) {
        store_->Rollback();
        return s;
      }
    }
    return store_->Commit();
  }

  // Envelopes of `n` bytes; 0: random sizes (the default).
  void set_envelope_size(size_t n) { envelope_size_ = n; }

 private:
  template <typename F>
  Status InUnit(F&& fn) {
    ROG_RETURN_IF_ERROR(store_->Savepoint());
    Status s = fn();
    if (s.ok()) s = store_->Release();
    if (!s.ok()) {
      store_->RollbackToSavepoint();
      (void)audit_->Reload();
    }
    return s;
  }

  wire::LogEntry Entry(wire::LogKind kind, const std::string& id, const std::string& sender,
                       const std::string& peer, const std::string& sha) {
    wire::LogEntry e;
    e.set_version(1);
    e.set_kind(kind);
    e.set_message_id(id);
    e.set_sender(sender);
    e.set_peer(peer);
    e.set_sha256(sha);
    e.set_logged_at(Now());
    return e;
  }

  // Mostly a page or two; sometimes overflow chains over many pages.
  size_t EnvelopeSize() {
    if (envelope_size_ > 0) return envelope_size_;
    return static_cast<size_t>(rng_->Chance(0.1) ? rng_->Uniform(20'000, 60'000)
                                                 : rng_->Uniform(200, 6'000));
  }
  int64_t Now() { return 1'700'000'000'000'000 + ++clock_; }

  Store* store_;
  AuditLog* audit_;
  const Identity& me_;
  const std::vector<std::string>& peers_;
  const Facts* acked_;
  Rng* rng_;
  int64_t clock_ = 0;
  size_t envelope_size_ = 0;
};

enum class Plan { kCountdown, kBetween, kMidTransaction, kCheckpoint };
const char* PlanName(Plan p) {
  switch (p) {
    case Plan::kCountdown:
      return "inside an I/O operation";
    case Plan::kBetween:
      return "between transactions";
    case Plan::kMidTransaction:
      return "in the middle of a transaction";
    case Plan::kCheckpoint:
      return "during a checkpoint";
  }
  return "";
}

// A checkpoint of a random kind from the second connection; the number of
// frames it copied into the database, or -1 when it failed.
int Checkpoint(sqlite3* db, Rng& rng) {
  static const int kModes[] = {SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_FULL,
                               SQLITE_CHECKPOINT_RESTART, SQLITE_CHECKPOINT_TRUNCATE};
  int log = 0, done = 0;
  const int rc = sqlite3_wal_checkpoint_v2(db, "main", kModes[rng.Uniform(0, 3)], &log, &done);
  return rc == SQLITE_OK ? done : -1;
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PowerLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    vfs = &LossyVfs::Get();
    ResetVfs();
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-powerloss-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    path = dir + "/store.db";
  }
  void TearDown() override {
    ResetVfs();
    std::filesystem::remove_all(dir);
  }
  void ResetVfs() {
    vfs->PowerOn();
    vfs->PowerLossAfter(0);
    vfs->FailWritesAfter(-1);
    vfs->SetTornWrites(0, 1);
    vfs->Settle();
  }

  struct Summary {
    int cycles = 0;
    int cycles_with_loss = 0;  // some acknowledged fact was missing
    int64_t acked_transactions = 0;
    int64_t lost_facts = 0;
    int in_flight_present = 0;  // the unacknowledged transaction survived whole
    int in_flight_absent = 0;
    int lost_in_io = 0;          // the power went off inside a write, sync or truncate
    int lost_in_checkpoint = 0;  // ... of a checkpoint
    int lost_in_commit = 0;      // ... of a commit
    int64_t checkpoints = 0;     // that copied frames into the database
    int64_t checkpoint_failures = 0;
    std::map<std::string, int> plans;
    double seconds = 0;
  };

  // The power-loss loop. `durable`: transactions commit with Begin(true)
  // (the store's promise) or Begin(false) (the negative control).
  Summary Run(bool durable, int cycles, uint64_t seed) {
    Summary sum;
    const auto start = std::chrono::steady_clock::now();
    const Identity me = test::NewIdentity("me");
    const std::vector<std::string> peers = {std::string(20, '\x01'), std::string(20, '\x02'),
                                            std::string(20, '\x03')};
    {  // Created on the default VFS: the loop starts from a store in WAL mode.
      auto s = Store::Open(path);
      EXPECT_TRUE(s.ok()) << s.error().message;
      if (!s.ok()) return sum;
    }
    Facts acked;
    for (int cycle = 0; cycle < cycles; ++cycle) {
      const uint64_t cycle_seed = seed + static_cast<uint64_t>(cycle);
      Rng rng(cycle_seed);
      const auto plan = static_cast<Plan>(rng.Uniform(0, 3));
      // How much of what was not synced reaches the disk anyway: nothing,
      // a random part of the sectors, or all of it (as after a kill -9).
      // The negative control leaves out the losses that keep (nearly)
      // everything: they cannot show a loss, and would make it flaky.
      static const double kKeep[] = {0, 0, 0.5, 0.95, 1};
      const double keep = kKeep[rng.Uniform(0, durable ? 4 : 2)];
      std::ostringstream trace;
      trace << "seed " << seed << " (ROGATORY_POWERLOSS_SEED=" << seed << "), cycle " << cycle
            << ", power lost " << PlanName(plan) << ", unsynced sectors kept with p=" << keep;
      SCOPED_TRACE(trace.str());
      ++sum.plans[PlanName(plan)];
      vfs->SetTornWrites(keep, rng.Next());

      // ---- a session on the lossy VFS, ended by a power loss
      std::optional<Facts> in_flight;  // the transaction whose commit did not return ok
      bool commit_issued = false;
      {
        auto opened = Store::Open(path, LossyVfs::kName);
        if (!opened.ok()) {
          ADD_FAILURE() << "open on the lossy VFS: " << opened.error().message;
          return sum;
        }
        std::unique_ptr<Store> store = std::move(opened).value();
        auto loaded = AuditLog::Load(store.get());
        if (!loaded.ok()) {
          ADD_FAILURE() << "audit log: " << loaded.error().message;
          return sum;
        }
        std::unique_ptr<AuditLog> audit = std::move(loaded).value();
        sqlite3* checkpointer = nullptr;
        if (sqlite3_open_v2(path.c_str(), &checkpointer, SQLITE_OPEN_READWRITE, LossyVfs::kName) !=
            SQLITE_OK) {
          ADD_FAILURE() << "checkpointer: " << sqlite3_errmsg(checkpointer);
        }
        sqlite3_busy_timeout(checkpointer, 2000);
        // A first read opens the WAL (a checkpoint alone would not).
        if (sqlite3_exec(checkpointer, "SELECT count(*) FROM sqlite_master", nullptr, nullptr,
                         nullptr) != SQLITE_OK) {
          ADD_FAILURE() << "checkpointer: " << sqlite3_errmsg(checkpointer);
        }
        Node node(store.get(), audit.get(), me, peers, &acked, &rng);

        const int at = rng.Uniform(0, 25);  // transactions before the loss
        if (plan == Plan::kCountdown) vfs->PowerLossAfter(rng.Uniform(1, 250));
        for (int t = 0; t < 40 && !vfs->powered_off(); ++t) {
          if (plan == Plan::kBetween && t == at) {
            vfs->PowerLoss();
            break;
          }
          auto checkpoint = [&] {
            const int done = Checkpoint(checkpointer, rng);
            if (done > 0) ++sum.checkpoints;
            if (done < 0) ++sum.checkpoint_failures;
            if (vfs->powered_off()) ++sum.lost_in_checkpoint;
          };
          if (plan == Plan::kCheckpoint && t == at) {
            vfs->PowerLossAfter(rng.Uniform(1, 16));
            checkpoint();
            if (vfs->powered_off()) break;
          }
          if (rng.Chance(0.15)) {
            checkpoint();
            if (vfs->powered_off()) break;
          }
          if (durable && rng.Chance(0.25)) {
            (void)node.Bookkeeping();
            if (vfs->powered_off()) break;
          }
          Facts tx;
          Status s = store->Begin(durable);
          if (!s.ok()) break;
          const int units = rng.Uniform(1, 3);
          for (int u = 0; u < units && s.ok(); ++u) {
            s = node.Unit(&tx);
            if (plan == Plan::kMidTransaction && t == at && u == units - 1) vfs->PowerLoss();
          }
          if (!s.ok()) {
            store->Rollback();
            in_flight = tx;  // never committed: must be absent
            break;
          }
          commit_issued = true;
          const bool on = !vfs->powered_off();
          s = store->Commit();
          if (on && vfs->powered_off()) ++sum.lost_in_commit;
          if (!s.ok()) {
            (void)audit->Reload();
            in_flight = tx;
            break;
          }
          commit_issued = false;
          acked.Merge(tx);
          ++sum.acked_transactions;
        }
        if (vfs->powered_off()) {
          if (plan == Plan::kCountdown || plan == Plan::kCheckpoint) ++sum.lost_in_io;
        } else {
          vfs->PowerLoss();
        }
        vfs->PowerLossAfter(0);
        sqlite3_close_v2(checkpointer);
        audit.reset();
        store.reset();
        vfs->PowerOn();
      }

      // ---- reopen on the default VFS and check
      auto reopened = Store::Open(path);
      if (!reopened.ok()) {
        ADD_FAILURE() << "reopen after the power loss: " << reopened.error().message;
        return sum;
      }
      Store& store = **reopened;
      auto integrity = store.IntegrityCheck();
      EXPECT_TRUE(integrity.ok() && *integrity == "ok")
          << (integrity.ok() ? *integrity : integrity.error().message);
      Found found = Lookup(store, acked);
      ++sum.cycles;
      if (found.missing > 0) {
        ++sum.cycles_with_loss;
        sum.lost_facts += static_cast<int64_t>(found.missing);
      }
      if (durable) {
        EXPECT_EQ(found.missing, 0u) << "acknowledged work lost:\n" << found.first_missing;
      }
      acked = found.present;  // the negative control goes on from what is left
      if (in_flight) {
        Found f = Lookup(store, *in_flight);
        const size_t total = in_flight->size();
        const size_t present = total - f.missing;
        EXPECT_TRUE(present == 0 || (present == total && commit_issued))
            << "the transaction in flight is partly there (" << present << " of " << total
            << " facts)" << (commit_issued ? "" : ", though its commit was never issued");
        if (present == total && total > 0) {
          acked.Merge(f.present);
          ++sum.in_flight_present;
        } else {
          ++sum.in_flight_absent;
        }
      }
      auto report = VerifyAuditLog(&store, me.fingerprint(), {me.signing().public_key});
      EXPECT_TRUE(report.ok() && report->ok)
          << (report.ok() ? report->first_error : report.error().message);
      if (report.ok()) {
        EXPECT_EQ(static_cast<int64_t>(report->size),
                  acked.audit.empty() ? 0 : acked.audit.rbegin()->first + 1)
            << "the audit log has entries nobody acknowledged or misses some";
      }
      // The store keeps working: a further durable commit.
      auto audit = AuditLog::Load(&store);
      EXPECT_TRUE(audit.ok());
      if (audit.ok()) {
        Facts tx;
        Node node(&store, audit->get(), me, peers, &acked, &rng);
        Status s = store.Begin(true);
        if (s.ok()) s = node.Receive(&tx);
        if (s.ok()) s = store.Commit();
        EXPECT_TRUE(s.ok()) << s.error().message;
        if (s.ok()) acked.Merge(tx);
      }
      if (durable && ::testing::Test::HasFailure()) break;
    }
    sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return sum;
  }

  static void Print(const char* what, const Summary& s, uint64_t seed) {
    std::cout << "[ powerloss ] " << what << ": " << s.cycles << " cycles in " << s.seconds
              << " s, seed " << seed << ", " << s.acked_transactions
              << " acknowledged transactions, cycles with a loss " << s.cycles_with_loss
              << " (facts lost " << s.lost_facts << "), unacknowledged transaction found whole "
              << s.in_flight_present << ", absent " << s.in_flight_absent
              << "; power lost inside an I/O operation " << s.lost_in_io << " times (in a commit "
              << s.lost_in_commit << ", in a checkpoint " << s.lost_in_checkpoint
              << "); checkpoints that copied frames " << s.checkpoints << ", failed "
              << s.checkpoint_failures << "; plans:";
    for (const auto& [plan, n] : s.plans) std::cout << " " << plan << " x" << n << ";";
    std::cout << "\n";
  }

  LossyVfs* vfs = nullptr;
  std::string dir, path;
};

// The VFS itself: a power loss puts a file back to its synced bytes, and a
// torn write that keeps everything keeps everything.
TEST_F(PowerLossTest, VfsRestoresExactlyTheSyncedBytes) {
  sqlite3_vfs* v = sqlite3_vfs_find(LossyVfs::kName);
  ASSERT_NE(v, nullptr);
  const std::string file = dir + "/raw";
  auto write_file = [&](double keep) {
    std::vector<char> mem(static_cast<size_t>(v->szOsFile));
    auto* f = reinterpret_cast<sqlite3_file*>(mem.data());
    int out = 0;
    ASSERT_EQ(v->xOpen(v, file.c_str(), f,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MAIN_DB, &out),
              SQLITE_OK);
    const std::string a(1000, 'a'), b(2000, 'b');
    ASSERT_EQ(f->pMethods->xWrite(f, a.data(), 1000, 0), SQLITE_OK);
    ASSERT_EQ(f->pMethods->xSync(f, SQLITE_SYNC_FULL), SQLITE_OK);
    ASSERT_EQ(f->pMethods->xWrite(f, b.data(), 2000, 300), SQLITE_OK);  // over and beyond
    ASSERT_EQ(f->pMethods->xTruncate(f, 700), SQLITE_OK);
    ASSERT_EQ(f->pMethods->xWrite(f, b.data(), 100, 900), SQLITE_OK);
    vfs->SetTornWrites(keep, 7);
    vfs->PowerLoss();
    char c = 0;
    EXPECT_EQ(f->pMethods->xWrite(f, &c, 1, 0), SQLITE_IOERR_WRITE);
    EXPECT_EQ(f->pMethods->xRead(f, &c, 1, 0), SQLITE_IOERR_READ);
    EXPECT_EQ(f->pMethods->xSync(f, 0), SQLITE_IOERR_FSYNC);
    EXPECT_EQ(f->pMethods->xClose(f), SQLITE_OK);
    vfs->PowerOn();
  };
  write_file(0);
  EXPECT_EQ(FileBytes(file), std::string(1000, 'a'));
  std::filesystem::remove(file);
  write_file(1);  // every sector and the size reached the disk
  EXPECT_EQ(FileBytes(file), std::string(300, 'a') + std::string(400, 'b') +
                                 std::string(200, '\0') + std::string(100, 'b'));
}

TEST_F(PowerLossTest, AcknowledgedWorkSurvivesPowerLoss) {
  const int cycles = static_cast<int>(EnvInt("ROGATORY_POWERLOSS_CYCLES", 20));
  const uint64_t seed = MasterSeed();
  RecordProperty("seed", std::to_string(seed));
  const Summary s = Run(/*durable=*/true, cycles, seed);
  Print("synchronous=FULL", s, seed);
  EXPECT_EQ(s.cycles, cycles);
  EXPECT_EQ(s.cycles_with_loss, 0);
  EXPECT_GT(s.acked_transactions, 0);
}

// The negative control: the same loop with commits that are not synced
// (Begin(false), synchronous=NORMAL) must lose acknowledged work, or the
// harness could not catch a loss at all.
TEST_F(PowerLossTest, NegativeControlSynchronousNormalLosesAcknowledgedWork) {
  const int cycles = static_cast<int>(EnvInt("ROGATORY_POWERLOSS_CYCLES", 20));
  const uint64_t seed = MasterSeed();
  RecordProperty("seed", std::to_string(seed));
  const Summary s = Run(/*durable=*/false, cycles, seed);
  Print("synchronous=NORMAL (negative control)", s, seed);
  EXPECT_EQ(s.cycles, cycles);
  EXPECT_GT(s.cycles_with_loss, 0)
      << "no cycle lost a commit that was never synced: the harness cannot see a loss "
         "(seed "
      << seed << ")";
}

// A full disk: the durable commit fails with SQLITE_FULL and a clear error,
// nothing acknowledged before is lost, and the store works again once there
// is space.
TEST_F(PowerLossTest, FullDiskFailsClearlyAndLosesNothing) {
  const Identity me = test::NewIdentity("me");
  const std::vector<std::string> peers = {std::string(20, '\x01'), std::string(20, '\x02'),
                                          std::string(20, '\x03')};
  { ASSERT_TRUE(Store::Open(path).ok()); }
  auto opened = Store::Open(path, LossyVfs::kName);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  Store& store = **opened;
  auto audit = AuditLog::Load(&store);
  ASSERT_TRUE(audit.ok());
  Rng rng(42);
  Facts acked;
  Node node(&store, audit->get(), me, peers, &acked, &rng);
  auto commit_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      Facts tx;
      ASSERT_TRUE(store.Begin(true).ok());
      Status s = node.Unit(&tx);
      ASSERT_TRUE(s.ok()) << s.error().message;
      s = store.Commit();
      ASSERT_TRUE(s.ok()) << s.error().message;
      acked.Merge(tx);
    }
  };
  commit_some(10);
  // Budgets from nothing at all to most of the transaction: the WAL write
  // fails at its start, inside a frame, and after whole pages.
  for (int64_t budget : {0, 1, 24, 512, 4096, 4120, 8300, 20'000}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    vfs->FailWritesAfter(budget);
    Facts tx;
    ASSERT_TRUE(store.Begin(true).ok());
    Status s;
    for (int i = 0; i < 3 && s.ok(); ++i) s = node.Receive(&tx);  // ~> 30 KB or more
    if (s.ok()) s = node.Send(&tx);
    if (s.ok())
      s = store.Commit();
    else
      store.Rollback();
    ASSERT_FALSE(s.ok()) << "the transaction fit in " << budget << " bytes";
    EXPECT_EQ(s.error().code, Code::kUnavailable);
    EXPECT_NE(s.error().message.find("disk is full"), std::string::npos) << s.error().message;
    EXPECT_EQ(s.error().hint, "free disk space; nothing was lost");
    EXPECT_FALSE(store.InTransaction());
    EXPECT_FALSE(store.in_transaction());
    ASSERT_TRUE((*audit)->Reload().ok());
    // Nothing acknowledged is gone, and nothing of the failed one is there.
    Found found = Lookup(store, acked);
    EXPECT_EQ(found.missing, 0u) << found.first_missing;
    EXPECT_EQ(Lookup(store, tx).missing, tx.size());
    // Space again: the same open store commits.
    vfs->FailWritesAfter(-1);
    commit_some(2);
  }
  // A transaction larger than SQLite's page cache spills into the WAL
  // before its commit: the disk fills up inside the insert. SQLite may roll
  // the whole transaction back itself; the store says so.
  {
    vfs->FailWritesAfter(100'000);
    node.set_envelope_size(4 << 20);
    Facts tx;
    ASSERT_TRUE(store.Begin(true).ok());
    Status s = node.Receive(&tx);
    if (s.ok())
      s = store.Commit();
    else
      store.Rollback();
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kUnavailable);
    EXPECT_NE(s.error().message.find("disk is full"), std::string::npos) << s.error().message;
    EXPECT_EQ(s.error().hint, "free disk space; nothing was lost");
    EXPECT_FALSE(store.InTransaction());
    ASSERT_TRUE((*audit)->Reload().ok());
    EXPECT_EQ(Lookup(store, acked).missing, 0u);
    EXPECT_EQ(Lookup(store, tx).missing, tx.size());
    vfs->FailWritesAfter(-1);
    node.set_envelope_size(0);
    commit_some(2);
  }
  // A power loss now, and the store reopened: everything acknowledged is
  // there and whole.
  vfs->PowerLoss();
  audit->reset();
  opened->reset();
  vfs->PowerOn();
  auto reopened = Store::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ((*reopened)->IntegrityCheck().value(), "ok");
  Found found = Lookup(**reopened, acked);
  EXPECT_EQ(found.missing, 0u) << found.first_missing;
  auto report = VerifyAuditLog(reopened->get(), me.fingerprint(), {me.signing().public_key});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->first_error;
  EXPECT_EQ(static_cast<int64_t>(report->size), acked.audit.rbegin()->first + 1);
}

// A store written by a newer schema is refused with a clear message and
// left byte for byte as it was, on the default VFS and on the lossy one
// (which also counts the writes: none reach the database file).
TEST_F(PowerLossTest, NewerSchemaIsRefusedAndLeftByteIdentical) {
  {
    auto s = Store::Open(path);
    ASSERT_TRUE(s.ok());
    InboxRow row;
    row.meta.sender = std::string(20, 'a');
    row.meta.message_id = "m1";
    row.envelope = "envelope";
    ASSERT_TRUE((*s)->InsertInbox(row).ok());
  }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value='" + std::to_string(kSchemaVersion + 1) +
            "' WHERE key='schema_version'");
  }
  ASSERT_FALSE(std::filesystem::exists(path + "-wal"));
  const std::string before = Sha256(FileBytes(path));
  for (const char* vfs_name : {"", LossyVfs::kName}) {
    SCOPED_TRACE(std::string("vfs '") + vfs_name + "'");
    const int64_t writes = vfs->writes();
    auto s = Store::Open(path, vfs_name);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kFailedPrecondition);
    const std::string& m = s.error().message;
    EXPECT_NE(m.find("newer"), std::string::npos) << m;
    EXPECT_NE(m.find(std::to_string(kSchemaVersion + 1)), std::string::npos) << m;
    EXPECT_NE(m.find("not touched"), std::string::npos) << m;
    EXPECT_FALSE(s.error().hint.empty());
    EXPECT_EQ(Sha256(FileBytes(path)), before) << "the refused store was changed";
    EXPECT_EQ(vfs->writes(), writes) << "the refused open wrote";
  }
  EXPECT_EQ(Sha256(FileBytes(path)), before);
}

// Found by this harness, not fixed here (node/store.cc Store::Begin): a
// Begin(false) transaction switches the connection to synchronous=NORMAL
// and nothing switches it back before the next Begin(true), so a write in
// autocommit after a non-durable transaction returns ok without a sync and
// is lost on power loss. Enable once Commit/Rollback of a non-durable
// transaction restore synchronous=FULL.
TEST_F(PowerLossTest, AutocommitWriteAfterANonDurableTransactionSurvivesPowerLoss) {
  { ASSERT_TRUE(Store::Open(path).ok()); }
  auto opened = Store::Open(path, LossyVfs::kName);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  Store& store = **opened;
  InboxRow row;
  row.meta.sender = std::string(20, 'a');
  row.meta.message_id = "before";
  row.envelope = "envelope";
  ASSERT_TRUE(store.InsertInbox(row).ok());  // autocommit on a fresh connection
  ASSERT_TRUE(store.Begin(false).ok());      // a bookkeeping turn
  ASSERT_TRUE(store.PruneSeen(0).ok());
  ASSERT_TRUE(store.Commit().ok());
  row.meta.message_id = "after";
  ASSERT_TRUE(store.InsertInbox(row).ok());  // autocommit again: returned ok
  vfs->PowerLoss();
  opened->reset();
  vfs->PowerOn();
  auto reopened = Store::Open(path);
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_TRUE((*reopened)->FindInbox(row.meta.sender, "before")->has_value());
  EXPECT_TRUE((*reopened)->FindInbox(row.meta.sender, "after")->has_value())
      << "an autocommit write after a Begin(false) transaction was not synced";
}

}  // namespace
}  // namespace rogatory
