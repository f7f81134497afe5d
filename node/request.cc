#include "node/request.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <set>
#include <utility>

#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/limits.h"
#include "node/clock.h"

namespace rogatory {
namespace {

using Json = nlohmann::json;
namespace rl = request_limits;

// ---------------------------------------------------------------- tables

struct MeasureInfo {
  mla::Measure measure;
  std::string_view name;   // JSON form
  std::string_view human;  // subject line
};

constexpr std::array<MeasureInfo, 16> kMeasures = {{
    {mla::MEASURE_PRESERVATION_OF_DATA, "preservation_of_data", "preservation of data"},
    {mla::MEASURE_SUBSCRIBER_DATA, "subscriber_data", "subscriber data"},
    {mla::MEASURE_TRAFFIC_DATA, "traffic_data", "traffic data"},
    {mla::MEASURE_CONTENT_DATA, "content_data", "content data"},
    {mla::MEASURE_BANK_RECORDS, "bank_records", "bank records"},
    {mla::MEASURE_HEARING_OF_WITNESS, "hearing_of_witness", "hearing of a witness"},
    {mla::MEASURE_HEARING_OF_SUSPECT, "hearing_of_suspect", "hearing of a suspect"},
    {mla::MEASURE_SEARCH_AND_SEIZURE, "search_and_seizure", "search and seizure"},
    {mla::MEASURE_FREEZING_OF_ASSETS, "freezing_of_assets", "freezing of assets"},
    {mla::MEASURE_CONFISCATION, "confiscation", "confiscation"},
    {mla::MEASURE_SERVICE_OF_DOCUMENTS, "service_of_documents", "service of documents"},
    {mla::MEASURE_TRANSFER_OF_EVIDENCE, "transfer_of_evidence", "transfer of evidence"},
    {mla::MEASURE_INTERCEPTION_OF_TELECOMMUNICATIONS, "interception_of_telecommunications",
     "interception of telecommunications"},
    {mla::MEASURE_CONTROLLED_DELIVERY, "controlled_delivery", "controlled delivery"},
    {mla::MEASURE_COVERT_INVESTIGATION, "covert_investigation", "covert investigation"},
    {mla::MEASURE_OTHER, "other", "other measure"},
}};

const MeasureInfo* FindMeasure(mla::Measure m) {
  for (const auto& info : kMeasures) {
    if (info.measure == m) return &info;
  }
  return nullptr;
}

std::string KnownMeasures() {
  std::string s;
  for (const auto& info : kMeasures) {
    if (!s.empty()) s += ", ";
    s += info.name;
  }
  return s;
}

struct StateInfo {
  mla::State state;
  std::string_view name;
};

constexpr std::array<StateInfo, 9> kStates = {{
    {mla::STATE_SENT, "sent"},
    {mla::STATE_DELIVERED, "delivered"},
    {mla::STATE_ACKNOWLEDGED, "acknowledged"},
    {mla::STATE_IN_PROGRESS, "in_progress"},
    {mla::STATE_EXECUTED, "executed"},
    {mla::STATE_PARTIALLY_EXECUTED, "partially_executed"},
    {mla::STATE_REFUSED, "refused"},
    {mla::STATE_WITHDRAWN, "withdrawn"},
    {mla::STATE_EXPIRED, "expired"},
}};

struct PriorityInfo {
  wire::Priority priority;
  std::string_view name;
};

constexpr std::array<PriorityInfo, 3> kPriorities = {{
    {wire::PRIORITY_NORMAL, "normal"},
    {wire::PRIORITY_HIGH, "high"},
    {wire::PRIORITY_URGENT, "urgent"},
}};

std::string_view PriorityName(wire::Priority p) {
  for (const auto& info : kPriorities) {
    if (info.priority == p) return info.name;
  }
  return "";
}

// ---------------------------------------------------------------- text checks

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates, and code points past U+10FFFF.
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return IsSpace(c); });
}

bool HasControl(std::string_view s, bool allow_newlines) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (allow_newlines && (c == '\n' || c == '\r' || c == '\t')) continue;
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

// Longest prefix of `s` of at most `max` bytes that does not cut a UTF-8
// sequence.
std::string_view Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// User text quoted for an error line: JSON-escaped (so it stays one line
// and shows control characters), cut to a readable length.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 60;
  const std::string_view shown = Utf8Prefix(s, kMaxShown);
  std::string q = Json(std::string(shown)).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (shown.size() < s.size()) q.insert(q.size() - 1, "...");
  return q;
}

std::string Index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

std::string Join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

// Collects one line per problem. A path that already has a problem (or
// whose parent has one) gets no second line: a field of the wrong type is
// not also reported missing.
class Sink {
 public:
  // Lines kept; a file with more problems is beyond fixing line by line.
  static constexpr size_t kMaxProblems = 50;

  explicit Sink(std::vector<std::string>* out) : out_(out) {}

  void Add(const std::string& path, std::string line) {
    if (reported_.size() > kMaxProblems || Covered(path)) return;
    reported_.push_back(path);
    if (reported_.size() > kMaxProblems) {
      out_->push_back("too many problems: fix the ones above first");
      return;
    }
    out_->push_back(std::move(line));
  }

  bool Covered(const std::string& path) const {
    for (const auto& r : reported_) {
      if (path == r) return true;
      if (path.size() > r.size() && path.compare(0, r.size(), r) == 0 &&
          (path[r.size()] == '.' || path[r.size()] == '[')) {
        return true;
      }
    }
    return false;
  }

 private:
  std::vector<std::string>* out_;
  std::vector<std::string> reported_;
};

void CheckString(Sink* sink, const std::string& path, std::string_view value, size_t max,
                 bool multiline) {
  if (!IsValidUtf8(value)) {
    sink->Add(path, path + " is not valid UTF-8");
  } else if (value.size() > max) {
    sink->Add(path, path + " is too long (" + std::to_string(value.size()) + " bytes, at most " +
                        std::to_string(max) + ")");
  } else if (HasControl(value, multiline)) {
    sink->Add(path, path + (multiline ? " contains control characters"
                                      : " must be one line without control characters"));
  }
}

void CheckLine(Sink* sink, const std::string& path, std::string_view value,
               size_t max = rl::kMaxLineBytes) {
  CheckString(sink, path, value, max, false);
}

void CheckText(Sink* sink, const std::string& path, std::string_view value,
               size_t max = rl::kMaxTextBytes) {
  CheckString(sink, path, value, max, true);
}

void CheckCount(Sink* sink, const std::string& path, size_t n, size_t max) {
  if (n > max) {
    sink->Add(path,
              path + " has " + std::to_string(n) + " entries, at most " + std::to_string(max));
  }
}

bool LooksLikeEmail(std::string_view s) {
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = s.substr(at + 1);
  const size_t dot = domain.find('.');
  if (dot == std::string_view::npos || dot == 0 || domain.back() == '.') return false;
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return IsSpace(c) || static_cast<unsigned char>(c) < 0x20; });
}

bool LooksLikePhone(std::string_view s) {
  size_t digits = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      ++digits;
    } else if (c == '+') {
      if (i != 0) return false;
    } else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.' && c != '/') {
      return false;
    }
  }
  return digits >= 5 && digits <= 20;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `s[*pos]`.
bool Digits(std::string_view s, size_t* pos, size_t n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t k = 0; k < n; ++k) {
    const char c = s[*pos + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

bool Expect(std::string_view s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

// "YYYY", "YYYY-MM" or "YYYY-MM-DD", a real date from year 1800.
bool IsPartialDate(std::string_view s) {
  size_t pos = 0;
  int64_t y = 0, m = 0, d = 0;
  if (!Digits(s, &pos, 4, &y) || y < 1800) return false;
  if (pos == s.size()) return true;
  if (!Expect(s, &pos, '-') || !Digits(s, &pos, 2, &m) || m < 1 || m > 12) return false;
  if (pos == s.size()) return true;
  if (!Expect(s, &pos, '-') || !Digits(s, &pos, 2, &d) || d < 1 ||
      d > DaysInMonth(y, static_cast<int>(m))) {
    return false;
  }
  return pos == s.size();
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// RFC 3339 date-time: "2026-12-31T23:59:59Z", optional fraction (kept to
// the microsecond), "Z" or a numeric offset such as "+01:00".
std::optional<int64_t> ParseRfc3339(std::string_view s) {
  size_t pos = 0;
  int64_t y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!Digits(s, &pos, 4, &y) || !Expect(s, &pos, '-') || !Digits(s, &pos, 2, &mo) ||
      !Expect(s, &pos, '-') || !Digits(s, &pos, 2, &d)) {
    return std::nullopt;
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't')) return std::nullopt;
  ++pos;
  if (!Digits(s, &pos, 2, &h) || !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &mi) ||
      !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &sec)) {
    return std::nullopt;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y, static_cast<int>(mo)) ||
      h > 23 || mi > 59 || sec > 59) {
    return std::nullopt;
  }
  int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
    for (size_t k = n; k < 6; ++k) micros *= 10;
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int64_t sign = s[pos] == '-' ? -1 : 1;
    ++pos;
    int64_t oh = 0, om = 0;
    if (!Digits(s, &pos, 2, &oh) || !Expect(s, &pos, ':') || !Digits(s, &pos, 2, &om) || oh > 23 ||
        om > 59) {
      return std::nullopt;
    }
    offset_s = sign * (oh * 3600 + om * 60);
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t secs = DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * 1'000'000 + micros;
}

// ParseDuration does not guard against overflow on long digit runs; a
// deadline duration has at most 6 digits per component and 32 characters.
bool DurationTextInBounds(std::string_view s) {
  if (s.size() > 32) return false;
  size_t run = 0;
  for (char c : s) {
    run = (c >= '0' && c <= '9') ? run + 1 : 0;
    if (run > 6) return false;
  }
  return true;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------- proto rules

enum class Origin { kFile, kPeer };

// The rules shared by ParseRequestJson and ValidateRequest, on the proto.
void CollectProblems(const mla::MlaRequest& r, Origin origin, Sink* sink) {
  if (r.version() != kRequestVersion) {
    sink->Add("version", "request format version " + std::to_string(r.version()) +
                             " is not supported (this node reads version " +
                             std::to_string(kRequestVersion) + ")");
    return;
  }
  CheckLine(sink, "requesting_authority", r.requesting_authority());

  if (r.requested_authority().empty()) {
    sink->Add("requested_authority", origin == Origin::kFile
                                         ? "requested_authority is missing (or pass --to ID)"
                                         : "requested_authority is missing");
  } else if (!ValidateNodeId(r.requested_authority()).ok()) {
    sink->Add("requested_authority",
              "requested_authority " + Quote(r.requested_authority()) +
                  " is not a node id: use 2 to 32 lower-case letters, digits and '-', "
                  "not starting with '-'");
  }

  if (IsBlank(r.case_reference())) {
    sink->Add("case_reference",
              "case_reference is missing: give your own file number for this case");
  }
  CheckLine(sink, "case_reference", r.case_reference(), rl::kMaxCaseReferenceBytes);

  if (r.legal_basis().empty()) {
    sink->Add("legal_basis", "legal_basis is missing: name the treaty or convention and article");
  }
  CheckCount(sink, "legal_basis", r.legal_basis_size(), rl::kMaxLegalBases);
  for (int i = 0; i < r.legal_basis_size(); ++i) {
    const auto& lb = r.legal_basis(i);
    const std::string path = Index("legal_basis", i);
    if (IsBlank(lb.instrument())) {
      sink->Add(path + ".instrument",
                path + ".instrument is missing: name the treaty or convention");
    }
    CheckLine(sink, path + ".instrument", lb.instrument());
    CheckLine(sink, path + ".article", lb.article());
  }

  if (IsBlank(r.offence().description())) {
    sink->Add("offence.description",
              "offence.description is missing: describe the offence the request is about");
  }
  CheckText(sink, "offence.description", r.offence().description());
  CheckText(sink, "offence.legal_qualification", r.offence().legal_qualification());
  CheckLine(sink, "offence.maximum_penalty", r.offence().maximum_penalty());

  CheckCount(sink, "persons_concerned", r.persons_concerned_size(), rl::kMaxPersonsConcerned);
  for (int i = 0; i < r.persons_concerned_size(); ++i) {
    const auto& p = r.persons_concerned(i);
    const std::string path = Index("persons_concerned", i);
    if (p.kind() == mla::CONCERNED_KIND_UNSPECIFIED) {
      sink->Add(path + ".kind", path + ".kind is missing: person or entity");
    } else if (!mla::ConcernedKind_IsValid(p.kind())) {
      sink->Add(path + ".kind",
                path + ".kind " + std::to_string(p.kind()) + " is not known (person or entity)");
    }
    if (IsBlank(p.name())) {
      sink->Add(path + ".name", path + ".name is missing: give the full name");
    }
    CheckLine(sink, path + ".name", p.name());
    CheckLine(sink, path + ".role", p.role());
    if (p.kind() == mla::CONCERNED_KIND_ENTITY && !p.date_of_birth().empty()) {
      sink->Add(path + ".date_of_birth",
                path + ".date_of_birth: an entity has no date of birth (kind is entity)");
    } else if (!p.date_of_birth().empty() && !IsPartialDate(p.date_of_birth())) {
      sink->Add(path + ".date_of_birth", path + ".date_of_birth " + Quote(p.date_of_birth()) +
                                             " is not a date: use YYYY-MM-DD (or YYYY-MM, YYYY)");
    }
    if (p.kind() == mla::CONCERNED_KIND_ENTITY && !p.place_of_birth().empty()) {
      sink->Add(path + ".place_of_birth",
                path + ".place_of_birth: an entity has no place of birth (kind is entity)");
    }
    CheckLine(sink, path + ".place_of_birth", p.place_of_birth());
    CheckLine(sink, path + ".nationality", p.nationality());
    CheckText(sink, path + ".address", p.address(), rl::kMaxLineBytes);
    CheckCount(sink, path + ".identifiers", p.identifiers_size(), rl::kMaxIdentifiers);
    for (int k = 0; k < p.identifiers_size(); ++k) {
      const auto& id = p.identifiers(k);
      const std::string ipath = Index(path + ".identifiers", k);
      if (IsBlank(id.type())) {
        sink->Add(ipath + ".type",
                  ipath + ".type is missing: say what it is, such as passport, iban or phone");
      }
      if (IsBlank(id.value())) sink->Add(ipath + ".value", ipath + ".value is missing");
      CheckLine(sink, ipath + ".type", id.type());
      CheckLine(sink, ipath + ".value", id.value());
    }
  }

  if (r.measures().empty()) {
    sink->Add("measures",
              "measures is missing: list at least one measure, such as bank_records or "
              "hearing_of_witness");
  }
  CheckCount(sink, "measures", r.measures_size(), rl::kMaxMeasures);
  for (int i = 0; i < r.measures_size(); ++i) {
    const auto& m = r.measures(i);
    const std::string path = Index("measures", i);
    if (m.measure() == mla::MEASURE_UNSPECIFIED) {
      sink->Add(path, path + ": the measure is missing (known: " + KnownMeasures() + ")");
    } else if (FindMeasure(m.measure()) == nullptr) {
      sink->Add(path, path + ": unknown measure " + std::to_string(m.measure()));
    } else if (m.measure() == mla::MEASURE_OTHER && IsBlank(m.description())) {
      sink->Add(path, path + ": measure \"other\" needs a description of what is asked for");
    }
    CheckText(sink, path + ".description", m.description());
  }

  if (r.priority() == wire::PRIORITY_UNSPECIFIED) {
    sink->Add("priority", "priority is missing: normal, high or urgent");
  } else if (PriorityName(r.priority()).empty()) {
    sink->Add("priority", "priority " + std::to_string(r.priority()) +
                              " is not known (normal, high or urgent)");
  }
  CheckText(sink, "urgency_reasons", r.urgency_reasons());

  if (r.deadline_us() <= 0) {
    sink->Add("deadline", "deadline is missing: give an RFC 3339 time or a duration such as P30D");
  }
  CheckLine(sink, "deadline", r.deadline_text(), 64);
  CheckText(sink, "deadline_reasons", r.deadline_reasons());

  CheckText(sink, "confidentiality.details", r.confidentiality().details());

  const auto& co = r.contact_officer();
  if (co.name().empty() && co.email().empty() && co.phone().empty() && co.role().empty()) {
    sink->Add("contact_officer",
              "contact_officer is missing: name the officer the requested authority can "
              "contact, with an email or a phone number");
  } else {
    if (IsBlank(co.name())) {
      sink->Add("contact_officer.name",
                "contact_officer.name is missing: name the officer the requested authority "
                "can contact");
    }
    if (IsBlank(co.email()) && IsBlank(co.phone())) {
      sink->Add("contact_officer.email", "contact_officer needs an email or a phone number");
    }
  }
  CheckLine(sink, "contact_officer.name", co.name());
  CheckLine(sink, "contact_officer.role", co.role());
  CheckLine(sink, "contact_officer.email", co.email());
  CheckLine(sink, "contact_officer.phone", co.phone());
  if (!co.email().empty() && !LooksLikeEmail(co.email())) {
    sink->Add("contact_officer.email", "contact_officer.email " + Quote(co.email()) +
                                           " does not look like an email address");
  }
  if (!co.phone().empty() && !LooksLikePhone(co.phone())) {
    sink->Add("contact_officer.phone",
              "contact_officer.phone " + Quote(co.phone()) +
                  " does not look like a phone number: use digits, spaces and a leading +");
  }

  CheckText(sink, "summary_of_facts", r.summary_of_facts(), rl::kMaxFactsBytes);
}

Error ProblemsError(const std::vector<std::string>& problems, size_t first) {
  const size_t n = problems.size() - first;
  std::string msg = problems[first];
  if (n > 1) {
    msg += " (and " + std::to_string(n - 1) + " more problem" + (n > 2 ? "s" : "") + ")";
  }
  return MakeError(Code::kInvalidArgument, std::move(msg));
}

// ---------------------------------------------------------------- JSON reading

class JsonReader {
 public:
  explicit JsonReader(Sink* sink) : sink_(sink) {}

  // Reports every key of `obj` that is not in `known`.
  template <size_t N>
  void CheckKeys(const Json& obj, const std::string& path,
                 const std::array<std::string_view, N>& known) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& key = it.key();
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      std::string_view best;
      size_t best_d = 3;
      for (std::string_view k : known) {
        const size_t d = EditDistance(key, k);
        if (d < best_d) {
          best_d = d;
          best = k;
        }
      }
      std::string line = (path.empty() ? "" : path + ": ") + "unknown key " + Quote(key);
      if (!best.empty()) {
        line += " (did you mean \"" + std::string(best) + "\"?)";
      } else {
        line += " (known: ";
        for (size_t i = 0; i < N; ++i) line += (i ? ", " : "") + std::string(known[i]);
        line += ")";
      }
      sink_->Add(Join(path, key), std::move(line));
    }
  }

  // The value at `key`, or null when absent or JSON null.
  static const Json* Get(const Json& obj, std::string_view key) {
    auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Stores the string at `key` into *out; reports a value of another type.
  void String(const Json& obj, std::string_view key, const std::string& path, std::string* out) {
    const Json* v = Get(obj, key);
    if (v == nullptr) return;
    if (!v->is_string()) {
      sink_->Add(path, path + " must be a string");
      return;
    }
    *out = v->get<std::string>();
  }

  std::optional<bool> Bool(const Json& obj, std::string_view key, const std::string& path) {
    const Json* v = Get(obj, key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      sink_->Add(path, path + " must be true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  const Json* Object(const Json& obj, std::string_view key, const std::string& path) {
    const Json* v = Get(obj, key);
    if (v != nullptr && !v->is_object()) {
      sink_->Add(path, path + " must be an object ({...})");
      return nullptr;
    }
    return v;
  }

  const Json* Array(const Json& obj, std::string_view key, const std::string& path) {
    const Json* v = Get(obj, key);
    if (v != nullptr && !v->is_array()) {
      sink_->Add(path, path + " must be an array ([...])");
      return nullptr;
    }
    return v;
  }

  // An array element that must be an object.
  bool ElementObject(const Json& v, const std::string& path) {
    if (v.is_object()) return true;
    sink_->Add(path, path + " must be an object ({...})");
    return false;
  }

 private:
  Sink* sink_;
};

constexpr std::array<std::string_view, 15> kTopKeys = {"requesting_authority",
                                                       "requested_authority",
                                                       "case_reference",
                                                       "legal_basis",
                                                       "terrorism",
                                                       "offence",
                                                       "persons_concerned",
                                                       "measures",
                                                       "priority",
                                                       "urgency_reasons",
                                                       "deadline",
                                                       "deadline_reasons",
                                                       "confidentiality",
                                                       "contact_officer",
                                                       "summary_of_facts"};
constexpr std::array<std::string_view, 2> kLegalBasisKeys = {"instrument", "article"};
constexpr std::array<std::string_view, 3> kOffenceKeys = {"description", "legal_qualification",
                                                          "maximum_penalty"};
constexpr std::array<std::string_view, 8> kConcernedKeys = {
    "kind",           "name",        "role",        "date_of_birth",
    "place_of_birth", "nationality", "identifiers", "address"};
constexpr std::array<std::string_view, 2> kIdentifierKeys = {"type", "value"};
constexpr std::array<std::string_view, 2> kMeasureKeys = {"measure", "description"};
constexpr std::array<std::string_view, 2> kConfidentialityKeys = {"required", "details"};
constexpr std::array<std::string_view, 4> kContactKeys = {"name", "role", "email", "phone"};

constexpr int kMaxJsonDepth = 16;

// Array readers add one element per JSON entry, even a broken one (its
// problem is already reported), so that proto indices match JSON indices.
void ReadMeasure(const Json& v, const std::string& path, JsonReader* rd, Sink* sink,
                 mla::MlaRequest* r) {
  std::string name;
  mla::RequestedMeasure& m = *r->add_measures();
  if (v.is_string()) {
    name = v.get<std::string>();
  } else if (v.is_object()) {
    rd->CheckKeys(v, path, kMeasureKeys);
    if (const Json* mv = JsonReader::Get(v, "measure")) {
      if (!mv->is_string()) {
        sink->Add(path, path + ".measure must be a measure name (a string)");
        return;
      }
      name = mv->get<std::string>();
    }
    rd->String(v, "description", path + ".description", m.mutable_description());
  } else {
    sink->Add(path, path +
                        " must be a measure name or an object {\"measure\": ..., "
                        "\"description\": ...}");
    return;
  }
  if (!name.empty()) {
    auto parsed = ParseMeasure(name);
    if (!parsed.ok()) {
      sink->Add(path, path + ": " + parsed.error().message);
      return;
    }
    m.set_measure(*parsed);
  }
}

void ReadConcerned(const Json& v, const std::string& path, JsonReader* rd, Sink* sink,
                   mla::MlaRequest* r) {
  mla::Concerned* p = r->add_persons_concerned();
  if (!rd->ElementObject(v, path)) return;
  rd->CheckKeys(v, path, kConcernedKeys);
  std::string kind;
  rd->String(v, "kind", path + ".kind", &kind);
  if (kind == "person") {
    p->set_kind(mla::CONCERNED_KIND_PERSON);
  } else if (kind == "entity") {
    p->set_kind(mla::CONCERNED_KIND_ENTITY);
  } else if (!kind.empty()) {
    sink->Add(path + ".kind",
              path + ".kind: unknown kind " + Quote(kind) + " (known: person, entity)");
  }
  rd->String(v, "name", path + ".name", p->mutable_name());
  rd->String(v, "role", path + ".role", p->mutable_role());
  rd->String(v, "date_of_birth", path + ".date_of_birth", p->mutable_date_of_birth());
  rd->String(v, "place_of_birth", path + ".place_of_birth", p->mutable_place_of_birth());
  rd->String(v, "nationality", path + ".nationality", p->mutable_nationality());
  rd->String(v, "address", path + ".address", p->mutable_address());
  if (const Json* ids = rd->Array(v, "identifiers", path + ".identifiers")) {
    for (size_t k = 0; k < ids->size(); ++k) {
      const std::string ipath = Index(path + ".identifiers", k);
      const Json& e = (*ids)[k];
      mla::Identifier* id = p->add_identifiers();
      if (!rd->ElementObject(e, ipath)) continue;
      rd->CheckKeys(e, ipath, kIdentifierKeys);
      rd->String(e, "type", ipath + ".type", id->mutable_type());
      rd->String(e, "value", ipath + ".value", id->mutable_value());
    }
  }
}

void ReadDeadline(std::string_view text, int64_t now_us, Sink* sink, mla::MlaRequest* r) {
  r->set_deadline_text(std::string(text));
  if (IsBlank(text)) return;  // reported as missing
  if (auto at = ParseRfc3339(text)) {
    r->set_deadline_us(*at);
    if (*at <= now_us) {
      sink->Add("deadline", "deadline " + std::string(text) + " is in the past");
      return;
    }
  } else {
    Result<int64_t> d = DurationTextInBounds(text)
                            ? ParseDuration(text)
                            : Result<int64_t>(MakeError(Code::kInvalidArgument, ""));
    if (!d.ok()) {
      sink->Add("deadline", "deadline: cannot read " + Quote(text) +
                                ": give an RFC 3339 time or a duration such as P30D");
      return;
    }
    if (*d <= 0) {
      sink->Add("deadline", "deadline " + std::string(text) +
                                " is not in the future: give a duration such as P30D");
      return;
    }
    r->set_deadline_us(now_us + *d);
  }
  if (r->deadline_us() - now_us > rl::kMaxDeadlineAheadUs) {
    sink->Add("deadline",
              "deadline " + std::string(text) + " is more than 10 years away: check the year");
  }
}

}  // namespace

// ---------------------------------------------------------------- requests

Result<mla::MlaRequest> ParseRequestJson(std::string_view json_text, int64_t now_us,
                                         std::vector<std::string>* problems,
                                         std::string_view to_override) {
  std::vector<std::string> local;
  std::vector<std::string>* out = problems != nullptr ? problems : &local;
  const size_t first = out->size();
  Sink sink(out);

  if (json_text.size() > rl::kMaxJsonBytes) {
    sink.Add("", "the request is too large (" + std::to_string(json_text.size()) +
                     " bytes, at most " + std::to_string(rl::kMaxJsonBytes) + ")");
    return ProblemsError(*out, first);
  }

  // Duplicate keys would otherwise be dropped silently (the last one wins),
  // like a typo: catch them while parsing.
  std::vector<std::set<std::string>> open_objects;
  std::vector<std::string> duplicates;
  bool too_deep = false;
  auto watch = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > kMaxJsonDepth) too_deep = true;
    switch (event) {
      case Json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second) {
          duplicates.push_back(parsed.get<std::string>());
        }
        break;
      default:
        break;
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(json_text.begin(), json_text.end(), watch, /*allow_exceptions=*/true,
                      /*ignore_comments=*/false);
  } catch (const std::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    if (const size_t close = what.find("] ");
        what.rfind("[json.exception.", 0) == 0 && close != std::string::npos) {
      what.erase(0, close + 2);
    }
    sink.Add("", "the request is not valid JSON: " + what);
    return ProblemsError(*out, first);
  }
  if (too_deep) {
    sink.Add("", "the request is nested too deeply (more than " + std::to_string(kMaxJsonDepth) +
                     " levels)");
    return ProblemsError(*out, first);
  }
  if (!doc.is_object()) {
    sink.Add("", "the request must be a JSON object ({...})");
    return ProblemsError(*out, first);
  }
  for (const auto& key : duplicates) {
    sink.Add("duplicate:" + key, "key " + Quote(key) + " appears twice in one object: keep one");
  }

  JsonReader rd(&sink);
  mla::MlaRequest r;
  r.set_version(kRequestVersion);
  rd.CheckKeys(doc, "", kTopKeys);

  rd.String(doc, "requesting_authority", "requesting_authority", r.mutable_requesting_authority());
  rd.String(doc, "requested_authority", "requested_authority", r.mutable_requested_authority());
  if (!to_override.empty()) {
    r.set_requested_authority(std::string(to_override));
    if (!ValidateNodeId(to_override).ok()) {
      sink.Add("requested_authority",
               "--to " + Quote(to_override) +
                   " is not a node id: use 2 to 32 lower-case letters, digits and '-', not "
                   "starting with '-'");
    }
  }
  rd.String(doc, "case_reference", "case_reference", r.mutable_case_reference());

  if (const Json* lbs = rd.Array(doc, "legal_basis", "legal_basis")) {
    for (size_t i = 0; i < lbs->size(); ++i) {
      const std::string path = Index("legal_basis", i);
      const Json& e = (*lbs)[i];
      mla::LegalBasis* lb = r.add_legal_basis();
      if (!rd.ElementObject(e, path)) continue;
      rd.CheckKeys(e, path, kLegalBasisKeys);
      rd.String(e, "instrument", path + ".instrument", lb->mutable_instrument());
      rd.String(e, "article", path + ".article", lb->mutable_article());
    }
  }

  const std::optional<bool> terrorism = rd.Bool(doc, "terrorism", "terrorism");
  r.set_terrorism(terrorism.value_or(false));

  if (const Json* o = rd.Object(doc, "offence", "offence")) {
    rd.CheckKeys(*o, "offence", kOffenceKeys);
    mla::Offence* off = r.mutable_offence();
    rd.String(*o, "description", "offence.description", off->mutable_description());
    rd.String(*o, "legal_qualification", "offence.legal_qualification",
              off->mutable_legal_qualification());
    rd.String(*o, "maximum_penalty", "offence.maximum_penalty", off->mutable_maximum_penalty());
  }

  if (const Json* ps = rd.Array(doc, "persons_concerned", "persons_concerned")) {
    for (size_t i = 0; i < ps->size(); ++i) {
      ReadConcerned((*ps)[i], Index("persons_concerned", i), &rd, &sink, &r);
    }
  }

  if (const Json* ms = rd.Array(doc, "measures", "measures")) {
    for (size_t i = 0; i < ms->size(); ++i) {
      ReadMeasure((*ms)[i], Index("measures", i), &rd, &sink, &r);
    }
  }

  std::string priority;
  rd.String(doc, "priority", "priority", &priority);
  if (priority.empty()) {
    r.set_priority(r.terrorism() ? wire::PRIORITY_URGENT : wire::PRIORITY_NORMAL);
  } else {
    for (const auto& info : kPriorities) {
      if (info.name == priority) r.set_priority(info.priority);
    }
    if (r.priority() == wire::PRIORITY_UNSPECIFIED) {
      sink.Add("priority",
               "priority: unknown value " + Quote(priority) + " (known: normal, high, urgent)");
    }
  }
  rd.String(doc, "urgency_reasons", "urgency_reasons", r.mutable_urgency_reasons());

  std::string deadline;
  rd.String(doc, "deadline", "deadline", &deadline);
  ReadDeadline(deadline, now_us, &sink, &r);
  rd.String(doc, "deadline_reasons", "deadline_reasons", r.mutable_deadline_reasons());

  if (const Json* c = rd.Object(doc, "confidentiality", "confidentiality")) {
    rd.CheckKeys(*c, "confidentiality", kConfidentialityKeys);
    mla::Confidentiality* conf = r.mutable_confidentiality();
    conf->set_required(rd.Bool(*c, "required", "confidentiality.required").value_or(false));
    rd.String(*c, "details", "confidentiality.details", conf->mutable_details());
  }

  if (const Json* c = rd.Object(doc, "contact_officer", "contact_officer")) {
    rd.CheckKeys(*c, "contact_officer", kContactKeys);
    mla::ContactOfficer* co = r.mutable_contact_officer();
    rd.String(*c, "name", "contact_officer.name", co->mutable_name());
    rd.String(*c, "role", "contact_officer.role", co->mutable_role());
    rd.String(*c, "email", "contact_officer.email", co->mutable_email());
    rd.String(*c, "phone", "contact_officer.phone", co->mutable_phone());
  }

  rd.String(doc, "summary_of_facts", "summary_of_facts", r.mutable_summary_of_facts());

  CollectProblems(r, Origin::kFile, &sink);
  if (out->size() > first) return ProblemsError(*out, first);
  return r;
}

Status ValidateRequest(const mla::MlaRequest& request) {
  std::vector<std::string> problems;
  Sink sink(&problems);
  CollectProblems(request, Origin::kPeer, &sink);
  if (!problems.empty()) {
    Error e = ProblemsError(problems, 0);
    e.message = "request is not valid: " + e.message;
    return e;
  }
  return {};
}

nlohmann::ordered_json RequestToJson(const mla::MlaRequest& r) {
  using OJ = nlohmann::ordered_json;
  OJ j = OJ::object();
  auto put = [](OJ& obj, const char* key, const std::string& value) {
    if (!value.empty()) obj[key] = value;
  };
  put(j, "requesting_authority", r.requesting_authority());
  put(j, "requested_authority", r.requested_authority());
  put(j, "case_reference", r.case_reference());
  OJ lbs = OJ::array();
  for (const auto& lb : r.legal_basis()) {
    OJ e = OJ::object();
    put(e, "instrument", lb.instrument());
    put(e, "article", lb.article());
    lbs.push_back(std::move(e));
  }
  j["legal_basis"] = std::move(lbs);
  j["terrorism"] = r.terrorism();
  OJ off = OJ::object();
  put(off, "description", r.offence().description());
  put(off, "legal_qualification", r.offence().legal_qualification());
  put(off, "maximum_penalty", r.offence().maximum_penalty());
  j["offence"] = std::move(off);
  if (!r.persons_concerned().empty()) {
    OJ ps = OJ::array();
    for (const auto& p : r.persons_concerned()) {
      OJ e = OJ::object();
      if (p.kind() == mla::CONCERNED_KIND_PERSON) e["kind"] = "person";
      if (p.kind() == mla::CONCERNED_KIND_ENTITY) e["kind"] = "entity";
      put(e, "name", p.name());
      put(e, "role", p.role());
      put(e, "date_of_birth", p.date_of_birth());
      put(e, "place_of_birth", p.place_of_birth());
      put(e, "nationality", p.nationality());
      if (!p.identifiers().empty()) {
        OJ ids = OJ::array();
        for (const auto& id : p.identifiers()) {
          OJ ie = OJ::object();
          put(ie, "type", id.type());
          put(ie, "value", id.value());
          ids.push_back(std::move(ie));
        }
        e["identifiers"] = std::move(ids);
      }
      put(e, "address", p.address());
      ps.push_back(std::move(e));
    }
    j["persons_concerned"] = std::move(ps);
  }
  OJ ms = OJ::array();
  for (const auto& m : r.measures()) {
    OJ e = OJ::object();
    e["measure"] = std::string(MeasureName(m.measure()));
    put(e, "description", m.description());
    ms.push_back(std::move(e));
  }
  j["measures"] = std::move(ms);
  j["priority"] = std::string(PriorityName(r.priority()));
  put(j, "urgency_reasons", r.urgency_reasons());
  j["deadline"] = r.deadline_us() > 0 ? OJ(Rfc3339(r.deadline_us())) : OJ();
  put(j, "deadline_reasons", r.deadline_reasons());
  if (r.has_confidentiality()) {
    OJ c = OJ::object();
    c["required"] = r.confidentiality().required();
    put(c, "details", r.confidentiality().details());
    j["confidentiality"] = std::move(c);
  }
  OJ co = OJ::object();
  put(co, "name", r.contact_officer().name());
  put(co, "role", r.contact_officer().role());
  put(co, "email", r.contact_officer().email());
  put(co, "phone", r.contact_officer().phone());
  j["contact_officer"] = std::move(co);
  put(j, "summary_of_facts", r.summary_of_facts());
  return j;
}

std::string RequestSubject(const mla::MlaRequest& r) {
  std::string s = "MLA request";
  if (!r.case_reference().empty()) s += " " + r.case_reference();
  std::vector<mla::Measure> seen;
  for (const auto& m : r.measures()) {
    const MeasureInfo* info = FindMeasure(m.measure());
    if (info == nullptr || std::find(seen.begin(), seen.end(), m.measure()) != seen.end()) {
      continue;
    }
    s += seen.empty() ? ": " : ", ";
    s += info->human;
    seen.push_back(m.measure());
  }
  return std::string(Utf8Prefix(s, limits::kMaxSubjectBytes));
}

std::string_view MeasureName(mla::Measure measure) {
  const MeasureInfo* info = FindMeasure(measure);
  return info != nullptr ? info->name : std::string_view();
}

Result<mla::Measure> ParseMeasure(std::string_view name) {
  for (const auto& info : kMeasures) {
    if (info.name == name) return info.measure;
  }
  return MakeError(Code::kInvalidArgument,
                   "unknown measure " + Quote(name) + " (known: " + KnownMeasures() + ")");
}

// ---------------------------------------------------------------- life cycle

std::string_view StateName(mla::State state) {
  for (const auto& info : kStates) {
    if (info.state == state) return info.name;
  }
  return "";
}

Result<mla::State> ParseState(std::string_view name) {
  for (const auto& info : kStates) {
    if (info.name == name) return info.state;
  }
  std::string known;
  for (const auto& info : kStates) known += (known.empty() ? "" : ", ") + std::string(info.name);
  return MakeError(Code::kInvalidArgument,
                   "unknown state " + Quote(name) + " (known: " + known + ")");
}

bool IsOutcome(mla::State state) {
  return state == mla::STATE_EXECUTED || state == mla::STATE_PARTIALLY_EXECUTED ||
         state == mla::STATE_REFUSED;
}

bool IsFinal(mla::State state) {
  return IsOutcome(state) || state == mla::STATE_WITHDRAWN || state == mla::STATE_EXPIRED;
}

std::optional<RequestParty> OwnerOf(mla::State state) {
  switch (state) {
    case mla::STATE_ACKNOWLEDGED:
    case mla::STATE_IN_PROGRESS:
    case mla::STATE_EXECUTED:
    case mla::STATE_PARTIALLY_EXECUTED:
    case mla::STATE_REFUSED:
      return RequestParty::kRequested;
    case mla::STATE_WITHDRAWN:
      return RequestParty::kRequester;
    default:
      return std::nullopt;
  }
}

namespace {

// Position in the forward order sent < delivered < acknowledged <
// in_progress < (any final state).
int Rank(mla::State s) {
  switch (s) {
    case mla::STATE_SENT:
      return 0;
    case mla::STATE_DELIVERED:
      return 1;
    case mla::STATE_ACKNOWLEDGED:
      return 2;
    case mla::STATE_IN_PROGRESS:
      return 3;
    default:
      return 4;
  }
}

std::string Named(std::string_view role, std::string_view name) {
  std::string s(role);
  if (!name.empty()) s += " (" + std::string(name) + ")";
  return s;
}

// "withdraw it" / "mark it executed"
std::string Act(mla::State to) {
  if (to == mla::STATE_WITHDRAWN) return "withdraw it";
  return "mark it " + std::string(StateName(to));
}

}  // namespace

Status CheckTransition(mla::State from, mla::State to, RequestParty by, std::string_view note,
                       const PartyNames& names) {
  if (StateName(from).empty()) {
    return MakeError(Code::kInvalidArgument,
                     "the request's current state " + std::to_string(from) + " is not known");
  }
  if (StateName(to).empty()) {
    return MakeError(Code::kInvalidArgument, "state " + std::to_string(to) + " is not known");
  }
  if (IsFinal(from)) {
    return MakeError(Code::kFailedPrecondition,
                     "the request is already " + std::string(StateName(from)) +
                         ", a final state: nobody can " + Act(to) + " any more");
  }
  const std::optional<RequestParty> owner = OwnerOf(to);
  if (!owner) {
    return MakeError(Code::kPermissionDenied,
                     "no status message can mark a request " + std::string(StateName(to)) +
                         ": the node records sent, delivered and expired itself");
  }
  if (*owner != by) {
    if (*owner == RequestParty::kRequester) {
      return MakeError(
          Code::kPermissionDenied,
          "only the requesting authority" + Named("", names.requester) + " can withdraw a request");
    }
    return MakeError(Code::kPermissionDenied,
                     "only the requested authority" + Named("", names.requested) +
                         " can mark a request " + std::string(StateName(to)));
  }
  if (to != mla::STATE_WITHDRAWN && Rank(to) <= Rank(from)) {
    if (from == to) {
      return MakeError(Code::kFailedPrecondition,
                       "the request is already " + std::string(StateName(from)));
    }
    return MakeError(Code::kFailedPrecondition,
                     "the request is already " + std::string(StateName(from)) +
                         ": it cannot go back to " + std::string(StateName(to)));
  }
  if (note.size() > rl::kMaxStatusNoteBytes) {
    return MakeError(Code::kInvalidArgument, "the note is too long (" +
                                                 std::to_string(note.size()) + " bytes, at most " +
                                                 std::to_string(rl::kMaxStatusNoteBytes) + ")");
  }
  if (to == mla::STATE_REFUSED && IsBlank(note)) {
    return MakeError(Code::kInvalidArgument,
                     "refusing a request needs the grounds: pass --note TEXT");
  }
  return {};
}

// ---------------------------------------------------------------- status chain

std::string StatusChainHash(std::string_view serialized_status_update) {
  Sha256Stream h;
  h.Update(std::string_view(kStatusChainLabel, sizeof kStatusChainLabel));  // with the NUL
  h.Update(serialized_status_update);
  return h.Finish();
}

Status ValidateStatusUpdate(const mla::StatusUpdate& u) {
  auto bad = [](std::string what) {
    return MakeError(Code::kInvalidArgument, "status update is not valid: " + std::move(what));
  };
  if (u.version() != kStatusUpdateVersion) {
    return bad("version " + std::to_string(u.version()) +
               " is not supported (this node reads version " +
               std::to_string(kStatusUpdateVersion) + ")");
  }
  if (!ValidateMessageId(u.request_id()).ok()) {
    return bad("request_id is not a message id (1 to 64 letters, digits, '-' or '_')");
  }
  if (u.request_sha256().size() != kSha256Bytes) {
    return bad("request_sha256 has " + std::to_string(u.request_sha256().size()) +
               " bytes, not 32");
  }
  if (u.sequence() < 1) return bad("sequence is 0: the first status update has sequence 1");
  if (u.sequence() == 1 && !u.prev_sha256().empty()) {
    return bad("the first status update (sequence 1) has no prev_sha256");
  }
  if (u.sequence() > 1 && u.prev_sha256().size() != kSha256Bytes) {
    return bad("prev_sha256 has " + std::to_string(u.prev_sha256().size()) +
               " bytes, not 32 (sequence " + std::to_string(u.sequence()) + ")");
  }
  if (u.state() == mla::STATE_UNSPECIFIED || StateName(u.state()).empty()) {
    return bad("state " + std::to_string(u.state()) + " is not known");
  }
  if (u.note().size() > rl::kMaxStatusNoteBytes) {
    return bad("note is too long (" + std::to_string(u.note().size()) + " bytes, at most " +
               std::to_string(rl::kMaxStatusNoteBytes) + ")");
  }
  if (!IsValidUtf8(u.note())) return bad("note is not valid UTF-8");
  if (u.created_at() <= 0) return bad("created_at is not set");
  return {};
}

}  // namespace rogatory
