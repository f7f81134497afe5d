#include "node/cli/output.h"

#include <sstream>

#include "keys/crypto.h"
#include "keys/strict_parse.h"
#include "node/clock.h"
#include "node/request.h"
#include "proto/mla.pb.h"

namespace rogatory::cli {

using nlohmann::ordered_json;

std::string PriorityName(uint32_t p) {
  switch (p) {
    case 3: return "urgent";
    case 2: return "high";
    default: return "normal";
  }
}

std::string KindName(uint32_t k) {
  switch (k) {
    case 1: return "request";
    case 2: return "reply";
    case 3: return "status";
    default: return "info";
  }
}

std::string HandlingName(uint32_t h) { return {'H', static_cast<char>('0' + (h <= 3 ? h : 0))}; }

namespace {

std::string TimeOrNull(int64_t us) { return us > 0 ? Rfc3339(us) : std::string(); }

ordered_json Common(const control::MessageInfo& m) {
  ordered_json j;
  j["id"] = m.id();
  j["from"] = m.from();
  j["to"] = ordered_json::array();
  for (const auto& t : m.to()) j["to"].push_back(t);
  j["subject"] = m.subject();
  j["kind"] = KindName(m.kind());
  j["priority"] = PriorityName(m.priority());
  j["handling"] = HandlingName(m.handling());
  if (!m.handling_note().empty()) j["handling_note"] = m.handling_note();
  j["created_at"] = Rfc3339(m.created_at());
  j["expires_at"] = Rfc3339(m.expires_at());
  if (!m.in_reply_to().empty()) j["in_reply_to"] = m.in_reply_to();
  if (!m.case_id().empty()) j["case"] = m.case_id();
  return j;
}

}  // namespace

ordered_json InboxJson(const control::MessageInfo& m) {
  ordered_json j = Common(m);
  j["from_fingerprint"] = m.from_fingerprint();
  j["received_at"] = Rfc3339(m.received_at());
  j["received_seq"] = m.received_seq();
  return j;
}

ordered_json OutboxJson(const control::MessageInfo& m) {
  ordered_json j = Common(m);
  j["state"] = m.state();
  j["recipients"] = ordered_json::array();
  for (const auto& r : m.recipients()) {
    ordered_json rj;
    rj["id"] = r.id();
    rj["fingerprint"] = r.fingerprint();
    rj["state"] = r.state();
    rj["attempts"] = r.attempts();
    rj["next_attempt_at"] =
        r.next_attempt_at() > 0 ? ordered_json(Rfc3339(r.next_attempt_at())) : ordered_json();
    rj["delivered_at"] =
        r.delivered_at() > 0 ? ordered_json(Rfc3339(r.delivered_at())) : ordered_json();
    rj["error"] = r.error().empty() ? ordered_json() : ordered_json(r.error());
    if (m.attachment_bytes() > 0) rj["transferred_bytes"] = r.transferred_bytes();
    j["recipients"].push_back(rj);
  }
  return j;
}

ordered_json ShowJson(const control::MessageInfo& m) {
  ordered_json j = m.direction() == "in" ? InboxJson(m) : OutboxJson(m);
  j["direction"] = m.direction();
  j["body"] = m.body();                 // text; invalid UTF-8 shown replaced
  j["body_base64"] = ToBase64(m.body());  // the exact bytes
  j["attachments"] = ordered_json::array();
  for (const auto& a : m.attachments()) {
    j["attachments"].push_back(
        {{"name", a.name()}, {"size", a.size()}, {"sha256", ToHex(a.sha256())}});
  }
  // Structured bodies, decoded: a request in its JSON form, a status update.
  if (m.kind() == 1) {
    mla::MlaRequest r;
    if (ParseStrict(m.body(), &r, "request").ok() && ValidateRequest(r).ok()) {
      j["request"] = RequestToJson(r);
    }
  } else if (m.kind() == 3) {
    mla::StatusUpdate u;
    if (ParseStrict(m.body(), &u, "status").ok() && ValidateStatusUpdate(u).ok()) {
      j["status_update"] = {{"request_id", u.request_id()},
                            {"state", std::string(StateName(u.state()))},
                            {"sequence", u.sequence()},
                            {"note", u.note()},
                            {"at", Rfc3339(u.created_at())}};
    }
  }
  j["signature"] = {{"valid", m.signature_valid()}};
  j["receipts"] = ordered_json::array();
  for (const auto& r : m.receipts()) {
    j["receipts"].push_back({{"recipient", r.recipient()},
                             {"received_at", TimeOrNull(r.received_at())},
                             {"valid", r.valid()},
                             {"envelope_sha256", ToHex(r.envelope_sha256())}});
  }
  return j;
}

ordered_json StatusJson(const control::StatusResponse& s) {
  ordered_json j;
  j["id"] = s.id();
  j["fingerprint"] = s.fingerprint();
  j["listen"] = s.listen();
  j["version"] = s.version();
  j["started_at"] = Rfc3339(s.started_at());
  j["uptime_seconds"] = s.started_at() > 0 ? (s.now() - s.started_at()) / 1'000'000 : 0;
  const auto& v = s.versions();
  j["versions"] = {{"rogatory", v.rogatory()},   {"protocol", v.protocol()},
                   {"schema", v.schema()},       {"libzmq", v.libzmq()},
                   {"libsodium", v.libsodium()}, {"sqlite", v.sqlite()},
                   {"protobuf", v.protobuf()}};
  j["store_bytes"] = s.store_bytes();
  j["inbox"] = s.inbox();
  j["outbox_queued"] = s.outbox_queued();
  auto age = [&](int64_t created) {
    return created > 0 ? ordered_json(static_cast<double>(s.now() - created) / 1e6)
                       : ordered_json();
  };
  j["oldest_queued_age_seconds"] = age(s.oldest_queued_at());
  j["requests_overdue"] = {{"as_requester", s.requests_overdue_out()},
                           {"as_requested", s.requests_overdue_in()}};
  j["receiving"] = ordered_json::array();
  for (const auto& t : s.receiving()) {
    j["receiving"].push_back({{"from", t.peer()},
                              {"id", t.message_id()},
                              {"done_bytes", t.done_bytes()},
                              {"total_bytes", t.total_bytes()}});
  }
  j["attachment_bytes_sent"] = s.attachment_bytes_sent();
  j["attachment_bytes_received"] = s.attachment_bytes_received();
  j["handshakes_refused"] = s.handshakes_refused();
  const auto& a = s.audit();
  ordered_json eq = ordered_json::array();
  for (const auto& e : a.equivocations()) {
    eq.push_back({{"log", e.log()},
                  {"fingerprint", e.fingerprint()},
                  {"detected_at", Rfc3339(e.detected_at())},
                  {"reason", e.reason()}});
  }
  j["audit"] = {{"size", a.size()},
                {"tree_head_size", a.tree_head_size()},
                {"tree_head_at", a.tree_head_at() > 0 ? ordered_json(Rfc3339(a.tree_head_at()))
                                                      : ordered_json()},
                {"witnesses", a.witnesses()},
                {"witnessed_size", a.witnessed_size()},
                {"equivocations", eq}};
  j["peers"] = ordered_json::array();
  for (const auto& p : s.peers()) {
    j["peers"].push_back(
        {{"id", p.id()},
         {"fingerprint", p.fingerprint()},
         {"connected", p.connected()},
         {"outbound", p.outbound()},
         {"queued", p.queued()},
         {"queues", {{"urgent", p.queued_urgent()},
                     {"high", p.queued_high()},
                     {"normal", p.queued_normal()}}},
         {"in_flight", p.in_flight()},
         {"last_seen_at", p.last_seen_at() > 0 ? ordered_json(Rfc3339(p.last_seen_at()))
                                               : ordered_json()},
         {"oldest_queued_age_seconds", age(p.oldest_queued_at())},
         {"log_size", p.log_size()},
         {"log_checked_at", p.log_checked_at() > 0 ? ordered_json(Rfc3339(p.log_checked_at()))
                                                   : ordered_json()},
         {"witnessed_us", p.witnessed_us()},
         {"last_error", p.last_error().empty() ? ordered_json() : ordered_json(p.last_error())}});
  }
  return j;
}

ordered_json RequestListJson(const control::RequestList& list) {
  auto arr = ordered_json::array();
  for (const auto& r : list.items()) {
    ordered_json j;
    j["id"] = r.id();
    j["from"] = r.from();
    j["to"] = r.to();
    j["state"] = r.state();
    j["deadline"] = r.deadline() > 0 ? ordered_json(Rfc3339(r.deadline())) : ordered_json();
    j["overdue"] = r.overdue();
    j["direction"] = r.direction();
    j["subject"] = r.subject();
    j["case_reference"] = r.case_reference();
    j["priority"] = PriorityName(r.priority());
    j["created_at"] = Rfc3339(r.created_at());
    j["history"] = ordered_json::array();
    for (const auto& h : r.history()) {
      ordered_json e;
      e["state"] = h.state();
      e["by"] = h.by();
      e["at"] = Rfc3339(h.at());
      e["note"] = h.note();
      e["seq"] = h.seq();
      e["message_id"] = h.message_id().empty() ? ordered_json() : ordered_json(h.message_id());
      j["history"].push_back(std::move(e));
    }
    arr.push_back(std::move(j));
  }
  return arr;
}

std::string RequestListText(const control::RequestList& list) {
  if (list.items().empty()) return "no requests\n";
  std::ostringstream os;
  for (const auto& r : list.items()) {
    os << r.id() << "  " << (r.direction() == "out" ? "to " + r.to() : "from " + r.from())
       << "  " << r.state();
    if (r.deadline() > 0) os << "  deadline " << Rfc3339(r.deadline()).substr(0, 10);
    if (r.overdue()) os << "  OVERDUE";
    os << "  [" << PriorityName(r.priority()) << "]  " << r.case_reference() << "\n";
    for (const auto& h : r.history()) {
      os << "    " << Rfc3339(h.at()).substr(0, 19) << "Z  " << h.state() << " by " << h.by();
      if (!h.note().empty()) os << ": " << h.note();
      os << "\n";
    }
  }
  return os.str();
}

ordered_json VerifyJson(const VerifyReport& r) {
  ordered_json j;
  j["valid"] = r.valid;
  j["message_id"] = r.message_id;
  j["sender"] = r.sender.id;
  j["fingerprint"] = r.sender.fingerprint;
  j["authority"] = r.sender.authority;
  j["country"] = r.sender.country;
  j["recipients"] = ordered_json::array();
  for (const auto& p : r.recipients) {
    j["recipients"].push_back({{"id", p.id}, {"fingerprint", p.fingerprint}});
  }
  j["created_at"] = r.created_at_us > 0 ? ordered_json(Rfc3339(r.created_at_us)) : ordered_json();
  j["subject"] = r.subject;
  j["handling"] = r.handling;
  j["sha256"] = r.body_sha256_hex;
  j["receipts"] = ordered_json::array();
  for (const auto& rc : r.receipts) {
    j["receipts"].push_back({{"recipient", rc.recipient},
                             {"fingerprint", rc.fingerprint},
                             {"received_at", Rfc3339(rc.received_at_us)}});
  }
  if (!r.permission_ref.empty()) j["permission_ref"] = r.permission_ref;
  j["exporter"] = r.exporter.fingerprint.empty()
                      ? ordered_json()
                      : ordered_json{{"id", r.exporter.id},
                                     {"fingerprint", r.exporter.fingerprint}};
  j["attachments"] = ordered_json::array();
  for (const auto& a : r.attachments) {
    j["attachments"].push_back({{"name", a.name}, {"size", a.size}, {"sha256", a.sha256_hex}});
  }
  j["log_proofs"] = ordered_json::array();
  for (const auto& lp : r.log_proofs) {
    ordered_json witnesses = ordered_json::array();
    for (const auto& w : lp.witnesses) {
      witnesses.push_back({{"id", w.party.id},
                           {"fingerprint", w.party.fingerprint},
                           {"witnessed_at", Rfc3339(w.witnessed_at_us)}});
    }
    j["log_proofs"].push_back({{"kind", lp.kind},
                               {"log", lp.log.id},
                               {"log_fingerprint", lp.log.fingerprint},
                               {"index", lp.index},
                               {"tree_size", lp.tree_size},
                               {"root", lp.root_hex},
                               {"tree_head_at", Rfc3339(lp.tree_head_at_us)},
                               {"witnesses", witnesses}});
  }
  j["checks"] = ordered_json::array();
  for (const auto& c : r.checks) {
    j["checks"].push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  }
  j["errors"] = r.errors;
  return j;
}

std::string InboxText(const control::MessageList& list) {
  std::ostringstream os;
  if (list.items().empty()) return "inbox is empty\n";
  for (const auto& m : list.items()) {
    os << m.id() << "  " << Rfc3339(m.received_at()).substr(0, 19) << "Z  from " << m.from()
       << "  [" << PriorityName(m.priority()) << ", " << KindName(m.kind()) << ", "
       << HandlingName(m.handling()) << "]  " << m.subject() << "\n";
  }
  return os.str();
}

std::string OutboxText(const control::MessageList& list) {
  std::ostringstream os;
  if (list.items().empty()) return "outbox is empty\n";
  for (const auto& m : list.items()) {
    os << m.id() << "  " << Rfc3339(m.created_at()).substr(0, 19) << "Z  " << m.state()
       << "  [" << PriorityName(m.priority()) << "]  " << m.subject() << "\n";
    for (const auto& r : m.recipients()) {
      os << "    to " << r.id() << ": " << r.state();
      if (r.state() == "queued") os << " (" << r.attempts() << " attempts)";
      if (!r.error().empty()) os << " - " << r.error();
      os << "\n";
    }
  }
  return os.str();
}

std::string ShowText(const control::MessageInfo& m) {
  std::ostringstream os;
  os << "Message:   " << m.id() << "\n"
     << "From:      " << m.from() << " (" << m.from_fingerprint() << ")\n"
     << "To:        ";
  for (int i = 0; i < m.to_size(); ++i) os << (i ? ", " : "") << m.to(i);
  os << "\nSubject:   " << m.subject() << "\n"
     << "Kind:      " << KindName(m.kind()) << "   Priority: " << PriorityName(m.priority())
     << "   Handling: " << HandlingName(m.handling());
  if (!m.handling_note().empty()) os << " (" << m.handling_note() << ")";
  os << "\nCreated:   " << Rfc3339(m.created_at()) << "\n"
     << "Expires:   " << Rfc3339(m.expires_at()) << "\n";
  if (m.direction() == "in") os << "Received:  " << Rfc3339(m.received_at()) << "\n";
  else os << "State:     " << m.state() << "\n";
  if (!m.in_reply_to().empty()) os << "Reply to:  " << m.in_reply_to() << "\n";
  for (int i = 0; i < m.attachments_size(); ++i) {
    const auto& a = m.attachments(i);
    os << "Attachment " << i << ": " << a.name() << " (" << a.size() << " bytes, SHA-256 "
       << ToHex(a.sha256()) << ")\n";
  }
  os << "Signature: " << (m.signature_valid() ? "valid" : "INVALID") << "\n";
  for (const auto& r : m.receipts()) {
    os << "Receipt:   " << r.recipient() << " at " << TimeOrNull(r.received_at())
       << (r.valid() ? " (signature valid)" : " (signature INVALID)") << "\n";
  }
  os << "\n";
  mla::MlaRequest req;
  if (m.kind() == 1 && ParseStrict(m.body(), &req, "request").ok() && ValidateRequest(req).ok()) {
    os << RequestToJson(req).dump(2) << "\n";
    return os.str();
  }
  os << m.body();
  if (!m.body().empty() && m.body().back() != '\n') os << "\n";
  return os.str();
}

std::string StatusText(const control::StatusResponse& s) {
  std::ostringstream os;
  os << "node " << s.id() << " (" << s.fingerprint() << ") on " << s.listen() << ", up since "
     << Rfc3339(s.started_at()) << "\n"
     << "rogatory " << s.versions().rogatory() << ", store " << s.store_bytes() / 1024
     << " KiB\n"
     << "inbox " << s.inbox() << ", outbox queued " << s.outbox_queued() << "\n";
  for (const auto& e : s.audit().equivocations()) {
    os << "WARNING: " << e.log() << " (" << e.fingerprint() << ") rewrote or split its audit "
       << "history, detected " << Rfc3339(e.detected_at()) << ": " << e.reason() << "\n";
  }
  os << "audit log " << s.audit().size() << " entries, latest tree head at size "
     << s.audit().tree_head_size() << ", witnessed by " << s.audit().witnesses()
     << " peer(s) up to size " << s.audit().witnessed_size() << "\n";
  for (const auto& p : s.peers()) {
    os << "  peer " << p.id() << ": " << (p.connected() ? "connected" : "not connected")
       << ", " << p.queued() << " queued (urgent " << p.queued_urgent() << ", high "
       << p.queued_high() << ", normal " << p.queued_normal() << "), " << p.in_flight()
       << " in flight";
    if (p.oldest_queued_at() > 0) {
      os << ", oldest " << (s.now() - p.oldest_queued_at()) / 1000000 << " s";
    }
    if (p.last_seen_at() > 0) os << ", last heard " << Rfc3339(p.last_seen_at());
    if (!p.last_error().empty()) os << ", last error: " << p.last_error();
    os << "\n";
  }
  if (s.requests_overdue_out() + s.requests_overdue_in() > 0) {
    os << "requests past their deadline: " << s.requests_overdue_out() << " sent by us, "
       << s.requests_overdue_in() << " sent to us\n";
  }
  for (const auto& t : s.receiving()) {
    os << "  receiving " << t.message_id() << " from " << t.peer() << ": " << t.done_bytes()
       << " of " << t.total_bytes() << " bytes\n";
  }
  return os.str();
}

std::string VerifyText(const VerifyReport& r) {
  std::ostringstream os;
  os << (r.valid ? "VALID" : "NOT VALID") << ": message " << r.message_id << "\n";
  if (!r.sender.fingerprint.empty()) {
    os << "  sender:    " << r.sender.id << " (" << r.sender.authority << ", "
       << r.sender.country << ") " << r.sender.fingerprint << "\n";
  }
  for (const auto& p : r.recipients) {
    os << "  recipient: " << p.id << " " << p.fingerprint << "\n";
  }
  if (r.created_at_us > 0) os << "  created:   " << Rfc3339(r.created_at_us) << "\n";
  if (!r.body_sha256_hex.empty()) os << "  body sha256: " << r.body_sha256_hex << "\n";
  if (!r.exporter.fingerprint.empty()) {
    os << "  exported by " << (r.exporter.id.empty() ? "" : r.exporter.id + " ")
       << r.exporter.fingerprint << " at " << Rfc3339(r.exported_at_us) << "\n";
  }
  for (const auto& a : r.attachments) {
    os << "  attachment: " << a.name << " (" << a.size << " bytes) sha256 " << a.sha256_hex
       << "\n";
  }
  for (const auto& lp : r.log_proofs) {
    os << "  logged:    entry " << lp.index << " of " << lp.tree_size << " in the log of "
       << (lp.log.id.empty() ? lp.log.fingerprint : lp.log.id) << " (" << lp.kind
       << "), head signed " << Rfc3339(lp.tree_head_at_us);
    if (lp.witnesses.empty()) os << ", not yet witnessed";
    for (size_t i = 0; i < lp.witnesses.size(); ++i) {
      const Party& w = lp.witnesses[i].party;
      os << (i == 0 ? ", witnessed by " : ", ") << (w.id.empty() ? w.fingerprint : w.id);
    }
    os << "\n";
  }
  for (const auto& c : r.checks) {
    os << "  [" << (c.ok ? " ok " : "FAIL") << "] " << c.name << ": " << c.detail << "\n";
  }
  return os.str();
}

ordered_json CaseLogJson(const control::CaseResult& r) {
  ordered_json out = ordered_json::array();
  for (const auto& e : r.entries()) {
    ordered_json j;
    j["author"] = e.author();
    j["seq"] = e.seq();
    j["type"] = e.type();
    j["text"] = e.text();
    j["created_at"] = Rfc3339(e.created_at());
    j["lamport"] = e.lamport();
    j["hash"] = ToHex(e.hash());
    j["epoch"] = e.epoch();
    j["author_fingerprint"] = e.author_fingerprint();
    if (e.type() == "membership") {
      j["members"] = e.members();
      j["removed"] = e.removed();
    }
    if (e.type() == "task") {
      j["assignee"] = e.assignee();
      j["task_state"] = e.task_state();
    }
    if (e.attachments_size() > 0) {
      j["attachments"] = ordered_json::array();
      for (const auto& a : e.attachments()) {
        j["attachments"].push_back(
            {{"name", a.name()}, {"size", a.size()}, {"sha256", ToHex(a.sha256())}});
      }
      j["attachments_message"] = e.attachments_message();
    }
    if (!e.readable()) j["readable"] = false;
    out.push_back(std::move(j));
  }
  return out;
}

std::string CaseLogText(const control::CaseResult& r) {
  std::ostringstream os;
  for (const auto& e : r.entries()) {
    os << Rfc3339(e.created_at()) << "  " << e.author() << " #" << e.seq() << " " << e.type();
    if (e.type() == "membership") {
      os << ": epoch " << e.epoch() << ", members";
      for (const auto& m : e.members()) os << " " << m;
      for (const auto& m : e.removed()) os << " (removed " << m << ")";
    } else if (!e.readable()) {
      os << ": (not readable on this node)";
    } else {
      if (e.type() == "task") {
        os << " [" << e.task_state() << (e.assignee().empty() ? "" : ", " + e.assignee()) << "]";
      }
      os << ": " << e.text();
      for (const auto& a : e.attachments()) {
        os << "\n      attachment " << a.name() << " (" << a.size() << " bytes, sha256 "
           << ToHex(a.sha256()) << ") in message " << e.attachments_message();
      }
    }
    os << "\n";
  }
  return os.str();
}

ordered_json CaseListJson(const control::CaseResult& r) {
  ordered_json out = ordered_json::array();
  for (const auto& c : r.cases()) {
    ordered_json reports = ordered_json::array();
    for (const auto& rep : c.reports()) {
      reports.push_back({{"at", Rfc3339(rep.at())}, {"kind", rep.kind()}, {"detail", rep.detail()}});
    }
    out.push_back({{"id", c.id()},
                   {"title", c.title()},
                   {"lead", c.lead()},
                   {"members", c.members()},
                   {"epoch", c.epoch()},
                   {"removed", c.removed()},
                   {"entries", c.entries()},
                   {"waiting", c.waiting()},
                   {"reports", reports}});
  }
  return out;
}

std::string CaseListText(const control::CaseResult& r) {
  std::ostringstream os;
  for (const auto& c : r.cases()) {
    os << c.id() << "  " << c.title() << "  lead " << c.lead() << ", members";
    for (const auto& m : c.members()) os << " " << m;
    os << ", " << c.entries() << " entries";
    if (c.removed()) os << ", THIS NODE WAS REMOVED";
    os << "\n";
    for (const auto& rep : c.reports()) {
      os << "  refused (" << rep.kind() << ") " << Rfc3339(rep.at()) << ": " << rep.detail()
         << "\n";
    }
  }
  return os.str();
}

}  // namespace rogatory::cli
