// Exactly-once, prioritised delivery across crashes, network cuts, expiry,
// replays and slow peers (SPEC promises 4 and 5), with real daemons.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "keys/envelope.h"
#include "keys/identity.h"
#include "node/store.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

// Decrypts every message in `recipient`'s store: id -> body. Fails the test
// on a duplicate id.
std::map<std::string, std::string> StoredBodies(const Node& recipient, const Node& sender) {
  std::map<std::string, std::string> out;
  auto me = Identity::ReadKeystore(recipient.home() + "/keys.bin", std::nullopt);
  EXPECT_TRUE(me.ok());
  auto them = Identity::ReadKeystore(sender.home() + "/keys.bin", std::nullopt);
  EXPECT_TRUE(them.ok());
  auto store = Store::Open(recipient.home() + "/store.db");
  EXPECT_TRUE(store.ok());
  auto rows = (*store)->ListInbox(0, /*with_content=*/true);
  EXPECT_TRUE(rows.ok());
  for (const auto& row : *rows) {
    auto env = ParseEnvelope(row.envelope);
    EXPECT_TRUE(env.ok());
    auto opened = OpenEnvelope(*env, me->encryption().secret, me->fingerprint(),
                               them->encryption().public_key, them->signing().public_key);
    EXPECT_TRUE(opened.ok());
    EXPECT_TRUE(out.emplace(row.meta.message_id, opened->payload.body()).second)
        << "stored twice: " << row.meta.message_id;
  }
  return out;
}

std::string Integrity(const Node& n) {
  auto store = Store::Open(n.home() + "/store.db");
  if (!store.ok()) return store.error().message;
  auto r = (*store)->IntegrityCheck();
  return r.ok() ? *r : r.error().message;
}

bool AllDelivered(const Node& sender, size_t expected) {
  auto r = sender.Cli({"status", "--json"});
  if (r.exit_code != 0) return false;
  auto status = nlohmann::json::parse(r.out);
  if (status["outbox_queued"] != 0) return false;
  auto out = sender.Json({"outbox", "--json"});
  if (out.size() < expected) return false;
  for (const auto& m : out) {
    if (m["state"] != "delivered") return false;
  }
  return true;
}

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a = std::make_unique<Node>(dir.path(), "sender-a");
    b = std::make_unique<Node>(dir.path(), "receiver-b");
    a->Trust(*b);
    b->Trust(*a);
  }
  TempDir dir;
  std::unique_ptr<Node> a, b;
};

// In CI: 2,000 messages and 10 kills. Long tier: ROGATORY_CRASH_MESSAGES=10000
// ROGATORY_CRASH_KILLS=50 (tests/run.sh --long).
TEST_F(DeliveryTest, CrashLoopDeliversEveryMessageExactlyOnce) {
  const int messages = EnvInt("ROGATORY_CRASH_MESSAGES", 2000);
  const int kills = EnvInt("ROGATORY_CRASH_KILLS", 10);
  std::mt19937 rng(static_cast<unsigned>(EnvInt("ROGATORY_SEED", 20261129)));
  std::set<int> kill_at;
  while (static_cast<int>(kill_at.size()) < kills) {
    kill_at.insert(std::uniform_int_distribution<int>(1, messages - 1)(rng));
  }
  a->Start();
  b->Start();
  std::map<std::string, std::string> sent;  // id -> body, for every id send returned
  int kills_done = 0;
  for (int i = 0; i < messages; ++i) {
    if (kill_at.count(i) || (i >= messages - 1 && kills_done < kills)) {
      const int target = std::uniform_int_distribution<int>(0, 2)(rng);  // A, B, both
      if (target != 1) a->Kill();
      if (target != 0) b->Kill();
      ++kills_done;
      // B sometimes stays down for a while: A keeps queuing meanwhile.
      if (target != 0 && std::uniform_int_distribution<int>(0, 1)(rng) == 0) {
        if (!a->running()) a->Start();
        for (int k = 0; k < 20 && i < messages; ++k, ++i) {
          const std::string body = "message " + std::to_string(i);
          const std::string id = a->SendDirect("receiver-b", "crash loop", body);
          if (!id.empty()) sent[id] = body;
        }
      }
      if (!a->running()) a->Start();
      if (!b->running()) b->Start();
    }
    if (i >= messages) break;
    const std::string body = "message " + std::to_string(i);
    const std::string id = a->SendDirect("receiver-b", "crash loop", body);
    if (!id.empty()) sent[id] = body;
  }
  EXPECT_GE(kills_done, kills);
  ASSERT_TRUE(WaitFor([&] { return AllDelivered(*a, sent.size()); }, std::chrono::seconds(EnvInt("ROGATORY_CRASH_WAIT_S", 180))))
      << a->Cli({"status", "--json"}).out << "\n" << a->Log().substr(a->Log().size() > 3000 ? a->Log().size() - 3000 : 0)
      << "\n" << b->Log().substr(b->Log().size() > 3000 ? b->Log().size() - 3000 : 0);
  EXPECT_EQ(a->Stop(), 0);
  EXPECT_EQ(b->Stop(), 0);

  const auto stored = StoredBodies(*b, *a);
  for (const auto& [id, body] : sent) {
    auto it = stored.find(id);
    ASSERT_NE(it, stored.end()) << "lost: " << id;
    EXPECT_EQ(it->second, body);
  }
  // Anything else stored was committed by A just before a kill took its
  // reply: it must still be exactly once (StoredBodies checks) and sent by A.
  EXPECT_GE(stored.size(), sent.size());
  EXPECT_LE(stored.size(), sent.size() + static_cast<size_t>(kills));
  EXPECT_EQ(Integrity(*a), "ok");
  EXPECT_EQ(Integrity(*b), "ok");
  // The audit logs came through every kill without a gap or a torn entry:
  // b logged each stored envelope once; a each envelope and its receipt.
  auto audit_b = b->Json({"audit", "verify", "--json"});
  EXPECT_EQ(audit_b["valid"], true) << audit_b.dump();
  EXPECT_EQ(audit_b["size"], stored.size());
  auto audit_a = a->Json({"audit", "verify", "--json"});
  EXPECT_EQ(audit_a["valid"], true) << audit_a.dump();
  EXPECT_EQ(audit_a["size"], 2 * stored.size());
  std::printf("crash loop: %zu messages confirmed, %zu stored, %d kills\n", sent.size(),
              stored.size(), kills_done);
}

TEST_F(DeliveryTest, NetworkCutThenEverythingArrivesExactlyOnce) {
  a->Start();
  b->Start();
  ASSERT_EQ(::kill(b->pid(), SIGSTOP), 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) {
    ids.push_back(a->SendDirect("receiver-b", "during the cut", "body " + std::to_string(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  auto status = a->Json({"status", "--json"});
  EXPECT_EQ(status["outbox_queued"], 50);
  ASSERT_EQ(::kill(b->pid(), SIGCONT), 0);
  ASSERT_TRUE(WaitFor([&] { return AllDelivered(*a, ids.size()); })) << a->Log();
  auto inbox = b->Json({"inbox", "--json"});
  EXPECT_EQ(inbox.size(), 50u);
  std::set<std::string> unique;
  for (const auto& m : inbox) unique.insert(m["id"]);
  EXPECT_EQ(unique, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(DeliveryTest, UrgentSentLastOvertakesAThousandQueuedNormal) {
  a->Start();
  std::vector<std::string> normal;
  for (int i = 0; i < 1000; ++i) {
    std::string body = "n";
    body += std::to_string(i);  // (GCC 12 warns falsely on "n" + std::to_string(i))
    normal.push_back(a->SendDirect("receiver-b", "routine", body, 1));
    ASSERT_FALSE(normal.back().empty());
  }
  const std::string urgent = a->SendDirect("receiver-b", "terrorism: urgent", "u", 3);
  ASSERT_FALSE(urgent.empty());
  auto status = a->Json({"status", "--json"});
  EXPECT_EQ(status["peers"][0]["queues"]["urgent"], 1);
  EXPECT_EQ(status["peers"][0]["queues"]["normal"], 1000);
  EXPECT_TRUE(status["oldest_queued_age_seconds"].is_number());

  b->Start();
  ASSERT_TRUE(WaitFor([&] { return AllDelivered(*a, 1001); }, std::chrono::seconds(60)));
  std::map<std::string, int64_t> seq;
  for (const auto& m : b->Json({"inbox", "--json"})) seq[m["id"]] = m["received_seq"];
  ASSERT_EQ(seq.size(), 1001u);
  for (const auto& id : normal) EXPECT_LT(seq[urgent], seq[id]);
  // Within one priority, arrival order is sending order.
  for (size_t i = 1; i < normal.size(); ++i) {
    EXPECT_LT(seq[normal[i - 1]], seq[normal[i]]) << i;
  }
}

TEST_F(DeliveryTest, MessageToAPeerThatNeverComesUpEndsExpired) {
  a->WriteConfig("[delivery]\nclock_allowance_seconds = 1\n");
  a->Start();
  const std::string id = a->Send({"--to", "receiver-b", "--subject", "short-lived", "--body",
                                  "x", "--expires", "2s"});
  ASSERT_TRUE(a->WaitOutboxState(id, "expired", std::chrono::seconds(15))) << a->Log();
  auto out = a->Json({"outbox", "--json"});
  EXPECT_EQ(out[0]["recipients"][0]["state"], "expired");
  EXPECT_FALSE(out[0]["recipients"][0]["error"].is_null());
  EXPECT_GE(out[0]["recipients"][0]["attempts"].get<int>(), 1);
}

TEST_F(DeliveryTest, AMessageOverTheRecipientsFrameLimitFailsAndDoesNotBlockOthers) {
  b->WriteConfig("[limits]\nmax_frame_bytes = 131072\nmax_body_bytes = 65536\n");
  a->Start();
  b->Start();
  // Learn B's limit from its answer to A's Hello: a first message goes through.
  const std::string first = a->SendDirect("receiver-b", "small", "s");
  ASSERT_TRUE(a->WaitOutboxState(first, "delivered")) << a->Log() << b->Log();
  const std::string big = a->SendDirect("receiver-b", "big", std::string(200 * 1024, 'B'));
  const std::string after = a->SendDirect("receiver-b", "after", "a");
  ASSERT_FALSE(big.empty());
  EXPECT_TRUE(a->WaitOutboxState(big, "failed")) << a->Log();
  EXPECT_TRUE(a->WaitOutboxState(after, "delivered")) << a->Log() << b->Log();
  for (const auto& m : a->Json({"outbox", "--json"})) {
    if (m["id"] == big) {
      EXPECT_NE(m["recipients"][0]["error"].get<std::string>().find("frame limit"),
                std::string::npos);
    }
  }
}

TEST(SlowPeerTest, ASlowPeerDoesNotDelayAFastOne) {
  TempDir dir;
  Node a(dir.path(), "hub");
  Node slow(dir.path(), "slow-peer");
  Node fast(dir.path(), "fast-peer");
  for (Node* n : {&slow, &fast}) {
    a.Trust(*n);
    n->Trust(a);
  }
  a.WriteConfig("[limits]\nin_flight_per_peer = 32\n");
  a.Start();
  slow.Start();
  fast.Start();
  ASSERT_EQ(::kill(slow.pid(), SIGSTOP), 0);
  for (int i = 0; i < 300; ++i) {
    ASSERT_FALSE(a.SendDirect("slow-peer", "bulk", std::string(4096, 'x')).empty());
  }
  const std::string quick = a.SendDirect("fast-peer", "quick", "q");
  EXPECT_TRUE(a.WaitOutboxState(quick, "delivered", std::chrono::seconds(5))) << a.Log();
  // The slow peer's window is bounded.
  auto status = a.Json({"status", "--json"});
  for (const auto& p : status["peers"]) {
    if (p["id"] == "slow-peer") {
      EXPECT_LE(p["in_flight"].get<int>(), 64);
    }
  }
  ASSERT_EQ(::kill(slow.pid(), SIGCONT), 0);
  EXPECT_TRUE(WaitFor([&] { return AllDelivered(a, 301); }, std::chrono::seconds(60)));
}

}  // namespace
}  // namespace rogatory::test
