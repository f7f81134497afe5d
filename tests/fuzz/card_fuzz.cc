// Fuzz target: identity cards as `peer add` and `directory import` read
// them: armored text (keys/armor.h Dearmor, keys/card.h VerifyArmoredCard)
// and the binary SignedCard inside (VerifyCard), plus the fingerprint text a
// user types next to them (ParseFingerprint).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/strict_parse.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckVerified(const rogatory::Result<rogatory::VerifiedCard>& v) {
  using namespace rogatory;
  if (!v.ok()) return;
  // The fingerprint names the first card's identity key (keys/card.h),
  // and the chain ends with the card itself.
  if (v->chain.empty() || v->fingerprint != FingerprintOf(v->chain.front().signing_key()) ||
      SerializeCanonical(v->chain.back()) != SerializeCanonical(v->card)) {
    fuzz::Violated("a verified card's chain does not start at its fingerprint's key");
  }
  // Text form round trip (what `id show` prints and `peer add` reads).
  auto fp = ParseFingerprint(FingerprintText(v->fingerprint));
  if (!fp.ok() || *fp != v->fingerprint) fuzz::Violated("fingerprint text does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  fuzz::Init();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Armored: strict both ways (armor.h: Encode(Decode(t)) == t).
  auto bytes = Dearmor(kCardArmorType, text);
  if (bytes.ok()) {
    if (Armor(kCardArmorType, *bytes) != text) fuzz::Violated("Armor(Dearmor(t)) != t");
    CheckVerified(VerifyCard(*bytes));
  }
  auto armored = VerifyArmoredCard(text);
  if (armored.ok() != (bytes.ok() && VerifyCard(*bytes).ok())) {
    fuzz::Violated("VerifyArmoredCard disagrees with Dearmor + VerifyCard");
  }
  CheckVerified(armored);

  // Binary.
  CheckVerified(VerifyCard(text));

  // A fingerprint as typed (any case, with or without dashes).
  if (size <= 128) {
    auto fp = ParseFingerprint(text);
    if (fp.ok() && fp->size() != kFingerprintBytes) fuzz::Violated("fingerprint of wrong size");
  }
  return 0;
}
