// Fuzz target: the JSON request file of `rogatory request new --from-file`
// (node/request.h ParseRequestJson), with and without `--to`, and the
// promises its header makes: at most 51 problem lines; a parsed request
// passes ValidateRequest (what a receiver checks); RequestToJson renders it
// without throwing, and parsing that gives the same request again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/strict_parse.h"
#include "node/request.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckParsed(const rogatory::Result<rogatory::mla::MlaRequest>& r,
           const std::vector<std::string>& problems) {
  using namespace rogatory;
  using fuzz::Violated;
  if (!r.ok()) {
    if (problems.empty()) Violated("ParseRequestJson failed without a problem line");
    if (problems.size() > 51) Violated("ParseRequestJson gave more than 51 problem lines");
    return;
  }
  if (!problems.empty()) Violated("ParseRequestJson succeeded with problem lines");
  if (auto s = ValidateRequest(*r); !s.ok()) {
    std::fprintf(stderr, "ValidateRequest: %s\n", s.error().message.c_str());
    Violated("a parsed request does not pass ValidateRequest");
  }
  (void)RequestSubject(*r);
  const std::string json = RequestToJson(*r).dump(2);
  std::vector<std::string> again_problems;
  auto again = ParseRequestJson(json, fuzz::kNowUs, &again_problems);
  if (!again.ok()) {
    std::fprintf(stderr, "re-parse: %s\n", again.error().message.c_str());
    Violated("RequestToJson output does not parse again");
  }
  mla::MlaRequest a = *r, b = *again;
  a.clear_deadline_text();
  b.clear_deadline_text();
  if (SerializeCanonical(a) != SerializeCanonical(b)) {
    Violated("RequestToJson then ParseRequestJson changes the request");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  fuzz::Init();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  {
    std::vector<std::string> problems;
    auto r = ParseRequestJson(text, fuzz::kNowUs, &problems);
    CheckParsed(r, problems);
  }
  {
    std::vector<std::string> problems;
    auto r = ParseRequestJson(text, fuzz::kNowUs, &problems, "ch-ofj");
    CheckParsed(r, problems);
  }
  return 0;
}
