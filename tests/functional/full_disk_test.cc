// A full disk, for real: the sender's home on a small tmpfs that the test
// fills up. The fault-injecting VFS covers the same case below the store
// (PowerLossTest.FullDiskFailsClearlyAndLosesNothing); this one runs the
// daemon, the CLI and SQLite's own file I/O against a file system that says
// ENOSPC.
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <SQLiteCpp/SQLiteCpp.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

// Mounts a tmpfs of `size` on `path` for the object's lifetime.
class Tmpfs {
 public:
  Tmpfs(const std::string& path, const std::string& size) : path_(path) {
    ::mkdir(path.c_str(), 0700);
    const std::string options = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", path.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// Writes `path` until the file system refuses; returns the bytes written.
int64_t FillUp(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  const std::string block(64 * 1024, 'f');
  int64_t written = 0;
  for (;;) {
    const ssize_t n = ::write(fd, block.data(), block.size());
    if (n <= 0) break;
    written += n;
  }
  ::close(fd);
  return written;
}

// A sender and a receiver, the home of `on_tmpfs` ("sender" or "receiver")
// on a 16 MiB tmpfs. Where the machine does not allow mounting, the test is
// skipped with the reason (tests/run.sh lists it; never counted as passed).
class FullDiskTest : public ::testing::Test {
 protected:
  void StartPair(const std::string& on_tmpfs) {
    disk_.emplace(dir.path() + "/" + on_tmpfs, "16m");
    if (!disk_->mounted()) {
      GTEST_SKIP() << "cannot mount a tmpfs here (" << disk_->error()
                   << "); the full disk is covered by the fault-injecting VFS only";
    }
    a.emplace(dir.path(), "sender");
    b.emplace(dir.path(), "receiver", "NL");
    a->Trust(*b);
    b->Trust(*a);
    a->Start();
    b->Start();
  }

  TempDir dir;
  std::optional<Tmpfs> disk_;  // unmounted before `dir` is removed
  std::optional<Node> a, b;    // stopped before the tmpfs goes
};

TEST_F(FullDiskTest, SendFailsWithOneClearLineAndNothingAcceptedIsLost) {
  StartPair("sender");
  if (IsSkipped()) return;
  Node& a = *this->a;
  Node& b = *this->b;

  std::vector<std::string> accepted;
  for (int i = 0; i < 5; ++i) {
    accepted.push_back(a.Send({"--to", "receiver", "--subject", "before", "--body", "x"}));
  }
  for (const auto& id : accepted) ASSERT_TRUE(a.WaitOutboxState(id, "delivered")) << id;

  // The disk fills up; a send that needs room fails, in one line, and
  // queues nothing.
  const std::string body_file = dir.path() + "/body.txt";
  std::ofstream(body_file) << std::string(2 << 20, 'b');
  ASSERT_GT(FillUp(a.home() + "/filler"), 0);
  auto r = a.Cli({"send", "--to", "receiver", "--subject", "too big", "--body-file", body_file});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("disk"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rogatory: hint: free disk space; nothing was lost"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("rogatory: error:"), r.err.rfind("rogatory: error:")) << r.err;
  EXPECT_TRUE(a.WaitLog("store commit failed, nothing acknowledged")) << a.Log();

  // The daemon still runs and answers; what it accepted is all there.
  ASSERT_TRUE(a.running());
  auto outbox = a.Json({"outbox", "--json"});
  EXPECT_EQ(outbox.size(), accepted.size()) << outbox.dump();

  // Room again: sending works, and nothing was lost on either side.
  ASSERT_EQ(::unlink((a.home() + "/filler").c_str()), 0);
  const std::string after = a.Send({"--to", "receiver", "--subject", "after", "--body-file",
                                    body_file});
  ASSERT_TRUE(a.WaitOutboxState(after, "delivered")) << a.Log();
  EXPECT_EQ(a.Json({"outbox", "--json"}).size(), accepted.size() + 1);
  EXPECT_EQ(b.Json({"inbox", "--json"}).size(), accepted.size() + 1);
  a.Stop();
  auto verify = a.Cli({"audit", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  SQLite::Database db(a.home() + "/store.db", SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA integrity_check").getString(), "ok");
}

// The receiver's disk is full: it acknowledges nothing it could not store,
// the sender keeps the message queued, and once there is room it arrives
// exactly once.
TEST_F(FullDiskTest, AReceiverWithAFullDiskAcknowledgesNothingAndCatchesUpAfter) {
  StartPair("receiver");
  if (IsSkipped()) return;
  Node& a = *this->a;
  Node& b = *this->b;
  const std::string first = a.Send({"--to", "receiver", "--subject", "first", "--body", "x"});
  ASSERT_TRUE(a.WaitOutboxState(first, "delivered"));

  ASSERT_GT(FillUp(b.home() + "/filler"), 0);
  const std::string body_file = dir.path() + "/body.txt";
  std::ofstream(body_file) << std::string(1 << 20, 'b');
  const std::string id = a.Send({"--to", "receiver", "--subject", "while full", "--body-file",
                                 body_file});
  EXPECT_TRUE(b.WaitLog("store commit failed, nothing acknowledged")) << b.Log();
  auto out = a.Json({"outbox", "--json"});
  for (const auto& m : out) {
    if (m["id"] == id) {
      EXPECT_EQ(m["state"], "queued") << m.dump();
    }
  }

  ASSERT_EQ(::unlink((b.home() + "/filler").c_str()), 0);
  ASSERT_TRUE(a.WaitOutboxState(id, "delivered", std::chrono::seconds(30))) << b.Log();
  auto inbox = b.Json({"inbox", "--json"});
  EXPECT_EQ(inbox.size(), 2u) << inbox.dump();
  b.Stop();
  EXPECT_EQ(b.Cli({"audit", "verify"}).exit_code, 0);
}

}  // namespace
}  // namespace rogatory::test
