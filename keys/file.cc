#include "keys/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rogatory {

Status WriteFileDurably(const std::string& path, std::string_view data, mode_t mode,
                        bool overwrite, std::string_view what) {
  const std::string name = std::string(what) + " " + path;
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    const int err = errno;
    return MakeError(err == EEXIST ? Code::kAlreadyExists : Code::kUnavailable,
                     "cannot create " + name + ": " + std::strerror(err));
  }
  ::fchmod(fd, mode);  // exactly `mode`, whatever the umask
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(path.c_str());
      return MakeError(Code::kUnavailable, "cannot write " + name + ": " + std::strerror(err),
                       err == ENOSPC ? "free disk space and try again" : "");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(path.c_str());
    return MakeError(Code::kUnavailable, "cannot sync " + name);
  }
  if (::close(fd) != 0) return MakeError(Code::kUnavailable, "cannot close " + name);
  return {};
}

}  // namespace rogatory
