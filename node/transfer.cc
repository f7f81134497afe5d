#include "node/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>

#include "keys/crypto.h"
#include "keys/secret.h"

namespace rogatory {

namespace fs = std::filesystem;

namespace {

Error Errno(const std::string& what, const std::string& path) {
  return MakeError(Code::kUnavailable, what + " " + path + ": " + std::strerror(errno));
}

Status SyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Errno("cannot sync", path);
  return {};
}

// Creates `dir` and its parents, mode 0700.
Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return MakeError(Code::kUnavailable, "cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return {};
}

}  // namespace

bool SafeAttachmentName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '/' || u < 0x20 || u == 0x7f;
  });
}

namespace {

}  // namespace

std::string AttachmentDir(const std::string& home_dir, const std::string& sender_fp,
                          const std::string& message_id) {
  return home_dir + "/attachments/" + ToHex(sender_fp) + "/" + message_id;
}

std::string AttachmentPath(const std::string& dir, size_t index) {
  return dir + "/" + std::to_string(index);
}

Status CheckAttachments(const wire::InnerHeader& inner, size_t max_count, uint64_t max_bytes) {
  if (static_cast<size_t>(inner.attachments_size()) > max_count) {
    return MakeError(Code::kInvalidArgument,
                     std::to_string(inner.attachments_size()) + " attachments; the limit is " +
                         std::to_string(max_count));
  }
  for (int i = 0; i < inner.attachments_size(); ++i) {
    const auto& a = inner.attachments(i);
    const std::string which = "attachment " + std::to_string(i);
    if (!SafeAttachmentName(a.name())) {
      return MakeError(Code::kInvalidArgument, which + " has an unusable file name");
    }
    if (a.size() > max_bytes) {
      return MakeError(Code::kInvalidArgument, which + " (" + a.name() + ") is " +
                                                   std::to_string(a.size()) +
                                                   " bytes; the limit is " +
                                                   std::to_string(max_bytes));
    }
    if (auto s = ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size()); !s.ok()) {
      return MakeError(Code::kInvalidArgument, which + ": " + s.error().message);
    }
  }
  return {};
}

IncomingTransfer::~IncomingTransfer() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<IncomingTransfer>> IncomingTransfer::Start(
    std::string dir, const std::string& message_id,
    const google::protobuf::RepeatedPtrField<wire::AttachmentRef>& refs) {
  std::unique_ptr<IncomingTransfer> t(new IncomingTransfer());
  t->dir_ = std::move(dir);
  ROG_RETURN_IF_ERROR(MakeDirs(t->dir_));
  for (const auto& ref : refs) {
    t->refs_.push_back(ref);
    t->bytes_total_ += ref.size();
    t->verifiers_.push_back(std::make_unique<ChunkVerifier>(
        SecretBytes::From(ref.key()), message_id, ref.size(), ref.sha256(), ref.chunk_size()));
  }
  // Resume: whole attachments already received, then the verified prefix of
  // the one that was cut.
  for (t->current_ = 0; t->current_ < t->verifiers_.size(); ++t->current_) {
    auto& v = *t->verifiers_[t->current_];
    auto n = v.ResumeFrom(AttachmentPath(t->dir_, t->current_));
    if (!n.ok()) {
      // A complete file whose hash does not match, or unreadable: start it over.
      std::error_code ec;
      fs::remove(AttachmentPath(t->dir_, t->current_), ec);
      const auto& ref = t->refs_[t->current_];
      t->verifiers_[t->current_] = std::make_unique<ChunkVerifier>(
          SecretBytes::From(ref.key()), message_id, ref.size(), ref.sha256(), ref.chunk_size());
      break;
    }
    if (!v.done()) break;
  }
  // Files after the resume point are stale (an earlier attachment was cut or
  // damaged): they are received again from their start.
  for (size_t i = t->current_ + 1; i < t->refs_.size(); ++i) {
    std::error_code ec;
    fs::remove(AttachmentPath(t->dir_, i), ec);
  }
  ROG_RETURN_IF_ERROR(t->OpenCurrent());
  t->requested_until = t->next_chunk();
  return t;
}

Status IncomingTransfer::OpenCurrent() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (done()) return {};
  const std::string path = AttachmentPath(dir_, current_);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return Errno("cannot open", path);
  return {};
}

uint64_t IncomingTransfer::next_chunk() const {
  return done() ? 0 : verifiers_[current_]->next();
}

uint64_t IncomingTransfer::chunk_count() const {
  return done() ? 0 : verifiers_[current_]->chunk_count();
}

uint64_t IncomingTransfer::ChunkLength(uint64_t index) const {
  if (done()) return 0;
  return SealedChunkLength(refs_[current_].size(), refs_[current_].chunk_size(), index);
}

uint64_t IncomingTransfer::bytes_done() const {
  uint64_t n = 0;
  for (size_t i = 0; i < refs_.size(); ++i) {
    if (i < current_) {
      n += refs_[i].size();
    } else if (i == current_) {
      n += std::min<uint64_t>(refs_[i].size(),
                              verifiers_[i]->next() * uint64_t{refs_[i].chunk_size()});
    }
  }
  return n;
}

Status IncomingTransfer::Accept(uint32_t attachment, uint64_t index, std::string_view sealed,
                                bool* used) {
  *used = false;
  if (done() || attachment != current_ || index != verifiers_[current_]->next()) return {};
  auto& v = *verifiers_[current_];
  if (auto s = v.Accept(sealed); !s.ok()) {
    return MakeError(s.error().code, "attachment " + std::to_string(current_) + " (" +
                                         refs_[current_].name() + "): " + s.error().message);
  }
  size_t off = 0;
  while (off < sealed.size()) {
    const ssize_t w = ::write(fd_, sealed.data() + off, sealed.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      const Error e = Errno("cannot write", AttachmentPath(dir_, current_));
      // The verifier moved on but the file did not: resume from the file.
      return e;
    }
    off += static_cast<size_t>(w);
  }
  // Start writeback as the file grows, so the fsync at its end is short.
  const uint64_t end = SealedChunkOffset(index, refs_[current_].chunk_size()) + sealed.size();
  constexpr uint64_t kWritebackBytes = 32 << 20;
  if (end / kWritebackBytes != (end - sealed.size()) / kWritebackBytes) {
    (void)::sync_file_range(fd_, static_cast<off_t>(end / kWritebackBytes * kWritebackBytes -
                                                    kWritebackBytes),
                            kWritebackBytes, SYNC_FILE_RANGE_WRITE);
  }
  *used = true;
  bytes_received_ += sealed.size();
  if (v.done()) {
    if (::fdatasync(fd_) != 0) return Errno("cannot sync", AttachmentPath(dir_, current_));
    ++current_;
    ROG_RETURN_IF_ERROR(OpenCurrent());
    requested_until = next_chunk();
  }
  return {};
}

Status IncomingTransfer::Finish() {
  if (!done()) return MakeError(Code::kFailedPrecondition, "attachments are not complete");
  ROG_RETURN_IF_ERROR(SyncPath(dir_, O_RDONLY | O_DIRECTORY));
  // The message's directory, the sender's, and attachments/ (either of the
  // last two may have been created for this message).
  const fs::path sender_dir = fs::path(dir_).parent_path();
  ROG_RETURN_IF_ERROR(SyncPath(sender_dir.string(), O_RDONLY | O_DIRECTORY));
  ROG_RETURN_IF_ERROR(SyncPath(sender_dir.parent_path().string(), O_RDONLY | O_DIRECTORY));
  return {};
}

void IncomingTransfer::Discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace rogatory
