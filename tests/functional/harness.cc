#include "tests/functional/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

#include "node/control_client.h"
#include "node/home.h"

namespace rogatory::test {

std::string RogatoryBin() { return std::string(ROGATORY_BIN_DIR) + "/rogatory"; }
std::string RogatorydBin() { return std::string(ROGATORY_BIN_DIR) + "/rogatoryd"; }

std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string TempFile(const char* tag) {
  std::string path = std::filesystem::temp_directory_path() / ("rogatory-" + std::string(tag) + "-XXXXXX");
  const int fd = ::mkstemp(path.data());
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  return path;
}

}  // namespace

CmdResult RunCmd(const std::vector<std::string>& argv, const std::string& input) {
  const std::string out_path = TempFile("out"), err_path = TempFile("err"),
                    in_path = TempFile("in");
  {
    std::ofstream in(in_path, std::ios::binary);
    in << input;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(in_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_TRUNC);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_TRUNC);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    auto args = Argv(argv);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  CmdResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileText(out_path);
  r.err = ReadFileText(err_path);
  ::unlink(out_path.c_str());
  ::unlink(err_path.c_str());
  ::unlink(in_path.c_str());
  return r;
}

TempDir::TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path() / "rogatory-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (std::getenv("ROGATORY_KEEP_TMP") != nullptr) {
    std::fprintf(stderr, "kept %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// Below Linux's ephemeral range (32768-60999 by default), so an outbound
// connection of another node can never take a port a node is about to
// listen on (with hundreds of nodes it happened); random, so parallel
// test processes rarely try the same one, and checked free with bind.
int FreePort() {
  static std::mt19937 rng{std::random_device{}()};
  static std::set<int> handed_out;  // by this process
  std::uniform_int_distribution<int> pick(10000, 32000);
  for (;;) {
    const int port = pick(rng);
    if (handed_out.count(port)) continue;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) {
      handed_out.insert(port);
      return port;
    }
  }
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval, not a wait
  }
  return cond();
}

Node::Node(const std::string& dir, const std::string& id, const std::string& country,
           const std::vector<std::string>& extra_init_args)
    : id_(id), home_(dir + "/" + id) {
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreePort());
  std::vector<std::string> argv{RogatoryBin(), "--home", home_, "init", "--name", id,
                                "--authority", "Authority " + id, "--country", country,
                                "--listen", endpoint_};
  argv.insert(argv.end(), extra_init_args.begin(), extra_init_args.end());
  auto r = RunCmd(argv);
  if (r.exit_code != 0) throw std::runtime_error("init failed: " + r.err);
  fingerprint_ = Json({"id", "show", "--json"})["fingerprint"];
  r = Cli({"id", "export", "-o", card_path()});
  if (r.exit_code != 0) throw std::runtime_error("id export failed: " + r.err);
}

Node::~Node() {
  if (pid_ > 0) Kill();
}

CmdResult Node::Cli(const std::vector<std::string>& args, const std::string& input) const {
  std::vector<std::string> argv{RogatoryBin(), "--home", home_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCmd(argv, input);
}

nlohmann::json Node::Json(const std::vector<std::string>& args) const {
  auto r = Cli(args);
  if (r.exit_code != 0) {
    throw std::runtime_error("rogatory " + args[0] + " failed (" + std::to_string(r.exit_code) +
                             "): " + r.err);
  }
  return nlohmann::json::parse(r.out);
}

void Node::Trust(const Node& other) const {
  auto r = Cli({"peer", "add", other.card_path(), "--fingerprint", other.fingerprint()});
  if (r.exit_code != 0) throw std::runtime_error("peer add failed: " + r.err);
}

void TrustEachOther(const std::vector<Node*>& nodes) {
  for (Node* x : nodes) {
    for (Node* y : nodes) {
      if (x != y) x->Trust(*y);
    }
  }
}

void Node::Start(const std::vector<std::string>& extra_args) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int log = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    std::vector<std::string> argv{RogatorydBin(), "--home", home_};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    auto args = Argv(argv);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  pid_ = pid;
  const bool up = WaitFor([&] {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("rogatoryd " + id_ + " exited at start: " + Log());
    }
    return Cli({"status"}).exit_code == 0;
  });
  if (!up) throw std::runtime_error("rogatoryd " + id_ + " did not become ready: " + Log());
}

int Node::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Node::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Node::Send(const std::vector<std::string>& args) {
  std::vector<std::string> full{"send"};
  full.insert(full.end(), args.begin(), args.end());
  auto r = Cli(full);
  if (r.exit_code != 0) throw std::runtime_error("send failed: " + r.err);
  std::string id = r.out;
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  return id;
}

std::string Node::SendDirect(const std::string& to, const std::string& subject,
                             const std::string& body, int priority, int64_t expires_in_us,
                             int timeout_ms) const {
  control::ControlRequest req;
  auto* s = req.mutable_send();
  s->add_to(to);
  s->set_subject(subject);
  s->set_body(body);
  s->set_priority(static_cast<uint32_t>(priority));
  s->set_expires_in_us(expires_in_us);
  auto resp = CallDaemon(Home(home_), req, timeout_ms);
  if (!resp.ok() || resp->has_error()) return "";
  return resp->sent_id();
}

void Node::WriteConfig(const std::string& extra) const {
  std::ofstream(home_ + "/node.toml")
      << "[node]\nid = \"" << id_ << "\"\nlisten = \"" << endpoint_ << "\"\n" << extra << "\n";
}

bool Node::WaitOutboxState(const std::string& id, const std::string& state,
                           std::chrono::milliseconds timeout) const {
  return WaitFor(
      [&] {
        auto r = Cli({"outbox", "--json"});
        if (r.exit_code != 0) return false;
        for (const auto& m : nlohmann::json::parse(r.out)) {
          if (m["id"] == id) return m["state"] == state;
        }
        return false;
      },
      timeout);
}

bool Node::WaitLog(const std::string& needle, std::chrono::milliseconds timeout) const {
  return WaitFor([&] { return Log().find(needle) != std::string::npos; }, timeout);
}

}  // namespace rogatory::test
