// The audit log between real daemons (SPEC 4, promises 7-8): every envelope
// and receipt is a leaf; `audit verify` recomputes the log from the store,
// with or without the daemon, and names the first bad entry.
#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a.Trust(b);
    b.Trust(a);
    a.Start();
    b.Start();
    for (int i = 0; i < 6; ++i) {
      auto r = a.Cli({"send", "--to", "de-bka", "--subject", "s", "--body", "b", "--wait"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
  }
  // Runs `audit verify --json` on b's home.
  nlohmann::json Verify(int expect_exit) {
    auto r = b.Cli({"audit", "verify", "--json"});
    EXPECT_EQ(r.exit_code, expect_exit) << r.out << r.err;
    return nlohmann::json::parse(r.out);
  }
  void Sql(const std::string& sql) {
    SQLite::Database db(b.home() + "/store.db", SQLite::OPEN_READWRITE);
    db.exec(sql);
  }
  TempDir dir;
  Node a{dir.path(), "fr-pnat", "FR"};
  Node b{dir.path(), "de-bka", "DE"};
};

TEST_F(AuditTest, EveryEnvelopeAndReceiptIsLoggedAndVerifies) {
  // The sender logs each envelope and each receipt; the receiver each
  // envelope, and its receipts name the position.
  auto va = nlohmann::json::parse(a.Cli({"audit", "verify", "--json"}).out);
  EXPECT_EQ(va["valid"], true);
  EXPECT_EQ(va["size"], 12);
  auto vb = Verify(0);  // with the daemon running
  EXPECT_EQ(vb["size"], 6);
  b.Stop();
  auto again = Verify(0);  // and without it
  EXPECT_EQ(again["root"], vb["root"]);
}

TEST_F(AuditTest, SignedTreeHeadsAreCheckedAndCatchACutLog) {
  // On demand: a head over the 6 entries, signed by b, verifying.
  auto head = b.Json({"audit", "head", "--json"});
  EXPECT_EQ(head["size"], 6);
  EXPECT_EQ(head["log"], b.fingerprint());
  auto v = Verify(0);
  EXPECT_GE(v["tree_heads_checked"], 1);
  EXPECT_EQ(v["root"], head["root"]);
  b.Stop();
  // Cutting the log below a signed size (the last two entries and the
  // subtree roots over them) leaves a consistent-looking shorter log; the
  // signed head gives it away.
  Sql("DELETE FROM audit_log WHERE idx >= 4; DELETE FROM audit_nodes WHERE (idx + 1) << level > 4");
  auto cut = Verify(3);
  EXPECT_NE(cut["errors"][0].get<std::string>().find("entries were removed"), std::string::npos)
      << cut.dump();
}

TEST_F(AuditTest, AForgedTreeHeadIsNamed) {
  ASSERT_EQ(b.Json({"audit", "head", "--json"})["size"], 6);
  b.Stop();
  // The signature's last byte, changed (whatever it was).
  Sql("UPDATE tree_heads SET signed = substr(signed, 1, length(signed) - 1) || "
      "CASE WHEN substr(signed, -1) = x'00' THEN x'01' ELSE x'00' END WHERE size = 6");
  auto v = Verify(3);
  EXPECT_NE(v["errors"][0].get<std::string>().find("tree head at size 6"), std::string::npos)
      << v.dump();
}

TEST_F(AuditTest, AnEditedEntryIsNamed) {
  b.Stop();
  // A changed timestamp in entry 2 (its stored leaf hash no longer matches).
  Sql("UPDATE audit_log SET entry = entry || x'00' WHERE idx = 2");
  auto v = Verify(3);
  EXPECT_EQ(v["valid"], false);
  EXPECT_NE(v["errors"][0].get<std::string>().find("entry 2"), std::string::npos) << v.dump();
}

TEST_F(AuditTest, AnEntryRewrittenWithItsLeafHashIsCaughtByTheSubtreeHashes) {
  b.Stop();
  // Rewrite entry 4 and its leaf hash consistently: the cached subtree
  // roots over it no longer match.
  Sql("UPDATE audit_log SET entry = (SELECT entry FROM audit_log WHERE idx = 5), "
      "leaf_hash = (SELECT leaf_hash FROM audit_log WHERE idx = 5) WHERE idx = 4");
  auto v = Verify(3);
  EXPECT_NE(v["errors"][0].get<std::string>().find("entries 4 to 5"), std::string::npos)
      << v.dump();
}

TEST_F(AuditTest, ADeletedOrReorderedEntryIsNamed) {
  b.Stop();
  Sql("DELETE FROM audit_log WHERE idx = 3");
  auto v = Verify(3);
  EXPECT_NE(v["errors"][0].get<std::string>().find("entry 3 is missing"), std::string::npos)
      << v.dump();
  // Put it back as another index: entries 0..5 again, but in another order.
  Sql("UPDATE audit_log SET idx = 3 WHERE idx = 5");
  Sql("INSERT INTO audit_log(idx, entry, leaf_hash) SELECT 5, entry, leaf_hash FROM audit_log "
      "WHERE idx = 1");
  auto w = Verify(3);
  EXPECT_EQ(w["valid"], false) << w.dump();
}

}  // namespace
}  // namespace rogatory::test
