// Attachments: evidence files sealed in chunks with XChaCha20-Poly1305 in the
// STREAM manner (SPEC section 4), under a random per-attachment key carried in
// the signed, encrypted inner header.
//
//   C         = chunk_bytes (plaintext bytes per chunk; the last may be shorter)
//   n         = max(1, ceil(size / C)); an empty file is one empty last chunk
//   last_i    = 1 if i == n - 1, else 0
//   nonce_i   = LE64(i) || last_i || 0^15                                 (24 bytes)
//   ad_i      = "rogatory/attachment-chunk/v1" || 0x00 || message id || 0x00
//               || LE64(i) || last_i
//   sealed_i  = XChaCha20-Poly1305-IETF_K(plaintext_i, nonce_i, ad_i)
//             = ciphertext || 16-byte tag
//   staged    = sealed_0 || sealed_1 || ... || sealed_{n-1}
//               (sealed_i starts at i * (C + 16))
//
// The index stops reordering, the last flag stops truncation and extension,
// the message id stops splicing chunks between messages. Each key seals one
// attachment, so each (index, last) nonce is used once per key. There is no
// stream state: any chunk opens alone, so a transfer resumes at any chunk.
// The SHA-256 of the plaintext (the evidence hash) is checked after the last.
//
// Files are never held whole in memory: SealFile, OpenFile and
// ChunkVerifier::ResumeFrom keep a few chunks in flight, in a two-thread
// pipeline (one thread reads and seals or opens, the calling thread hashes
// and writes).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

class Sha256Stream;

inline constexpr uint32_t kDefaultChunkBytes = 1u << 20;
// Bounds on an attachment's chunk size, checked on everything received.
inline constexpr uint32_t kMinChunkBytes = 4096;
inline constexpr uint32_t kMaxChunkBytes = 8u << 20;
// Format bound on the plaintext size, so that every offset in the staged file
// fits an off_t. A node's own attachment limit is far lower.
inline constexpr uint64_t kMaxAttachmentBytes = uint64_t{1} << 62;
inline constexpr size_t kAttachmentKeyBytes = 32;
inline constexpr size_t kChunkTagBytes = 16;

// Chunk arithmetic. All require chunk_bytes > 0 and size <=
// kMaxAttachmentBytes (ValidateAttachmentRef checks both).
uint64_t ChunkCount(uint64_t size, uint32_t chunk_bytes);
// Bytes of the staged file: size + 16 per chunk.
uint64_t SealedSize(uint64_t size, uint32_t chunk_bytes);
uint64_t SealedChunkOffset(uint64_t index, uint32_t chunk_bytes);
// Bytes of sealed chunk `index`, tag included; 0 if index >= ChunkCount.
uint64_t SealedChunkLength(uint64_t size, uint32_t chunk_bytes, uint64_t index);

// Checks an attachment reference from an inner header: a 32-byte key and
// SHA-256, a chunk size within [kMinChunkBytes, kMaxChunkBytes], a size within
// kMaxAttachmentBytes. kInvalidArgument naming the field otherwise.
Status ValidateAttachmentRef(uint64_t size, std::string_view sha256, std::string_view key,
                             uint32_t chunk_bytes);

// Seals one chunk into *out (resized to plaintext.size() + 16; `out` must not
// alias `plaintext`). `key` must be kAttachmentKeyBytes long: a shorter key is
// a programmer error and aborts. Thread-safe.
void SealChunk(const SecretBytes& key, std::string_view message_id, uint64_t index, bool last,
               std::string_view plaintext, std::string* out);
// Opens one sealed chunk into *out (resized; reuse the buffer across calls to
// avoid allocating). Returns false, with *out cleared, if the key has the
// wrong size, the chunk is shorter than a tag, or authentication fails.
// Thread-safe.
[[nodiscard]] bool OpenChunk(const SecretBytes& key, std::string_view message_id, uint64_t index,
                             bool last, std::string_view sealed, std::string* out);

// The plaintext's size and SHA-256 (32 bytes), for the AttachmentRef.
struct SealedFile {
  uint64_t size = 0;
  std::string sha256;
};

// Called on the calling thread after each chunk with the plaintext bytes done
// so far and the total. May be empty.
using Progress = std::function<void(uint64_t done, uint64_t total)>;

// Reads input_path once and writes its staged file at output_path (created
// new with mode 0600, fsynced, as is its directory). Returns the plaintext's
// size and SHA-256. Errors are one line naming the file:
//   kNotFound / kPermissionDenied / kUnavailable  "cannot read evidence.bin: ..."
//   kAlreadyExists                                 "cannot create x.staged: File exists"
//   kUnavailable    the input changed size while being read, or a write failed
//   kInvalidArgument a bad key, chunk size, or a file over kMaxAttachmentBytes
// On any error a partly written output is removed; an output that existed
// before is never touched. Not thread-safe with respect to the same paths.
Result<SealedFile> SealFile(const std::string& input_path, const std::string& output_path,
                            const SecretBytes& key, std::string_view message_id,
                            uint32_t chunk_bytes, const Progress& progress = {});

// Opens the staged file at staged_path into output_path (created new with
// mode 0600, fsynced, as is its directory), authenticating every chunk and
// checking the size and, at the end, the SHA-256. On failure the output is
// removed and the error is one line:
//   kDataLoss  "attachment chunk 7 failed authentication", a staged file of
//              the wrong length, or "attachment SHA-256 mismatch: ..."
//   kInvalidArgument a bad reference (ValidateAttachmentRef)
//   otherwise the file errors of SealFile.
Status OpenFile(const std::string& staged_path, const std::string& output_path,
                const SecretBytes& key, std::string_view message_id, uint64_t size,
                std::string_view sha256, uint32_t chunk_bytes, const Progress& progress = {});

// Checks a staged file as its chunks arrive, in order, on the receiving side.
// Holds a copy of the key. Not thread-safe; movable.
class ChunkVerifier {
 public:
  // An invalid reference (ValidateAttachmentRef) makes the verifier unusable
  // from the start: every call returns that kInvalidArgument error.
  ChunkVerifier(SecretBytes key, std::string message_id, uint64_t size, std::string sha256,
                uint32_t chunk_bytes);
  ~ChunkVerifier();
  ChunkVerifier(ChunkVerifier&&) noexcept;
  ChunkVerifier& operator=(ChunkVerifier&&) noexcept;

  uint64_t next() const { return next_; }  // index of the chunk expected next
  uint64_t chunk_count() const { return count_; }
  // Every chunk accepted and the SHA-256 matched.
  bool done() const { return state_ == State::kDone; }

  // Authenticates sealed chunk next() and adds its plaintext to the running
  // SHA-256; after the last chunk compares the hash. Errors, after which the
  // verifier is unusable (every call returns the same error again):
  //   kInvalidArgument  the chunk has the wrong length
  //   kUnauthenticated  "attachment chunk 7 failed authentication"
  //   kDataLoss         the SHA-256 of the whole plaintext does not match
  // kFailedPrecondition once done.
  Status Accept(std::string_view sealed_chunk);

  // Resumes after a crash from the staged file at `path`, on a verifier that
  // has accepted nothing yet (kFailedPrecondition otherwise). Accepts chunks
  // in order until the end of the file, the first short chunk or the first
  // that fails authentication; truncates the file after the last accepted
  // chunk and fsyncs it. Returns the number of chunks accepted (0 if the file
  // does not exist); next() equals it afterwards, and the caller appends
  // chunk next() onwards. An authentic final chunk with the wrong SHA-256 is
  // the kDataLoss error of Accept; I/O errors are the file errors of
  // SealFile. Any error makes the verifier unusable, as in Accept.
  Result<uint64_t> ResumeFrom(const std::string& path);

 private:
  enum class State { kAccepting, kDone, kFailed };

  // Opens `sealed` as chunk `index` into *plain; false if it fails. Reads
  // only what the constructor set, so ResumeFrom's reading thread may call it.
  bool OpenAt(uint64_t index, std::string_view sealed, std::string* plain) const;
  // Hashes an opened chunk, advances, and checks the hash after the last.
  Status Advance(std::string_view plain);
  Status Fail(Error error);
  Status Unusable() const;

  SecretBytes key_;
  std::string message_id_;
  uint64_t size_;
  std::string sha256_;
  uint32_t chunk_bytes_;
  uint64_t count_ = 0;
  uint64_t next_ = 0;
  State state_ = State::kAccepting;
  Error error_;  // why the verifier failed, when state_ == kFailed
  std::unique_ptr<Sha256Stream> hash_;
  std::string plain_;  // reused across Accept calls
};

}  // namespace rogatory
