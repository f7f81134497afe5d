// rogatoryd refuses to start on a broken home with one clear line.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

size_t Lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

void ExpectOneClearError(const CmdResult& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.err.rfind("rogatoryd: error: ", 0), 0u) << r.err;
  EXPECT_LE(Lines(r.err), 2u) << r.err;  // the error and at most one hint
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST(StartupTest, MalformedNodeTomlIsOneClearLine) {
  TempDir dir;
  Node a(dir.path(), "broken-cfg");
  std::ofstream(a.home() + "/node.toml") << "[node]\nid = \"broken-cfg\"\nlisten = \n";
  auto r = RunCmd({RogatorydBin(), "--home", a.home()});
  ExpectOneClearError(r, "node.toml");
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
}

TEST(StartupTest, UnknownSettingIsRefused) {
  TempDir dir;
  Node a(dir.path(), "typo-cfg");
  std::ofstream(a.home() + "/node.toml", std::ios::app) << "heartbeat_ivl = 10\n";  // appended to [transport]
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", a.home()}), "unknown setting");
}

TEST(StartupTest, MissingKeystoreIsOneClearLine) {
  TempDir dir;
  Node a(dir.path(), "no-keys");
  ASSERT_EQ(::unlink((a.home() + "/keys.bin").c_str()), 0);
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", a.home()}), "keystore");
}

TEST(StartupTest, MissingHomeIsOneClearLine) {
  TempDir dir;
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", dir.path() + "/nowhere"}), "no node home");
}

TEST(StartupTest, KeystoreReadableByOthersIsRefused) {
  TempDir dir;
  Node a(dir.path(), "loose-keys");
  ASSERT_EQ(::chmod((a.home() + "/keys.bin").c_str(), 0644), 0);
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", a.home()}), "readable by group or others");
}

TEST(StartupTest, PortInUseIsOneClearLine) {
  TempDir dir;
  Node a(dir.path(), "port-clash");
  // Hold the node's port with a plain listening socket.
  const std::string ep = a.endpoint();
  const int port = std::stoi(ep.substr(ep.rfind(':') + 1));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", a.home()}), "Address already in use");
  ::close(fd);
}

TEST(StartupTest, SecondDaemonOnTheSameHomeIsRefused) {
  TempDir dir;
  Node a(dir.path(), "only-one");
  a.Start();
  ExpectOneClearError(RunCmd({RogatorydBin(), "--home", a.home()}), "already running");
  EXPECT_EQ(a.Stop(), 0);
}

TEST(StartupTest, BadFlagIsAUsageError) {
  auto r = RunCmd({RogatorydBin(), "--frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.rfind("rogatoryd: error: ", 0), 0u) << r.err;
}

TEST(StartupTest, SigtermStopsCleanlyAndReadinessIsNotified) {
  TempDir dir;
  Node a(dir.path(), "clean-stop");
  a.Start();
  EXPECT_EQ(a.Stop(), 0);
  EXPECT_NE(a.Log().find("shutting down"), std::string::npos);
  EXPECT_NE(a.Log().find("stopped"), std::string::npos);
  // The control socket is removed on a clean stop.
  EXPECT_NE(::access((a.home() + "/control.sock").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace rogatory::test
