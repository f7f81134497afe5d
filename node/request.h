// Structured MLA requests and their life cycle (SPEC section 7): the JSON
// form a case officer writes, its validation, and the state machine that
// status messages drive. Pure logic: no I/O, no clock (callers pass the
// time), no global state. Every function here is thread-safe.
//
// The JSON form is documented field by field in docs/examples/README.md;
// the protobuf form is proto/mla.proto.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keys/result.h"
#include "proto/mla.pb.h"

namespace rogatory {

// Format versions of the two bodies (MlaRequest.version, StatusUpdate.version).
inline constexpr uint32_t kRequestVersion = 1;
inline constexpr uint32_t kStatusUpdateVersion = 1;

// Domain-separation label of the status chain hash (see StatusChainHash).
inline constexpr char kStatusChainLabel[] = "rogatory/status-chain/v1";

// Bounds on what a request or status update may hold. They apply to the
// JSON form and to requests and status updates received from peers alike.
namespace request_limits {
inline constexpr size_t kMaxJsonBytes = 1 << 20;  // the whole JSON file
inline constexpr size_t kMaxCaseReferenceBytes = 128;
inline constexpr size_t kMaxLineBytes = 512;         // names, roles, articles, ...
inline constexpr size_t kMaxTextBytes = 16 << 10;    // descriptions, reasons, details
inline constexpr size_t kMaxFactsBytes = 256 << 10;  // summary_of_facts
inline constexpr size_t kMaxLegalBases = 16;
inline constexpr size_t kMaxPersonsConcerned = 256;
inline constexpr size_t kMaxIdentifiers = 32;  // per person or entity
inline constexpr size_t kMaxMeasures = 64;
inline constexpr size_t kMaxStatusNoteBytes = 16 << 10;  // StatusUpdate.note
// A deadline further ahead than this is taken for a typing mistake.
inline constexpr int64_t kMaxDeadlineAheadUs = 10LL * 366 * 24 * 3600 * 1'000'000;
}  // namespace request_limits

// ---------------------------------------------------------------- requests

// Parses and validates the JSON form of a request (a UTF-8 JSON object,
// docs/examples/README.md). `now_us` (microseconds since the Unix epoch)
// resolves a relative deadline ("P30D" = now_us + 30 days) and is what an
// absolute deadline must lie after. A non-empty `to_override` (the CLI's
// `--to ID`) replaces `requested_authority` from the file, which may then be
// absent. `priority`, when absent, is urgent for a terrorism request and
// normal otherwise. The result has version = kRequestVersion.
//
// On success returns the request and leaves *problems untouched. On failure
// returns kInvalidArgument, and appends to *problems (if not null) one line
// per problem, each saying what is wrong and, where it helps, what to do:
// malformed JSON, unknown keys (typos are never dropped silently), wrong
// types, missing required fields, unknown measure names, unreadable or past
// deadlines, values over the bounds in request_limits. At most 50 problem
// lines are appended, then a last "too many problems" line. The error's
// message is the first problem (with a count of the others).
Result<mla::MlaRequest> ParseRequestJson(std::string_view json_text, int64_t now_us,
                                         std::vector<std::string>* problems,
                                         std::string_view to_override = {});

// Validates a request received from a peer: the rules of ParseRequestJson
// on the proto form (required fields, bounds, known enum values, valid
// UTF-8, version), except that a deadline in the past is not an error here.
// Returns kInvalidArgument naming the first problem.
Status ValidateRequest(const mla::MlaRequest& request);

// Renders a request in the JSON form ParseRequestJson reads, keys in the
// documented order, empty optional fields omitted, `priority` always given,
// the deadline as an RFC 3339 UTC time. Parsing the result (at a time
// before the deadline) gives the same request except for deadline_text.
// Expects a request that ValidateRequest accepts: strings must be UTF-8.
nlohmann::ordered_json RequestToJson(const mla::MlaRequest& request);

// The subject line of the message carrying a request, at most
// limits::kMaxSubjectBytes: "MLA request FR-2026-00123: bank records,
// hearing of a witness" (measures in order, each named once).
std::string RequestSubject(const mla::MlaRequest& request);

// Measure names in the JSON form ("bank_records", ...); "" for
// MEASURE_UNSPECIFIED and unknown values.
std::string_view MeasureName(mla::Measure measure);
// Inverse of MeasureName. kInvalidArgument listing the known names.
Result<mla::Measure> ParseMeasure(std::string_view name);

// ---------------------------------------------------------------- life cycle

// The two parties of a request. The requester is the signer of the request
// envelope; the requested authority is its recipient.
enum class RequestParty { kRequester, kRequested };

// Node ids (or any names) of the parties, used only to make error messages
// concrete ("only the requested authority (de-bka) can ..."). Either may be
// empty.
struct PartyNames {
  std::string_view requester;
  std::string_view requested;
};

// "sent", "delivered", "acknowledged", "in_progress", "executed",
// "partially_executed", "refused", "withdrawn", "expired"; "" for
// STATE_UNSPECIFIED and unknown values. These are the CLI's --state values
// and the `state` of `request list --json`.
std::string_view StateName(mla::State state);
// Inverse of StateName (exact, lower case). kInvalidArgument listing the
// known names.
Result<mla::State> ParseState(std::string_view name);

// Outcomes: executed, partially_executed, refused.
bool IsOutcome(mla::State state);
// Final states, which nothing leaves: the outcomes, withdrawn, expired.
bool IsFinal(mla::State state);

// Who may make `state` by a status message: kRequested for acknowledged,
// in_progress and the outcomes, kRequester for withdrawn; nullopt for sent,
// delivered and expired (the node records those itself) and unknown values.
std::optional<RequestParty> OwnerOf(mla::State state);

// Whether party `by` may move a request from `from` to `to` by a status
// message with `note`. Rules (SPEC section 7):
//  - nothing leaves a final state, and states only move forward;
//  - the requested authority makes acknowledged, in_progress, executed,
//    partially_executed and refused, from any earlier non-final state in
//    the order sent < delivered < acknowledged < in_progress (from sent too:
//    the requester may see a status before it processed the receipt);
//  - the requester makes withdrawn, from any non-final state;
//  - no status message makes sent, delivered or expired;
//  - refused needs the grounds in a non-blank `note`; a note is at most
//    request_limits::kMaxStatusNoteBytes.
// Returns OK when allowed; otherwise one line saying why and who may:
// kPermissionDenied when `by` does not own `to`, kFailedPrecondition when
// the request's state does not allow it, kInvalidArgument for a missing or
// oversized note or an unknown state. The same check serves the node making
// a status update and the node accepting one.
Status CheckTransition(mla::State from, mla::State to, RequestParty by, std::string_view note,
                       const PartyNames& names = {});

// ---------------------------------------------------------------- status chain

// SHA-256("rogatory/status-chain/v1" || 0x00 || serialized_status_update):
// 32 bytes. Hash the StatusUpdate bytes exactly as carried in the message
// body; the next status update names it as prev_sha256.
std::string StatusChainHash(std::string_view serialized_status_update);

// Checks the shape of a status update: version, request id syntax, 32-byte
// request_sha256, sequence >= 1, prev_sha256 empty exactly when sequence is
// 1 and 32 bytes otherwise, a known state other than STATE_UNSPECIFIED, a
// note within bounds and valid UTF-8, created_at > 0. Whether the transition
// is allowed is CheckTransition's business, and whether sequence and
// prev_sha256 continue the stored chain is the caller's.
// Returns kInvalidArgument naming the first problem.
Status ValidateStatusUpdate(const mla::StatusUpdate& update);

}  // namespace rogatory
