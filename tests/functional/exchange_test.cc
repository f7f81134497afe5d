// Two real rogatoryd processes exchange a message, driven only through the
// rogatory CLI; the export verifies offline and a one-byte change does not.
#include <gtest/gtest.h>

#include <fstream>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

class ExchangeTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(ExchangeTest, TwoNodesExchangeVerifyAndDetectTampering) {
  Node a(dir.path(), "fr-pnat", "FR");
  Node b(dir.path(), "nl-om", "NL");
  a.Trust(b);
  b.Trust(a);
  a.Start();
  b.Start();

  const std::string body = "Request for preservation of subscriber data.\nLine two: ünïcode.";
  const std::string id =
      a.Send({"--to", "nl-om", "--subject", "Preservation request", "--body", body,
              "--priority", "urgent", "--kind", "request"});
  ASSERT_FALSE(id.empty());

  ASSERT_TRUE(a.WaitOutboxState(id, "delivered")) << a.Log() << b.Log();

  // Recipient's inbox lists it with the SPEC fields.
  auto inbox = b.Json({"inbox", "--json"});
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0]["id"], id);
  EXPECT_EQ(inbox[0]["from"], "fr-pnat");
  EXPECT_EQ(inbox[0]["to"], nlohmann::json::array({"nl-om"}));
  EXPECT_EQ(inbox[0]["subject"], "Preservation request");
  EXPECT_EQ(inbox[0]["kind"], "request");
  EXPECT_EQ(inbox[0]["priority"], "urgent");
  EXPECT_EQ(inbox[0]["handling"], "H0");
  EXPECT_TRUE(inbox[0]["received_seq"].is_number_integer());
  EXPECT_TRUE(inbox[0]["created_at"].is_string());
  EXPECT_TRUE(inbox[0]["received_at"].is_string());

  // show: the exact body, a valid signature, the receipt.
  auto shown = b.Json({"show", id, "--json"});
  EXPECT_EQ(shown["body"], body);
  EXPECT_EQ(shown["signature"]["valid"], true);
  ASSERT_EQ(shown["receipts"].size(), 1u);
  EXPECT_EQ(shown["receipts"][0]["valid"], true);

  // The sender's outbox: delivered, one attempt or more, a delivery time.
  auto outbox = a.Json({"outbox", "--json"});
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0]["state"], "delivered");
  ASSERT_EQ(outbox[0]["recipients"].size(), 1u);
  EXPECT_EQ(outbox[0]["recipients"][0]["id"], "nl-om");
  EXPECT_EQ(outbox[0]["recipients"][0]["state"], "delivered");
  EXPECT_GE(outbox[0]["recipients"][0]["attempts"].get<int>(), 1);
  EXPECT_TRUE(outbox[0]["recipients"][0]["delivered_at"].is_string());

  // The sender shows its own message with the recipient's receipt.
  auto sent = a.Json({"show", id, "--json"});
  EXPECT_EQ(sent["body"], body);
  ASSERT_EQ(sent["receipts"].size(), 1u);
  EXPECT_EQ(sent["receipts"][0]["recipient"], "nl-om");
  EXPECT_EQ(sent["receipts"][0]["valid"], true);

  // Export on the sender, verify with no home and no daemon.
  const std::string bundle = dir.path() + "/bundle.txt";
  auto ex = a.Cli({"export", id, "-o", bundle});
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  auto v = RunCmd({RogatoryBin(), "verify", bundle, "--expect-fingerprint", a.fingerprint(),
                "--json"});
  ASSERT_EQ(v.exit_code, 0) << v.out << v.err;
  auto report = nlohmann::json::parse(v.out);
  EXPECT_EQ(report["valid"], true);
  EXPECT_EQ(report["fingerprint"], a.fingerprint());
  EXPECT_EQ(report["sender"], "fr-pnat");
  ASSERT_EQ(report["recipients"].size(), 1u);
  EXPECT_EQ(report["recipients"][0]["fingerprint"], b.fingerprint());
  bool saw_receipt = false;
  for (const auto& c : report["checks"]) {
    EXPECT_EQ(c["ok"], true) << c.dump();
    saw_receipt |= c["name"] == "receipt";
  }
  EXPECT_TRUE(saw_receipt);

  // Expecting another fingerprint fails with exit 3.
  auto wrong = RunCmd({RogatoryBin(), "verify", bundle, "--expect-fingerprint", b.fingerprint()});
  EXPECT_EQ(wrong.exit_code, 3);

  // Flip one byte inside the armored payload: exit 3 with a reason.
  std::string text = ReadFileText(bundle);
  const size_t pos = text.find('\n') + 40;
  text[pos] = text[pos] == 'A' ? 'B' : 'A';
  const std::string tampered = dir.path() + "/tampered.txt";
  std::ofstream(tampered, std::ios::binary) << text;
  auto t = RunCmd({RogatoryBin(), "verify", tampered, "--json"});
  EXPECT_EQ(t.exit_code, 3) << t.out;
  EXPECT_EQ(nlohmann::json::parse(t.out)["valid"], false);
  EXPECT_FALSE(nlohmann::json::parse(t.out)["errors"].empty());

  // A truncated bundle is refused too.
  const std::string truncated = dir.path() + "/truncated.txt";
  std::ofstream(truncated, std::ios::binary) << ReadFileText(bundle).substr(0, 200);
  EXPECT_EQ(RunCmd({RogatoryBin(), "verify", truncated}).exit_code, 3);

  EXPECT_EQ(a.Stop(), 0);
  EXPECT_EQ(b.Stop(), 0);
}

TEST_F(ExchangeTest, ThreeRecipientsAllDeliver) {
  Node a(dir.path(), "a-node");
  Node b(dir.path(), "b-node");
  Node c(dir.path(), "c-node");
  Node d(dir.path(), "d-node");
  for (Node* n : {&b, &c, &d}) {
    a.Trust(*n);
    n->Trust(a);
  }
  for (Node* n : {&a, &b, &c, &d}) n->Start();
  const std::string id = a.Send({"--to", "b-node,c-node,d-node", "--subject", "s", "-"});
  // (body from stdin: empty here is allowed)
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered")) << a.Log();
  for (Node* n : {&b, &c, &d}) {
    auto inbox = n->Json({"inbox", "--json"});
    ASSERT_EQ(inbox.size(), 1u);
    EXPECT_EQ(inbox[0]["to"].size(), 3u);
  }
  auto out = a.Json({"outbox", "--json"});
  EXPECT_EQ(out[0]["recipients"].size(), 3u);
}

TEST_F(ExchangeTest, DeliveryWaitsForAPeerThatStartsLater) {
  Node a(dir.path(), "early");
  Node b(dir.path(), "late");
  a.Trust(b);
  b.Trust(a);
  a.Start();
  const std::string id = a.Send({"--to", "late", "--subject", "queued", "--body", "x"});
  auto out = a.Json({"outbox", "--json"});
  EXPECT_EQ(out[0]["state"], "queued");
  b.Start();
  EXPECT_TRUE(a.WaitOutboxState(id, "delivered")) << a.Log();
  EXPECT_EQ(b.Json({"inbox", "--json"}).size(), 1u);
}

TEST_F(ExchangeTest, CommandsThatNeedTheDaemonExit4WithoutIt) {
  Node a(dir.path(), "lonely");
  for (auto args : std::vector<std::vector<std::string>>{
           {"status"}, {"inbox"}, {"outbox", "--json"}, {"send", "--to", "x", "--subject", "s", "--body", "b"}}) {
    auto r = a.Cli(args);
    EXPECT_EQ(r.exit_code, 4) << args[0];
    EXPECT_NE(r.err.find("rogatoryd is not running"), std::string::npos) << r.err;
  }
  // These work without it.
  EXPECT_EQ(a.Cli({"id", "show"}).exit_code, 0);
  EXPECT_EQ(a.Cli({"peer", "list", "--json"}).exit_code, 0);
}

TEST_F(ExchangeTest, CliErrorsAreOneLineWithTheRightExitCode) {
  Node a(dir.path(), "cli-node");
  Node b(dir.path(), "other");
  // Wrong fingerprint: refused, exit 3, nothing added.
  auto r = a.Cli({"peer", "add", b.card_path(), "--fingerprint", a.fingerprint()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.rfind("rogatory: error: ", 0), 0u) << r.err;
  EXPECT_EQ(a.Json({"peer", "list", "--json"}).size(), 0u);
  // Malformed fingerprint: usage error.
  EXPECT_EQ(a.Cli({"peer", "add", b.card_path(), "--fingerprint", "not-a-fp"}).exit_code, 2);
  // Missing card file.
  r = a.Cli({"peer", "add", "/nonexistent.card", "--fingerprint", b.fingerprint()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot read card file"), std::string::npos);
  // Bad flag.
  EXPECT_EQ(a.Cli({"send", "--priority", "asap"}).exit_code, 2);
  EXPECT_EQ(a.Cli({"frobnicate"}).exit_code, 2);
  // Fingerprints are accepted in any case, without dashes.
  std::string fp = b.fingerprint();
  std::string loose;
  for (char ch : fp) {
    if (ch != '-') loose.push_back(static_cast<char>(std::tolower(ch)));
  }
  EXPECT_EQ(a.Cli({"peer", "add", b.card_path(), "--fingerprint", loose}).exit_code, 0);
  // init twice is refused.
  r = a.Cli({"init", "--name", "cli-node", "--authority", "x", "--country", "FR", "--listen",
             "tcp://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already initialized"), std::string::npos);
}

}  // namespace
}  // namespace rogatory::test
