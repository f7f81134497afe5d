// Witnessing between real daemons (SPEC promises 7-8, docs/protocol.md 21):
// peers exchange and cosign tree heads, a node whose store was rolled back
// and then appended to differently is caught by its peer, gossip shows a
// split view to a node that never saw the first history, and a bundle
// carries the witnessed proof and verifies after its sender is gone.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "keys/bundle.h"
#include "keys/crypto.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

namespace fs = std::filesystem;

constexpr char kFastHeads[] = "[audit]\ntree_head_interval_s = 1\n";

nlohmann::json Status(const Node& n) { return n.Json({"status", "--json"}); }

// The size of `log`'s latest head that `n` checked (0: none).
uint64_t CheckedSize(const Node& n, const std::string& log) {
  const auto status = Status(n);
  for (const auto& p : status["peers"]) {
    if (p["id"] == log) return p["log_size"].get<uint64_t>();
  }
  return 0;
}

bool HasEquivocation(const Node& n, const std::string& log, const std::string& reason_part) {
  const auto status = Status(n);
  for (const auto& e : status["audit"]["equivocations"]) {
    if (e["log"] == log && e["reason"].get<std::string>().find(reason_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// Copies the store files of a stopped node (a backup taken the wrong way:
// restoring it later without a restore statement).
void CopyStore(const std::string& from_home, const std::string& to_dir) {
  fs::create_directories(to_dir);
  for (const char* f : {"store.db", "store.db-wal", "store.db-shm"}) {
    fs::remove(fs::path(to_dir) / f);
    if (fs::exists(fs::path(from_home) / f)) {
      fs::copy_file(fs::path(from_home) / f, fs::path(to_dir) / f);
    }
  }
}

void RestoreStore(const std::string& backup_dir, const std::string& home) {
  for (const char* f : {"store.db", "store.db-wal", "store.db-shm"}) {
    fs::remove(fs::path(home) / f);
    if (fs::exists(fs::path(backup_dir) / f)) {
      fs::copy_file(fs::path(backup_dir) / f, fs::path(home) / f);
    }
  }
}

void SendWait(const Node& from, const std::string& to, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = from.Cli({"send", "--to", to, "--subject", "s", "--body", "b", "--wait"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
}

class WitnessTest : public ::testing::Test {
 protected:
  void Pair(Node& x, Node& y) {
    x.Trust(y);
    y.Trust(x);
  }
  TempDir dir;
  Node a{dir.path(), "fr-pnat", "FR"};
  Node b{dir.path(), "de-bka", "DE"};
};

TEST_F(WitnessTest, PeersCosignHeadsAndTheBundleVerifiesAfterTheSenderIsGone) {
  Pair(a, b);
  a.WriteConfig(kFastHeads);
  b.WriteConfig(kFastHeads);
  a.Start();
  b.Start();
  const std::string id = a.Send({"--to", "de-bka", "--subject", "witnessed", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered"));
  // b checks a's heads and cosigns them; a keeps the cosignatures.
  ASSERT_TRUE(WaitFor([&] {
    auto s = Status(a)["audit"];
    return s["witnesses"] == 1 && s["witnessed_size"].get<uint64_t>() >= 1;
  })) << Status(a).dump();
  ASSERT_TRUE(WaitFor([&] { return CheckedSize(b, "fr-pnat") >= 1; })) << Status(b).dump();
  EXPECT_TRUE(Status(a)["audit"]["equivocations"].empty());

  const std::string bundle = dir.path() + "/witnessed.bundle";
  auto ex = a.Cli({"export", id, "-o", bundle});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  // The receiver's export proves the entry in its own log.
  const std::string received = dir.path() + "/received.bundle";
  ASSERT_EQ(b.Cli({"export", id, "-o", received}).exit_code, 0);
  a.Stop();
  b.Stop();
  fs::remove_all(a.home());  // the sender is gone: only the bundle remains

  auto v = RunCmd({RogatoryBin(), "verify", bundle, "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  auto j = nlohmann::json::parse(v.out);
  EXPECT_EQ(j["valid"], true);
  std::map<std::string, bool> checks;
  for (const auto& c : j["checks"]) checks[c["name"]] = c["ok"];
  for (const char* name : {"outer_signature", "inner_signature", "receipt", "inclusion_proof",
                           "tree_head", "cosignatures"}) {
    EXPECT_TRUE(checks.count(name) && checks[name]) << name << " in " << j.dump();
  }
  ASSERT_EQ(j["log_proofs"].size(), 1u);
  EXPECT_EQ(j["log_proofs"][0]["kind"], "sent");
  EXPECT_EQ(j["log_proofs"][0]["log"], "fr-pnat");
  ASSERT_EQ(j["log_proofs"][0]["witnesses"].size(), 1u);
  EXPECT_EQ(j["log_proofs"][0]["witnesses"][0]["id"], "de-bka");

  auto r = nlohmann::json::parse(RunCmd({RogatoryBin(), "verify", received, "--json"}).out);
  EXPECT_EQ(r["valid"], true) << r.dump();
  EXPECT_EQ(r["log_proofs"][0]["kind"], "received");
  EXPECT_EQ(r["log_proofs"][0]["log"], "de-bka");

  // Every single-byte change of the bundle file fails verification (the
  // same verifier the CLI runs, in process; a sample through the CLI).
  const std::string text = ReadFileText(bundle);
  ASSERT_TRUE(InitCrypto().ok());
  ASSERT_TRUE(VerifyBundle(text, "").valid);
  for (size_t i = 0; i < text.size(); ++i) {
    std::string changed = text;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    ASSERT_FALSE(VerifyBundle(changed, "").valid) << "byte " << i << " of " << text.size();
  }
  for (size_t i = 0; i < text.size(); i += text.size() / 7) {
    std::string changed = text;
    changed[i] = changed[i] == 'A' ? 'B' : 'A';
    const std::string path = dir.path() + "/changed.bundle";
    {
      std::ofstream(path, std::ios::binary) << changed;
    }
    EXPECT_EQ(RunCmd({RogatoryBin(), "verify", path}).exit_code, 3) << "byte " << i;
  }
}

TEST_F(WitnessTest, ARolledBackAndRewrittenLogIsCaughtByThePeer) {
  Pair(a, b);
  a.WriteConfig(kFastHeads);
  b.WriteConfig(kFastHeads);
  a.Start();
  b.Start();
  SendWait(a, "de-bka", 2);
  a.Stop();
  const std::string backup = dir.path() + "/backup";
  CopyStore(a.home(), backup);
  a.Start();
  SendWait(a, "de-bka", 3);
  const uint64_t seen = Status(a)["audit"]["size"].get<uint64_t>();
  ASSERT_EQ(seen, 10u);  // 5 envelopes, 5 receipts
  ASSERT_TRUE(WaitFor([&] { return CheckedSize(b, "fr-pnat") == seen; }));

  // a's store goes back to the copy, and a appends a different history
  // past the size b holds, while b is away.
  b.Stop();
  a.Stop();
  RestoreStore(backup, a.home());
  a.Start();
  std::vector<std::string> later;
  for (int i = 0; i < 7; ++i) later.push_back(a.Send({"--to", "de-bka", "--subject", "n", "--body", "n"}));
  ASSERT_GT(Status(a)["audit"]["size"].get<uint64_t>(), seen);
  b.Start();
  ASSERT_TRUE(WaitFor([&] { return HasEquivocation(b, "fr-pnat", "not an extension"); }))
      << Status(b).dump();
  EXPECT_NE(b.Log().find("EQUIVOCATION"), std::string::npos);
  // a learns it from the head of its own log that b holds.
  EXPECT_TRUE(WaitFor([&] { return HasEquivocation(a, "fr-pnat", "rewritten"); }))
      << Status(a).dump();
  // Nothing is lost: the messages still arrive, and b never cosigns the
  // rewritten history.
  for (const auto& id : later) EXPECT_TRUE(a.WaitOutboxState(id, "delivered"));
  EXPECT_EQ(CheckedSize(b, "fr-pnat"), seen);
  // Detected once, not at every exchange.
  EXPECT_EQ(Status(b)["audit"]["equivocations"].size(), 1u);
}

TEST_F(WitnessTest, GossipShowsASplitViewToANodeThatNeverSawTheFirstHistory) {
  Node c{dir.path(), "be-fed", "BE"};
  Pair(a, b);
  Pair(a, c);
  Pair(b, c);
  for (Node* n : {&a, &b, &c}) n->WriteConfig(kFastHeads);
  // b witnesses a first history; c is not running.
  a.Start();
  b.Start();
  SendWait(a, "de-bka", 1);
  a.Stop();
  const std::string backup = dir.path() + "/backup";
  CopyStore(a.home(), backup);
  a.Start();
  SendWait(a, "de-bka", 2);
  const uint64_t first = Status(a)["audit"]["size"].get<uint64_t>();
  ASSERT_TRUE(WaitFor([&] { return CheckedSize(b, "fr-pnat") == first; }));
  b.Stop();
  // a goes back and shows c a second history, longer than the first.
  a.Stop();
  RestoreStore(backup, a.home());
  a.Start();
  c.Start();
  SendWait(a, "be-fed", 3);
  const uint64_t second = Status(a)["audit"]["size"].get<uint64_t>();
  ASSERT_GT(second, first);
  ASSERT_TRUE(WaitFor([&] { return CheckedSize(c, "fr-pnat") >= second; }));
  EXPECT_TRUE(Status(c)["audit"]["equivocations"].empty());
  // b comes back: its head of a's first history reaches c by gossip, c asks
  // a to prove it, and a cannot.
  b.Start();
  SendWait(b, "be-fed", 1);  // b and c talk
  EXPECT_TRUE(WaitFor([&] { return HasEquivocation(c, "fr-pnat", "not an extension"); }))
      << Status(c).dump();
}

}  // namespace
}  // namespace rogatory::test
