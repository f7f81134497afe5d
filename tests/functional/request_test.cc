// Structured MLA requests between real daemons, through the CLI (SPEC 7):
// the life cycle with signed status updates, who may make which transition,
// validation of request files, and deadlines.
#include <gtest/gtest.h>

#include <fstream>

#include "keys/crypto.h"
#include "keys/strict_parse.h"
#include "node/request.h"
#include "proto/mla.pb.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

std::string ExamplePath(const std::string& name) {
  std::string here = __FILE__;
  return here.substr(0, here.rfind("tests/functional/")) + "docs/examples/" + name;
}

nlohmann::json Example(const std::string& name) {
  return nlohmann::json::parse(ReadFileText(ExamplePath(name)));
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// The request `id` in `node`'s `request list --json`.
nlohmann::json RequestOf(const Node& node, const std::string& id) {
  for (const auto& r : node.Json({"request", "list", "--json"})) {
    if (r["id"] == id) return r;
  }
  return nullptr;
}

bool WaitRequestState(const Node& node, const std::string& id, const std::string& state) {
  return WaitFor([&] {
    auto r = RequestOf(node, id);
    return !r.is_null() && r["state"] == state;
  });
}

std::vector<std::string> HistoryStates(const nlohmann::json& request) {
  std::vector<std::string> out;
  for (const auto& h : request["history"]) out.push_back(h["state"]);
  return out;
}

class RequestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a.Trust(b);
    b.Trust(a);
    a.Start();
    b.Start();
  }
  // Sends the terrorism example from a to b; returns the request id.
  std::string SendTerrorismRequest() {
    auto r = a.Cli({"request", "new", "--from-file", ExamplePath("terrorism-subscriber-data.json"),
                    "--to", "de-bka"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Trim(r.out);
  }
  TempDir dir;
  Node a{dir.path(), "fr-pnat", "FR"};
  Node b{dir.path(), "de-bka", "DE"};
};

TEST_F(RequestTest, TerrorismRequestGoesUrgentThroughItsLifeCycleWithAResultAttachment) {
  const std::string id = SendTerrorismRequest();
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered")) << a.Log() << b.Log();

  // It arrives urgent (terrorism, no priority in the file) as a request.
  auto inbox = b.Json({"inbox", "--json"});
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0]["priority"], "urgent");
  EXPECT_EQ(inbox[0]["kind"], "request");
  auto shown = b.Json({"show", id, "--json"});
  EXPECT_EQ(shown["request"]["case_reference"], "PNAT-2026-00417");
  EXPECT_EQ(shown["request"]["terrorism"], true);
  EXPECT_TRUE(WaitRequestState(a, id, "delivered"));
  EXPECT_EQ(RequestOf(b, id)["state"], "delivered");

  ASSERT_EQ(b.Cli({"request", "update", id, "--state", "acknowledged"}).exit_code, 0);
  ASSERT_TRUE(WaitRequestState(a, id, "acknowledged")) << a.Log() << b.Log();
  ASSERT_EQ(b.Cli({"request", "update", id, "--state", "in_progress", "--note", "assigned"})
                .exit_code,
            0);
  ASSERT_TRUE(WaitRequestState(a, id, "in_progress"));

  // The outcome carries the results as an attachment.
  const std::string results = dir.path() + "/subscriber-data.csv";
  std::string content;
  for (int i = 0; i < 200000; ++i) content += "row " + std::to_string(i) + ",subscriber\n";
  WriteText(results, content);
  auto upd = b.Cli({"request", "update", id, "--state", "partially_executed", "--note",
                    "subscriber data attached; traffic data no longer retained", "--attach",
                    results});
  ASSERT_EQ(upd.exit_code, 0) << upd.err;
  const std::string status_id = Trim(upd.out);
  ASSERT_TRUE(WaitRequestState(a, id, "partially_executed")) << a.Log() << b.Log();

  // The requester sees every state with its signed history.
  auto req = RequestOf(a, id);
  EXPECT_EQ(req["from"], "fr-pnat");
  EXPECT_EQ(req["to"], "de-bka");
  EXPECT_EQ(req["overdue"], false);
  EXPECT_TRUE(req["deadline"].is_string());
  EXPECT_EQ(HistoryStates(req), (std::vector<std::string>{"sent", "delivered", "acknowledged",
                                                          "in_progress", "partially_executed"}));
  EXPECT_EQ(req["history"][2]["by"], "de-bka");
  EXPECT_EQ(req["history"][2]["seq"], 1);
  EXPECT_EQ(req["history"][4]["seq"], 3);
  EXPECT_EQ(req["history"][4]["note"], "subscriber data attached; traffic data no longer retained");
  EXPECT_EQ(req["history"][4]["message_id"], status_id);
  // Both sides hold the same history.
  EXPECT_EQ(HistoryStates(RequestOf(b, id)), HistoryStates(req));

  // The result attachment arrived whole.
  const std::string fetched = dir.path() + "/fetched.csv";
  auto f = a.Cli({"fetch", status_id, "--attachment", "0", "-o", fetched});
  ASSERT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(ReadFileText(fetched), content);
  auto status_msg = a.Json({"show", status_id, "--json"});
  EXPECT_EQ(status_msg["status_update"]["state"], "partially_executed");
  ASSERT_EQ(status_msg["attachments"].size(), 1u);
  EXPECT_EQ(status_msg["attachments"][0]["sha256"], ToHex(Sha256(content)));

  // Nothing leaves an outcome.
  auto again = b.Cli({"request", "update", id, "--state", "executed"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("partially_executed"), std::string::npos) << again.err;
}

TEST_F(RequestTest, TransitionsNotOwnedAreRefusedByTheCliAndByTheReceiver) {
  const std::string id = SendTerrorismRequest();
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered"));
  const size_t outbox_before = b.Json({"outbox", "--json"}).size();

  // Refusal without grounds: rejected before anything is sent.
  auto no_grounds = b.Cli({"request", "update", id, "--state", "refused"});
  EXPECT_EQ(no_grounds.exit_code, 2);
  EXPECT_NE(no_grounds.err.find("grounds"), std::string::npos) << no_grounds.err;
  // The requester cannot execute its own request; the requested cannot withdraw it.
  auto not_owner = a.Cli({"request", "update", id, "--state", "executed"});
  EXPECT_EQ(not_owner.exit_code, 1);
  EXPECT_NE(not_owner.err.find("only the requested authority"), std::string::npos)
      << not_owner.err;
  EXPECT_EQ(b.Cli({"request", "update", id, "--state", "withdrawn"}).exit_code, 1);
  EXPECT_EQ(b.Cli({"request", "update", id, "--state", "bogus"}).exit_code, 2);
  EXPECT_EQ(b.Json({"outbox", "--json"}).size(), outbox_before);
  EXPECT_EQ(a.Json({"outbox", "--json"}).size(), 1u);

  // A node that bypasses its CLI: the requester signs an "executed" status
  // update itself. The receiver refuses it with a signed refusal and logs it.
  auto req = RequestOf(a, id);
  mla::StatusUpdate forged;
  forged.set_version(1);
  forged.set_request_id(id);
  auto show = a.Json({"show", id, "--json"});
  ASSERT_FALSE(show["receipts"].empty());
  std::string env_sha;
  for (size_t i = 0; i < 64; i += 2) {
    env_sha.push_back(static_cast<char>(
        std::stoi(show["receipts"][0]["envelope_sha256"].get<std::string>().substr(i, 2),
                  nullptr, 16)));
  }
  forged.set_request_sha256(env_sha);
  forged.set_sequence(1);
  forged.set_state(mla::STATE_EXECUTED);
  forged.set_created_at(1'800'000'000'000'000);
  const std::string forged_file = dir.path() + "/forged.bin";
  WriteText(forged_file, SerializeCanonical(forged));
  // With --wait the sender learns at once that it was refused (exit 1).
  auto forged_sent = a.Cli({"send", "--to", "de-bka", "--subject", "status", "--kind", "status",
                            "--in-reply-to", id, "--body-file", forged_file, "--wait"});
  EXPECT_EQ(forged_sent.exit_code, 1);
  EXPECT_NE(forged_sent.err.find("not delivered"), std::string::npos) << forged_sent.err;
  const std::string forged_id = Trim(forged_sent.out);
  ASSERT_TRUE(a.WaitOutboxState(forged_id, "failed")) << a.Log() << b.Log();
  auto out = a.Json({"show", forged_id, "--json"});
  EXPECT_NE(out["recipients"][0]["error"].get<std::string>().find("only the requested authority"),
            std::string::npos)
      << out.dump();
  EXPECT_TRUE(b.WaitLog("refused"));
  EXPECT_EQ(RequestOf(b, id)["state"], "delivered");

  // An invalid status update (unknown version) replying to something else
  // passes as free text, and moves nothing.
  forged.set_version(2);
  WriteText(forged_file, SerializeCanonical(forged));
  const std::string sneaky = a.Send({"--to", "de-bka", "--subject", "status", "--kind", "status",
                                     "--in-reply-to", "01aaaaaaaaaaaaaaaaaaaaaaaa",
                                     "--body-file", forged_file});
  ASSERT_TRUE(a.WaitOutboxState(sneaky, "delivered")) << a.Log() << b.Log();
  EXPECT_EQ(RequestOf(b, id)["state"], "delivered");
  EXPECT_EQ(HistoryStates(RequestOf(b, id)), (std::vector<std::string>{"sent", "delivered"}));
  forged.set_version(1);
  WriteText(forged_file, SerializeCanonical(forged));

  // A third node, not a party, cannot move the request either.
  Node c(dir.path(), "nl-om", "NL");
  c.Trust(b);
  b.Trust(c);
  c.Start();
  const std::string third = c.Send({"--to", "de-bka", "--subject", "status", "--kind", "status",
                                    "--in-reply-to", id, "--body-file", forged_file});
  ASSERT_TRUE(c.WaitOutboxState(third, "failed")) << c.Log() << b.Log();
  EXPECT_EQ(RequestOf(b, id)["state"], "delivered");
  EXPECT_EQ(HistoryStates(RequestOf(b, id)), (std::vector<std::string>{"sent", "delivered"}));

  // The requester may withdraw; nothing moves it afterwards.
  ASSERT_EQ(a.Cli({"request", "update", id, "--state", "withdrawn", "--note", "case closed"})
                .exit_code,
            0);
  ASSERT_TRUE(WaitRequestState(b, id, "withdrawn")) << b.Log();
  EXPECT_EQ(b.Cli({"request", "update", id, "--state", "acknowledged"}).exit_code, 1);
}

TEST_F(RequestTest, InvalidRequestFilesSayWhatIsWrongAndSendNothing) {
  const nlohmann::json good = Example("fraud-bank-records.json");
  struct Case {
    std::string what;
    std::function<void(nlohmann::json&)> edit;
    std::string expect;  // in stderr
  };
  const std::vector<Case> cases = {
      {"no requested authority", [](auto& j) { j.erase("requested_authority"); },
       "requested_authority"},
      {"no case reference", [](auto& j) { j.erase("case_reference"); }, "case_reference"},
      {"no legal basis", [](auto& j) { j.erase("legal_basis"); }, "legal_basis"},
      {"no offence", [](auto& j) { j.erase("offence"); }, "offence"},
      {"no measures", [](auto& j) { j.erase("measures"); }, "measures"},
      {"no deadline", [](auto& j) { j.erase("deadline"); }, "deadline"},
      {"no contact officer", [](auto& j) { j.erase("contact_officer"); }, "contact_officer"},
      {"unknown measure", [](auto& j) { j["measures"][0] = "wiretap_everything"; },
       "unknown measure"},
      {"deadline in the past", [](auto& j) { j["deadline"] = "2020-01-01T00:00:00Z"; },
       "in the past"},
      {"unreadable deadline", [](auto& j) { j["deadline"] = "next week"; }, "deadline"},
      {"unknown key", [](auto& j) { j["legal_basiss"] = "typo"; }, "legal_basiss"},
  };
  for (const auto& c : cases) {
    nlohmann::json j = good;
    c.edit(j);
    const std::string file = dir.path() + "/bad.json";
    WriteText(file, j.dump(2));
    // --to would stand in for a missing requested_authority.
    auto r = c.expect == "requested_authority"
                 ? a.Cli({"request", "new", "--from-file", file})
                 : a.Cli({"request", "new", "--from-file", file, "--to", "de-bka"});
    EXPECT_EQ(r.exit_code, 1) << c.what;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.what << ": " << r.err;
    EXPECT_NE(r.err.find("nothing was sent"), std::string::npos) << c.what << ": " << r.err;
  }
  // Not JSON at all, and a missing file.
  WriteText(dir.path() + "/garbage.json", "{not json");
  EXPECT_EQ(a.Cli({"request", "new", "--from-file", dir.path() + "/garbage.json"}).exit_code, 1);
  EXPECT_EQ(a.Cli({"request", "new", "--from-file", dir.path() + "/missing.json"}).exit_code, 1);
  // An unknown recipient is the daemon's refusal.
  auto unknown = a.Cli({"request", "new", "--from-file", ExamplePath("fraud-bank-records.json"),
                        "--to", "xx-nobody"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("unknown recipient"), std::string::npos) << unknown.err;
  EXPECT_TRUE(a.Json({"outbox", "--json"}).empty());
  EXPECT_TRUE(a.Json({"request", "list", "--json"}).empty());

  // The valid file with --to overriding the requested authority goes out.
  auto ok = a.Cli({"request", "new", "--from-file", ExamplePath("fraud-bank-records.json"),
                   "--to", "de-bka", "--json"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string id = nlohmann::json::parse(ok.out)["id"];
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered"));
  EXPECT_EQ(b.Json({"show", id, "--json"})["request"]["requested_authority"], "de-bka");
  EXPECT_EQ(b.Json({"inbox", "--json"})[0]["priority"], "normal");
}

TEST_F(RequestTest, DeadlinesActOnBothSides) {
  nlohmann::json soon = Example("fraud-bank-records.json");
  soon["deadline"] = "PT3S";
  soon["case_reference"] = "SOON-1";
  nlohmann::json later = Example("fraud-bank-records.json");
  later["deadline"] = "P60D";
  later["case_reference"] = "LATER-1";
  WriteText(dir.path() + "/soon.json", soon.dump());
  WriteText(dir.path() + "/later.json", later.dump());
  auto sent_later =
      a.Cli({"request", "new", "--from-file", dir.path() + "/later.json", "--to", "de-bka"});
  auto sent_soon =
      a.Cli({"request", "new", "--from-file", dir.path() + "/soon.json", "--to", "de-bka"});
  ASSERT_EQ(sent_later.exit_code, 0) << sent_later.err;
  ASSERT_EQ(sent_soon.exit_code, 0) << sent_soon.err;
  const std::string soon_id = Trim(sent_soon.out), later_id = Trim(sent_later.out);
  ASSERT_TRUE(a.WaitOutboxState(soon_id, "delivered"));
  ASSERT_TRUE(a.WaitOutboxState(later_id, "delivered"));

  // The requested node lists the request nearest its deadline first.
  auto list = b.Json({"request", "list", "--json"});
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], soon_id);

  // Once the deadline passes without an outcome: overdue on both sides,
  // counted by status, and one warning in each log.
  ASSERT_TRUE(WaitFor([&] { return RequestOf(b, soon_id)["overdue"] == true; }));
  EXPECT_EQ(RequestOf(a, soon_id)["overdue"], true);
  EXPECT_EQ(RequestOf(a, later_id)["overdue"], false);
  EXPECT_EQ(a.Json({"status", "--json"})["requests_overdue"]["as_requester"], 1);
  EXPECT_EQ(b.Json({"status", "--json"})["requests_overdue"]["as_requested"], 1);
  EXPECT_TRUE(a.WaitLog("passed its deadline"));
  EXPECT_TRUE(b.WaitLog("passed its deadline"));

  // An outcome ends it.
  ASSERT_EQ(b.Cli({"request", "update", soon_id, "--state", "refused", "--note",
                   "dual criminality not met"})
                .exit_code,
            0);
  ASSERT_TRUE(WaitRequestState(a, soon_id, "refused"));
  EXPECT_EQ(RequestOf(a, soon_id)["overdue"], false);
  EXPECT_EQ(a.Json({"status", "--json"})["requests_overdue"]["as_requester"], 0);
  EXPECT_EQ(RequestOf(a, soon_id)["history"].back()["note"], "dual criminality not met");
}

}  // namespace
}  // namespace rogatory::test
