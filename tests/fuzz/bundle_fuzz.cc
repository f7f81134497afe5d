// Fuzz target: provenance bundles as `rogatory verify` reads them (keys/
// bundle.h VerifyBundle, which never fails as a call). The input is tried
// as armored text, and armored by the harness first so that the binary
// Bundle parser and everything behind it are reached.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/armor.h"
#include "keys/bundle.h"
#include "keys/fingerprint.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckReport(const rogatory::VerifyReport& r) {
  using rogatory::fuzz::Violated;
  if (r.valid && !r.errors.empty()) Violated("a valid bundle with errors");
  if (!r.valid && r.errors.empty()) Violated("an invalid bundle without an error");
  for (const auto& c : r.checks) {
    if (r.valid && !c.ok) Violated("a valid bundle with a failed check");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  fuzz::Init();
  static const std::string alice = FingerprintText(fuzz::Alice().fingerprint());
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckReport(VerifyBundle(bytes, ""));
  const std::string armored = Armor(kBundleArmorType, bytes);
  CheckReport(VerifyBundle(armored, ""));
  CheckReport(VerifyBundle(armored, alice));
  return 0;
}
