// Fuzz target: envelope bytes as a peer delivers them (also what `verify`
// reads from a bundle): ParseEnvelope, VerifyOuterSignature, OpenEnvelope as
// the recipient and as the sender, OpenWithContentKey, and what a node does
// with an opened message. Alice (fuzz_support.h) is the sender, Bob the
// recipient.
//
// Each input is tried twice: as it is, and with its outer signature made
// valid again by Alice's key, so that mutations of the signed SealedMessage
// reach the checks behind the signature (what a peer holding a valid key,
// or a bug in signing, could send).
#include <cstddef>
#include <cstdint>
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
  ExerciseEnvelope(bytes);

  wire::Envelope env;
  if (!env.ParseFromArray(data, static_cast<int>(size))) return 0;
  env.set_signature(Sign(Alice().signing(), labels::kEnvelopeOuter, env.sealed()));
  ExerciseEnvelope(SerializeCanonical(env));
  return 0;
}
