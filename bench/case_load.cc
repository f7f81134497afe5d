// rogatory-case-load: case replication between three real rogatoryd nodes
// on loopback (issue 6), driven through their control sockets.
//
// In one run it reports:
//   1. posting: A and B post --entries entries (alternately, at most
//      --post-window outstanding per author) to a case of A (lead), B and C
//      while C is stopped;
//   2. catch-up: A stopped, C started; the time from C's start until C's
//      `case list` counts every entry (a control reply is sent only after
//      the daemon's turn commits, so what it counts is durable);
//   3. steady state: A restarted; A posts one entry at a time (--latency
//      entries, 20 ms apart); the time from the post request until the entry
//      is committed in B's store (polled every 100 us by primary key on a
//      read-only connection), and B's received_at - A's created_at;
//   4. the limits, measured by this process right before C starts (A and B
//      idle) and again at the end (every daemon stopped): Ed25519
//      verification of the exact bytes the entries sign (libsodium), the
//      project's whole per-entry check (VerifyCaseEntry), XChaCha20-Poly1305
//      open of a ciphertext the size of a body, a ZeroMQ CURVE round trip on
//      loopback with a one-entry frame, and a durable SQLite commit (WAL,
//      synchronous=FULL) in the temporary directory.
//
//   build/bench/rogatory-case-load [--entries N] [--latency N] [--text-bytes N]
//                                  [--post-window N] [--sync-interval S] [--keep]
#include <SQLiteCpp/SQLiteCpp.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "keys/card.h"
#include "keys/case_entry.h"
#include "keys/crypto.h"
#include "keys/labels.h"
#include "proto/control.pb.h"
#include "proto/wire.pb.h"

namespace rogatory::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
double Millis(Clock::time_point a, Clock::time_point b) { return 1e3 * Seconds(a, b); }

// Daemons this process started and has not stopped: stopped on an error,
// so a failed run leaves nothing behind.
std::vector<pid_t>& Running() {
  static std::vector<pid_t> pids;
  return pids;
}

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "rogatory-case-load: error: %s\n", why.c_str());
  for (const pid_t pid : Running()) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
  std::exit(1);
}

std::string BinDir() { return ROGATORY_BIN_DIR; }

int RunWait(const std::vector<std::string>& argv, std::string* out = nullptr) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipefd[1], 1);
    ::close(pipefd[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  std::string text;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int FreePort() {
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::rep);
  s.bind("tcp://127.0.0.1:*");
  const std::string ep = s.get(zmq::sockopt::last_endpoint);
  return std::stoi(ep.substr(ep.rfind(':') + 1));
}

struct Node {
  std::string id, home, endpoint, card, fingerprint;
  pid_t pid = -1;
};

Node Init(const std::string& dir, const std::string& id, int sync_interval_s) {
  Node n;
  n.id = id;
  n.home = dir + "/" + id;
  n.endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  n.card = dir + "/" + id + ".card";
  const std::string cli = BinDir() + "/rogatory";
  if (RunWait({cli, "--home", n.home, "init", "--name", id, "--authority", "Case load " + id,
               "--country", "FR", "--listen", n.endpoint}) != 0 ||
      RunWait({cli, "--home", n.home, "id", "export", "-o", n.card}) != 0) {
    Die("cannot initialise node " + id);
  }
  if (sync_interval_s > 0) {
    // The default node.toml has a [cases] table with the setting commented.
    std::ifstream in(n.home + "/node.toml");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string key = "# sync_interval_s";
    const size_t at = text.find(key);
    if (at == std::string::npos) Die("node.toml has no [cases] sync_interval_s line");
    text.replace(at, key.size(), "sync_interval_s = " + std::to_string(sync_interval_s) + " #");
    std::ofstream(n.home + "/node.toml", std::ios::trunc) << text;
  }
  std::string out;
  RunWait({cli, "--home", n.home, "id", "show", "--json"}, &out);
  n.fingerprint = nlohmann::json::parse(out)["fingerprint"];
  return n;
}

void Trust(const Node& a, const Node& b) {
  if (RunWait({BinDir() + "/rogatory", "--home", a.home, "peer", "add", b.card, "--fingerprint",
               b.fingerprint}) != 0) {
    Die("peer add failed");
  }
}

void Start(Node& n) {
  n.pid = ::fork();
  if (n.pid == 0) {
    const int log = ::open((n.home + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(log, 2);
    const std::string bin = BinDir() + "/rogatoryd";
    ::execl(bin.c_str(), bin.c_str(), "--home", n.home.c_str(), nullptr);
    ::_exit(127);
  }
  Running().push_back(n.pid);
}

void Stop(Node& n) {
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGTERM);
  ::waitpid(n.pid, nullptr, 0);
  std::erase(Running(), n.pid);
  n.pid = -1;
}

// CPU seconds (user + system) of a process so far, from /proc.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Pipelined control requests over one DEALER (the daemon's control socket
// is a ROUTER; REQ framing is [empty, body]).
class Control {
 public:
  explicit Control(const Node& n) : sock_(ctx_, zmq::socket_type::dealer) {
    sock_.set(zmq::sockopt::linger, 0);
    sock_.set(zmq::sockopt::sndhwm, 0);
    sock_.set(zmq::sockopt::rcvhwm, 0);
    sock_.connect("ipc://" + n.home + "/control.sock");
  }
  void Send(control::ControlRequest req) {
    req.set_version(1);
    sock_.send(zmq::message_t(), zmq::send_flags::sndmore);
    sock_.send(zmq::buffer(req.SerializeAsString()), zmq::send_flags::none);
  }
  bool Recv(control::ControlResponse* resp, int timeout_ms) {
    zmq::pollitem_t item{sock_.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(timeout_ms));
    if (!(item.revents & ZMQ_POLLIN)) return false;
    zmq::message_t empty, body;
    (void)sock_.recv(empty);
    (void)sock_.recv(body);
    return resp->ParseFromArray(body.data(), static_cast<int>(body.size()));
  }
  control::ControlResponse Call(const control::ControlRequest& req, int timeout_ms = 60000) {
    Send(req);
    control::ControlResponse resp;
    if (!Recv(&resp, timeout_ms)) Die("the daemon did not answer");
    return resp;
  }
  zmq::socket_t& socket() { return sock_; }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
};

control::ControlRequest CaseRequest(const std::string& op, const std::string& case_id) {
  control::ControlRequest req;
  auto* c = req.mutable_case_command();
  c->set_op(op);
  c->set_case_id(case_id);
  return req;
}

control::ControlRequest ListRequest() { return CaseRequest("list", ""); }

control::ControlRequest PostRequest(const std::string& case_id, const std::string& text) {
  auto req = CaseRequest("post", case_id);
  req.mutable_case_command()->set_text(text);
  return req;
}

// The entry count of `case_id` in a `case list` response; -1 if absent.
int64_t Entries(const control::ControlResponse& resp, const std::string& case_id) {
  if (resp.has_error()) return -1;
  for (const auto& c : resp.case_result().cases()) {
    if (c.id() == case_id) return static_cast<int64_t>(c.entries());
  }
  return -1;
}

bool WaitReady(const Node& n) {
  Control c(n);
  const auto end = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < end) {
    control::ControlRequest req;
    req.mutable_status();
    c.Send(req);
    control::ControlResponse resp;
    if (c.Recv(&resp, 200)) return true;
  }
  return false;
}

// Polls `case list` until the case has at least `count` entries.
bool WaitEntries(const Node& n, const std::string& case_id, int64_t count, int timeout_s) {
  Control c(n);
  const auto end = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < end) {
    if (Entries(c.Call(ListRequest()), case_id) >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  }
  return false;
}

std::string EntryText(size_t i, size_t bytes) {
  std::string t = "entry " + std::to_string(i) + " ";
  t.resize(std::max(bytes, t.size()), 'x');
  return t;
}

// Posts `count` entries alternately through every control socket in
// `authors`, at most `window` outstanding per socket.
void PostMany(std::vector<Control*> authors, const std::string& case_id, size_t count,
              size_t text_bytes, size_t window) {
  const size_t k = authors.size();
  std::vector<size_t> sent(k, 0), done(k, 0), quota(k, count / k);
  for (size_t i = 0; i < count % k; ++i) ++quota[i];
  size_t total = 0, serial = 0;
  while (total < count) {
    std::vector<zmq::pollitem_t> items;
    for (size_t i = 0; i < k; ++i) {
      while (sent[i] < quota[i] && sent[i] - done[i] < window) {
        authors[i]->Send(PostRequest(case_id, EntryText(serial++, text_bytes)));
        ++sent[i];
      }
      items.push_back({authors[i]->socket().handle(), 0, ZMQ_POLLIN, 0});
    }
    zmq::poll(items.data(), items.size(), std::chrono::milliseconds(60000));
    bool any = false;
    for (size_t i = 0; i < k; ++i) {
      if (!(items[i].revents & ZMQ_POLLIN)) continue;
      control::ControlResponse resp;
      if (!authors[i]->Recv(&resp, 0)) continue;
      if (resp.has_error()) Die("post: " + resp.error().message());
      ++done[i];
      ++total;
      any = true;
    }
    if (!any) Die("posting timed out");
  }
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

// ---------------------------------------------------------------- limits

struct Limits {
  double verify_us = 0;  // crypto_sign_verify_detached over an entry's signed bytes
  double check_us = 0;   // VerifyCaseEntry (parse, SHA-256 of the body, verify, checks)
  double open_us = 0;    // XChaCha20-Poly1305 open of a body-sized ciphertext
  double curve_rt_p50 = 0, curve_rt_p90 = 0;  // ms, one-entry frame each way
  double commit_p50 = 0, commit_p90 = 0;      // ms, one-row durable transaction
  double commit64_p50 = 0;                    // ms, 64-row durable transaction
};

struct EntrySample {
  std::vector<std::string> signed_inputs, signatures, keys, entries;
  size_t body_bytes = 0, entry_bytes = 0, signed_bytes = 0;
};

// Every entry of the case from a node's store (read-only), with the
// exact bytes each signs and its author's signing key from the case's
// first (membership) entry.
EntrySample ReadEntries(const Node& n, const std::string& case_id) {
  EntrySample s;
  SQLite::Database db(n.home + "/store.db", SQLite::OPEN_READONLY);
  std::map<std::string, std::string> key_of;
  {
    SQLite::Statement q(db, "SELECT entry FROM case_entries WHERE case_id=? AND type=1");
    q.bind(1, case_id);
    while (q.executeStep()) {
      wire::CaseEntry raw;
      const auto* p = static_cast<const char*>(q.getColumn(0).getBlob());
      if (!raw.ParseFromArray(p, q.getColumn(0).getBytes())) Die("unreadable membership entry");
      auto m = ParseMembership(raw.body());
      if (!m.ok()) Die("membership: " + m.error().message);
      for (const auto& member : m->members()) {
        auto card = VerifyCard(member.card());
        if (card.ok()) key_of[member.fingerprint()] = card->card.signing_key();
      }
    }
  }
  SQLite::Statement q(db, "SELECT author, entry FROM case_entries WHERE case_id=? AND type!=1");
  q.bind(1, case_id);
  size_t body = 0, entry = 0, signed_total = 0;
  while (q.executeStep()) {
    const std::string author(static_cast<const char*>(q.getColumn(0).getBlob()),
                             static_cast<size_t>(q.getColumn(0).getBytes()));
    const std::string bytes(static_cast<const char*>(q.getColumn(1).getBlob()),
                            static_cast<size_t>(q.getColumn(1).getBytes()));
    wire::CaseEntry raw;
    if (!raw.ParseFromString(bytes)) Die("unreadable case entry");
    std::string input(labels::kCaseEntry);
    input.push_back('\0');
    input.append(raw.header());
    input.append(Sha256(raw.body()));
    s.signed_inputs.push_back(input);
    s.signatures.push_back(raw.signature());
    s.keys.push_back(key_of[author]);
    s.entries.push_back(bytes);
    body += raw.body().size();
    entry += bytes.size();
    signed_total += input.size();
  }
  if (s.entries.empty()) Die("no entries to measure the limits with");
  s.body_bytes = body / s.entries.size();
  s.entry_bytes = entry / s.entries.size();
  s.signed_bytes = signed_total / s.entries.size();
  return s;
}

// Mean microseconds per call of `f(i)` over at least `min_s` seconds.
template <typename F>
double TimePerCall(size_t n, double min_s, F f) {
  size_t calls = 0;
  const auto t0 = Clock::now();
  do {
    for (size_t i = 0; i < n; ++i) f(i);
    calls += n;
  } while (Seconds(t0, Clock::now()) < min_s);
  return 1e6 * Seconds(t0, Clock::now()) / static_cast<double>(calls);
}

// Round trips of a `size`-byte message between a DEALER and a ROUTER that
// echoes it, both with CURVE, over loopback TCP; milliseconds each.
std::vector<double> CurveRoundTrips(size_t count, size_t size) {
  zmq::context_t ctx(1);
  char server_pub[41], server_sec[41], client_pub[41], client_sec[41];
  zmq_curve_keypair(server_pub, server_sec);
  zmq_curve_keypair(client_pub, client_sec);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, server_sec);
  router.set(zmq::sockopt::linger, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string ep = router.get(zmq::sockopt::last_endpoint);
  const size_t warmup = 100;
  std::thread echo([&] {
    for (size_t i = 0; i < count + warmup; ++i) {
      zmq::message_t id, msg;
      (void)router.recv(id);
      (void)router.recv(msg);
      router.send(id, zmq::send_flags::sndmore);
      router.send(msg, zmq::send_flags::none);
    }
  });
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::curve_serverkey, server_pub);
  dealer.set(zmq::sockopt::curve_publickey, client_pub);
  dealer.set(zmq::sockopt::curve_secretkey, client_sec);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(ep);
  const std::string payload(size, 'z');
  std::vector<double> out;
  for (size_t i = 0; i < count + warmup; ++i) {
    const auto t0 = Clock::now();
    dealer.send(zmq::buffer(payload), zmq::send_flags::none);
    zmq::message_t back;
    (void)dealer.recv(back);
    if (i >= warmup) out.push_back(Millis(t0, Clock::now()));
  }
  echo.join();
  return out;
}

// Durable transactions of `rows` rows of `row_bytes` in a fresh SQLite file
// in `dir`, with the store's pragmas (WAL, synchronous=FULL); milliseconds
// each.
std::vector<double> DurableCommits(const std::string& dir, size_t count, size_t rows,
                                   size_t row_bytes) {
  const std::string path = dir + "/commit-limit.db";
  std::filesystem::remove(path);
  std::vector<double> out;
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("PRAGMA journal_mode=WAL");
    db.exec("PRAGMA synchronous=FULL");
    db.exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB NOT NULL)");
    SQLite::Statement ins(db, "INSERT INTO t(v) VALUES(?)");
    const std::string blob = RandomBytes(row_bytes);
    for (size_t i = 0; i < count + 10; ++i) {
      const auto t0 = Clock::now();
      db.exec("BEGIN IMMEDIATE");
      for (size_t r = 0; r < rows; ++r) {
        ins.bind(1, blob.data(), static_cast<int>(blob.size()));
        ins.exec();
        ins.reset();
      }
      db.exec("COMMIT");
      if (i >= 10) out.push_back(Millis(t0, Clock::now()));
    }
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  return out;
}

Limits MeasureLimits(const EntrySample& s, const std::string& dir) {
  Limits l;
  const size_t n = s.entries.size();
  size_t bad = 0;
  l.verify_us = TimePerCall(n, 1.0, [&](size_t i) {
    const auto& in = s.signed_inputs[i];
    bad +=
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(s.signatures[i].data()),
                                    reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                                    reinterpret_cast<const unsigned char*>(s.keys[i].data())) != 0;
  });
  l.check_us =
      TimePerCall(n, 1.0, [&](size_t i) { bad += !VerifyCaseEntry(s.entries[i], s.keys[i]).ok(); });
  if (bad > 0) Die(std::to_string(bad) + " entries did not verify");
  {
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    randombytes_buf(key, sizeof key);
    randombytes_buf(nonce, sizeof nonce);
    const size_t plain_len = s.body_bytes - crypto_aead_xchacha20poly1305_ietf_ABYTES;
    const std::string plain = RandomBytes(plain_len);
    const std::string ad = RandomBytes(70);  // case id, epoch, author, seq
    std::vector<unsigned char> ct(s.body_bytes), out(plain_len);
    unsigned long long ct_len = 0, out_len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        ct.data(), &ct_len, reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce, key);
    l.open_us = TimePerCall(1000, 0.5, [&](size_t) {
      bad += crypto_aead_xchacha20poly1305_ietf_decrypt(
                 out.data(), &out_len, nullptr, ct.data(), ct_len,
                 reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce, key) != 0;
    });
    if (bad > 0) Die("AEAD open failed");
  }
  // A one-entry CaseEntries frame: the entry and about 40 bytes of framing.
  const auto rt = CurveRoundTrips(2000, s.entry_bytes + 40);
  l.curve_rt_p50 = Percentile(rt, 0.5);
  l.curve_rt_p90 = Percentile(rt, 0.9);
  const auto one = DurableCommits(dir, 300, 1, s.entry_bytes);
  l.commit_p50 = Percentile(one, 0.5);
  l.commit_p90 = Percentile(one, 0.9);
  l.commit64_p50 = Percentile(DurableCommits(dir, 50, 64, s.entry_bytes), 0.5);
  return l;
}

void PrintLimits(const char* when, const Limits& l) {
  std::printf(
      "limits %s: Ed25519 verify %.1f us (%.0f/s, one core); VerifyCaseEntry %.1f us "
      "(%.0f/s); XChaCha20-Poly1305 open %.2f us; CURVE round trip p50 %.3f ms, p90 "
      "%.3f ms; durable commit, 1 row p50 %.3f ms, p90 %.3f ms; 64 rows p50 %.3f ms\n",
      when, l.verify_us, 1e6 / l.verify_us, l.check_us, 1e6 / l.check_us, l.open_us, l.curve_rt_p50,
      l.curve_rt_p90, l.commit_p50, l.commit_p90, l.commit64_p50);
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

}  // namespace
}  // namespace rogatory::bench

int main(int argc, char** argv) {
  using namespace rogatory::bench;
  using rogatory::control::ControlResponse;
  CLI::App app{"rogatory-case-load: case catch-up and replication latency on three local nodes"};
  size_t entries = 10000, latency_entries = 200, text_bytes = 160, post_window = 1;
  int sync_interval_s = 0;
  bool keep = false;
  app.add_option("--entries", entries, "entries posted while C is away");
  app.add_option("--latency", latency_entries, "entries posted one at a time in steady state");
  app.add_option("--text-bytes", text_bytes, "text of each entry, bytes");
  app.add_option("--post-window", post_window,
                 "posts outstanding per author while C is away (1: each waits for the last)");
  app.add_option("--sync-interval", sync_interval_s,
                 "[cases] sync_interval_s of every node (default: the node's default)");
  app.add_flag("--keep", keep, "keep the temporary homes and logs");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!rogatory::InitCrypto().ok()) return 1;
  std::printf(
      "# rogatory-case-load: %zu entries while C is away, %zu one at a time; text %zu "
      "bytes; load average %.2f\n",
      entries, latency_entries, text_bytes, LoadAverage());

  std::string tmpl = (std::filesystem::temp_directory_path() / "rogatory-case-XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  Node a = Init(dir, "case-a", sync_interval_s);
  Node b = Init(dir, "case-b", sync_interval_s);
  Node c = Init(dir, "case-c", sync_interval_s);
  for (Node* x : {&a, &b, &c}) {
    for (Node* y : {&a, &b, &c}) {
      if (x != y) Trust(*x, *y);
    }
  }
  for (Node* x : {&a, &b, &c}) Start(*x);
  for (Node* x : {&a, &b, &c}) {
    if (!WaitReady(*x)) Die("node " + x->id + " did not start (logs in " + dir + ")");
  }

  std::string case_id;
  {
    Control ca(a);
    auto req = CaseRequest("create", "");
    req.mutable_case_command()->set_title("Operation Benchmark");
    req.mutable_case_command()->add_members(b.id);
    req.mutable_case_command()->add_members(c.id);
    auto resp = ca.Call(req);
    if (resp.has_error()) Die("case create: " + resp.error().message());
    case_id = resp.case_result().id();
  }
  if (!WaitEntries(b, case_id, 1, 60) || !WaitEntries(c, case_id, 1, 60)) {
    Die("the case did not reach B and C (logs in " + dir + ")");
  }
  const int64_t total = static_cast<int64_t>(entries) + 1;  // and the membership entry

  // 1. Posting while C is away.
  Stop(c);
  {
    Control ca(a), cb(b);
    const auto t0 = Clock::now();
    PostMany({&ca, &cb}, case_id, entries, text_bytes, post_window);
    const double posted_s = Seconds(t0, Clock::now());
    if (!WaitEntries(a, case_id, total, 600) || !WaitEntries(b, case_id, total, 600)) {
      Die("A and B did not converge (logs in " + dir + ")");
    }
    const double converged_s = Seconds(t0, Clock::now());
    std::printf(
        "posting: %zu entries by A and B (%zu outstanding each) in %.2f s (%.0f/s); both "
        "hold all after %.2f s (%.0f/s)\n",
        entries, post_window, posted_s, static_cast<double>(entries) / posted_s, converged_s,
        static_cast<double>(entries) / converged_s);
  }

  const EntrySample sample = ReadEntries(b, case_id);
  std::printf("entries: %zu bytes each on average (body %zu bytes, signed input %zu bytes)\n",
              sample.entry_bytes, sample.body_bytes, sample.signed_bytes);
  const Limits before = MeasureLimits(sample, dir);
  PrintLimits("before", before);

  // 2. Catch-up: A away, C back.
  Stop(a);
  const double b_cpu0 = CpuSeconds(b.pid);
  const auto start = Clock::now();
  Start(c);
  double ready_ms = -1, first_ms = -1, done_ms = -1, c_cpu = 0, b_cpu = 0;
  int64_t at_first = 0;
  {
    Control cc(c);
    int64_t last = -1;
    const auto end = start + std::chrono::seconds(600);
    while (Clock::now() < end) {
      cc.Send(ListRequest());
      ControlResponse resp;
      if (!cc.Recv(&resp, 1000)) continue;  // not up yet (ipc connects when it can)
      const auto now = Clock::now();
      if (ready_ms < 0) ready_ms = Millis(start, now);
      last = Entries(resp, case_id);
      if (first_ms < 0 && last > 1) {
        first_ms = Millis(start, now);
        at_first = last;
      }
      if (last >= total) {
        done_ms = Millis(start, now);
        c_cpu = CpuSeconds(c.pid);
        b_cpu = CpuSeconds(b.pid) - b_cpu0;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
    }
    if (done_ms < 0)
      Die("C did not catch up: " + std::to_string(last) + " of " + std::to_string(total));
  }
  const double rate = static_cast<double>(entries) / (done_ms / 1e3);
  // All at once (a small case): no rate of its own after the first entries.
  const double rate_after_first =
      done_ms > first_ms ? static_cast<double>(total - at_first) / ((done_ms - first_ms) / 1e3)
                         : rate;
  std::printf(
      "catch-up: %zu entries in %.0f ms from C's start: %.0f entries/s (C answered its "
      "control socket at %.0f ms, held %lld entries at %.0f ms; %.0f entries/s from "
      "there); CPU C %.2f s (%.0f us/entry), B %.2f s (%.0f us/entry)\n",
      entries, done_ms, rate, ready_ms, static_cast<long long>(at_first), first_ms,
      rate_after_first, c_cpu, 1e6 * c_cpu / static_cast<double>(entries), b_cpu,
      1e6 * b_cpu / static_cast<double>(entries));
  {
    std::string lc, lb;
    const std::string cli = BinDir() + "/rogatory";
    RunWait({cli, "--home", c.home, "case", "log", case_id, "--json"}, &lc);
    RunWait({cli, "--home", b.home, "case", "log", case_id, "--json"}, &lb);
    const auto jc = nlohmann::json::parse(lc), jb = nlohmann::json::parse(lb);
    if (static_cast<int64_t>(jc.size()) != total || jc != jb) {
      Die("C's case log differs from B's (" + std::to_string(jc.size()) + " entries)");
    }
    std::printf("check: C's `case log` has %zu entries, identical to B's\n", jc.size());
  }

  // 3. Steady state: A back; one entry at a time. B's store is watched
  // from here (a primary-key lookup of A's next entry on a read-only
  // connection sees committed transactions only), so the watching adds no
  // work to B's loop.
  Start(a);
  if (!WaitReady(a)) Die("A did not restart");
  std::vector<double> visible_ms, answered_ms, control_ms;
  int64_t steady_from_us = 0;
  {
    SQLite::Database bdb(b.home + "/store.db", SQLite::OPEN_READONLY);
    std::string lead;
    int64_t seq = 0;
    {
      SQLite::Statement q(bdb,
                          "SELECT author FROM case_entries WHERE case_id=? AND type=1 "
                          "AND seq=1");
      q.bind(1, case_id);
      if (!q.executeStep()) Die("B has no first entry");
      lead.assign(static_cast<const char*>(q.getColumn(0).getBlob()),
                  static_cast<size_t>(q.getColumn(0).getBytes()));
      SQLite::Statement m(bdb, "SELECT MAX(seq) FROM case_entries WHERE case_id=? AND author=?");
      m.bind(1, case_id);
      m.bind(2, lead.data(), static_cast<int>(lead.size()));
      if (!m.executeStep()) Die("B has no entry of A");
      seq = m.getColumn(0).getInt64();
    }
    SQLite::Statement has(bdb, "SELECT 1 FROM case_entries WHERE case_id=? AND author=? AND seq=?");
    Control ca(a);
    auto one = [&](size_t i, bool record) {
      ++seq;
      const auto t0 = Clock::now();
      ca.Send(PostRequest(case_id, EntryText(1000000 + i, text_bytes)));
      double a_ms = -1, b_ms = -1;
      const auto end = t0 + std::chrono::seconds(30);
      while ((a_ms < 0 || b_ms < 0) && Clock::now() < end) {
        ControlResponse resp;
        if (a_ms < 0 && ca.Recv(&resp, 0)) {
          if (resp.has_error()) Die("post: " + resp.error().message());
          a_ms = Millis(t0, Clock::now());
        }
        if (b_ms < 0) {
          has.reset();
          has.bind(1, case_id);
          has.bind(2, lead.data(), static_cast<int>(lead.size()));
          has.bind(3, seq);
          if (has.executeStep()) b_ms = Millis(t0, Clock::now());
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));  // poll interval
      }
      if (a_ms < 0 || b_ms < 0) Die("entry " + std::to_string(i) + " did not reach B");
      if (record) {
        answered_ms.push_back(a_ms);
        visible_ms.push_back(b_ms);
      }
    };
    for (size_t i = 0; i < 10; ++i) one(i, false);  // connections up, caches warm
    // The fixed cost of asking a daemon anything: a `status` request to A
    // over its ipc control socket and one turn of its loop.
    for (size_t i = 0; i < 200; ++i) {
      rogatory::control::ControlRequest req;
      req.mutable_status();
      const auto t0 = Clock::now();
      ca.Call(req);
      control_ms.push_back(Millis(t0, Clock::now()));
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    steady_from_us = static_cast<int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
    for (size_t i = 0; i < latency_entries; ++i) {
      one(10 + i, true);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // pacing between entries
    }
  }
  std::vector<double> accepted_ms;
  {
    SQLite::Database db(b.home + "/store.db", SQLite::OPEN_READONLY);
    SQLite::Statement q(db,
                        "SELECT received_at - created_at FROM case_entries "
                        "WHERE case_id=? AND created_at >= ?");
    q.bind(1, case_id);
    q.bind(2, static_cast<int64_t>(steady_from_us));
    while (q.executeStep()) accepted_ms.push_back(q.getColumn(0).getInt64() / 1e3);
  }
  std::printf(
      "steady state (%zu entries, 20 ms apart): A answered the post (its commit) p50 "
      "%.2f ms; committed in B's store p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms; "
      "B accepted it (received_at - created_at, %zu entries) p50 %.2f ms, p90 %.2f ms, "
      "p99 %.2f ms\n",
      visible_ms.size(), Percentile(answered_ms, 0.5), Percentile(visible_ms, 0.5),
      Percentile(visible_ms, 0.9), Percentile(visible_ms, 0.99), Percentile(visible_ms, 1.0),
      accepted_ms.size(), Percentile(accepted_ms, 0.5), Percentile(accepted_ms, 0.9),
      Percentile(accepted_ms, 0.99));
  std::printf("control round trip to A (status, idle): p50 %.2f ms, p90 %.2f ms\n",
              Percentile(control_ms, 0.5), Percentile(control_ms, 0.9));

  for (Node* x : {&a, &b, &c}) Stop(*x);
  const Limits after = MeasureLimits(sample, dir);
  PrintLimits("after", after);

  const double verify_us = (before.verify_us + after.verify_us) / 2;
  const double check_us = (before.check_us + after.check_us) / 2;
  const double floor_ms =
      (before.curve_rt_p50 + after.curve_rt_p50) / 2 + (before.commit_p50 + after.commit_p50) / 2;
  std::printf(
      "ratio: catch-up %.2f (from the first entries on: %.2f) of what Ed25519 "
      "verification alone allows on one core (mean %.0f/s); %.2f (%.2f) of "
      "VerifyCaseEntry alone (mean %.0f/s); steady state p50 %.1f x, p90 %.1f x (CURVE "
      "round trip + durable commit, mean p50s %.3f ms); load average %.2f\n",
      rate * verify_us / 1e6, rate_after_first * verify_us / 1e6, 1e6 / verify_us,
      rate * check_us / 1e6, rate_after_first * check_us / 1e6, 1e6 / check_us,
      Percentile(visible_ms, 0.5) / floor_ms, Percentile(visible_ms, 0.9) / floor_ms, floor_ms,
      LoadAverage());

  if (keep) {
    std::printf("kept %s\n", dir.c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
  return 0;
}
