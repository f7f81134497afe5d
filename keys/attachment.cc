#include "keys/attachment.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "keys/crypto.h"
#include "keys/labels.h"

namespace rogatory {

static_assert(kChunkTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(kAttachmentKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kXNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);

uint64_t ChunkCount(uint64_t size, uint32_t chunk_bytes) {
  return size == 0 ? 1 : (size - 1) / chunk_bytes + 1;
}

uint64_t SealedSize(uint64_t size, uint32_t chunk_bytes) {
  return size + ChunkCount(size, chunk_bytes) * kChunkTagBytes;
}

uint64_t SealedChunkOffset(uint64_t index, uint32_t chunk_bytes) {
  return index * (uint64_t{chunk_bytes} + kChunkTagBytes);
}

uint64_t SealedChunkLength(uint64_t size, uint32_t chunk_bytes, uint64_t index) {
  if (index >= ChunkCount(size, chunk_bytes)) return 0;
  const uint64_t start = index * chunk_bytes;
  return std::min<uint64_t>(chunk_bytes, size - start) + kChunkTagBytes;
}

namespace {

Status ValidateChunkBytes(uint32_t chunk_bytes) {
  if (chunk_bytes < kMinChunkBytes || chunk_bytes > kMaxChunkBytes) {
    return MakeError(Code::kInvalidArgument, "attachment chunk size " +
                                                 std::to_string(chunk_bytes) + " is outside [" +
                                                 std::to_string(kMinChunkBytes) + ", " +
                                                 std::to_string(kMaxChunkBytes) + "]");
  }
  return {};
}

Status ValidateKey(std::string_view key) {
  if (key.size() != kAttachmentKeyBytes) {
    return MakeError(Code::kInvalidArgument, "attachment key must be 32 bytes");
  }
  return {};
}

}  // namespace

Status ValidateAttachmentRef(uint64_t size, std::string_view sha256, std::string_view key,
                             uint32_t chunk_bytes) {
  if (size > kMaxAttachmentBytes) {
    return MakeError(Code::kInvalidArgument,
                     "attachment size " + std::to_string(size) + " is beyond the format's bound");
  }
  if (sha256.size() != kSha256Bytes) {
    return MakeError(Code::kInvalidArgument, "attachment SHA-256 must be 32 bytes");
  }
  ROG_RETURN_IF_ERROR(ValidateKey(key));
  return ValidateChunkBytes(chunk_bytes);
}

namespace {

unsigned char* U(std::string* s) { return reinterpret_cast<unsigned char*>(s->data()); }

void PutLe64(uint64_t v, unsigned char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::array<unsigned char, kXNonceBytes> ChunkNonce(uint64_t index, bool last) {
  std::array<unsigned char, kXNonceBytes> nonce{};
  PutLe64(index, nonce.data());
  nonce[8] = last ? 1 : 0;
  return nonce;
}

std::string ChunkAd(std::string_view message_id, uint64_t index, bool last) {
  std::string ad;
  ad.reserve(sizeof(labels::kAttachmentChunk) + message_id.size() + 10);
  ad.append(labels::kAttachmentChunk);
  ad.push_back('\0');
  ad.append(message_id);
  ad.push_back('\0');
  unsigned char le[8];
  PutLe64(index, le);
  ad.append(reinterpret_cast<const char*>(le), sizeof(le));
  ad.push_back(last ? 1 : 0);
  return ad;
}

}  // namespace

void SealChunk(const SecretBytes& key, std::string_view message_id, uint64_t index, bool last,
               std::string_view plaintext, std::string* out) {
  if (key.size() != kAttachmentKeyBytes) std::abort();  // a bug: keys are checked on entry
  const auto nonce = ChunkNonce(index, last);
  const std::string ad = ChunkAd(message_id, index, last);
  out->resize(plaintext.size() + kChunkTagBytes);
  XChaChaSeal(key, nonce.data(), ad, plaintext, U(out));
}

bool OpenChunk(const SecretBytes& key, std::string_view message_id, uint64_t index, bool last,
               std::string_view sealed, std::string* out) {
  if (key.size() != kAttachmentKeyBytes || sealed.size() < kChunkTagBytes) {
    out->clear();
    return false;
  }
  const auto nonce = ChunkNonce(index, last);
  const std::string ad = ChunkAd(message_id, index, last);
  out->resize(sealed.size() - kChunkTagBytes);
  if (!XChaChaOpen(key, nonce.data(), ad, sealed, U(out))) {
    out->clear();
    return false;
  }
  return true;
}

namespace {

// ---- Files ----------------------------------------------------------------

Code CodeForErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Code::kNotFound;
    case EACCES:
    case EPERM:
      return Code::kPermissionDenied;
    case EEXIST:
      return Code::kAlreadyExists;
    default:
      return Code::kUnavailable;
  }
}

Error FileError(std::string_view verb, const std::string& path, int err) {
  return MakeError(CodeForErrno(err), std::string(verb) + " " + path + ": " + std::strerror(err),
                   err == ENOSPC ? "free disk space and try again" : "");
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes now, reporting the error close() gives (0 or an errno).
  int Close() {
    const int rc = ::close(std::exchange(fd_, -1));
    return rc == 0 ? 0 : errno;
  }

 private:
  void Reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  int fd_ = -1;
};

// An existing regular file opened for sequential reading.
struct InputFile {
  Fd fd;
  uint64_t size = 0;
};

Result<InputFile> OpenInput(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd.valid()) return FileError("cannot read", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return FileError("cannot read", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Code::kInvalidArgument, "cannot read " + path + ": not a regular file");
  }
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return InputFile{std::move(fd), static_cast<uint64_t>(st.st_size)};
}

// Reads up to `length` bytes at `offset` into *buffer, resized to what was
// read: shorter only at the end of the file.
Status ReadAt(int fd, uint64_t offset, size_t length, std::string* buffer,
              const std::string& path) {
  buffer->resize(length);
  size_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, buffer->data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError("cannot read", path, errno);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  buffer->resize(done);
  return {};
}

Error ChangedWhileRead(const std::string& path) {
  return MakeError(Code::kUnavailable, path + " changed size while being read",
                   "wait until the file is complete and try again");
}

// The end of the input must be where fstat said it was when we started.
Status CheckEndOfInput(const InputFile& in, const std::string& path) {
  std::string probe;
  ROG_RETURN_IF_ERROR(ReadAt(in.fd.get(), in.size, 1, &probe, path));
  if (!probe.empty()) return ChangedWhileRead(path);
  return {};
}

Status SyncDirectoryOf(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid() || ::fsync(fd.get()) != 0) {
    return FileError("cannot sync the directory of", path, errno);
  }
  return {};
}

// A file this call creates: removed again unless Finish() succeeds, so a
// failed call leaves nothing behind (and never touches a file it did not
// create: O_EXCL).
class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)) {}
  ~OutputFile() {
    if (created_ && !finished_) {
      fd_ = Fd();
      ::unlink(path_.c_str());
    }
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  Status Create() {
    fd_ = Fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd_.valid()) return FileError("cannot create", path_, errno);
    created_ = true;
    if (::fchmod(fd_.get(), 0600) != 0) return FileError("cannot create", path_, errno);
    return {};
  }

  Status Append(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return FileError("cannot write", path_, errno);
      data.remove_prefix(static_cast<size_t>(n));
      written_ += static_cast<uint64_t>(n);
    }
    WriteBehind();
    return {};
  }

  Status Finish() {
    if (::fsync(fd_.get()) != 0) return FileError("cannot sync", path_, errno);
    if (const int err = fd_.Close(); err != 0) return FileError("cannot close", path_, err);
    ROG_RETURN_IF_ERROR(SyncDirectoryOf(path_));
    finished_ = true;
    return {};
  }

 private:
  // Starts writeback of what was written since the last call, every
  // kWriteBehindBytes: the disk works while we encrypt, the final fsync has
  // little left to do, and a multi-gigabyte file does not pile up dirty
  // pages. A hint only: fsync reports any error.
  void WriteBehind() {
#ifdef __linux__
    if (written_ - started_ < kWriteBehindBytes) return;
    ::sync_file_range(fd_.get(), static_cast<off_t>(started_),
                      static_cast<off_t>(written_ - started_), SYNC_FILE_RANGE_WRITE);
    started_ = written_;
#endif
  }

  static constexpr uint64_t kWriteBehindBytes = 16 << 20;

  std::string path_;
  Fd fd_;
  bool created_ = false;
  bool finished_ = false;
  uint64_t written_ = 0;  // bytes appended
  uint64_t started_ = 0;  // bytes whose writeback has been started
};

// ---- Pipeline -------------------------------------------------------------
//
// Two threads share the work on a file: a second thread reads each chunk and
// seals or opens it; the calling thread hashes the plaintext and writes. On
// this construction the two halves cost about the same (AEAD ≈ SHA-256 +
// page-cache write), so both cores stay busy. A few slots circulate between a
// queue of free slots and a queue of full ones, which bounds the memory.

constexpr size_t kPipelineSlots = 3;

// One chunk in flight.
struct Slot {
  uint64_t index = 0;
  std::string plain;
  std::string sealed;
};

// A closable FIFO of slots. Pop blocks until a slot is there and returns
// nullptr once the queue is closed and empty.
class SlotQueue {
 public:
  void Push(Slot* slot) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      slots_.push_back(slot);
    }
    cv_.notify_one();
  }
  Slot* Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !slots_.empty() || closed_; });
    if (slots_.empty()) return nullptr;
    Slot* slot = slots_.front();
    slots_.pop_front();
    return slot;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot*> slots_;  // guarded by mu_
  bool closed_ = false;      // guarded by mu_
};

// What the reading thread made of one chunk.
enum class Produced { kChunk, kEnd };
// Fills slot.plain and slot.sealed for chunk slot.index, or says the file
// ends before it (kEnd: the slot is not consumed). Runs on the second thread.
using ProduceFn = std::function<Result<Produced>(Slot&)>;
// Hashes and writes a filled slot. Runs on the calling thread, in order.
using ConsumeFn = std::function<Status(Slot&)>;

// Runs chunks 0 .. count-1 through produce and consume. Returns the number of
// chunks consumed (fewer than count only if produce ended early), or the
// first error in chunk order.
Result<uint64_t> RunPipeline(uint64_t count, const ProduceFn& produce, const ConsumeFn& consume) {
  std::array<Slot, kPipelineSlots> slots;
  SlotQueue free_slots, full_slots;
  for (Slot& slot : slots) free_slots.Push(&slot);
  std::atomic<bool> cancelled{false};
  std::optional<Error> producer_error;

  auto producer = [&] {
    for (uint64_t i = 0; i < count && !cancelled.load(std::memory_order_relaxed); ++i) {
      Slot* slot = free_slots.Pop();
      if (slot == nullptr) break;
      slot->index = i;
      Result<Produced> r = produce(*slot);
      if (!r.ok()) producer_error = r.error();
      if (!r.ok() || *r == Produced::kEnd) break;
      full_slots.Push(slot);
    }
    full_slots.Close();
  };
  std::thread thread;
  try {
    thread = std::thread(producer);
  } catch (const std::system_error& e) {
    return MakeError(Code::kUnavailable, std::string("cannot start a thread: ") + e.what());
  }

  uint64_t consumed = 0;
  std::optional<Error> consumer_error;
  while (Slot* slot = full_slots.Pop()) {
    Status s = consume(*slot);
    if (!s.ok()) {
      consumer_error = s.error();
      cancelled.store(true, std::memory_order_relaxed);
      free_slots.Close();
      break;
    }
    ++consumed;
    free_slots.Push(slot);
  }
  thread.join();
  // The consumer fails only on chunks the producer finished, so its error
  // comes first in chunk order.
  if (consumer_error) return *consumer_error;
  if (producer_error) return *producer_error;
  return consumed;
}

Error ChunkFailed(Code code, uint64_t index) {
  return MakeError(code, "attachment chunk " + std::to_string(index) + " failed authentication");
}

}  // namespace

// ---- SealFile / OpenFile --------------------------------------------------

Result<SealedFile> SealFile(const std::string& input_path, const std::string& output_path,
                            const SecretBytes& key, std::string_view message_id,
                            uint32_t chunk_bytes, const Progress& progress) {
  ROG_RETURN_IF_ERROR(ValidateKey(key.view()));
  ROG_RETURN_IF_ERROR(ValidateChunkBytes(chunk_bytes));
  ROG_ASSIGN_OR_RETURN(InputFile in, OpenInput(input_path, O_RDONLY));
  if (in.size > kMaxAttachmentBytes) {
    return MakeError(Code::kInvalidArgument, input_path + " is too large for an attachment");
  }
  OutputFile out(output_path);
  ROG_RETURN_IF_ERROR(out.Create());

  const uint64_t size = in.size;
  const uint64_t count = ChunkCount(size, chunk_bytes);
  auto produce = [&](Slot& slot) -> Result<Produced> {
    const uint64_t offset = slot.index * chunk_bytes;
    const size_t length = std::min<uint64_t>(chunk_bytes, size - offset);
    ROG_RETURN_IF_ERROR(ReadAt(in.fd.get(), offset, length, &slot.plain, input_path));
    if (slot.plain.size() != length) return ChangedWhileRead(input_path);
    SealChunk(key, message_id, slot.index, slot.index + 1 == count, slot.plain, &slot.sealed);
    return Produced::kChunk;
  };
  Sha256Stream hash;
  uint64_t done = 0;
  auto consume = [&](Slot& slot) -> Status {
    hash.Update(slot.plain);
    ROG_RETURN_IF_ERROR(out.Append(slot.sealed));
    done += slot.plain.size();
    if (progress) progress(done, size);
    return {};
  };
  ROG_RETURN_IF_ERROR(RunPipeline(count, produce, consume));
  ROG_RETURN_IF_ERROR(CheckEndOfInput(in, input_path));
  ROG_RETURN_IF_ERROR(out.Finish());
  return SealedFile{size, hash.Finish()};
}

Status OpenFile(const std::string& staged_path, const std::string& output_path,
                const SecretBytes& key, std::string_view message_id, uint64_t size,
                std::string_view sha256, uint32_t chunk_bytes, const Progress& progress) {
  ROG_RETURN_IF_ERROR(ValidateAttachmentRef(size, sha256, key.view(), chunk_bytes));
  ROG_ASSIGN_OR_RETURN(InputFile in, OpenInput(staged_path, O_RDONLY));
  const uint64_t expected = SealedSize(size, chunk_bytes);
  if (in.size != expected) {
    return MakeError(Code::kDataLoss, "staged attachment " + staged_path + " has " +
                                          std::to_string(in.size) + " bytes, expected " +
                                          std::to_string(expected));
  }
  OutputFile out(output_path);
  ROG_RETURN_IF_ERROR(out.Create());

  const uint64_t count = ChunkCount(size, chunk_bytes);
  auto produce = [&](Slot& slot) -> Result<Produced> {
    const uint64_t length = SealedChunkLength(size, chunk_bytes, slot.index);
    ROG_RETURN_IF_ERROR(ReadAt(in.fd.get(), SealedChunkOffset(slot.index, chunk_bytes), length,
                               &slot.sealed, staged_path));
    if (slot.sealed.size() != length) return ChangedWhileRead(staged_path);
    if (!OpenChunk(key, message_id, slot.index, slot.index + 1 == count, slot.sealed,
                   &slot.plain)) {
      return ChunkFailed(Code::kDataLoss, slot.index);
    }
    return Produced::kChunk;
  };
  Sha256Stream hash;
  uint64_t done = 0;
  auto consume = [&](Slot& slot) -> Status {
    hash.Update(slot.plain);
    ROG_RETURN_IF_ERROR(out.Append(slot.plain));
    done += slot.plain.size();
    if (progress) progress(done, size);
    return {};
  };
  ROG_RETURN_IF_ERROR(RunPipeline(count, produce, consume));
  const std::string digest = hash.Finish();
  if (digest != sha256) {
    return MakeError(Code::kDataLoss, "attachment SHA-256 mismatch: expected " + ToHex(sha256) +
                                          ", got " + ToHex(digest));
  }
  return out.Finish();
}

// ---- ChunkVerifier --------------------------------------------------------

ChunkVerifier::ChunkVerifier(SecretBytes key, std::string message_id, uint64_t size,
                             std::string sha256, uint32_t chunk_bytes)
    : key_(std::move(key)),
      message_id_(std::move(message_id)),
      size_(size),
      sha256_(std::move(sha256)),
      chunk_bytes_(chunk_bytes),
      hash_(std::make_unique<Sha256Stream>()) {
  Status valid = ValidateAttachmentRef(size_, sha256_, key_.view(), chunk_bytes_);
  if (!valid.ok()) {
    state_ = State::kFailed;
    error_ = valid.error();
    return;
  }
  count_ = ChunkCount(size_, chunk_bytes_);
}

ChunkVerifier::~ChunkVerifier() = default;
ChunkVerifier::ChunkVerifier(ChunkVerifier&&) noexcept = default;
ChunkVerifier& ChunkVerifier::operator=(ChunkVerifier&&) noexcept = default;

bool ChunkVerifier::OpenAt(uint64_t index, std::string_view sealed, std::string* plain) const {
  return OpenChunk(key_, message_id_, index, index + 1 == count_, sealed, plain);
}

Status ChunkVerifier::Advance(std::string_view plain) {
  hash_->Update(plain);
  ++next_;
  if (next_ < count_) return {};
  const std::string digest = hash_->Finish();
  if (digest != sha256_) {
    return Fail(MakeError(Code::kDataLoss, "attachment SHA-256 mismatch: expected " +
                                               ToHex(sha256_) + ", got " + ToHex(digest)));
  }
  state_ = State::kDone;
  return {};
}

Status ChunkVerifier::Fail(Error error) {
  state_ = State::kFailed;
  error_ = std::move(error);
  return error_;
}

Status ChunkVerifier::Unusable() const {
  if (state_ == State::kDone) {
    return MakeError(Code::kFailedPrecondition, "attachment is already complete");
  }
  return error_;
}

Status ChunkVerifier::Accept(std::string_view sealed_chunk) {
  if (state_ != State::kAccepting) return Unusable();
  const uint64_t expected = SealedChunkLength(size_, chunk_bytes_, next_);
  if (sealed_chunk.size() != expected) {
    return Fail(
        MakeError(Code::kInvalidArgument, "attachment chunk " + std::to_string(next_) + " has " +
                                              std::to_string(sealed_chunk.size()) +
                                              " bytes, expected " + std::to_string(expected)));
  }
  if (!OpenAt(next_, sealed_chunk, &plain_)) {
    return Fail(ChunkFailed(Code::kUnauthenticated, next_));
  }
  return Advance(plain_);
}

Result<uint64_t> ChunkVerifier::ResumeFrom(const std::string& path) {
  if (state_ != State::kAccepting) return Unusable().error();
  if (next_ != 0) {
    return MakeError(Code::kFailedPrecondition,
                     "attachment resume needs a verifier that has accepted nothing");
  }
  auto opened = OpenInput(path, O_RDWR);
  if (!opened.ok() && opened.error().code == Code::kNotFound) return uint64_t{0};
  if (!opened.ok()) return Fail(opened.error()).error();
  InputFile& in = *opened;

  // Chunks wholly present: all of them, or those before the first one cut
  // short (every chunk but the last has the full length).
  const uint64_t sealed_size = SealedSize(size_, chunk_bytes_);
  const uint64_t whole =
      in.size >= sealed_size ? count_ : in.size / (uint64_t{chunk_bytes_} + kChunkTagBytes);
  auto produce = [&](Slot& slot) -> Result<Produced> {
    const uint64_t length = SealedChunkLength(size_, chunk_bytes_, slot.index);
    ROG_RETURN_IF_ERROR(ReadAt(in.fd.get(), SealedChunkOffset(slot.index, chunk_bytes_), length,
                               &slot.sealed, path));
    if (slot.sealed.size() != length || !OpenAt(slot.index, slot.sealed, &slot.plain)) {
      return Produced::kEnd;
    }
    return Produced::kChunk;
  };
  auto consume = [&](Slot& slot) -> Status { return Advance(slot.plain); };
  // Errors end the verifier: it may have accepted chunks the file still has
  // after them, so only a fresh one can start over.
  if (auto ran = RunPipeline(whole, produce, consume); !ran.ok()) {
    return state_ == State::kFailed ? error_ : Fail(ran.error()).error();
  }
  const uint64_t good_end = std::min(SealedChunkOffset(next_, chunk_bytes_), sealed_size);
  if (in.size != good_end && ::ftruncate(in.fd.get(), static_cast<off_t>(good_end)) != 0) {
    return Fail(FileError("cannot truncate", path, errno)).error();
  }
  if (::fsync(in.fd.get()) != 0) return Fail(FileError("cannot sync", path, errno)).error();
  return next_;
}

}  // namespace rogatory
