#include "node/home.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rogatory {

std::string Home::Resolve(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("ROGATORY_HOME"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : ".") + "/.rogatory";
}

Status Home::CheckExists() const {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return MakeError(Code::kNotFound, "no node home at " + dir_,
                     "create one with 'rogatory init', or pass --home DIR");
  }
  if (::stat(keystore().c_str(), &st) != 0) {
    return MakeError(Code::kNotFound, "node home " + dir_ + " has no keystore (keys.bin)",
                     "create one with 'rogatory init', or pass --home DIR");
  }
  return {};
}

Result<DaemonLock> DaemonLock::Acquire(const Home& home) {
  const int fd = ::open(home.lock().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(Code::kUnavailable,
                     "cannot open " + home.lock() + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return MakeError(Code::kFailedPrecondition,
                     "another rogatoryd is already running for " + home.dir());
  }
  return DaemonLock(fd);
}

bool DaemonLock::IsHeld(const Home& home) {
  const int fd = ::open(home.lock().c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

DaemonLock::~DaemonLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<SecretBytes> ReadPassphraseFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return MakeError(Code::kNotFound,
                     "cannot read passphrase file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return MakeError(Code::kPermissionDenied,
                     "passphrase file " + path + " is readable by group or others",
                     "run: chmod 600 " + path);
  }
  SecretBytes buf(4096);
  size_t len = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data() + len, buf.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
    if (len == buf.size()) break;
  }
  ::close(fd);
  size_t end = 0;
  while (end < len && buf.data()[end] != '\n' && buf.data()[end] != '\r') ++end;
  if (end == 0) {
    return MakeError(Code::kInvalidArgument, "passphrase file " + path + " is empty");
  }
  SecretBytes out(end);
  std::memcpy(out.data(), buf.data(), end);
  return out;
}

Result<std::optional<SecretBytes>> FindPassphrase(const std::string& flag) {
  if (!flag.empty()) {
    ROG_ASSIGN_OR_RETURN(SecretBytes p, ReadPassphraseFile(flag));
    return std::optional<SecretBytes>(std::move(p));
  }
  if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir != nullptr && *dir) {
    const std::string path = std::string(dir) + "/passphrase";
    if (::access(path.c_str(), F_OK) == 0) {
      ROG_ASSIGN_OR_RETURN(SecretBytes p, ReadPassphraseFile(path));
      return std::optional<SecretBytes>(std::move(p));
    }
  }
  return std::optional<SecretBytes>();
}

}  // namespace rogatory
