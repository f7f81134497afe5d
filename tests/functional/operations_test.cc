// Operating a node: passphrase-protected keystores, reload, the CLI's
// --home placement, and delivery to a node whose listen port is unreachable.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <set>
#include <sstream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/identity.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

std::string WriteSecret(const std::string& path, const std::string& text) {
  std::ofstream(path) << text << "\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

TEST(OperationsTest, PassphraseProtectedNodeRunsAndAWrongPassphraseIsOneLine) {
  TempDir dir;
  const std::string good = WriteSecret(dir.path() + "/pass", "correct horse battery");
  const std::string bad = WriteSecret(dir.path() + "/wrong", "incorrect horse");
  Node a(dir.path(), "locked", "FR", {"--passphrase-file", good});
  // The keystore holds no secret in the clear.
  EXPECT_EQ(ReadFileText(a.home() + "/keys.bin").find("correct horse"), std::string::npos);
  // Public commands need no passphrase.
  EXPECT_EQ(a.Cli({"id", "show"}).exit_code, 0);

  auto wrong = RunCmd({RogatorydBin(), "--home", a.home(), "--passphrase-file", bad});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.err, "rogatoryd: error: wrong passphrase for keystore " + a.home() +
                           "/keys.bin\n");
  auto none = RunCmd({RogatorydBin(), "--home", a.home()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("protected by a passphrase"), std::string::npos) << none.err;

  ::chmod(good.c_str(), 0644);
  auto loose = RunCmd({RogatorydBin(), "--home", a.home(), "--passphrase-file", good});
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_NE(loose.err.find("readable by group or others"), std::string::npos) << loose.err;
  ::chmod(good.c_str(), 0600);

  a.Start({"--passphrase-file", good});
  EXPECT_EQ(a.Cli({"status"}).exit_code, 0);
  EXPECT_EQ(a.Stop(), 0);
}

TEST(OperationsTest, KeysPasswdChangesThePassphraseAndKeepsTheKeys) {
  TempDir dir;
  const std::string first = WriteSecret(dir.path() + "/first", "first passphrase");
  const std::string second = WriteSecret(dir.path() + "/second", "second passphrase");
  Node a(dir.path(), "rekeyed", "FR", {"--passphrase-file", first});
  const auto before = a.Json({"id", "show", "--json"});

  // Wrong current passphrase, missing files, a loose new file: one line each.
  auto wrong = a.Cli({"keys", "passwd", "--passphrase-file", second, "--new-passphrase-file",
                      first});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_EQ(wrong.err, "rogatory: error: wrong passphrase for keystore " + a.home() +
                           "/keys.bin\n");
  auto missing = a.Cli({"keys", "passwd", "--passphrase-file", dir.path() + "/nope",
                        "--new-passphrase-file", second});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot read passphrase file " + dir.path() + "/nope"),
            std::string::npos)
      << missing.err;
  auto no_new = a.Cli({"keys", "passwd", "--passphrase-file", first});
  EXPECT_EQ(no_new.exit_code, 2);
  EXPECT_NE(no_new.err.find("--new-passphrase-file"), std::string::npos) << no_new.err;
  ::chmod(second.c_str(), 0640);
  auto loose = a.Cli({"keys", "passwd", "--passphrase-file", first, "--new-passphrase-file",
                      second});
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_NE(loose.err.find("readable by group or others"), std::string::npos) << loose.err;
  ::chmod(second.c_str(), 0600);

  auto ok = a.Cli({"keys", "passwd", "--passphrase-file", first, "--new-passphrase-file",
                   second});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ReadFileText(a.home() + "/keys.bin").find("second passphrase"), std::string::npos);
  // The old passphrase no longer opens it; the new one does, same keys.
  auto old_one = RunCmd({RogatorydBin(), "--home", a.home(), "--passphrase-file", first});
  EXPECT_EQ(old_one.exit_code, 1);
  EXPECT_NE(old_one.err.find("wrong passphrase"), std::string::npos) << old_one.err;
  auto daemon_missing = RunCmd({RogatorydBin(), "--home", a.home(), "--passphrase-file",
                                dir.path() + "/nope"});
  EXPECT_EQ(daemon_missing.exit_code, 1);
  EXPECT_EQ(daemon_missing.err, "rogatoryd: error: cannot read passphrase file " + dir.path() +
                                    "/nope: No such file or directory\n");
  a.Start({"--passphrase-file", second});
  EXPECT_EQ(a.Json({"id", "show", "--json"}), before);
  EXPECT_EQ(a.Stop(), 0);
  struct stat st {};
  ASSERT_EQ(::stat((a.home() + "/keys.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(::access((a.home() + "/keys.bin.new").c_str(), F_OK), 0);
}

TEST(OperationsTest, PassphraseFromSystemdCredentialsDirectory) {
  TempDir dir;
  const std::string creds = dir.path() + "/creds";
  ::mkdir(creds.c_str(), 0700);
  WriteSecret(creds + "/passphrase", "from systemd");
  Node a(dir.path(), "credentialed", "FR", {"--passphrase-file", creds + "/passphrase"});
  ::setenv("CREDENTIALS_DIRECTORY", creds.c_str(), 1);
  a.Start();
  ::unsetenv("CREDENTIALS_DIRECTORY");
  EXPECT_EQ(a.Cli({"status"}).exit_code, 0);
}

TEST(OperationsTest, HomeFlagWorksBeforeOrAfterTheSubcommand) {
  TempDir dir;
  Node a(dir.path(), "anywhere");
  for (auto argv : std::vector<std::vector<std::string>>{
           {RogatoryBin(), "--home", a.home(), "peer", "list", "--json"},
           {RogatoryBin(), "peer", "--home", a.home(), "list", "--json"},
           {RogatoryBin(), "peer", "list", "--home", a.home(), "--json"},
           {RogatoryBin(), "id", "show", "--home", a.home()}}) {
    auto r = RunCmd(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[1] << " " << r.err;
  }
  // $ROGATORY_HOME is the default.
  ::setenv("ROGATORY_HOME", a.home().c_str(), 1);
  EXPECT_EQ(RunCmd({RogatoryBin(), "id", "show"}).exit_code, 0);
  ::unsetenv("ROGATORY_HOME");
}

// `peer revoke` on one side takes effect at once, on the connection that is
// already open too: within a second nothing more is accepted from the peer,
// and nothing more is sent to it.
TEST(OperationsTest, RevocationCutsAnEstablishedConnectionWithinOneSecond) {
  TempDir dir;
  Node a(dir.path(), "stolen-laptop");
  Node b(dir.path(), "revoker", "NL");
  a.Trust(b);
  b.Trust(a);
  a.Start();
  b.Start();
  // Both directions carry traffic: the connections are up.
  ASSERT_TRUE(a.WaitOutboxState(a.Send({"--to", "revoker", "--subject", "s", "--body", "1"}),
                                "delivered"));
  ASSERT_TRUE(b.WaitOutboxState(b.Send({"--to", "stolen-laptop", "--subject", "s", "--body", "2"}),
                                "delivered"));

  // Without a terminal, revocation needs --yes.
  auto refused = b.Cli({"peer", "revoke", "stolen-laptop"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("pass --yes"), std::string::npos) << refused.err;
  auto r = b.Cli({"peer", "revoke", "stolen-laptop", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto revoked_at = std::chrono::steady_clock::now();

  // a's next message, on the connection it already has, is refused.
  const std::string late = a.SendDirect("revoker", "after", "3");
  ASSERT_FALSE(late.empty());
  EXPECT_TRUE(b.WaitLog("is no longer admitted by the roster", std::chrono::seconds(1)))
      << b.Log();
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, std::chrono::seconds(1));
  auto inbox = b.Json({"inbox", "--json"});
  ASSERT_EQ(inbox.size(), 1u) << inbox.dump();
  // Nothing goes to it either, and the roster says so.
  auto send = b.Cli({"send", "--to", "stolen-laptop", "--subject", "s", "--body", "4"});
  EXPECT_EQ(send.exit_code, 1);
  EXPECT_NE(send.err.find("recipient 'stolen-laptop' is revoked"), std::string::npos) << send.err;
  auto peers = b.Json({"peer", "list", "--json"});
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0]["revoked"], true);
  EXPECT_TRUE(peers[0]["revoked_at"].is_string());
  // Revoking twice, or someone unknown, is one clear line.
  EXPECT_NE(b.Cli({"peer", "revoke", "stolen-laptop", "--yes"}).err.find("revoked already"),
            std::string::npos);
  EXPECT_NE(b.Cli({"peer", "revoke", "nobody", "--yes"}).err.find("no peer 'nobody'"),
            std::string::npos);
  // The message stays undelivered at a (b never acknowledged it).
  auto out = a.Json({"outbox", "--json"});
  for (const auto& m : out) {
    if (m["id"] == late) {
      EXPECT_EQ(m["state"], "queued");
    }
  }
}

// What an operator's monitoring reads: status --json, and logs a machine
// can parse line by line.
TEST(OperationsTest, StatusAndJsonLogsTellWhatMonitoringNeeds) {
  TempDir dir;
  Node a(dir.path(), "watched");
  Node b(dir.path(), "partner", "NL");
  a.Trust(b);
  b.Trust(a);
  a.Start({"--log-format", "json", "--log-level", "debug"});
  b.Start();
  ASSERT_TRUE(b.WaitOutboxState(b.Send({"--to", "watched", "--subject", "s", "--body", "x"}),
                                "delivered"));
  auto st = a.Json({"status", "--json"});
  EXPECT_GE(st["uptime_seconds"].get<int64_t>(), 0);
  EXPECT_EQ(st["versions"]["protocol"], 1);
  EXPECT_GE(st["versions"]["schema"].get<int>(), 7);
  EXPECT_EQ(st["versions"]["libzmq"].get<std::string>().substr(0, 2), "4.");
  EXPECT_FALSE(st["versions"]["libsodium"].get<std::string>().empty());
  EXPECT_FALSE(st["versions"]["sqlite"].get<std::string>().empty());
  EXPECT_FALSE(st["versions"]["rogatory"].get<std::string>().empty());
  EXPECT_GT(st["store_bytes"].get<uint64_t>(), 4096u);
  ASSERT_EQ(st["peers"].size(), 1u);
  EXPECT_TRUE(st["peers"][0]["last_seen_at"].is_string()) << st.dump();
  EXPECT_EQ(st["peers"][0]["queued"], 0);

  // Every line of the JSON log is one object with time, level and message.
  ASSERT_TRUE(a.WaitLog("received message"));
  std::istringstream lines(a.Log());
  int parsed = 0;
  for (std::string line; std::getline(lines, line);) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j["time"].is_string() && j["level"].is_string() && j["message"].is_string())
        << line;
    ++parsed;
  }
  EXPECT_GE(parsed, 3);
  // A bad level is a usage error, in one line.
  auto bad = RunCmd({RogatorydBin(), "--home", a.home(), "--log-level", "loud"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--log-level"), std::string::npos) << bad.err;
}

// A backup taken while the node runs, restored after the node went on
// acknowledging messages: the restore statement makes the partner accept
// the rollback (no equivocation) and send again what was lost.
TEST(OperationsTest, ARestoredBackupIsAnnouncedAndThePartnerSendsWhatWasLost) {
  TempDir dir;
  Node a(dir.path(), "sender");
  Node b(dir.path(), "restored", "NL");
  a.Trust(b);
  b.Trust(a);
  a.WriteConfig("[audit]\ntree_head_interval_s = 1\n");
  b.WriteConfig("[audit]\ntree_head_interval_s = 1\n");
  a.Start();
  b.Start();
  std::vector<std::string> ids;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ids.push_back(a.Send({"--to", "restored", "--subject", "s", "--body", std::to_string(i)}));
    }
    for (const auto& id : ids) ASSERT_TRUE(a.WaitOutboxState(id, "delivered")) << id;
  };
  send(3);
  const std::string backup = dir.path() + "/backup";
  auto r = b.Cli({"backup", "-o", backup});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("audit log of 3 entries"), std::string::npos) << r.out;
  EXPECT_NE(b.Cli({"backup", "-o", backup}).err.find("is not empty"), std::string::npos);
  EXPECT_NE(b.Cli({"restore", backup}).err.find("rogatoryd is running"), std::string::npos);

  // b goes on acknowledging, and a checks b's log past the backup point.
  send(4);
  ASSERT_TRUE(WaitFor([&] {
    auto st = a.Json({"status", "--json"});
    return st["peers"][0]["log_size"].get<uint64_t>() >= 7;
  })) << a.Log();

  ASSERT_EQ(b.Stop(), 0);
  EXPECT_NE(b.Cli({"restore", dir.path()}).err.find("is not a backup"), std::string::npos);
  r = b.Cli({"restore", backup});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("audit log back to 3 entries (from 7)"), std::string::npos) << r.out;
  b.Start();

  // a accepts the rollback and sends the 4 lost messages again.
  EXPECT_TRUE(a.WaitLog("announced a restore of its store")) << a.Log();
  EXPECT_TRUE(a.WaitLog("4 message(s) it had acknowledged after that point will be sent again"))
      << a.Log();
  for (const auto& id : ids) EXPECT_TRUE(a.WaitOutboxState(id, "delivered")) << id;
  ASSERT_TRUE(WaitFor([&] { return b.Json({"inbox", "--json"}).size() == ids.size(); }))
      << b.Json({"inbox", "--json"}).dump();
  std::set<std::string> got;
  for (const auto& m : b.Json({"inbox", "--json"})) got.insert(m["id"].get<std::string>());
  EXPECT_EQ(got, std::set<std::string>(ids.begin(), ids.end()));
  // One more message, and a checks (and cosigns) a head of b's new history
  // past it: no equivocation on either side.
  send(1);
  ASSERT_TRUE(WaitFor([&] {
    auto st = a.Json({"status", "--json"});
    return st["peers"][0]["log_size"].get<uint64_t>() >= 8;
  })) << a.Log();
  EXPECT_EQ(a.Json({"status", "--json"})["audit"]["equivocations"].size(), 0u) << a.Log();
  EXPECT_EQ(b.Json({"status", "--json"})["audit"]["equivocations"].size(), 0u) << b.Log();
  EXPECT_EQ(a.Log().find("EQUIVOCATION"), std::string::npos) << a.Log();

  // The same backup restored a second time: the new statement withdraws
  // everything up to the larger of the two abandoned histories, the first
  // statement is kept, and the 5 messages acknowledged past 3 come again.
  ASSERT_EQ(b.Stop(), 0);
  r = b.Cli({"restore", backup});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("audit log back to 3 entries (from 8)"), std::string::npos) << r.out;
  b.Start();
  EXPECT_TRUE(a.WaitLog("5 message(s) it had acknowledged after that point will be sent again"))
      << a.Log();
  ASSERT_TRUE(WaitFor([&] { return b.Json({"inbox", "--json"}).size() == ids.size(); }));
  send(1);
  ASSERT_TRUE(WaitFor([&] {
    auto st = a.Json({"status", "--json"});
    return st["peers"][0]["log_size"].get<uint64_t>() >= 9;
  })) << a.Log();
  EXPECT_EQ(a.Json({"status", "--json"})["audit"]["equivocations"].size(), 0u) << a.Log();
  EXPECT_EQ(b.Json({"status", "--json"})["audit"]["equivocations"].size(), 0u) << b.Log();
  ASSERT_EQ(b.Stop(), 0);
  {
    SQLite::Database db(b.home() + "/store.db", SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM restore_statements").getInt(), 2);
  }
  auto verify = b.Cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST(OperationsTest, SighupReloadsAndKeepsServing) {
  TempDir dir;
  Node a(dir.path(), "reloaded");
  a.Start();
  ASSERT_EQ(::kill(a.pid(), SIGHUP), 0);
  EXPECT_TRUE(a.WaitLog("reloading the roster")) << a.Log();
  EXPECT_EQ(a.Cli({"status"}).exit_code, 0);
  EXPECT_EQ(a.Stop(), 0);
}

TEST(OperationsTest, NodeBehindOutboundOnlyFirewallReceivesOverItsOwnConnection) {
  TempDir dir;
  Node inside(dir.path(), "behind-firewall");
  Node outside(dir.path(), "outside");
  inside.Trust(outside);
  outside.Trust(inside);
  // The card says inside listens on its endpoint, but nothing will listen
  // there: the daemon binds another port, as if a firewall dropped inbound
  // connections. It keeps a connection open to every peer instead.
  const int hidden_port = FreePort();
  std::ofstream(inside.home() + "/node.toml")
      << "[node]\nid = \"behind-firewall\"\nlisten = \"tcp://127.0.0.1:" << hidden_port
      << "\"\n[transport]\nconnect_all = true\n";
  outside.Start();
  const std::string id = outside.Send({"--to", "behind-firewall", "--subject", "in", "--body", "y"});
  inside.Start();
  EXPECT_TRUE(outside.WaitOutboxState(id, "delivered")) << outside.Log() << inside.Log();
  auto inbox = inside.Json({"inbox", "--json"});
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0]["id"], id);
  // And the other way, over the same connection.
  const std::string back = inside.Send({"--to", "outside", "--subject", "out", "--body", "z"});
  EXPECT_TRUE(inside.WaitOutboxState(back, "delivered")) << inside.Log();
}

TEST(OperationsTest, AnExpiredCardIsRefusedByPeerAdd) {
  TempDir dir;
  Node a(dir.path(), "careful");
  ASSERT_TRUE(InitCrypto().ok());
  auto old = Identity::Generate({"old-node", "Old", "FR", {"tcp://127.0.0.1:7000"}, 1'000'000,
                                 2'000'000});
  ASSERT_TRUE(old.ok());
  const std::string path = dir.path() + "/old.card";
  std::ofstream(path) << Armor(kCardArmorType, old->signed_card());
  auto r = a.Cli({"peer", "add", path, "--fingerprint", FingerprintText(old->fingerprint())});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not now"), std::string::npos) << r.err;
  EXPECT_EQ(a.Json({"peer", "list", "--json"}).size(), 0u);
}

}  // namespace
}  // namespace rogatory::test
