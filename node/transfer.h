// Attachment transfers (SPEC 4, "Attachments"). An attachment travels after
// its envelope, chunk by chunk, pulled by the receiver: it asks for a window
// of chunks (Frame.want), the sender answers each with one Frame.chunk read
// from its staged file. The receiver authenticates every chunk before it
// writes it, so nothing unverified is staged, and after a crash it resumes
// at the first chunk missing from its own files (keys/attachment.h:
// ChunkVerifier::ResumeFrom) instead of starting over.
//
// Files: <home>/attachments/<sender fingerprint hex>/<message id>/<n>, the
// concatenated sealed chunks of attachment n, on both sides. They stay sealed
// at rest; `rogatory fetch` decrypts one to a file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keys/attachment.h"
#include "keys/result.h"
#include "proto/wire.pb.h"

namespace rogatory {

// The directory holding a message's attachments.
std::string AttachmentDir(const std::string& home_dir, const std::string& sender_fp,
                          const std::string& message_id);
std::string AttachmentPath(const std::string& dir, size_t index);

// A file name that is safe to show and to write: no directory part, no
// control characters (a newline would split log lines and refusals).
bool SafeAttachmentName(const std::string& name);

// Checks the attachment list of a received inner header against the limits.
Status CheckAttachments(const wire::InnerHeader& inner, size_t max_count, uint64_t max_bytes);

// The receiving side of one message's attachments.
class IncomingTransfer {
 public:
  // Opens (creating) `dir` and resumes from whatever verified chunks it
  // already holds.
  static Result<std::unique_ptr<IncomingTransfer>> Start(
      std::string dir, const std::string& message_id,
      const google::protobuf::RepeatedPtrField<wire::AttachmentRef>& refs);
  ~IncomingTransfer();

  bool done() const { return current_ >= verifiers_.size(); }
  uint32_t current() const { return static_cast<uint32_t>(current_); }
  uint64_t next_chunk() const;
  uint64_t chunk_count() const;  // of the current attachment
  uint64_t bytes_done() const;
  uint64_t bytes_total() const { return bytes_total_; }
  // Bytes accepted from the network by this object (not resumed from disk).
  uint64_t bytes_received() const { return bytes_received_; }
  const std::string& dir() const { return dir_; }

  // Authenticates chunk `index` of attachment `attachment` and appends it to
  // its file. kOutOfRange-like: chunks other than the expected one are
  // ignored (returns false in *used). Authentication or hash failures are
  // errors: the message must be refused.
  Status Accept(uint32_t attachment, uint64_t index, std::string_view sealed, bool* used);
  // Makes every file durable (fsync of files and directories).
  Status Finish();
  // Deletes the files (a refused message).
  void Discard();

  // Sealed length of chunk `index` of the current attachment (0 if none).
  uint64_t ChunkLength(uint64_t index) const;

  // Flow control, kept by the daemon.
  uint64_t requested_until = 0;  // chunks of current() requested below this
  int64_t last_progress_ms = 0;
  int64_t stalls = 0;            // re-requests since the last accepted chunk

 private:
  IncomingTransfer() = default;
  Status OpenCurrent();

  std::string dir_;
  std::vector<wire::AttachmentRef> refs_;
  std::vector<std::unique_ptr<ChunkVerifier>> verifiers_;
  size_t current_ = 0;
  int fd_ = -1;  // file of the current attachment, open for appending
  uint64_t bytes_total_ = 0;
  uint64_t bytes_received_ = 0;
};

}  // namespace rogatory
