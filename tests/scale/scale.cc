// rogatory-scale: many real nodes on one machine (docs/performance.md,
// "Many nodes"). N rogatoryd processes on loopback ports, all trusting one
// signed directory and no card exchanged by hand; every node sends a
// message to K random others, and the nodes are split into cases of M
// members (the last one wraps around to the first nodes) in which every
// member posts once. Checks that every message arrives exactly once, that
// every case converges on all its members in one order, and that no node
// accuses another of equivocation; reports
// wall time per phase, peak total memory and memory per node.
//
//   tests/scale/run.sh [--nodes 200] [--sends 5] [--members 30] [--seed S]
//
// Exit 0 when every check passed, 1 otherwise (each failure on one line).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "node/control_client.h"
#include "node/home.h"
#include "proto/control.pb.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// One field of /proc/PID/status or smaps_rollup, in kB (0 if absent).
int64_t ProcKb(pid_t pid, const char* file, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::istringstream ss(line.substr(field.size() + 1));
      int64_t kb = 0;
      ss >> kb;
      return kb;
    }
  }
  return 0;
}

// Samples the daemons' memory every 500 ms: the peak of the sum of their
// resident sets, and of their proportional sets (shared library pages
// counted once over all processes).
class MemorySampler {
 public:
  explicit MemorySampler(std::vector<pid_t> pids) : pids_(std::move(pids)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        Sample();
        // The sampling period (500 ms), not a wait for a condition: it is
        // cut into 50 ms steps only so that stopping is prompt.
        for (int i = 0; i < 10 && !stop_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }
  ~MemorySampler() {
    stop_ = true;
    thread_.join();
  }
  void Sample() {
    int64_t rss = 0, pss = 0;
    for (pid_t p : pids_) {
      rss += ProcKb(p, "status", "VmRSS");
      pss += ProcKb(p, "smaps_rollup", "Pss");
    }
    std::lock_guard<std::mutex> l(mu_);
    peak_rss_kb_ = std::max(peak_rss_kb_, rss);
    peak_pss_kb_ = std::max(peak_pss_kb_, pss);
  }
  int64_t peak_rss_kb() {
    std::lock_guard<std::mutex> l(mu_);
    return peak_rss_kb_;
  }
  int64_t peak_pss_kb() {
    std::lock_guard<std::mutex> l(mu_);
    return peak_pss_kb_;
  }

 private:
  std::vector<pid_t> pids_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  int64_t peak_rss_kb_ = 0;
  int64_t peak_pss_kb_ = 0;
  std::thread thread_;
};

// A case command through the node's control socket (what `rogatory case`
// sends), without a CLI process per call: hundreds of them run here.
std::optional<control::CaseResult> CaseCall(const Node& n, const std::string& op,
                                            const std::string& case_id,
                                            const std::string& text = {}) {
  control::ControlRequest req;
  auto* c = req.mutable_case_command();
  c->set_op(op);
  c->set_case_id(case_id);
  if (op == "post") {
    c->set_type("note");
    c->set_text(text);
  }
  auto resp = CallDaemon(Home(n.home()), req, 30000);
  if (!resp.ok() || resp->has_error()) return std::nullopt;
  return resp->case_result();
}

struct Args {
  int nodes = 200;
  int sends = 5;
  int members = 30;
  uint64_t seed = 0;
  int timeout_s = 600;
};

int Run(const Args& args) {
  const auto start = Clock::now();
  std::vector<std::string> failures;
  std::mutex failures_mu;
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> l(failures_mu);
    std::fprintf(stderr, "rogatory-scale: FAIL: %s\n", what.c_str());
    failures.push_back(what);
  };
  std::mt19937_64 rng(args.seed);
  const auto deadline = start + std::chrono::seconds(args.timeout_s);
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  };

  TempDir dir;
  Node authority(dir.path(), "scale-directory", "EU");
  std::vector<std::unique_ptr<Node>> nodes;
  static const char* kCountries[] = {"FR", "DE", "NL", "IT", "ES", "PL", "BE", "AT", "SE", "PT"};
  for (int i = 0; i < args.nodes; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "n%03d", i);
    nodes.push_back(std::make_unique<Node>(dir.path(), id, kCountries[i % 10]));
  }
  const double t_init = Seconds(start);

  // One signed directory of every card; each node pins the authority and
  // imports it.
  auto phase = Clock::now();
  const std::string directory = dir.path() + "/directory";
  std::vector<std::string> build = {"directory", "build", "--sequence", "1", "-o", directory};
  for (const auto& n : nodes) build.push_back(n->card_path());
  if (auto r = authority.Cli(build); r.exit_code != 0) {
    fail("directory build: " + r.err);
    return 1;
  }
  for (const auto& n : nodes) {
    auto r = n->Cli({"directory", "trust", authority.card_path(), "--fingerprint",
                     authority.fingerprint()});
    if (r.exit_code == 0) r = n->Cli({"directory", "import", directory});
    if (r.exit_code != 0) {
      fail(n->id() + ": " + r.err);
      return 1;
    }
  }
  const double t_directory = Seconds(phase);

  phase = Clock::now();
  std::vector<pid_t> pids;
  for (auto& n : nodes) {
    n->Start();
    pids.push_back(n->pid());
  }
  const double t_start = Seconds(phase);
  MemorySampler memory(pids);
  // A measuring interval, not a wait: the daemons are ready (Start waited
  // for each); the idle memory figure is taken after 2 s of idleness.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  memory.Sample();
  int64_t idle_rss_kb = 0;
  for (pid_t p : pids) idle_rss_kb += ProcKb(p, "status", "VmRSS");

  // Messages: each node to `sends` distinct random others.
  phase = Clock::now();
  struct Sent {
    size_t from, to;
    std::string id;
  };
  std::vector<Sent> sent;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::vector<size_t> others;
    for (size_t j = 0; j < nodes.size(); ++j) {
      if (j != i) others.push_back(j);
    }
    std::shuffle(others.begin(), others.end(), rng);
    for (int k = 0; k < args.sends && k < static_cast<int>(others.size()); ++k) {
      const size_t to = others[static_cast<size_t>(k)];
      const std::string id = nodes[i]->SendDirect(nodes[to]->id(),
                                                  "scale " + nodes[i]->id() + " to " +
                                                      nodes[to]->id(),
                                                  "body from " + nodes[i]->id());
      if (id.empty()) {
        fail(nodes[i]->id() + ": send to " + nodes[to]->id() + " was not confirmed");
        continue;
      }
      sent.push_back({i, to, id});
    }
  }

  // Cases of `members` nodes each, led by their first member.
  struct Case {
    std::string id;
    std::vector<size_t> members;
  };
  std::vector<Case> cases;
  const size_t per_case = std::min<size_t>(static_cast<size_t>(args.members), nodes.size());
  for (size_t first = 0; first < nodes.size(); first += per_case) {
    Case c;
    for (size_t k = 0; k < per_case; ++k) c.members.push_back((first + k) % nodes.size());
    std::string list;
    for (size_t k = 1; k < c.members.size(); ++k) {
      list += (list.empty() ? "" : ",") + nodes[c.members[k]]->id();
    }
    auto r = nodes[c.members[0]]->Cli(
        {"case", "create", "Scale case " + std::to_string(cases.size()), "--members", list,
         "--json"});
    if (r.exit_code != 0) {
      fail("case create: " + r.err);
      continue;
    }
    c.id = nlohmann::json::parse(r.out)["id"];
    cases.push_back(std::move(c));
  }
  // Every member posts once, when the case has reached it: one thread per
  // case (control calls only; no process is forked from these threads).
  std::vector<std::thread> posters;
  for (const auto& c : cases) {
    posters.emplace_back([&, &c = c] {
      for (size_t m : c.members) {
        const Node& n = *nodes[m];
        const bool has = WaitFor([&] { return CaseCall(n, "log", c.id).has_value(); },
                                 std::max(left(), std::chrono::milliseconds(0)));
        if (!has) {
          fail(n.id() + " never received case " + c.id);
          continue;
        }
        if (!CaseCall(n, "post", c.id, "post from " + n.id())) {
          fail(n.id() + ": case post to " + c.id + " was not confirmed");
        }
      }
    });
  }
  for (auto& t : posters) t.join();
  const double t_queue = Seconds(phase);

  // Every message delivered (its sender holds the receipt)...
  phase = Clock::now();
  std::map<size_t, std::set<std::string>> pending;  // sender -> ids not yet delivered
  for (const auto& s : sent) pending[s.from].insert(s.id);
  for (auto& [from, ids] : pending) {
    const Node& n = *nodes[from];
    const bool done = WaitFor(
        [&] {
          auto r = n.Cli({"outbox", "--json"});
          if (r.exit_code != 0) return false;
          for (const auto& m : nlohmann::json::parse(r.out)) {
            if (m["state"] == "delivered") ids.erase(m["id"].get<std::string>());
          }
          return ids.empty();
        },
        std::max(left(), std::chrono::milliseconds(0)));
    if (!done) fail(n.id() + ": " + std::to_string(ids.size()) + " message(s) not delivered");
  }
  const double t_deliver = Seconds(phase);

  // ... and exactly once in each recipient's inbox, and nothing else there.
  std::map<size_t, std::multiset<std::string>> expected;  // recipient -> ids
  for (const auto& s : sent) expected[s.to].insert(nodes[s.from]->id() + "/" + s.id);
  size_t received = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto r = nodes[i]->Cli({"inbox", "--json"});
    if (r.exit_code != 0) {
      fail(nodes[i]->id() + ": inbox: " + r.err);
      continue;
    }
    std::multiset<std::string> got;
    for (const auto& m : nlohmann::json::parse(r.out)) {
      got.insert(m["from"].get<std::string>() + "/" + m["id"].get<std::string>());
    }
    received += got.size();
    if (got != expected[i]) {
      fail(nodes[i]->id() + ": inbox holds " + std::to_string(got.size()) + " message(s), " +
           std::to_string(expected[i].size()) + " expected exactly once each");
    }
  }

  // Every case: the same log on every member, the creation and one post
  // from each member.
  phase = Clock::now();
  size_t converged = 0;
  for (const auto& c : cases) {
    auto log_of = [&](size_t m) {
      nlohmann::json out = nlohmann::json::array();
      auto r = CaseCall(*nodes[m], "log", c.id);
      if (!r) return out;
      for (const auto& e : r->entries()) out.push_back({e.author(), e.seq(), e.text()});
      return out;
    };
    nlohmann::json reference;
    const bool same = WaitFor(
        [&] {
          reference = log_of(c.members[0]);
          if (reference.size() != c.members.size() + 1) return false;
          for (size_t m : c.members) {
            if (log_of(m) != reference) return false;
          }
          return true;
        },
        std::max(left(), std::chrono::milliseconds(0)));
    if (same) {
      ++converged;
    } else {
      fail("case " + c.id + " did not converge on its " + std::to_string(c.members.size()) +
           " members (lead holds " + std::to_string(reference.size()) + " entries)");
    }
  }
  const double t_converge = Seconds(phase);
  memory.Sample();

  int64_t max_hwm_kb = 0, sum_rss_kb = 0;
  for (pid_t p : pids) {
    max_hwm_kb = std::max(max_hwm_kb, ProcKb(p, "status", "VmHWM"));
    sum_rss_kb += ProcKb(p, "status", "VmRSS");
  }
  int stopped_badly = 0;
  for (auto& n : nodes) stopped_badly += n->Stop() != 0;
  if (stopped_badly > 0) fail(std::to_string(stopped_badly) + " daemon(s) did not stop cleanly");
  // Honest nodes never accuse each other: a false equivocation report in a
  // busy network (third parties gossiping newer heads than the owner was
  // asked to prove) was found by this test.
  for (const auto& node : nodes) {
    if (node->Log().find("EQUIVOCATION") != std::string::npos) {
      fail(node->id() + " reported an equivocation of an honest node");
    }
  }

  const double n = static_cast<double>(nodes.size());
  std::printf("rogatory-scale: %zu nodes, %zu messages (%d per node), %zu cases of %zu members, "
              "seed %llu\n",
              nodes.size(), sent.size(), args.sends, cases.size(), per_case,
              static_cast<unsigned long long>(args.seed));
  std::printf("  wall time: %.1f s in all: init %.1f s, directory trust+import %.1f s, "
              "start %.1f s, queue sends+cases %.1f s, deliveries %.1f s, case convergence "
              "%.1f s\n",
              Seconds(start), t_init, t_directory, t_start, t_queue, t_deliver, t_converge);
  std::printf("  delivered: %zu of %zu messages, exactly once each: %s; cases converged: %zu of "
              "%zu\n",
              received, sent.size(), failures.empty() ? "yes" : "see failures", converged,
              cases.size());
  std::printf("  memory: peak total RSS %.0f MiB (%.1f MiB per node), peak total PSS %.0f MiB "
              "(%.1f MiB per node); idle RSS per node %.1f MiB; largest peak RSS of one node "
              "%.1f MiB; RSS per node at the end %.1f MiB\n",
              memory.peak_rss_kb() / 1024.0, memory.peak_rss_kb() / 1024.0 / n,
              memory.peak_pss_kb() / 1024.0, memory.peak_pss_kb() / 1024.0 / n,
              idle_rss_kb / 1024.0 / n, max_hwm_kb / 1024.0, sum_rss_kb / 1024.0 / n);
  if (!failures.empty()) {
    std::printf("  FAILED: %zu check(s)\n", failures.size());
    return 1;
  }
  std::printf("  every check passed\n");
  return 0;
}

}  // namespace
}  // namespace rogatory::test

int main(int argc, char** argv) {
  CLI::App app{"rogatory-scale: many real nodes on one machine"};
  rogatory::test::Args args;
  args.seed = std::random_device{}();
  app.add_option("--nodes", args.nodes, "nodes (default 200)")->check(CLI::Range(2, 2000));
  app.add_option("--sends", args.sends, "messages each node sends to random others (default 5)")
      ->check(CLI::Range(0, 100));
  app.add_option("--members", args.members, "members of each case (default 30)")
      ->check(CLI::Range(2, 64));
  app.add_option("--seed", args.seed, "random seed (default: random, printed)");
  app.add_option("--timeout", args.timeout_s, "seconds for the whole run (default 600)");
  CLI11_PARSE(app, argc, argv);
  try {
    return rogatory::test::Run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rogatory-scale: error: %s\n", e.what());
    return 1;
  }
}
