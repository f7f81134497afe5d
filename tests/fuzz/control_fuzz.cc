// Fuzz target: a control request as rogatoryd reads it from its control
// socket (node/daemon.cc DrainControl: a plain parse, then the version),
// then the checks its handlers make on the request's own fields before
// they touch the store: message and case ids, node ids, the staged
// attachments of `send` and `request update`, the state names and
// transitions of `request update`. (The handlers themselves need a running
// node: the functional tests drive them.)
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/attachment.h"
#include "keys/card.h"
#include "keys/case_entry.h"
#include "keys/envelope.h"
#include "keys/limits.h"
#include "node/request.h"
#include "node/transfer.h"
#include "proto/control.pb.h"
#include "tests/fuzz/fuzz_support.h"

namespace rogatory::fuzz {
namespace {

constexpr uint32_t kControlVersion = 1;  // daemon.cc

// daemon.cc TakeStaged, per attachment.
void Staged(const control::StagedAttachment& a) {
  const std::string& staged = a.staged_path();
  if (staged.empty() || staged.find('/') != std::string::npos || staged[0] == '.') return;
  if (!SafeAttachmentName(a.name())) return;
  if (a.size() > static_cast<uint64_t>(limits::kDefaultMaxAttachmentBytes)) return;
  if (!ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size()).ok()) return;
  (void)SealedSize(a.size(), a.chunk_size());
}

void Send(const control::SendRequest& s) {
  if (s.to().empty() || s.body().size() > limits::kDefaultMaxBodyBytes ||
      s.subject().size() > limits::kMaxSubjectBytes) {
    return;
  }
  if (!s.message_id().empty() && !ValidateMessageId(s.message_id()).ok()) return;
  for (const auto& to : s.to()) (void)ValidateNodeId(to);
  if (!s.case_id().empty()) (void)ValidateCaseId(s.case_id());
  if (!s.in_reply_to().empty()) (void)ValidateMessageId(s.in_reply_to());
  if (s.attachments_size() > limits::kDefaultMaxAttachments) return;
  for (const auto& a : s.attachments()) Staged(a);
}

void Update(const control::RequestUpdate& u) {
  // `id` is a request id or FROM/ID.
  const std::string& ref = u.id();
  const size_t slash = ref.find('/');
  if (slash != std::string::npos) (void)ValidateNodeId(std::string_view(ref).substr(0, slash));
  (void)ValidateMessageId(slash == std::string::npos ? ref : ref.substr(slash + 1));
  auto to = ParseState(u.state());
  if (!to.ok()) return;
  for (int from = mla::State_MIN; from <= mla::State_MAX; ++from) {
    for (RequestParty by : {RequestParty::kRequester, RequestParty::kRequested}) {
      (void)CheckTransition(static_cast<mla::State>(from), *to, by, u.note(), {"alice", "bob"});
    }
  }
  if (!u.message_id().empty()) (void)ValidateMessageId(u.message_id());
  for (const auto& a : u.attachments()) Staged(a);
}

void Case(const control::CaseCommand& c) {
  const std::string& op = c.op();
  if (op != "create" && op != "invite" && op != "remove" && op != "post" && op != "log" &&
      op != "list") {
    return;
  }
  if (op != "create" && op != "list") (void)ValidateCaseId(c.case_id());
  for (const auto& m : c.members()) (void)ValidateNodeId(m);
  if (!c.assignee().empty()) (void)ValidateNodeId(c.assignee());
  if (!c.message_id().empty()) (void)ValidateMessageId(c.message_id());
  for (const auto& a : c.attachments()) Staged(a);
}

}  // namespace
}  // namespace rogatory::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  using namespace rogatory::fuzz;
  Init();
  if (size > static_cast<size_t>(limits::kMaxControlBytes)) return 0;  // ZMQ_MAXMSGSIZE
  control::ControlRequest req;
  if (!req.ParseFromArray(data, static_cast<int>(size)) || req.version() != kControlVersion) {
    return 0;
  }
  switch (req.body_case()) {
    case control::ControlRequest::kSend: Send(req.send()); break;
    case control::ControlRequest::kRequestUpdate: Update(req.request_update()); break;
    case control::ControlRequest::kCaseCommand: Case(req.case_command()); break;
    case control::ControlRequest::kShow: {
      const std::string& ref = req.show().id();
      const size_t slash = ref.find('/');
      (void)ValidateMessageId(slash == std::string::npos ? ref : ref.substr(slash + 1));
      break;
    }
    case control::ControlRequest::kExportBundle:
      (void)ValidateMessageId(req.export_bundle().id());
      break;
    case control::ControlRequest::kFetch: (void)ValidateMessageId(req.fetch().id()); break;
    default: break;
  }
  // The response the daemon would send back is serialized the same way.
  control::ControlResponse resp;
  resp.set_version(kControlVersion);
  (void)resp.SerializeAsString();
  return 0;
}
