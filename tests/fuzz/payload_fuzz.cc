// Fuzz target: the plaintext inside an envelope (a serialized wire::Payload:
// inner header, inner signature, body), which only a peer holding valid keys
// can choose, and which a node parses after decrypting. The harness seals
// the input as Alice for Bob (fuzz_support.h SealPayload) and runs it
// through ExerciseEnvelope: strict parse of the payload and inner header,
// the inner header's binding to the outer one, the inner signature, then the
// attachment list and the structured request or status update in the body.
//
// Each input is tried twice: as it is, and with its inner signature made
// valid by Alice's key, so that mutated inner headers and bodies reach the
// checks behind the signature (a hostile but authenticated sender).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "keys/crypto.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  using namespace rogatory::fuzz;
  Init();
  (void)Bob();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  ExerciseEnvelope(SealPayload(bytes));

  wire::Payload p;
  if (!p.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::string signed_bytes = p.inner_header();
  signed_bytes.append(Sha256(p.body()));
  p.set_inner_signature(Sign(Alice().signing(), labels::kEnvelopeInner, signed_bytes));
  ExerciseEnvelope(SealPayload(SerializeCanonical(p)));
  return 0;
}
