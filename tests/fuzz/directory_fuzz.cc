// Fuzz target: signed directories as `directory import` reads them: armored
// text (keys/armor.h Dearmor, keys/directory.h VerifyArmoredDirectory) and
// the binary SignedDirectory inside (VerifyDirectory). A strictly parsed
// SignedDirectory is also re-signed by Alice (the authority of the seeds), so
// that mutated bodies reach the entry and removal checks behind the
// signature.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "keys/armor.h"
#include "keys/crypto.h"
#include "keys/directory.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckVerified(const rogatory::Result<rogatory::VerifiedDirectory>& v,
                   std::string_view input) {
  using namespace rogatory;
  using fuzz::Violated;
  if (!v.ok()) return;
  if (v->signed_bytes != input) Violated("a verified directory's signed_bytes are not its input");
  const wire::Directory& d = v->directory;
  if (v->cards.size() != static_cast<size_t>(d.entries_size())) {
    Violated("a verified directory has not one card per entry");
  }
  std::set<std::string> fingerprints, ids;
  for (size_t i = 0; i < v->cards.size(); ++i) {
    const VerifiedCard& c = v->cards[i];
    if (c.fingerprint != d.entries(static_cast<int>(i)).fingerprint()) {
      Violated("a directory card's fingerprint is not its entry's");
    }
    if (!fingerprints.insert(c.fingerprint).second) Violated("a directory lists a fingerprint twice");
    if (!ids.insert(c.card.node_id()).second) Violated("a directory lists a node id twice");
  }
  for (const auto& r : d.removals()) {
    if (r.fingerprint().size() != kFingerprintBytes) Violated("a removal of a malformed fingerprint");
    if (fingerprints.count(r.fingerprint())) Violated("a directory both lists and removes a node");
  }
  // The authority's fingerprint as an operator compares it (text form).
  auto fp = ParseFingerprint(FingerprintText(v->authority.fingerprint));
  if (!fp.ok() || *fp != v->authority.fingerprint) {
    Violated("authority fingerprint text does not round-trip");
  }
  // Strict parse: the parsed message has exactly one encoding, the input.
  wire::SignedDirectory sd;
  if (!ParseStrict(input, &sd, "directory").ok() || SerializeCanonical(sd) != input) {
    Violated("a verified directory does not re-serialize to its input");
  }
  if (sd.directory() != SerializeCanonical(d)) {
    Violated("a verified directory's body does not re-serialize to the signed bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  fuzz::Init();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Armored: strict both ways (armor.h: Encode(Decode(t)) == t).
  auto bytes = Dearmor(kDirectoryArmorType, text);
  if (bytes.ok()) {
    if (Armor(kDirectoryArmorType, *bytes) != text) fuzz::Violated("Armor(Dearmor(t)) != t");
    CheckVerified(VerifyDirectory(*bytes), *bytes);
  }
  auto armored = VerifyArmoredDirectory(text);
  if (armored.ok() != (bytes.ok() && VerifyDirectory(*bytes).ok())) {
    fuzz::Violated("VerifyArmoredDirectory disagrees with Dearmor + VerifyDirectory");
  }
  if (armored.ok()) CheckVerified(armored, *bytes);

  // Binary.
  CheckVerified(VerifyDirectory(text), text);

  // Binary, re-signed by Alice: a mutated body with the seeds' authority
  // card still passes the signature check.
  wire::SignedDirectory sd;
  if (ParseStrict(text, &sd, "directory").ok()) {
    sd.set_signature(Sign(fuzz::Alice().signing(), labels::kDirectory, sd.directory()));
    const std::string resigned = SerializeCanonical(sd);
    CheckVerified(VerifyDirectory(resigned), resigned);
  }
  return 0;
}
