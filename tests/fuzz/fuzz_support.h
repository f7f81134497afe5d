// What the fuzz harnesses and the seed generator (make_seeds.cc) share: the
// same fixed identities, keys, clock and audit log in every process, so
// that a seed signed by make_seeds verifies in a harness run later, and the
// fuzzer mutates inputs that reach past the signature checks.
//
// Nothing here is secret: these keys exist only for fuzzing. Every function
// initializes what it needs on first use and is not thread-safe (libFuzzer
// runs a harness on one thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/envelope.h"
#include "keys/identity.h"
#include "keys/secret.h"
#include "proto/wire.pb.h"

namespace rogatory::fuzz {

// The clock of harnesses and seeds (2023-11-14T22:13:20Z).
inline constexpr int64_t kNowUs = 1'700'000'000'000'000;

// InitCrypto() once; aborts if libsodium cannot start.
void Init();

// Three nodes with keys derived from their names (SHA-256 of a label):
// byte-identical cards in every process. Alice sends, owns the audit log
// below and leads the case; Bob receives and witnesses; Carol is a third
// party (gossip, a witness).
const Identity& Alice();
const Identity& Bob();
const Identity& Carol();

// 32 bytes derived from `label`.
SecretBytes FixedKey(std::string_view label);
// The case's epoch-1 key, and the key of the attachment of chunk frames.
const SecretBytes& EpochKey();
const SecretBytes& AttachmentKey();

// ------------------------------------------------------------ audit log
// Alice's log of kLogSize fixed entries; heads signed at fixed times.
inline constexpr uint64_t kLogSize = 13;
inline constexpr uint64_t kHeldSize = 5;  // the head a witness holds already
std::string LogRoot(uint64_t size);        // size <= kLogSize
std::vector<std::string> LogConsistency(uint64_t from, uint64_t to);
std::vector<std::string> LogInclusion(uint64_t index, uint64_t size);
std::string LogEntryBytes(uint64_t index);  // the serialized LogEntry
// Alice's serialized SignedTreeHead of the first `size` entries.
std::string SignedHead(uint64_t size);

// ------------------------------------------------------------ attachment
// The attachment of chunk frames: message id, plaintext and sealed chunks
// (kMinChunkBytes each; two chunks).
inline constexpr char kChunkMessageId[] = "fuzz-attachment";
const std::string& ChunkPlaintext();
const std::vector<std::string>& SealedChunks();

// ------------------------------------------------------------ payloads
// The fixed outer header (Alice to Bob) that SealPayload uses: an inner
// header must name these bytes to open.
const std::string& FixedOuterHeader();
// Seals `plaintext` (a serialized Payload, or anything) as Alice for Bob
// under the fixed outer header and a fixed content key, signs the outer
// layer, and returns the serialized Envelope.
std::string SealPayload(std::string_view plaintext);
// A Payload over `inner` (its outer_header set to FixedOuterHeader()) and
// `body`, inner signature by Alice: what SealPayload expects.
std::string MakePayload(wire::InnerHeader inner, std::string_view body);

// ------------------------------------------------------------ shared checks
// What a node does with envelope bytes from a peer (daemon.cc HandleDeliver
// and Show): strict parse, outer signature, open as the recipient Bob and as
// the sender Alice, then ExerciseOpened.
void ExerciseEnvelope(std::string_view bytes);
// What a node does with an opened message: the attachment list, and the
// structured request or status update in the body.
void ExerciseOpened(const ParsedEnvelope& env, const OpenedMessage& opened);
// What a node does with a case entry from a peer (node/cases.cc).
void ExerciseCaseEntry(std::string_view bytes);

// Reports a broken invariant (a property the headers promise) and aborts,
// so libFuzzer records the input as a crash.
[[noreturn]] void Violated(const char* what);

}  // namespace rogatory::fuzz
