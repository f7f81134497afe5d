// Structured MLA requests (node/request.h): the JSON form, its validation,
// the life-cycle state machine and the status chain hash.
#include "node/request.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "keys/crypto.h"

namespace rogatory {
namespace {

using nlohmann::json;

// 2026-05-28T20:26:40Z
constexpr int64_t kNow = 1'780'000'000'000'000;
constexpr int64_t kDayUs = 86'400LL * 1'000'000;

std::string SourceDir() {
#ifdef ROGATORY_SOURCE_DIR
  return ROGATORY_SOURCE_DIR;
#else
  const std::string file = __FILE__;
  const std::string suffix = "tests/unit/request_test.cc";
  return file.substr(0, file.size() - suffix.size());
#endif
}

std::string ReadExample(const std::string& name) {
  std::string dir = SourceDir();
  if (!dir.empty() && dir.back() != '/') dir += '/';
  std::ifstream in(dir + "docs/examples/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << dir << "docs/examples/" << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += "\n  " + l;
  return s;
}

// A small request with every required field and nothing else.
json MinimalRequest() {
  return json{
      {"requested_authority", "de-bka"},
      {"case_reference", "FR-2026-00123"},
      {"legal_basis",
       json::array({{{"instrument", "Budapest Convention"}, {"article", "Art. 29"}}})},
      {"offence", {{"description", "Fraud."}}},
      {"measures", json::array({"bank_records"})},
      {"deadline", "P30D"},
      {"contact_officer", {{"name", "Officer Example"}, {"email", "officer@example.org"}}},
  };
}

struct Parsed {
  Result<mla::MlaRequest> result;
  std::vector<std::string> problems;
};

Parsed Parse(const std::string& text, int64_t now = kNow, std::string_view to = {}) {
  std::vector<std::string> problems;
  auto r = ParseRequestJson(text, now, &problems, to);
  return {std::move(r), std::move(problems)};
}

Parsed Parse(const json& j, int64_t now = kNow, std::string_view to = {}) {
  return Parse(j.dump(), now, to);
}

// Expects exactly one problem, `line`, and an invalid-argument error.
void ExpectOneProblem(const Parsed& p, const std::string& line) {
  EXPECT_FALSE(p.result.ok());
  if (!p.result.ok()) {
    EXPECT_EQ(p.result.error().code, Code::kInvalidArgument);
    EXPECT_EQ(p.result.error().message, line);
  }
  EXPECT_EQ(p.problems, std::vector<std::string>{line}) << Joined(p.problems);
}

void Remove(json* j, const std::string& pointer) {
  const json::json_pointer ptr(pointer);
  json& parent = (*j)[ptr.parent_pointer()];
  if (parent.is_array()) {
    parent.erase(std::stoul(ptr.back()));
  } else {
    parent.erase(ptr.back());
  }
}

const char kKnownMeasures[] =
    "preservation_of_data, subscriber_data, traffic_data, content_data, bank_records, "
    "hearing_of_witness, hearing_of_suspect, search_and_seizure, freezing_of_assets, "
    "confiscation, service_of_documents, transfer_of_evidence, "
    "interception_of_telecommunications, controlled_delivery, covert_investigation, other";

// ---------------------------------------------------------------- examples

TEST(RequestExamples, TerrorismExampleParsesWithoutProblems) {
  const Parsed p = Parse(ReadExample("terrorism-subscriber-data.json"));
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  EXPECT_TRUE(p.problems.empty());
  const mla::MlaRequest& r = *p.result;
  EXPECT_EQ(r.version(), kRequestVersion);
  EXPECT_EQ(r.requested_authority(), "de-bka");
  EXPECT_TRUE(r.terrorism());
  EXPECT_EQ(r.priority(), wire::PRIORITY_URGENT);  // terrorism, priority absent
  EXPECT_EQ(r.deadline_text(), "P7D");
  EXPECT_EQ(r.deadline_us(), kNow + 7 * kDayUs);
  ASSERT_EQ(r.measures_size(), 3);
  EXPECT_EQ(r.measures(0).measure(), mla::MEASURE_PRESERVATION_OF_DATA);
  EXPECT_EQ(r.measures(1).measure(), mla::MEASURE_SUBSCRIBER_DATA);
  EXPECT_EQ(r.measures(2).measure(), mla::MEASURE_TRAFFIC_DATA);
  EXPECT_EQ(r.legal_basis_size(), 2);
  EXPECT_EQ(r.persons_concerned(1).kind(), mla::CONCERNED_KIND_ENTITY);
  EXPECT_TRUE(r.confidentiality().required());
  EXPECT_TRUE(ValidateRequest(r).ok());
  EXPECT_EQ(RequestSubject(r),
            "MLA request PNAT-2026-00417: preservation of data, subscriber data, traffic data");
}

TEST(RequestExamples, FraudExampleParsesWithoutProblems) {
  const Parsed p = Parse(ReadExample("fraud-bank-records.json"));
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  EXPECT_TRUE(p.problems.empty());
  const mla::MlaRequest& r = *p.result;
  EXPECT_EQ(r.requested_authority(), "ch-ofj");
  EXPECT_FALSE(r.terrorism());
  EXPECT_EQ(r.priority(), wire::PRIORITY_NORMAL);
  EXPECT_EQ(r.deadline_us(), kNow + 60 * kDayUs);
  EXPECT_EQ(r.persons_concerned_size(), 3);
  EXPECT_EQ(r.persons_concerned(2).date_of_birth(), "1981");
  EXPECT_TRUE(ValidateRequest(r).ok());
  EXPECT_EQ(RequestSubject(r),
            "MLA request MI-2026-RGNR-01234: bank records, freezing of assets, "
            "hearing of a witness");
}

TEST(RequestExamples, ExamplesRoundTripThroughRequestToJson) {
  for (const char* name : {"terrorism-subscriber-data.json", "fraud-bank-records.json"}) {
    SCOPED_TRACE(name);
    const Parsed p1 = Parse(ReadExample(name));
    ASSERT_TRUE(p1.result.ok()) << Joined(p1.problems);
    const nlohmann::ordered_json j1 = RequestToJson(*p1.result);
    const Parsed p2 = Parse(j1.dump(2), kNow + 1);
    ASSERT_TRUE(p2.result.ok()) << Joined(p2.problems);
    EXPECT_EQ(RequestToJson(*p2.result), j1);
    mla::MlaRequest a = *p1.result;
    mla::MlaRequest b = *p2.result;
    EXPECT_EQ(b.deadline_text(), j1["deadline"].get<std::string>());
    a.clear_deadline_text();
    b.clear_deadline_text();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, b))
        << a.DebugString() << "\n---\n"
        << b.DebugString();
  }
}

// ---------------------------------------------------------------- required fields

TEST(RequestParse, MinimalRequestParses) {
  const Parsed p = Parse(MinimalRequest());
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  EXPECT_EQ(p.result->measures(0).measure(), mla::MEASURE_BANK_RECORDS);
  EXPECT_EQ(p.result->priority(), wire::PRIORITY_NORMAL);
  EXPECT_FALSE(p.result->terrorism());
}

TEST(RequestParse, EachRequiredFieldRemovedGivesItsProblem) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"/requested_authority"}, "requested_authority is missing (or pass --to ID)"},
      {{"/case_reference"}, "case_reference is missing: give your own file number for this case"},
      {{"/legal_basis"}, "legal_basis is missing: name the treaty or convention and article"},
      {{"/legal_basis/0/instrument"},
       "legal_basis[0].instrument is missing: name the treaty or convention"},
      {{"/offence"}, "offence.description is missing: describe the offence the request is about"},
      {{"/offence/description"},
       "offence.description is missing: describe the offence the request is about"},
      {{"/measures"},
       "measures is missing: list at least one measure, such as bank_records or "
       "hearing_of_witness"},
      {{"/deadline"}, "deadline is missing: give an RFC 3339 time or a duration such as P30D"},
      {{"/contact_officer"},
       "contact_officer is missing: name the officer the requested authority can contact, "
       "with an email or a phone number"},
      {{"/contact_officer/name"},
       "contact_officer.name is missing: name the officer the requested authority can "
       "contact"},
      {{"/contact_officer/email"}, "contact_officer needs an email or a phone number"},
  };
  for (const auto& [pointers, line] : cases) {
    SCOPED_TRACE(pointers.front());
    json j = MinimalRequest();
    for (const auto& ptr : pointers) Remove(&j, ptr);
    ExpectOneProblem(Parse(j), line);
  }
}

TEST(RequestParse, EmptyValuesCountAsMissing) {
  json j = MinimalRequest();
  j["legal_basis"] = json::array();
  ExpectOneProblem(Parse(j), "legal_basis is missing: name the treaty or convention and article");
  j = MinimalRequest();
  j["measures"] = json::array();
  ExpectOneProblem(Parse(j),
                   "measures is missing: list at least one measure, such as bank_records or "
                   "hearing_of_witness");
  j = MinimalRequest();
  j["case_reference"] = "   ";
  ExpectOneProblem(Parse(j), "case_reference is missing: give your own file number for this case");
  j = MinimalRequest();
  j["case_reference"] = nullptr;
  ExpectOneProblem(Parse(j), "case_reference is missing: give your own file number for this case");
}

TEST(RequestParse, PhoneAloneIsEnoughForTheContactOfficer) {
  json j = MinimalRequest();
  Remove(&j, "/contact_officer/email");
  j["contact_officer"]["phone"] = "+33 1 23 45 67 89";
  const Parsed p = Parse(j);
  EXPECT_TRUE(p.result.ok()) << Joined(p.problems);
}

TEST(RequestParse, EveryProblemIsReportedOnItsOwnLine) {
  const Parsed p = Parse(json::object());
  ASSERT_FALSE(p.result.ok());
  EXPECT_EQ(p.problems.size(), 7u) << Joined(p.problems);  // the seven required fields
  EXPECT_EQ(p.result.error().message,
            "requested_authority is missing (or pass --to ID) (and 6 more problems)");
}

TEST(RequestParse, NullProblemsPointerIsAllowed) {
  json j = MinimalRequest();
  Remove(&j, "/case_reference");
  auto r = ParseRequestJson(j.dump(), kNow, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "case_reference is missing: give your own file number for this case");
}

// ---------------------------------------------------------------- measures and keys

TEST(RequestParse, UnknownMeasureIsNamedWithTheKnownOnes) {
  json j = MinimalRequest();
  j["measures"] = json::array({"bank_records", "wiretap"});
  ExpectOneProblem(Parse(j), std::string("measures[1]: unknown measure \"wiretap\" (known: ") +
                                 kKnownMeasures + ")");
}

TEST(RequestParse, MeasuresAsObjectsCarryDescriptions) {
  json j = MinimalRequest();
  j["measures"] = json::array({{{"measure", "hearing_of_witness"}, {"description", "Ms X"}},
                               "freezing_of_assets",
                               {{"measure", "other"}, {"description", "Site visit"}}});
  const Parsed p = Parse(j);
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  ASSERT_EQ(p.result->measures_size(), 3);
  EXPECT_EQ(p.result->measures(0).measure(), mla::MEASURE_HEARING_OF_WITNESS);
  EXPECT_EQ(p.result->measures(0).description(), "Ms X");
  EXPECT_EQ(p.result->measures(1).measure(), mla::MEASURE_FREEZING_OF_ASSETS);
  EXPECT_EQ(p.result->measures(2).measure(), mla::MEASURE_OTHER);
}

TEST(RequestParse, OtherMeasureNeedsADescription) {
  json j = MinimalRequest();
  j["measures"] = json::array({"bank_records", "other"});
  ExpectOneProblem(Parse(j),
                   "measures[1]: measure \"other\" needs a description of what is asked for");
}

TEST(RequestParse, EveryMeasureNameParsesBack) {
  for (int v = mla::Measure_MIN; v <= mla::Measure_MAX; ++v) {
    const auto m = static_cast<mla::Measure>(v);
    if (m == mla::MEASURE_UNSPECIFIED) {
      EXPECT_EQ(MeasureName(m), "");
      continue;
    }
    ASSERT_NE(MeasureName(m), "") << v;
    auto back = ParseMeasure(MeasureName(m));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, m);
  }
}

TEST(RequestParse, UnknownKeyIsAProblemWithASuggestion) {
  json j = MinimalRequest();
  j["dedline"] = "P10D";
  ExpectOneProblem(Parse(j), "unknown key \"dedline\" (did you mean \"deadline\"?)");

  j = MinimalRequest();
  j["contact_officer"]["emial"] = "x@example.org";
  ExpectOneProblem(Parse(j), "contact_officer: unknown key \"emial\" (did you mean \"email\"?)");

  j = MinimalRequest();
  j["colour"] = "blue";
  const Parsed p = Parse(j);
  EXPECT_FALSE(p.result.ok());
  ASSERT_EQ(p.problems.size(), 1u) << Joined(p.problems);
  EXPECT_EQ(p.problems[0].rfind("unknown key \"colour\" (known: requesting_authority, ", 0), 0u)
      << p.problems[0];
}

TEST(RequestParse, BrokenArrayEntryDoesNotShiftTheIndexOfLaterOnes) {
  json j = MinimalRequest();
  j["measures"] = json::array({"wiretap", "other"});
  j["legal_basis"] = json::array({"Budapest", {{"article", "29"}}});
  const Parsed p = Parse(j);
  EXPECT_FALSE(p.result.ok());
  EXPECT_EQ(
      p.problems,
      (std::vector<std::string>{
          "legal_basis[0] must be an object ({...})",
          std::string("measures[0]: unknown measure \"wiretap\" (known: ") + kKnownMeasures + ")",
          "legal_basis[1].instrument is missing: name the treaty or convention",
          "measures[1]: measure \"other\" needs a description of what is asked for"}))
      << Joined(p.problems);
}

TEST(RequestParse, ProblemLinesAreCapped) {
  json j = MinimalRequest();
  for (int i = 0; i < 500; ++i) j["typo" + std::to_string(i)] = i;
  const Parsed p = Parse(j);
  EXPECT_FALSE(p.result.ok());
  ASSERT_EQ(p.problems.size(), 51u);
  EXPECT_EQ(p.problems.back(), "too many problems: fix the ones above first");
}

TEST(RequestParse, DuplicateKeyIsAProblem) {
  const std::string text = R"({"case_reference": "A", "case_reference": "B"})";
  const Parsed p = Parse(text);
  EXPECT_FALSE(p.result.ok());
  ASSERT_FALSE(p.problems.empty());
  EXPECT_EQ(p.problems[0], "key \"case_reference\" appears twice in one object: keep one");
}

TEST(RequestParse, WrongTypesAreReportedOnceEach) {
  json j = MinimalRequest();
  j["terrorism"] = "yes";
  ExpectOneProblem(Parse(j), "terrorism must be true or false");
  j = MinimalRequest();
  j["case_reference"] = 123;
  ExpectOneProblem(Parse(j), "case_reference must be a string");
  j = MinimalRequest();
  j["offence"] = "fraud";
  ExpectOneProblem(Parse(j), "offence must be an object ({...})");
}

TEST(RequestParse, MalformedJsonIsOneProblem) {
  const Parsed p = Parse(std::string("{\"case_reference\": "));
  EXPECT_FALSE(p.result.ok());
  ASSERT_EQ(p.problems.size(), 1u);
  EXPECT_EQ(p.problems[0].rfind("the request is not valid JSON: parse error at line 1", 0), 0u)
      << p.problems[0];
  ExpectOneProblem(Parse(std::string("[1, 2]")), "the request must be a JSON object ({...})");
}

TEST(RequestParse, PersonsConcernedAreChecked) {
  json j = MinimalRequest();
  j["persons_concerned"] = json::array(
      {{{"kind", "persn"}, {"name", "A"}},
       {{"kind", "entity"}, {"name", "B Ltd"}, {"date_of_birth", "2001-01-01"}},
       {{"kind", "person"}, {"name", "C"}, {"date_of_birth", "2001-02-30"}},
       {{"kind", "person"}, {"name", "D"}, {"identifiers", json::array({{{"type", "iban"}}})}}});
  const Parsed p = Parse(j);
  EXPECT_FALSE(p.result.ok());
  EXPECT_EQ(p.problems,
            (std::vector<std::string>{
                "persons_concerned[0].kind: unknown kind \"persn\" (known: person, entity)",
                "persons_concerned[1].date_of_birth: an entity has no date of birth (kind is "
                "entity)",
                "persons_concerned[2].date_of_birth \"2001-02-30\" is not a date: use YYYY-MM-DD "
                "(or YYYY-MM, YYYY)",
                "persons_concerned[3].identifiers[0].value is missing"}))
      << Joined(p.problems);
}

TEST(RequestParse, BoundsAreEnforced) {
  json j = MinimalRequest();
  j["case_reference"] = std::string(request_limits::kMaxCaseReferenceBytes + 1, 'A');
  ExpectOneProblem(Parse(j), "case_reference is too long (129 bytes, at most 128)");
  j = MinimalRequest();
  j["measures"] = json::array();
  for (size_t i = 0; i <= request_limits::kMaxMeasures; ++i) j["measures"].push_back("other");
  for (auto& m : j["measures"]) m = {{"measure", "other"}, {"description", "x"}};
  ExpectOneProblem(Parse(j), "measures has 65 entries, at most 64");
  j = MinimalRequest();
  j["case_reference"] = "FR-1\nFR-2";
  ExpectOneProblem(Parse(j), "case_reference must be one line without control characters");
  const Parsed big = Parse(std::string(request_limits::kMaxJsonBytes + 1, ' '));
  EXPECT_FALSE(big.result.ok());
  ASSERT_EQ(big.problems.size(), 1u);
}

TEST(RequestParse, ContactDetailsMustLookRight) {
  json j = MinimalRequest();
  j["contact_officer"]["email"] = "not an email";
  ExpectOneProblem(Parse(j),
                   "contact_officer.email \"not an email\" does not look like an email address");
  j = MinimalRequest();
  j["contact_officer"]["phone"] = "call me";
  ExpectOneProblem(Parse(j),
                   "contact_officer.phone \"call me\" does not look like a phone number: use "
                   "digits, spaces and a leading +");
}

TEST(RequestParse, RequestedAuthorityMustBeANodeId) {
  json j = MinimalRequest();
  j["requested_authority"] = "DE BKA";
  ExpectOneProblem(Parse(j),
                   "requested_authority \"DE BKA\" is not a node id: use 2 to 32 lower-case "
                   "letters, digits and '-', not starting with '-'");
}

// ---------------------------------------------------------------- deadline

TEST(RequestDeadline, RelativeDeadlineResolvesToNowPlusDuration) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"P30D", 30 * kDayUs},
      {"P2W", 14 * kDayUs},
      {"PT12H", 12 * 3600LL * 1'000'000},
      {"P1DT2H", kDayUs + 2 * 3600LL * 1'000'000},
      {"30d", 30 * kDayUs},
  };
  for (const auto& [text, delta] : cases) {
    SCOPED_TRACE(text);
    json j = MinimalRequest();
    j["deadline"] = text;
    const Parsed p = Parse(j);
    ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
    EXPECT_EQ(p.result->deadline_us(), kNow + delta);
    EXPECT_EQ(p.result->deadline_text(), text);
  }
}

TEST(RequestDeadline, AbsoluteDeadlineIsRfc3339) {
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"2030-01-01T00:00:00Z", 1'893'456'000'000'000},
      {"2030-01-01T00:00:00.25Z", 1'893'456'000'250'000},
      {"2030-01-01T01:00:00+01:00", 1'893'456'000'000'000},
      {"2029-12-31T23:00:00-01:00", 1'893'456'000'000'000},
      {"2028-02-29T00:00:00Z", 1'835'395'200'000'000},
  };
  for (const auto& [text, at] : cases) {
    SCOPED_TRACE(text);
    json j = MinimalRequest();
    j["deadline"] = text;
    const Parsed p = Parse(j);
    ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
    EXPECT_EQ(p.result->deadline_us(), at);
  }
}

TEST(RequestDeadline, DeadlineInThePastIsAProblem) {
  json j = MinimalRequest();
  j["deadline"] = "2020-01-01T00:00:00Z";
  ExpectOneProblem(Parse(j), "deadline 2020-01-01T00:00:00Z is in the past");
}

TEST(RequestDeadline, UnreadableDeadlineIsAProblem) {
  for (const char* text : {"next week", "2030-01-01", "2030-02-30T00:00:00Z", "2030-01-01T00:00:00",
                           "P", "P99999999999W", "P9999999W"}) {
    SCOPED_TRACE(text);
    json j = MinimalRequest();
    j["deadline"] = text;
    ExpectOneProblem(Parse(j), std::string("deadline: cannot read \"") + text +
                                   "\": give an RFC 3339 time or a duration such as P30D");
  }
}

TEST(RequestDeadline, ZeroAndFarDeadlinesAreProblems) {
  json j = MinimalRequest();
  j["deadline"] = "P0D";
  ExpectOneProblem(Parse(j), "deadline P0D is not in the future: give a duration such as P30D");
  j["deadline"] = "2206-01-01T00:00:00Z";
  ExpectOneProblem(Parse(j),
                   "deadline 2206-01-01T00:00:00Z is more than 10 years away: check the year");
}

TEST(RequestDeadline, ReceivedRequestMayBePastItsDeadline) {
  const Parsed p = Parse(MinimalRequest());
  ASSERT_TRUE(p.result.ok());
  mla::MlaRequest r = *p.result;
  r.set_deadline_us(1);
  EXPECT_TRUE(ValidateRequest(r).ok());
}

// ---------------------------------------------------------------- priority, --to

TEST(RequestPriority, TerrorismDefaultsToUrgentAndExplicitPriorityWins) {
  struct Case {
    std::optional<bool> terrorism;
    std::optional<std::string> priority;
    wire::Priority want;
  };
  const std::vector<Case> cases = {
      {std::nullopt, std::nullopt, wire::PRIORITY_NORMAL},
      {false, std::nullopt, wire::PRIORITY_NORMAL},
      {true, std::nullopt, wire::PRIORITY_URGENT},
      {true, "normal", wire::PRIORITY_NORMAL},
      {true, "high", wire::PRIORITY_HIGH},
      {false, "urgent", wire::PRIORITY_URGENT},
  };
  for (const auto& c : cases) {
    json j = MinimalRequest();
    if (c.terrorism) j["terrorism"] = *c.terrorism;
    if (c.priority) j["priority"] = *c.priority;
    SCOPED_TRACE(j.dump());
    const Parsed p = Parse(j);
    ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
    EXPECT_EQ(p.result->priority(), c.want);
  }
  json j = MinimalRequest();
  j["priority"] = "asap";
  ExpectOneProblem(Parse(j), "priority: unknown value \"asap\" (known: normal, high, urgent)");
}

TEST(RequestOverride, ToOverrideReplacesRequestedAuthority) {
  Parsed p = Parse(MinimalRequest(), kNow, "nl-om");
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  EXPECT_EQ(p.result->requested_authority(), "nl-om");

  json j = MinimalRequest();
  Remove(&j, "/requested_authority");
  p = Parse(j, kNow, "nl-om");
  ASSERT_TRUE(p.result.ok()) << Joined(p.problems);
  EXPECT_EQ(p.result->requested_authority(), "nl-om");

  ExpectOneProblem(Parse(MinimalRequest(), kNow, "NL OM"),
                   "--to \"NL OM\" is not a node id: use 2 to 32 lower-case letters, digits "
                   "and '-', not starting with '-'");
}

// ---------------------------------------------------------------- received requests

TEST(RequestValidate, ReceivedRequestRules) {
  const Parsed p = Parse(MinimalRequest());
  ASSERT_TRUE(p.result.ok());
  const mla::MlaRequest good = *p.result;
  EXPECT_TRUE(ValidateRequest(good).ok());

  mla::MlaRequest r = good;
  r.clear_case_reference();
  Status s = ValidateRequest(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  EXPECT_EQ(s.error().message,
            "request is not valid: case_reference is missing: give your own file number for "
            "this case");

  r = good;
  r.mutable_measures(0)->set_measure(static_cast<mla::Measure>(99));
  EXPECT_FALSE(ValidateRequest(r).ok());

  r = good;
  r.set_priority(wire::PRIORITY_UNSPECIFIED);
  EXPECT_FALSE(ValidateRequest(r).ok());

  r = good;
  r.set_version(2);
  EXPECT_FALSE(ValidateRequest(r).ok());

  r = good;
  r.clear_requested_authority();
  s = ValidateRequest(r);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "request is not valid: requested_authority is missing");

  r = good;
  r.set_summary_of_facts(std::string("\xff\xfe", 2));
  EXPECT_FALSE(ValidateRequest(r).ok());
}

TEST(RequestSubjectLine, NamesEachMeasureOnceAndStaysBounded) {
  Parsed p = Parse(MinimalRequest());
  ASSERT_TRUE(p.result.ok());
  mla::MlaRequest r = *p.result;
  r.add_measures()->set_measure(mla::MEASURE_HEARING_OF_WITNESS);
  r.add_measures()->set_measure(mla::MEASURE_HEARING_OF_WITNESS);
  EXPECT_EQ(RequestSubject(r), "MLA request FR-2026-00123: bank records, hearing of a witness");
  r.set_case_reference(std::string(5000, 'x'));
  EXPECT_LE(RequestSubject(r).size(), 1024u);
}

// ---------------------------------------------------------------- state machine

const mla::State kAllStates[] = {
    mla::STATE_SENT,        mla::STATE_DELIVERED, mla::STATE_ACKNOWLEDGED,
    mla::STATE_IN_PROGRESS, mla::STATE_EXECUTED,  mla::STATE_PARTIALLY_EXECUTED,
    mla::STATE_REFUSED,     mla::STATE_WITHDRAWN, mla::STATE_EXPIRED,
};

TEST(RequestLifeCycle, StateNamesParseBack) {
  const std::vector<std::pair<mla::State, std::string>> names = {
      {mla::STATE_SENT, "sent"},
      {mla::STATE_DELIVERED, "delivered"},
      {mla::STATE_ACKNOWLEDGED, "acknowledged"},
      {mla::STATE_IN_PROGRESS, "in_progress"},
      {mla::STATE_EXECUTED, "executed"},
      {mla::STATE_PARTIALLY_EXECUTED, "partially_executed"},
      {mla::STATE_REFUSED, "refused"},
      {mla::STATE_WITHDRAWN, "withdrawn"},
      {mla::STATE_EXPIRED, "expired"},
  };
  for (const auto& [state, name] : names) {
    EXPECT_EQ(StateName(state), name);
    auto parsed = ParseState(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, state);
  }
  EXPECT_EQ(StateName(mla::STATE_UNSPECIFIED), "");
  auto bad = ParseState("done");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message,
            "unknown state \"done\" (known: sent, delivered, acknowledged, in_progress, "
            "executed, partially_executed, refused, withdrawn, expired)");
}

TEST(RequestLifeCycle, OutcomesAndFinalStates) {
  const std::set<mla::State> outcomes = {mla::STATE_EXECUTED, mla::STATE_PARTIALLY_EXECUTED,
                                         mla::STATE_REFUSED};
  const std::set<mla::State> finals = {mla::STATE_EXECUTED, mla::STATE_PARTIALLY_EXECUTED,
                                       mla::STATE_REFUSED, mla::STATE_WITHDRAWN,
                                       mla::STATE_EXPIRED};
  for (mla::State s : kAllStates) {
    EXPECT_EQ(IsOutcome(s), outcomes.count(s) == 1) << StateName(s);
    EXPECT_EQ(IsFinal(s), finals.count(s) == 1) << StateName(s);
  }
}

TEST(RequestLifeCycle, EveryTransitionIsAllowedOrForbiddenAsSpecified) {
  using P = RequestParty;
  // The complete list of allowed (from, to, by); everything else is refused.
  const std::set<std::tuple<mla::State, mla::State, P>> allowed = {
      {mla::STATE_SENT, mla::STATE_ACKNOWLEDGED, P::kRequested},
      {mla::STATE_DELIVERED, mla::STATE_ACKNOWLEDGED, P::kRequested},
      {mla::STATE_SENT, mla::STATE_IN_PROGRESS, P::kRequested},
      {mla::STATE_DELIVERED, mla::STATE_IN_PROGRESS, P::kRequested},
      {mla::STATE_ACKNOWLEDGED, mla::STATE_IN_PROGRESS, P::kRequested},
      {mla::STATE_SENT, mla::STATE_EXECUTED, P::kRequested},
      {mla::STATE_DELIVERED, mla::STATE_EXECUTED, P::kRequested},
      {mla::STATE_ACKNOWLEDGED, mla::STATE_EXECUTED, P::kRequested},
      {mla::STATE_IN_PROGRESS, mla::STATE_EXECUTED, P::kRequested},
      {mla::STATE_SENT, mla::STATE_PARTIALLY_EXECUTED, P::kRequested},
      {mla::STATE_DELIVERED, mla::STATE_PARTIALLY_EXECUTED, P::kRequested},
      {mla::STATE_ACKNOWLEDGED, mla::STATE_PARTIALLY_EXECUTED, P::kRequested},
      {mla::STATE_IN_PROGRESS, mla::STATE_PARTIALLY_EXECUTED, P::kRequested},
      {mla::STATE_SENT, mla::STATE_REFUSED, P::kRequested},
      {mla::STATE_DELIVERED, mla::STATE_REFUSED, P::kRequested},
      {mla::STATE_ACKNOWLEDGED, mla::STATE_REFUSED, P::kRequested},
      {mla::STATE_IN_PROGRESS, mla::STATE_REFUSED, P::kRequested},
      {mla::STATE_SENT, mla::STATE_WITHDRAWN, P::kRequester},
      {mla::STATE_DELIVERED, mla::STATE_WITHDRAWN, P::kRequester},
      {mla::STATE_ACKNOWLEDGED, mla::STATE_WITHDRAWN, P::kRequester},
      {mla::STATE_IN_PROGRESS, mla::STATE_WITHDRAWN, P::kRequester},
  };
  int allowed_seen = 0;
  for (mla::State from : kAllStates) {
    for (mla::State to : kAllStates) {
      for (P by : {P::kRequester, P::kRequested}) {
        const bool want = allowed.count({from, to, by}) == 1;
        const Status s = CheckTransition(from, to, by, "grounds");
        EXPECT_EQ(s.ok(), want) << StateName(from) << " -> " << StateName(to) << " by "
                                << (by == P::kRequester ? "requester" : "requested")
                                << (s.ok() ? "" : ": " + s.error().message);
        if (!s.ok()) {
          EXPECT_FALSE(s.error().message.empty());
          EXPECT_EQ(s.error().message.find('\n'), std::string::npos);
        }
        allowed_seen += s.ok();
      }
    }
  }
  EXPECT_EQ(allowed_seen, static_cast<int>(allowed.size()));
}

TEST(RequestLifeCycle, RefusalNeedsGrounds) {
  for (const char* note : {"", "   ", "\n"}) {
    const Status s =
        CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_REFUSED, RequestParty::kRequested, note);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kInvalidArgument);
    EXPECT_EQ(s.error().message, "refusing a request needs the grounds: pass --note TEXT");
  }
  EXPECT_TRUE(CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_REFUSED, RequestParty::kRequested,
                              "dual criminality not met")
                  .ok());
  // Other states need no note.
  EXPECT_TRUE(
      CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_EXECUTED, RequestParty::kRequested, "")
          .ok());
  EXPECT_FALSE(CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_EXECUTED,
                               RequestParty::kRequested,
                               std::string(request_limits::kMaxStatusNoteBytes + 1, 'x'))
                   .ok());
}

TEST(RequestLifeCycle, RefusalMessagesSayWhoOwnsWhat) {
  const PartyNames names{.requester = "fr-pnat", .requested = "de-bka"};
  Status s = CheckTransition(mla::STATE_DELIVERED, mla::STATE_EXECUTED, RequestParty::kRequester,
                             "", names);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kPermissionDenied);
  EXPECT_EQ(s.error().message, "only the requested authority (de-bka) can mark a request executed");

  s = CheckTransition(mla::STATE_DELIVERED, mla::STATE_WITHDRAWN, RequestParty::kRequested, "",
                      names);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kPermissionDenied);
  EXPECT_EQ(s.error().message, "only the requesting authority (fr-pnat) can withdraw a request");

  s = CheckTransition(mla::STATE_DELIVERED, mla::STATE_EXECUTED, RequestParty::kRequester, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "only the requested authority can mark a request executed");

  s = CheckTransition(mla::STATE_SENT, mla::STATE_DELIVERED, RequestParty::kRequested, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kPermissionDenied);
  EXPECT_EQ(s.error().message,
            "no status message can mark a request delivered: the node records sent, delivered "
            "and expired itself");

  s = CheckTransition(mla::STATE_EXECUTED, mla::STATE_WITHDRAWN, RequestParty::kRequester, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(s.error().message,
            "the request is already executed, a final state: nobody can withdraw it any more");

  s = CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_ACKNOWLEDGED, RequestParty::kRequested,
                      "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kFailedPrecondition);
  EXPECT_EQ(s.error().message,
            "the request is already in_progress: it cannot go back to acknowledged");

  s = CheckTransition(mla::STATE_IN_PROGRESS, mla::STATE_IN_PROGRESS, RequestParty::kRequested, "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "the request is already in_progress");

  s = CheckTransition(mla::STATE_UNSPECIFIED, mla::STATE_EXECUTED, RequestParty::kRequested, "");
  EXPECT_FALSE(s.ok());
  s = CheckTransition(mla::STATE_SENT, static_cast<mla::State>(42), RequestParty::kRequested, "");
  EXPECT_FALSE(s.ok());
}

TEST(RequestLifeCycle, OwnerOfEachState) {
  EXPECT_EQ(OwnerOf(mla::STATE_WITHDRAWN), RequestParty::kRequester);
  for (mla::State s : {mla::STATE_ACKNOWLEDGED, mla::STATE_IN_PROGRESS, mla::STATE_EXECUTED,
                       mla::STATE_PARTIALLY_EXECUTED, mla::STATE_REFUSED}) {
    EXPECT_EQ(OwnerOf(s), RequestParty::kRequested) << StateName(s);
  }
  for (mla::State s :
       {mla::STATE_SENT, mla::STATE_DELIVERED, mla::STATE_EXPIRED, mla::STATE_UNSPECIFIED}) {
    EXPECT_EQ(OwnerOf(s), std::nullopt) << StateName(s);
  }
}

// ---------------------------------------------------------------- status chain

mla::StatusUpdate GoodUpdate() {
  mla::StatusUpdate u;
  u.set_version(kStatusUpdateVersion);
  u.set_request_id("01JABCDEFGHJKMNPQRSTVWXYZ0");
  u.set_request_sha256(std::string(32, '\x11'));
  u.set_sequence(2);
  u.set_prev_sha256(std::string(32, '\x22'));
  u.set_state(mla::STATE_REFUSED);
  u.set_note("Dual criminality is not met.");
  u.set_created_at(kNow);
  return u;
}

TEST(RequestStatusChain, KnownAnswer) {
  // SHA-256("rogatory/status-chain/v1" || 0x00 || "abc"), from Python's hashlib.
  EXPECT_EQ(ToHex(StatusChainHash("abc")),
            "a4dc475ee5e8510874919e5863b33252d094aac091ee343f022f0179dd498209");
  EXPECT_EQ(ToHex(StatusChainHash("")),
            "afdfc2b146bdf768a89c1933402af225e9543669aab57559658f3b12f04b27b7");
}

TEST(RequestStatusChain, HashChangesWithAnyByte) {
  const std::string bytes = GoodUpdate().SerializeAsString();
  const std::string h = StatusChainHash(bytes);
  EXPECT_EQ(h.size(), kSha256Bytes);
  EXPECT_EQ(StatusChainHash(bytes), h);
  std::set<std::string> seen = {h};
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string changed = bytes;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_TRUE(seen.insert(StatusChainHash(changed)).second) << "byte " << i;
  }
  EXPECT_NE(StatusChainHash(bytes + std::string(1, '\0')), h);
  EXPECT_NE(StatusChainHash(bytes.substr(0, bytes.size() - 1)), h);
}

TEST(RequestStatusChain, ValidateStatusUpdateChecksShapes) {
  EXPECT_TRUE(ValidateStatusUpdate(GoodUpdate()).ok());

  mla::StatusUpdate first = GoodUpdate();
  first.set_sequence(1);
  first.clear_prev_sha256();
  EXPECT_TRUE(ValidateStatusUpdate(first).ok());

  std::vector<std::pair<std::string, mla::StatusUpdate>> bad;
  auto add = [&](const std::string& what, auto mutate) {
    mla::StatusUpdate u = GoodUpdate();
    mutate(&u);
    bad.emplace_back(what, u);
  };
  add("version 0", [](mla::StatusUpdate* u) { u->set_version(0); });
  add("empty request id", [](mla::StatusUpdate* u) { u->clear_request_id(); });
  add("request id with space", [](mla::StatusUpdate* u) { u->set_request_id("a b"); });
  add("short request hash", [](mla::StatusUpdate* u) { u->set_request_sha256("abc"); });
  add("sequence 0", [](mla::StatusUpdate* u) { u->set_sequence(0); });
  add("sequence 1 with prev", [](mla::StatusUpdate* u) { u->set_sequence(1); });
  add("sequence 2 without prev", [](mla::StatusUpdate* u) { u->clear_prev_sha256(); });
  add("short prev", [](mla::StatusUpdate* u) { u->set_prev_sha256(std::string(31, 'x')); });
  add("unspecified state", [](mla::StatusUpdate* u) { u->set_state(mla::STATE_UNSPECIFIED); });
  add("unknown state", [](mla::StatusUpdate* u) { u->set_state(static_cast<mla::State>(77)); });
  add("long note", [](mla::StatusUpdate* u) {
    u->set_note(std::string(request_limits::kMaxStatusNoteBytes + 1, 'n'));
  });
  add("note not UTF-8", [](mla::StatusUpdate* u) { u->set_note("\xc3\x28"); });
  add("no time", [](mla::StatusUpdate* u) { u->set_created_at(0); });
  for (const auto& [what, u] : bad) {
    const Status s = ValidateStatusUpdate(u);
    EXPECT_FALSE(s.ok()) << what;
    if (!s.ok()) {
      EXPECT_EQ(s.error().code, Code::kInvalidArgument) << what;
    }
  }
}

}  // namespace
}  // namespace rogatory
