// Three nodes on three "hosts": each rogatoryd runs in its own network
// namespace, with its own address, joined to the others through a veth pair
// to a bridge in a fourth namespace (the "switch"). Nothing goes over
// loopback between nodes. The CLI still reaches each daemon through the
// control socket in its home, a filesystem path, which works across network
// namespaces.
//
//   rg-a-PID-N   eth0 10.213.0.1/24 ──veth── a0 ┐
//   rg-b-PID-N   eth0 10.213.0.2/24 ──veth── b0 ├─ br0 in rg-hub-PID-N
//   rg-c-PID-N   eth0 10.213.0.3/24 ──veth── c0 ┘
//
// Every interface and address lives inside these namespaces: nothing is
// added to the test machine's own network namespace. Needs root (or
// CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2; skipped with a message
// otherwise. Everything is removed afterwards, on failure too: the daemons
// are killed first (they also die with the test process, PR_SET_PDEATHSIG),
// then the namespaces deleted, which destroys their veths and the bridge.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

// Each namespace has its own ports: every node listens on the same one.
constexpr int kPort = 7400;
// Fast failure detection and retries, so a cut is seen and healed in
// seconds rather than the production defaults' tens of seconds.
constexpr const char* kFastConfig =
    "[delivery]\nretry_cap_ms = 1000\n"
    "[transport]\nheartbeat_ivl_ms = 500\nheartbeat_timeout_ms = 2000\n";

std::string IpBin() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

CmdResult Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{IpBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCmd(argv);
}

// Deletes namespaces left by an earlier run of this test whose process is
// gone (killed by a timeout before its destructors ran).
void RemoveStaleNamespaces() {
  auto r = Ip({"netns", "list"});
  if (r.exit_code != 0) return;
  static const std::regex kOurs("^rg-(hub|a|b|c)-([0-9]+)-[0-9]+$");
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    const std::string name = line.substr(0, line.find(' '));  // "NAME (id: N)"
    std::smatch m;
    if (!std::regex_match(name, m, kOurs)) continue;
    const pid_t owner = static_cast<pid_t>(std::stol(m[2]));
    if (owner == ::getpid() || ::kill(owner, 0) == 0 || errno != ESRCH) continue;
    Ip({"netns", "del", name});
  }
}

// The namespaces, the bridge and the veths; removed on destruction.
class Topology {
 public:
  static constexpr int kNodes = 3;

  Topology() {
    static std::atomic<int> counter{0};
    const std::string suffix = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    hub_ = "rg-hub-" + suffix;
    for (int i = 0; i < kNodes; ++i) {
      const std::string letter(1, static_cast<char>('a' + i));
      nodes_.push_back("rg-" + letter + "-" + suffix);
      hub_ports_.push_back(letter + "0");
      addrs_.push_back("10.213.0." + std::to_string(i + 1));
    }
  }
  ~Topology() { Destroy(); }

  // Builds everything; on failure returns why (and has removed what it made).
  std::string Create() {
    if (IpBin().empty()) return "iproute2 ('ip') is not installed";
    if (auto r = Ip({"netns", "add", hub_}); r.exit_code != 0) {
      return "network namespaces not allowed here: ip netns add: " + Trim(r.err);
    }
    created_.push_back(hub_);
    for (const auto& ns : nodes_) {
      if (auto r = Ip({"netns", "add", ns}); r.exit_code != 0) {
        return "network namespaces not allowed here: ip netns add: " + Trim(r.err);
      }
      created_.push_back(ns);
    }
    std::vector<std::vector<std::string>> steps{
        {"-n", hub_, "link", "add", "br0", "type", "bridge"},
        {"-n", hub_, "link", "set", "br0", "up"},
    };
    for (int i = 0; i < kNodes; ++i) {
      steps.push_back({"-n", hub_, "link", "add", hub_ports_[i], "type", "veth", "peer", "name",
                       "eth0", "netns", nodes_[i]});
      steps.push_back({"-n", hub_, "link", "set", hub_ports_[i], "master", "br0"});
      steps.push_back({"-n", hub_, "link", "set", hub_ports_[i], "up"});
      steps.push_back({"-n", nodes_[i], "addr", "add", addrs_[i] + "/24", "dev", "eth0"});
      steps.push_back({"-n", nodes_[i], "link", "set", "eth0", "up"});
      steps.push_back({"-n", nodes_[i], "link", "set", "lo", "up"});
    }
    for (const auto& step : steps) {
      auto r = Ip(step);
      if (r.exit_code != 0) {
        std::string cmd = "ip";
        for (const auto& a : step) cmd += " " + a;
        return "cannot build the test network (" + cmd + "): " + Trim(r.err);
      }
    }
    return "";
  }

  void Destroy() {
    for (auto it = created_.rbegin(); it != created_.rend(); ++it) Ip({"netns", "del", *it});
    created_.clear();
  }

  const std::string& ns(int i) const { return nodes_[i]; }
  const std::string& addr(int i) const { return addrs_[i]; }

  // Takes node i's cable out of the switch (or puts it back): its port on the
  // bridge goes down, and the node's eth0 loses carrier.
  CmdResult SetLink(int i, bool up) {
    return Ip({"-n", hub_, "link", "set", hub_ports_[i], up ? "up" : "down"});
  }

  std::string Describe() const {
    std::string out;
    for (const auto& ns : created_) {
      out += "== " + ns + "\n" + Ip({"-n", ns, "-br", "addr"}).out;
    }
    return out;
  }

 private:
  std::string hub_;
  std::vector<std::string> nodes_, hub_ports_, addrs_;
  std::vector<std::string> created_;
};

// A node whose daemon runs inside a network namespace. The harness's Node
// initialises with a loopback --listen and starts rogatoryd directly, so this
// one does both itself; CLI calls go through the control socket as usual.
class NsNode {
 public:
  NsNode(const std::string& dir, const std::string& id, const std::string& country,
         const std::string& netns, const std::string& addr)
      : id_(id), home_(dir + "/" + id), netns_(netns) {
    endpoint_ = "tcp://" + addr + ":" + std::to_string(kPort);
    auto r = RunCmd({RogatoryBin(), "--home", home_, "init", "--name", id, "--authority",
                     "Authority " + id, "--country", country, "--listen", endpoint_});
    if (r.exit_code != 0) throw std::runtime_error("init failed: " + r.err);
    std::ofstream(home_ + "/node.toml")
        << "[node]\nid = \"" << id_ << "\"\nlisten = \"" << endpoint_ << "\"\n"
        << kFastConfig;
    fingerprint_ = Json({"id", "show", "--json"})["fingerprint"];
    r = Cli({"id", "export", "-o", card_path()});
    if (r.exit_code != 0) throw std::runtime_error("id export failed: " + r.err);
  }
  ~NsNode() { Kill(); }

  const std::string& id() const { return id_; }
  std::string card_path() const { return home_ + "/../" + id_ + ".card"; }
  std::string Log() const { return ReadFileText(home_ + ".log"); }

  CmdResult Cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{RogatoryBin(), "--home", home_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCmd(argv);
  }
  nlohmann::json Json(const std::vector<std::string>& args) const {
    auto r = Cli(args);
    if (r.exit_code != 0) {
      throw std::runtime_error("rogatory " + args[0] + " failed on " + id_ + " (" +
                               std::to_string(r.exit_code) + "): " + r.err);
    }
    return nlohmann::json::parse(r.out);
  }
  // The JSON output of `args`, or null when the CLI fails (for polling).
  nlohmann::json TryJson(const std::vector<std::string>& args) const {
    auto r = Cli(args);
    if (r.exit_code != 0) return nullptr;
    return nlohmann::json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  }

  void Trust(const NsNode& other) const {
    auto r = Cli({"peer", "add", other.card_path(), "--fingerprint", other.fingerprint_});
    if (r.exit_code != 0) throw std::runtime_error("peer add failed: " + r.err);
  }

  // `ip netns exec NS rogatoryd --home HOME`: ip enters the namespace and
  // execs the daemon in the same process, so pid_ is the daemon's.
  void Start() {
    const std::string log = home_ + ".log";
    const std::vector<std::string> argv{IpBin(),        "netns",  "exec", netns_,
                                        RogatorydBin(), "--home", home_};
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 2);
      const int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
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

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string Send(const std::string& to, const std::string& subject) const {
    auto r = Cli({"send", "--to", to, "--subject", subject, "--body", "body of " + subject});
    if (r.exit_code != 0) throw std::runtime_error("send failed on " + id_ + ": " + r.err);
    return Trim(r.out);
  }

  // Whether the daemon currently has a live connection to `peer`.
  bool Connected(const std::string& peer) const {
    auto s = TryJson({"status", "--json"});
    if (s.is_null()) return false;
    for (const auto& p : s["peers"]) {
      if (p["id"] == peer) return p["connected"].get<bool>();
    }
    return false;
  }

 private:
  std::string id_, home_, netns_, endpoint_, fingerprint_;
  pid_t pid_ = -1;
};

// id -> state of every message in `n`'s outbox (empty when the CLI fails).
std::map<std::string, std::string> OutboxStates(const NsNode& n) {
  std::map<std::string, std::string> out;
  auto j = n.TryJson({"outbox", "--json"});
  if (!j.is_array()) return out;
  for (const auto& m : j) out[m["id"]] = m["state"];
  return out;
}

bool AllInState(const NsNode& n, const std::vector<std::string>& ids, const std::string& state) {
  auto states = OutboxStates(n);
  for (const auto& id : ids) {
    auto it = states.find(id);
    if (it == states.end() || it->second != state) return false;
  }
  return true;
}

// The highest delivery attempt count among `ids` in `n`'s outbox.
int MaxAttempts(const NsNode& n, const std::vector<std::string>& ids) {
  int best = 0;
  auto j = n.TryJson({"outbox", "--json"});
  if (!j.is_array()) return 0;
  const std::set<std::string> wanted(ids.begin(), ids.end());
  for (const auto& m : j) {
    if (!wanted.count(m["id"])) continue;
    for (const auto& r : m["recipients"]) best = std::max(best, r["attempts"].get<int>());
  }
  return best;
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "network namespaces not allowed here: needs root (ip netns add, veth); "
                      "the multi-host test did not run";
    }
    RemoveStaleNamespaces();
    if (const std::string why = net.Create(); !why.empty()) {
      net.Destroy();
      GTEST_SKIP() << why << "; the multi-host test did not run";
    }
    const char* ids[] = {"fr-pnat", "nl-om", "de-bka"};
    const char* countries[] = {"FR", "NL", "DE"};
    for (int i = 0; i < Topology::kNodes; ++i) {
      nodes.push_back(
          std::make_unique<NsNode>(dir.path(), ids[i], countries[i], net.ns(i), net.addr(i)));
    }
    for (auto& x : nodes) {
      for (auto& y : nodes) {
        if (x != y) x->Trust(*y);
      }
    }
    for (auto& n : nodes) n->Start();
  }

  // Daemon logs, outboxes and the network, for a failure message.
  std::string Diag() const {
    std::string out = net.Describe();
    for (const auto& n : nodes) {
      out += "==== " + n->id() + " outbox\n" + n->Cli({"outbox"}).out;
      out += "==== " + n->id() + " log\n" + n->Log();
    }
    return out;
  }

  // Members are destroyed in reverse order: daemons killed, then the
  // namespaces deleted, then the homes removed.
  TempDir dir;
  Topology net;
  std::vector<std::unique_ptr<NsNode>> nodes;
};

TEST_F(NetnsTest, ThreeHostsExchangeAndACutLinkLosesNothing) {
  NsNode& a = *nodes[0];
  NsNode& b = *nodes[1];
  NsNode& c = *nodes[2];
  // receiver id -> ids it must hold, each exactly once.
  std::map<std::string, std::vector<std::string>> expected;
  // sender id -> ids it sent.
  std::map<std::string, std::vector<std::string>> sent;
  auto send = [&](NsNode& from, const std::vector<NsNode*>& to, const std::string& subject) {
    std::string list;
    for (auto* n : to) list += (list.empty() ? "" : ",") + n->id();
    const std::string id = from.Send(list, subject);
    EXPECT_FALSE(id.empty());
    sent[from.id()].push_back(id);
    for (auto* n : to) expected[n->id()].push_back(id);
    return id;
  };

  // 1. Every node sends to each of the two others, and to both at once.
  for (auto& x : nodes) {
    std::vector<NsNode*> others;
    for (auto& y : nodes) {
      if (x != y) others.push_back(y.get());
    }
    for (auto* y : others) send(*x, {y}, x->id() + " to " + y->id());
    send(*x, others, x->id() + " to both");
  }
  for (auto& x : nodes) {
    ASSERT_TRUE(WaitFor([&] { return AllInState(*x, sent[x->id()], "delivered"); },
                        std::chrono::seconds(15)))
        << x->id() << " did not deliver everything over the namespaces\n"
        << Diag();
  }

  // 2. Cut a's cable. Both sides notice (heartbeats time out).
  ASSERT_EQ(net.SetLink(0, false).exit_code, 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return !a.Connected(b.id()) && !a.Connected(c.id()) && !b.Connected(a.id()) &&
               !c.Connected(a.id());
      },
      std::chrono::seconds(15)))
      << "the cut was not noticed\n"
      << Diag();

  // Messages to and from a while it is cut off.
  constexpr int kPerDirection = 4;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> cut_msgs;
  const std::vector<std::pair<NsNode*, NsNode*>> directions{{&a, &b}, {&a, &c}, {&b, &a}, {&c, &a}};
  for (int k = 0; k < kPerDirection; ++k) {
    for (const auto& [from, to] : directions) {
      const std::string id =
          send(*from, {to}, "cut " + std::to_string(k) + " " + from->id() + " to " + to->id());
      cut_msgs[{from->id(), to->id()}].push_back(id);
    }
  }
  // One message to both from b: c gets it now, a later.
  const std::string split = send(b, {&a, &c}, "cut b to both");
  // b and c still reach each other.
  const std::string bc = send(b, {&c}, "cut b to c");
  const std::string cb = send(c, {&b}, "cut c to b");
  ASSERT_TRUE(
      WaitFor([&] { return AllInState(b, {bc}, "delivered") && AllInState(c, {cb}, "delivered"); },
              std::chrono::seconds(15)))
      << "b and c stopped talking while a was cut off\n"
      << Diag();

  // Each sender has retried across the cut and nothing got through.
  for (const auto& [from, to] : directions) {
    const auto& ids = cut_msgs[{from->id(), to->id()}];
    ASSERT_TRUE(WaitFor([&] { return MaxAttempts(*from, ids) >= 2; }, std::chrono::seconds(15)))
        << from->id() << " never tried " << to->id() << "\n"
        << Diag();
    EXPECT_TRUE(AllInState(*from, ids, "queued")) << from->id() << " to " << to->id() << "\n"
                                                  << Diag();
  }
  EXPECT_TRUE(AllInState(b, {split}, "queued"));
  for (auto* n : {&a, &b, &c}) {
    auto inbox = n->Json({"inbox", "--json"});
    std::set<std::string> have;
    for (const auto& m : inbox) have.insert(m["id"].get<std::string>());
    for (const auto& [dir_key, ids] : cut_msgs) {
      if (dir_key.second != n->id()) continue;
      for (const auto& id : ids) EXPECT_FALSE(have.count(id)) << id << " crossed the cut";
    }
    if (n == &a) {
      EXPECT_FALSE(have.count(split)) << split << " crossed the cut";
    }
  }

  // 3. Restore the cable: everything arrives, exactly once, in order.
  ASSERT_EQ(net.SetLink(0, true).exit_code, 0);
  for (auto& x : nodes) {
    ASSERT_TRUE(WaitFor([&] { return AllInState(*x, sent[x->id()], "delivered"); },
                        std::chrono::seconds(20)))
        << x->id() << " did not deliver everything after the link came back\n"
        << Diag();
  }
  for (auto& n : nodes) {
    auto inbox = n->Json({"inbox", "--json"});
    std::vector<std::string> have;
    std::map<std::string, int64_t> seq;
    for (const auto& m : inbox) {
      have.push_back(m["id"]);
      seq[m["id"]] = m["received_seq"].get<int64_t>();
    }
    std::vector<std::string> want = expected[n->id()];
    std::sort(have.begin(), have.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(have, want) << n->id() << ": inbox differs from what was sent to it\n" << Diag();
    EXPECT_EQ(std::adjacent_find(have.begin(), have.end()), have.end())
        << n->id() << " stored a message twice";
    // Within one priority a peer stores messages in the order they were sent,
    // across the cut (SPEC promise 5).
    for (const auto& [dir_key, ids] : cut_msgs) {
      if (dir_key.second != n->id()) continue;
      for (size_t k = 1; k < ids.size(); ++k) {
        EXPECT_LT(seq[ids[k - 1]], seq[ids[k]])
            << dir_key.first << " to " << dir_key.second << ": out of order";
      }
    }
  }
}

}  // namespace
}  // namespace rogatory::test
