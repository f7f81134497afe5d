// A node's home directory: where each file lives, the daemon's lock, and
// reading a passphrase from a file or a systemd credential.
#pragma once

#include <optional>
#include <string>

#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

class Home {
 public:
  // --home, else $ROGATORY_HOME, else ~/.rogatory.
  static std::string Resolve(const std::string& flag);

  explicit Home(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string keystore() const { return dir_ + "/keys.bin"; }
  std::string config() const { return dir_ + "/node.toml"; }
  std::string store() const { return dir_ + "/store.db"; }
  std::string lock() const { return dir_ + "/rogatoryd.lock"; }
  std::string control_socket() const { return dir_ + "/control.sock"; }
  std::string control_endpoint() const { return "ipc://" + control_socket(); }
  // Sealed attachments (node/transfer.h), and where the CLI stages new ones
  // before the daemon takes them over.
  std::string attachments() const { return dir_ + "/attachments"; }
  std::string staging() const { return dir_ + "/attachments/staging"; }

  // Checks that the home exists and holds a node; one clear error if not.
  Status CheckExists() const;

 private:
  std::string dir_;
};

// An exclusive lock on the home, held while rogatoryd runs.
class DaemonLock {
 public:
  // kFailedPrecondition if another rogatoryd holds it.
  static Result<DaemonLock> Acquire(const Home& home);
  // True when a rogatoryd currently holds the lock of `home`.
  static bool IsHeld(const Home& home);
  DaemonLock(DaemonLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  DaemonLock& operator=(DaemonLock&&) = delete;
  ~DaemonLock();

 private:
  explicit DaemonLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Reads a passphrase: the file's first line (without its newline). The file
// must not be readable by others. kNotFound / kInvalidArgument on problems.
Result<SecretBytes> ReadPassphraseFile(const std::string& path);
// --passphrase-file if given, else $CREDENTIALS_DIRECTORY/passphrase if it
// exists, else none.
Result<std::optional<SecretBytes>> FindPassphrase(const std::string& flag);

}  // namespace rogatory
