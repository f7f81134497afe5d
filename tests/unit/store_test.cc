#include <gtest/gtest.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "node/audit.h"
#include "node/clock.h"
#include "node/config.h"
#include "node/outbox.h"
#include "node/store.h"

namespace rogatory {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-store-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    path = dir + "/store.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir, path;
};

InboxRow Row(const std::string& sender, const std::string& id) {
  InboxRow r;
  r.meta.sender = sender;
  r.meta.message_id = id;
  r.meta.recipients = std::string(20, 'r');
  r.envelope = "env-" + id;
  r.envelope_sha256 = std::string(32, 'e');
  r.inner_sha256 = std::string(32, 'i');
  r.receipt = "receipt";
  return r;
}

TEST_F(StoreTest, OpensInWalModeWithFullSync) {
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  SQLite::Database db(path);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ((*s)->IntegrityCheck().value(), "ok");
}

TEST_F(StoreTest, DeduplicatesOnSenderAndMessageId) {
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok());
  Store& st = **s;
  const std::string alice(20, 'a'), bob(20, 'b');
  ASSERT_TRUE(st.InsertInbox(Row(alice, "m1")).ok());
  EXPECT_FALSE(st.InsertInbox(Row(alice, "m1")).ok());  // same key twice
  EXPECT_TRUE(st.InsertInbox(Row(bob, "m1")).ok());     // other sender, same id
  auto found = st.FindInbox(alice, "m1");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->envelope, "env-m1");
  EXPECT_EQ(st.CountInbox().value(), 2);
  // received_seq strictly increases in arrival order.
  auto list = st.ListInbox(0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_GT((*list)[0].received_seq, (*list)[1].received_seq);
}

TEST_F(StoreTest, RollbackLeavesNothing) {
  auto s = Store::Open(path);
  Store& st = **s;
  ASSERT_TRUE(st.Begin().ok());
  ASSERT_TRUE(st.InsertInbox(Row(std::string(20, 'a'), "m1")).ok());
  st.Rollback();
  EXPECT_EQ(st.CountInbox().value(), 0);
}

TEST_F(StoreTest, NewerSchemaIsRefusedAndNotTouched) {
  { ASSERT_TRUE(Store::Open(path).ok()); }
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value='99' WHERE key='schema_version'");
  }
  auto s = Store::Open(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
  SQLite::Database db(path);
  EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key='schema_version'").getString(), "99");
}

TEST_F(StoreTest, OutboxDeliveryStates) {
  auto s = Store::Open(path);
  Store& st = **s;
  OutboxRow row;
  row.meta.message_id = "m1";
  row.meta.priority = 1;
  row.meta.expires_at = 1000;
  row.envelope = "env";
  row.envelope_sha256 = "sha";
  row.inner_sha256 = "inner";
  const std::string b(20, 'b'), c(20, 'c');
  for (const auto& [fp, id] : {std::pair{b, "b-node"}, std::pair{c, "c-node"}}) {
    RecipientRow r;
    r.fingerprint = fp;
    r.node_id = id;
    row.recipients.push_back(r);
  }
  auto seq = st.InsertOutbox(row);
  ASSERT_TRUE(seq.ok());
  auto due = st.DueDeliveriesFor(b, 0, 10);
  ASSERT_TRUE(due.ok());
  EXPECT_EQ(due->size(), 1u);
  EXPECT_TRUE(st.HasDue(c, 0).value());
  ASSERT_TRUE(st.RecordAttempt(*seq, b, 1, 500).ok());
  EXPECT_FALSE(st.HasDue(b, 100).value());  // b waits until 500
  EXPECT_TRUE(st.DueDeliveriesFor(b, 100, 10)->empty());
  ASSERT_TRUE(st.ResetBackoff(b, 100).ok());
  EXPECT_EQ(st.DueDeliveriesFor(b, 100, 10)->size(), 1u);
  ASSERT_TRUE(st.MarkDelivered(*seq, b, "receipt", 200).ok());
  EXPECT_EQ(st.ExpireQueued(2000).value(), 1);  // c expired
  // A late receipt still makes an expired recipient delivered.
  ASSERT_TRUE(st.MarkDelivered(*seq, c, "late receipt", 3000).ok());
  auto out = st.GetOutboxById("m1");
  ASSERT_TRUE(out.ok() && out->has_value());
  for (const auto& r : (*out)->recipients) EXPECT_EQ(r.state, "delivered");
}

class FixedClock final : public Clock {
 public:
  int64_t NowMicros() const override { return now; }
  int64_t now = 0;
};

// DuePeers asks the store once when nothing is due; the answers must be the
// per-peer ones in every case: nothing queued, all in backoff, some due.
TEST_F(StoreTest, DuePeersAreThoseWithQueuedDeliveriesDueNow) {
  auto s = Store::Open(path);
  Store& st = **s;
  FixedClock clock;
  NodeConfig cfg;
  Outbox outbox(&st, cfg, &clock);
  const std::string b(20, 'b'), c(20, 'c'), d(20, 'd');
  EXPECT_TRUE(outbox.DuePeers({b, c, d}).value().empty());  // nothing queued
  OutboxRow row;
  row.meta.message_id = "m1";
  row.meta.priority = 1;
  row.meta.expires_at = 1000000;
  row.envelope = "env";
  row.envelope_sha256 = "sha";
  row.inner_sha256 = "inner";
  for (const auto& fp : {b, c}) {
    RecipientRow r;
    r.fingerprint = fp;
    r.node_id = "node";
    row.recipients.push_back(r);
  }
  auto seq = st.InsertOutbox(row);
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(outbox.DuePeers({b, c, d}).value(), (std::vector<std::string>{b, c}));
  EXPECT_EQ(outbox.DuePeers({c}).value(), (std::vector<std::string>{c}));
  ASSERT_TRUE(st.RecordAttempt(*seq, b, 1, 500).ok());
  ASSERT_TRUE(st.RecordAttempt(*seq, c, 1, 700).ok());
  clock.now = 499;
  EXPECT_TRUE(outbox.DuePeers({b, c, d}).value().empty());  // both in backoff
  clock.now = 500;
  EXPECT_EQ(outbox.DuePeers({b, c, d}).value(), (std::vector<std::string>{b}));
  clock.now = 700;
  EXPECT_EQ(outbox.DuePeers({b, c, d}).value(), (std::vector<std::string>{b, c}));
  ASSERT_TRUE(st.MarkDelivered(*seq, b, "receipt", 700).ok());
  ASSERT_TRUE(st.MarkDelivered(*seq, c, "receipt", 700).ok());
  EXPECT_TRUE(outbox.DuePeers({b, c, d}).value().empty());  // all settled
}

}  // namespace
}  // namespace rogatory

namespace rogatory {
namespace {

TEST_F(StoreTest, DedupRecordsArePrunedAfterExpiryWhileTheMessageStays) {
  auto s = Store::Open(path);
  Store& st = **s;
  const std::string alice(20, 'a');
  InboxRow r = Row(alice, "m1");
  r.meta.expires_at = 1000;
  ASSERT_TRUE(st.InsertInbox(r).ok());
  EXPECT_TRUE(st.FindSeen(alice, "m1")->has_value());
  EXPECT_EQ(st.PruneSeen(1000).value(), 0);  // not before expiry
  EXPECT_EQ(st.PruneSeen(1001).value(), 1);
  EXPECT_FALSE(st.FindSeen(alice, "m1")->has_value());
  EXPECT_TRUE(st.FindInbox(alice, "m1")->has_value());  // the message is kept
}

TEST_F(StoreTest, MigratesAVersion1StoreAndKeepsItsDedupRecords) {
  {
    auto s = Store::Open(path);
    ASSERT_TRUE((*s)->InsertInbox(Row(std::string(20, 'a'), "old")).ok());
  }
  {
    // Turn it back into what schema 1 looked like.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE seen; DROP INDEX outbox_prev; DROP INDEX outbox_ready; "
            "DROP INDEX outbox_expiry; DROP TABLE requests; DROP TABLE request_history; "
            "DROP TABLE attachments; DROP TABLE audit_log; DROP TABLE audit_nodes; DROP TABLE tree_heads; "
            "DROP TABLE cosignatures; DROP TABLE peer_heads; DROP TABLE equivocations; "
            "DROP TABLE restore_statements; DROP TABLE case_entries; DROP TABLE case_pending; "
            "DROP TABLE case_reports; DROP TABLE card_acks; DROP TABLE revocations; "
            "DROP TABLE directory_authorities; "
            "UPDATE meta SET value='1' WHERE key='schema_version'");
  }
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_TRUE((*s)->FindSeen(std::string(20, 'a'), "old")->has_value());
  SQLite::Database db(path);
  EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key='schema_version'").getString(),
            std::to_string(kSchemaVersion));
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM requests").getInt(), 0);
}

}  // namespace
}  // namespace rogatory

namespace rogatory {
namespace {

TEST_F(StoreTest, AFailedMultiRowInsertLeavesNothingInsideABatch) {
  auto s = Store::Open(path);
  Store& st = **s;
  ASSERT_TRUE(st.Begin().ok());
  ASSERT_TRUE(st.InsertInbox(Row(std::string(20, 'a'), "kept")).ok());
  OutboxRow row;
  row.meta.message_id = "broken";
  for (int i = 0; i < 2; ++i) {  // the same recipient twice: the 2nd row fails
    RecipientRow r;
    r.fingerprint = std::string(20, 'b');
    row.recipients.push_back(r);
  }
  EXPECT_FALSE(st.InsertOutbox(row).ok());
  EXPECT_TRUE(st.InTransaction());
  ASSERT_TRUE(st.Commit().ok());
  EXPECT_FALSE(st.GetOutboxById("broken")->has_value());   // all or nothing
  EXPECT_TRUE(st.FindSeen(std::string(20, 'a'), "kept")->has_value());  // the batch lives
}

TEST_F(StoreTest, MigratesAVersion5AuditLogAndIndexesItsMessageIds) {
  {
    auto s = Store::Open(path);
    auto log = AuditLog::Load(s->get());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) {
      wire::LogEntry e;
      e.set_version(1);
      e.set_kind(wire::LOG_ENVELOPE_SENT);
      e.set_message_id("m" + std::to_string(i % 2));
      e.set_sender(std::string(20, 'a'));
      e.set_sha256(std::string(32, static_cast<char>(i)));
      ASSERT_TRUE((*log)->Append(e).ok());
    }
  }
  {
    // Turn it back into what schema 5 looked like.
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("DROP INDEX audit_log_by_message; ALTER TABLE audit_log DROP COLUMN message_id; "
            "DROP TABLE cosignatures; DROP TABLE peer_heads; DROP TABLE equivocations; "
            "DROP TABLE restore_statements; DROP TABLE case_entries; DROP TABLE case_pending; "
            "DROP TABLE case_reports; DROP TABLE card_acks; DROP TABLE revocations; DROP TABLE directory_authorities; UPDATE meta SET value='5' WHERE key='schema_version'");
  }
  auto s = Store::Open(path);
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto log = AuditLog::Load(s->get());
  ASSERT_TRUE(log.ok()) << log.error().message;
  EXPECT_EQ((*log)->size(), 5u);
  auto odd = (*s)->AuditEntriesFor("m1");
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->size(), 2u);
  EXPECT_EQ((*odd)[0].first, 1);
  EXPECT_EQ((*odd)[1].first, 3);
  EXPECT_EQ((*s)->AuditEntriesFor("m0")->size(), 3u);
}

}  // namespace
}  // namespace rogatory
