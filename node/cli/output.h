// How the CLI prints: JSON documents for --json (SPEC section 6 field
// names), plain text tables otherwise.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "keys/bundle.h"
#include "proto/control.pb.h"

namespace rogatory::cli {

std::string PriorityName(uint32_t p);
std::string KindName(uint32_t k);
std::string HandlingName(uint32_t h);

nlohmann::ordered_json InboxJson(const control::MessageInfo& m);
nlohmann::ordered_json OutboxJson(const control::MessageInfo& m);
nlohmann::ordered_json ShowJson(const control::MessageInfo& m);
nlohmann::ordered_json StatusJson(const control::StatusResponse& s);
nlohmann::ordered_json VerifyJson(const VerifyReport& r);
nlohmann::ordered_json RequestListJson(const control::RequestList& list);
std::string RequestListText(const control::RequestList& list);

std::string InboxText(const control::MessageList& list);
std::string OutboxText(const control::MessageList& list);
std::string ShowText(const control::MessageInfo& m);
std::string StatusText(const control::StatusResponse& s);
std::string VerifyText(const VerifyReport& r);

// `case log` / `case list` (SPEC 6 field names).
nlohmann::ordered_json CaseLogJson(const control::CaseResult& r);
std::string CaseLogText(const control::CaseResult& r);
nlohmann::ordered_json CaseListJson(const control::CaseResult& r);
std::string CaseListText(const control::CaseResult& r);

}  // namespace rogatory::cli
