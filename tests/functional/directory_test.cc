// Signed directories and connections on demand between real daemons
// (docs/protocol.md 26 and 27): nodes that trust one directory authority
// exchange messages and share a case without any card exchanged by hand; a
// hand-pinned card wins over the directory; rollback, tampering and an
// untrusted authority are refused; connections open when there is work and
// close when idle, and reopen for the next message.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

class DirectoryTest : public ::testing::Test {
 protected:
  // The authority builds directory `seq` of `cards` (plus `extra` flags).
  std::string Build(int seq, const std::vector<const Node*>& listed,
                    const std::vector<std::string>& extra = {}) {
    const std::string out = dir.path() + "/directory-" + std::to_string(seq);
    std::vector<std::string> args = {"directory", "build", "--sequence", std::to_string(seq),
                                     "-o", out, "--force"};
    for (const Node* n : listed) args.push_back(n->card_path());
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = authority.Cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
  void TrustAuthority(const Node& n) {
    auto r = n.Cli({"directory", "trust", authority.card_path(), "--fingerprint",
                    authority.fingerprint()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  nlohmann::json Import(const Node& n, const std::string& file) {
    auto r = n.Cli({"directory", "import", file, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json();
  }
  nlohmann::json PeerEntry(const Node& n, const std::string& id) {
    for (const auto& p : n.Json({"peer", "list", "--json"})) {
      if (p["id"] == id) return p;
    }
    return nlohmann::json();
  }
  TempDir dir;
  // A directory authority is a Rogatory identity; it runs no daemon here.
  Node authority{dir.path(), "ejn-directory", "NL"};
  Node a{dir.path(), "fr-pnat", "FR"};
  Node b{dir.path(), "de-bka", "DE"};
  Node c{dir.path(), "nl-om", "NL"};
};

TEST_F(DirectoryTest, NodesTrustingOneDirectoryExchangeAndHandPinnedCardsWin) {
  const std::string d1 = Build(1, {&a, &b, &c});

  // Not trusted yet: refused, and nothing is added.
  auto r = a.Cli({"directory", "import", d1});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("has not trusted"), std::string::npos) << r.err;
  EXPECT_TRUE(a.Json({"peer", "list", "--json"}).empty());
  // The wrong fingerprint (b's) for the authority: refused, exit 3.
  r = a.Cli({"directory", "trust", authority.card_path(), "--fingerprint", b.fingerprint()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  // A directory carries the authority's card: trusting from it works too.
  r = b.Cli({"directory", "trust", d1, "--fingerprint", authority.fingerprint()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  TrustAuthority(a);
  TrustAuthority(c);

  // c pins b by hand first; its card must stay the hand-pinned one.
  r = c.Cli({"peer", "add", b.card_path(), "--fingerprint", b.fingerprint()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  for (Node* n : {&a, &b, &c}) n->Start();
  // Imported while the daemons run: they take the roster at once.
  for (Node* n : {&a, &b, &c}) {
    auto report = Import(*n, d1);
    EXPECT_FALSE(report["already_imported"].get<bool>());
  }
  EXPECT_EQ(Import(a, d1)["already_imported"], true);  // the same again: no change

  auto pb = PeerEntry(a, "de-bka");
  ASSERT_FALSE(pb.is_null());
  EXPECT_EQ(pb["source"], "directory");
  EXPECT_EQ(pb["directory"]["id"], "ejn-directory");
  EXPECT_EQ(pb["directory"]["fingerprint"], authority.fingerprint());
  EXPECT_EQ(PeerEntry(c, "de-bka")["source"], "manual");
  EXPECT_EQ(PeerEntry(c, "fr-pnat")["source"], "directory");
  EXPECT_TRUE(PeerEntry(a, "fr-pnat").is_null()) << "a node never adds itself";

  // Messages both ways, no card exchanged by hand between a and b.
  const std::string m1 = a.Send({"--to", "de-bka,nl-om", "--subject", "via directory", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(m1, "delivered")) << a.Log();
  const std::string m2 = b.Send({"--to", "fr-pnat", "--subject", "reply", "--body", "x", "--in-reply-to", m1});
  ASSERT_TRUE(b.WaitOutboxState(m2, "delivered")) << b.Log();

  // An impostor listed as de-bka in directory 2 (another key, so another
  // fingerprint): c keeps its hand-pinned card, a keeps the one it holds.
  TempDir other;
  Node impostor{other.path(), "de-bka", "DE"};
  const std::string d2 = dir.path() + "/directory-2";
  r = authority.Cli({"directory", "build", "--sequence", "2", "-o", d2, a.card_path(),
                     impostor.card_path(), c.card_path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (Node* n : {&a, &c}) {
    auto report = Import(*n, d2);
    ASSERT_EQ(report["refused"].size(), 1u) << report.dump();
    EXPECT_EQ(report["refused"][0]["id"], "de-bka");
  }
  EXPECT_EQ(PeerEntry(c, "de-bka")["fingerprint"], b.fingerprint());
  EXPECT_EQ(PeerEntry(c, "de-bka")["source"], "manual");
  EXPECT_EQ(PeerEntry(a, "de-bka")["fingerprint"], b.fingerprint());
  const std::string m3 = a.Send({"--to", "de-bka", "--subject", "still b", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(m3, "delivered")) << a.Log();

  // No rollback to directory 1; a tampered directory fails verification.
  r = a.Cli({"directory", "import", d1});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("older than directory 2"), std::string::npos) << r.err;
  std::string text = ReadFileText(d1);
  const size_t at = text.find('\n') + 40;
  text[at] = text[at] == 'A' ? 'B' : 'A';
  std::ofstream(dir.path() + "/tampered") << text;
  r = a.Cli({"directory", "import", dir.path() + "/tampered"});
  EXPECT_EQ(r.exit_code, 3) << r.err;

  // Directory 3 withdraws c: a revokes it (it came from the directory); c
  // is no longer sent anything.
  const std::string d3 =
      Build(3, {&a, &b}, {"--remove", c.fingerprint() + "=authority dissolved"});
  auto report = Import(a, d3);
  ASSERT_EQ(report["revoked"].size(), 1u) << report.dump();
  EXPECT_EQ(report["revoked"][0]["id"], "nl-om");
  EXPECT_EQ(PeerEntry(a, "nl-om")["revoked"], true);
  // b came back (directory 3 lists the real b): a already holds it.
  EXPECT_EQ(PeerEntry(a, "de-bka")["fingerprint"], b.fingerprint());
  r = a.Cli({"send", "--to", "nl-om", "--subject", "to a withdrawn node", "--body", "x"});
  EXPECT_NE(r.exit_code, 0);

  auto list = a.Json({"directory", "list", "--json"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["sequence"], 3);
  EXPECT_EQ(list[0]["id"], "ejn-directory");
}

// Connections on demand (transport.idle_close_s): none at start, one for
// work, closed when idle, reopened for the next message; the inbound
// connection of a roster peer that was never dialled is accepted; a case
// converges over connections that come and go.
TEST_F(DirectoryTest, ConnectionsOpenForWorkCloseWhenIdleAndReopen) {
  const std::string d1 = Build(1, {&a, &b, &c});
  for (Node* n : {&a, &b, &c}) {
    TrustAuthority(*n);
    Import(*n, d1);
    n->WriteConfig("[transport]\nidle_close_s = 1\n[cases]\nsync_interval_s = 1\n");
    n->Start();
  }
  auto outbound = [](const Node& n, const std::string& peer) {
    const auto status = n.Json({"status", "--json"});
    for (const auto& p : status["peers"]) {
      if (p["id"] == peer) return p["outbound"].get<bool>();
    }
    ADD_FAILURE() << n.id() << " has no peer " << peer;
    return false;
  };
  auto bulk_ups = [](const Node& n, const std::string& peer) {
    const std::string log = n.Log();
    const std::string needle = "connection to " + peer + " is up (bulk lane)";
    size_t count = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
      ++count;
    }
    return count;
  };
  // Nothing to send: no connection is made.
  for (const char* peer : {"de-bka", "nl-om"}) EXPECT_FALSE(outbound(a, peer));
  EXPECT_EQ(bulk_ups(a, "de-bka"), 0u);

  const std::string m1 = a.Send({"--to", "de-bka", "--subject", "first", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(m1, "delivered")) << a.Log();
  EXPECT_EQ(bulk_ups(a, "de-bka"), 1u);
  EXPECT_FALSE(outbound(a, "nl-om"));  // never dialled
  // Idle for a second with nothing in flight: closed.
  ASSERT_TRUE(WaitFor([&] { return !outbound(a, "de-bka"); }, std::chrono::seconds(60)))
      << a.Log();
  // The next message opens it again.
  const std::string m2 = a.Send({"--to", "de-bka", "--subject", "second", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(m2, "delivered")) << a.Log();
  EXPECT_EQ(bulk_ups(a, "de-bka"), 2u) << a.Log();

  // c, which never dialled a and was never dialled by it, reaches it.
  const std::string m3 = c.Send({"--to", "fr-pnat", "--subject", "inbound", "--body", "x"});
  ASSERT_TRUE(c.WaitOutboxState(m3, "delivered")) << c.Log();

  // A case of the three: entries go out as they are posted, whatever
  // connection is open; everyone converges.
  auto r = a.Cli({"case", "create", "Operation Lantern", "--members", "de-bka,nl-om", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = nlohmann::json::parse(r.out)["id"];
  auto entries = [&](const Node& n) {
    auto log = n.Cli({"case", "log", id, "--json"});
    return log.exit_code == 0 ? nlohmann::json::parse(log.out).size() : 0u;
  };
  ASSERT_TRUE(WaitFor([&] { return entries(b) == 1 && entries(c) == 1; }));
  for (Node* n : {&a, &b, &c}) {
    r = n->Cli({"case", "post", id, "--text", "from " + n->id()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ASSERT_TRUE(WaitFor([&] { return entries(a) == 4 && entries(b) == 4 && entries(c) == 4; }));
  // Idle again: every connection closes; a late post still reaches all.
  ASSERT_TRUE(WaitFor([&] {
    return !outbound(a, "de-bka") && !outbound(a, "nl-om") && !outbound(b, "fr-pnat") &&
           !outbound(b, "nl-om") && !outbound(c, "fr-pnat") && !outbound(c, "de-bka");
  }, std::chrono::seconds(60))) << a.Json({"status", "--json"})["peers"].dump() << "\n"
      << b.Json({"status", "--json"})["peers"].dump() << "\n"
      << c.Json({"status", "--json"})["peers"].dump();
  r = b.Cli({"case", "post", id, "--text", "late"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitFor([&] { return entries(a) == 5 && entries(c) == 5; }));
}

}  // namespace
}  // namespace rogatory::test
