// rogatory-load: end-to-end load on two real rogatoryd nodes on loopback,
// driven through their control sockets (no CLI process per message).
//
// It reports, in one run:
//   1. the ceiling of the construction: the cryptography one message and its
//      receipt need, per side, measured in-process (bench/construction.h);
//   2. the raw ZeroMQ CURVE message rate (DEALER -> ROUTER over loopback,
//      1 KiB messages) on this machine;
//   3. durable, receipted messages per second and latency percentiles (queued
//      -> receipt verified and stored at the sender) for N messages;
//   4. the latency of urgent messages injected behind a normal backlog;
//
//   4. latency at a moderate offered load (--paced-rate, default 500/s);
//   5. as 4 above, urgent probes behind a 10,000-message normal backlog.
//
//   build/bench/rogatory-load [--messages N] [--size BYTES] [--backlog N]
//                             [--probes N] [--paced N] [--paced-rate R] [--keep]
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "bench/construction.h"
#include "keys/crypto.h"
#include "node/clock.h"
#include "proto/control.pb.h"

namespace rogatory::bench {
namespace {

using Clock = std::chrono::steady_clock;

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
  char buf[4096];
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

Node Init(const std::string& dir, const std::string& id) {
  Node n;
  n.id = id;
  n.home = dir + "/" + id;
  n.endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  n.card = dir + "/" + id + ".card";
  const std::string cli = BinDir() + "/rogatory";
  if (RunWait({cli, "--home", n.home, "init", "--name", id, "--authority", "Load " + id,
               "--country", "FR", "--listen", n.endpoint}) != 0 ||
      RunWait({cli, "--home", n.home, "id", "export", "-o", n.card}) != 0) {
    std::fprintf(stderr, "rogatory-load: error: cannot initialise node %s\n", id.c_str());
    std::exit(1);
  }
  std::string out;
  RunWait({cli, "--home", n.home, "id", "show", "--json"}, &out);
  n.fingerprint = nlohmann::json::parse(out)["fingerprint"];
  return n;
}

void Trust(const Node& a, const Node& b) {
  if (RunWait({BinDir() + "/rogatory", "--home", a.home, "peer", "add", b.card, "--fingerprint",
               b.fingerprint}) != 0) {
    std::fprintf(stderr, "rogatory-load: error: peer add failed\n");
    std::exit(1);
  }
}

void Start(Node& n) {
  n.pid = ::fork();
  if (n.pid == 0) {
    const int log = ::open((n.home + ".log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    const std::string bin = BinDir() + "/rogatoryd";
    ::execl(bin.c_str(), bin.c_str(), "--home", n.home.c_str(), nullptr);
    ::_exit(127);
  }
}

void Stop(Node& n) {
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGTERM);
  ::waitpid(n.pid, nullptr, 0);
  n.pid = -1;
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
  control::ControlResponse Call(const control::ControlRequest& req) {
    Send(req);
    control::ControlResponse resp;
    if (!Recv(&resp, 60000)) {
      std::fprintf(stderr, "rogatory-load: error: the daemon did not answer\n");
      std::exit(1);
    }
    return resp;
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t sock_;
};

control::ControlRequest SendRequest(const std::string& to, size_t size, int priority) {
  control::ControlRequest req;
  auto* s = req.mutable_send();
  s->add_to(to);
  s->set_subject("load");
  s->set_body(std::string(size, 'L'));
  s->set_priority(static_cast<uint32_t>(priority));
  return req;
}

bool WaitReady(const Node& n) {
  Control c(n);
  const auto end = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < end) {
    control::ControlRequest req;
    req.mutable_status();
    req.set_version(1);
    c.Send(req);
    control::ControlResponse resp;
    if (c.Recv(&resp, 200)) return true;
  }
  return false;
}

// Sends `count` messages with at most `window` outstanding requests; returns
// the ids in order.
std::vector<std::string> Pump(Control& c, const std::string& to, size_t count, size_t size,
                              int priority, size_t window = 512) {
  std::vector<std::string> ids;
  size_t sent = 0, outstanding = 0;
  while (ids.size() < count) {
    while (sent < count && outstanding < window) {
      c.Send(SendRequest(to, size, priority));
      ++sent;
      ++outstanding;
    }
    control::ControlResponse resp;
    if (!c.Recv(&resp, 60000)) {
      std::fprintf(stderr, "rogatory-load: error: send timed out\n");
      std::exit(1);
    }
    --outstanding;
    if (resp.has_error()) {
      std::fprintf(stderr, "rogatory-load: error: %s\n", resp.error().message().c_str());
      std::exit(1);
    }
    ids.push_back(resp.sent_id());
  }
  return ids;
}

uint64_t Queued(Control& c) {
  control::ControlRequest req;
  req.mutable_status();
  return c.Call(req).status().outbox_queued();
}

// id -> delivered_at - created_at in microseconds (delivered messages).
std::map<std::string, int64_t> Latencies(Control& c) {
  control::ControlRequest req;
  req.mutable_outbox();
  auto resp = c.Call(req);
  std::map<std::string, int64_t> out;
  for (const auto& m : resp.messages().items()) {
    if (m.state() != "delivered") continue;
    int64_t last = 0;
    for (const auto& r : m.recipients()) last = std::max(last, r.delivered_at());
    out[m.id()] = last - m.created_at();
  }
  return out;
}

double Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return static_cast<double>(v[i]) / 1000.0;
}

// Raw ZeroMQ CURVE rate: one DEALER sends `count` messages of `size` bytes to
// a ROUTER over loopback TCP; messages per second received.
double CurveRate(size_t count, size_t size) {
  zmq::context_t ctx(1);
  char server_pub[41], server_sec[41], client_pub[41], client_sec[41];
  zmq_curve_keypair(server_pub, server_sec);
  zmq_curve_keypair(client_pub, client_sec);
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::curve_server, 1);
  router.set(zmq::sockopt::curve_secretkey, server_sec);
  router.set(zmq::sockopt::rcvhwm, 0);
  router.bind("tcp://127.0.0.1:*");
  const std::string ep = router.get(zmq::sockopt::last_endpoint);
  std::thread sender([&] {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::curve_serverkey, server_pub);
    dealer.set(zmq::sockopt::curve_publickey, client_pub);
    dealer.set(zmq::sockopt::curve_secretkey, client_sec);
    dealer.set(zmq::sockopt::sndhwm, 0);
    dealer.set(zmq::sockopt::linger, -1);
    dealer.connect(ep);
    const std::string payload(size, 'z');
    for (size_t i = 0; i < count; ++i) dealer.send(zmq::buffer(payload), zmq::send_flags::none);
    zmq::message_t done;
    (void)dealer.recv(done);  // wait for the receiver before closing
  });
  zmq::message_t id, msg;
  (void)router.recv(id);
  (void)router.recv(msg);
  const auto t0 = Clock::now();
  for (size_t i = 1; i < count; ++i) {
    (void)router.recv(id);
    (void)router.recv(msg);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  router.send(id, zmq::send_flags::sndmore);
  router.send(zmq::str_buffer("done"));
  sender.join();
  return static_cast<double>(count - 1) / secs;
}

}  // namespace
}  // namespace rogatory::bench

int main(int argc, char** argv) {
  using namespace rogatory::bench;
  CLI::App app{"rogatory-load: end-to-end load on two local nodes"};
  size_t messages = 20000, size = 1024, backlog = 10000, probes = 50, paced_count = 2000;
  double paced_rate = 500;
  bool keep = false;
  app.add_option("--messages", messages, "messages in the throughput run");
  app.add_option("--size", size, "body size in bytes");
  app.add_option("--backlog", backlog, "normal messages queued before urgent probes");
  app.add_option("--probes", probes, "urgent messages injected into the backlog");
  app.add_option("--paced-rate", paced_rate, "offered load of the latency run, msg/s");
  app.add_option("--paced", paced_count, "messages in the latency run");
  app.add_flag("--keep", keep, "keep the temporary homes and logs");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (!rogatory::InitCrypto().ok()) return 1;

  std::printf("# rogatory-load: %zu messages of %zu bytes; urgent probes: %zu behind %zu\n",
              messages, size, probes, backlog);
  const CeilingReport ceiling = MeasureCeiling(size, 2.0);
  std::printf("construction: sender %.1f us, receiver %.1f us per message and receipt; "
              "two-core ceiling %.0f msg/s\n",
              ceiling.sender_us, ceiling.receiver_us, ceiling.two_core_ceiling);
  const double curve = CurveRate(200000, size);
  std::printf("zeromq curve: %.0f msg/s one way (%zu-byte messages, loopback)\n", curve, size);

  std::string tmpl = (std::filesystem::temp_directory_path() / "rogatory-load-XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  Node a = Init(dir, "load-a");
  Node b = Init(dir, "load-b");
  Trust(a, b);
  Trust(b, a);
  Start(a);
  Start(b);
  if (!WaitReady(a) || !WaitReady(b)) {
    std::fprintf(stderr, "rogatory-load: error: nodes did not start (logs in %s)\n", dir.c_str());
    return 1;
  }
  Control ca(a);

  // Throughput: everything queued as fast as the control socket takes it;
  // the clock stops when the last receipt is verified and stored.
  const auto t0 = Clock::now();
  const auto ids = Pump(ca, "load-b", messages, size, 1);
  const double queued_s = std::chrono::duration<double>(Clock::now() - t0).count();
  while (Queued(ca) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double total_s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto lat = Latencies(ca);
  std::vector<int64_t> v;
  for (const auto& id : ids) v.push_back(lat[id]);
  const double rate = static_cast<double>(messages) / total_s;
  std::printf("throughput: %.0f durable receipted msg/s (%zu in %.2f s; queuing took %.2f s); "
              "latency p50 %.1f ms, p99 %.1f ms\n",
              rate, messages, total_s, queued_s, Percentile(v, 0.5), Percentile(v, 0.99));
  // This machine's speed drifts (a shared VM): measure the ceiling again
  // right after the run and compare with the mean of both measurements.
  const CeilingReport after = MeasureCeiling(size, 2.0);
  const double mean_ceiling = (ceiling.two_core_ceiling + after.two_core_ceiling) / 2;
  std::printf("construction after the run: sender %.1f us, receiver %.1f us; two-core ceiling "
              "%.0f msg/s\n",
              after.sender_us, after.receiver_us, after.two_core_ceiling);
  std::printf("ratio: %.2f of the construction's two-core ceiling (mean %.0f msg/s); %.3f of "
              "the CURVE rate\n",
              rate / mean_ceiling, mean_ceiling, rate / curve);

  // Latency at a moderate offered load (no queue building up).
  {
    std::vector<std::string> paced;
    const auto start = Clock::now();
    for (size_t i = 0; i < paced_count; ++i) {
      std::this_thread::sleep_until(start + std::chrono::microseconds(
                                                static_cast<int64_t>(1e6 * i / paced_rate)));
      paced.push_back(Pump(ca, "load-b", 1, size, 1, 1)[0]);
    }
    while (Queued(ca) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    lat = Latencies(ca);
    std::vector<int64_t> pv;
    for (const auto& id : paced) pv.push_back(lat[id]);
    std::printf("paced at %.0f msg/s: latency p50 %.2f ms, p99 %.2f ms (%zu messages)\n",
                paced_rate, Percentile(pv, 0.5), Percentile(pv, 0.99), pv.size());
  }

  // Urgent behind a backlog: with B frozen (SIGSTOP), queue `backlog`
  // normal messages at A; thaw B and, while the backlog drains, inject
  // urgent probes one at a time.
  ::kill(b.pid, SIGSTOP);
  Pump(ca, "load-b", backlog, size, 1);
  ::kill(b.pid, SIGCONT);
  std::vector<std::string> urgent;
  uint64_t min_backlog = backlog;
  for (size_t i = 0; i < probes; ++i) {
    min_backlog = std::min<uint64_t>(min_backlog, Queued(ca));
    auto got = Pump(ca, "load-b", 1, size, 3, 1);
    urgent.push_back(got[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // pacing, not waiting
  }
  const uint64_t backlog_left = Queued(ca);
  while (Queued(ca) > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  lat = Latencies(ca);
  std::vector<int64_t> u;
  for (const auto& id : urgent) u.push_back(lat[id]);
  std::printf("urgent behind backlog: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%zu probes; "
              "normal backlog between %llu and %llu while probing)\n",
              Percentile(u, 0.5), Percentile(u, 0.99), Percentile(u, 1.0), u.size(),
              static_cast<unsigned long long>(backlog_left),
              static_cast<unsigned long long>(min_backlog));

  Stop(a);
  Stop(b);
  if (keep) {
    std::printf("kept %s\n", dir.c_str());
  } else {
    std::filesystem::remove_all(dir);
  }
  return 0;
}
