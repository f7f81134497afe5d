// rogatory-startup: how long rogatoryd takes from exec to readiness.
//
//   build/bench/rogatory-startup --home H [--runs 5] [--rogatoryd PATH]
//                                [--log FILE] [--timeout-ms 60000]
//                                [--idle-s S [--settle-s 2]]
//
// Each run forks, creates an AF_UNIX datagram socket of its own, points
// NOTIFY_SOCKET at it and execs `rogatoryd --home H`. Start-up to ready is
// CLOCK_MONOTONIC from just before execv (taken in the child, handed over
// through a shared page) to the receipt of the datagram holding "READY=1"
// (the daemon's own sd_notify, NotifyReady in node/daemon.cc). The daemon is
// then stopped with SIGTERM and reaped; wait4 gives its CPU time and peak RSS.
// The home must need no passphrase (no key derivation is timed).
//
// With --idle-s S, each run also leaves the ready daemon alone for
// --settle-s, then for S seconds, and prints what it used meanwhile and its
// memory at the end, as KEY=VALUE pairs on an "idle" line:
//   cpu_ticks   utime+stime of all its threads (/proc/PID/stat, CLK_TCK units)
//   cpu_pct     the same in percent of one core over the S seconds
//   cpu_ns_pct  the same from the threads' run time in nanoseconds
//               (/proc/PID/task/*/schedstat), finer than ticks
//   wakeups_s   voluntary context switches of all threads, per second
//   VmRSS RssAnon RssFile RssShmem VmHWM (/proc/PID/status) and Pss
//   Pss_Anon Pss_File (/proc/PID/smaps_rollup, when the kernel has it), KiB
//
// Two floors are measured in the same run, each as many times:
//   exec   `rogatoryd --version`: exec, dynamic loading and relocation of the
//          same binary and libraries, static initialisers, exit (ends at exit);
//   sqlite this process opening H/store.db as Store::Open does (WAL), reading
//          the schema and the schema version, and closing it.
//
// Prints one line per run, then median and maximum of each. Exit code 1 if
// the daemon did not become ready.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

namespace {

double NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double TvMs(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3;
}

// utime + stime of the whole process, in clock ticks.
long long CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  // Fields after the command name start at field 3 (state); utime is 14.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

// Run time (ns) and voluntary context switches summed over all threads.
void ThreadTotals(pid_t pid, long long* run_ns, long long* voluntary) {
  *run_ns = 0;
  *voluntary = 0;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream sched(t.path() / "schedstat");
    long long ns = 0;
    if (sched >> ns) *run_ns += ns;
    std::ifstream status(t.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0) *voluntary += std::stoll(line.substr(24));
    }
  }
}

// "KEY=VALUE " for each listed field of a /proc "Key:   N kB" file.
std::string KibFields(const std::string& path, const std::vector<std::string>& keys) {
  std::ifstream in(path);
  std::string line, out;
  while (std::getline(in, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) continue;
    std::istringstream value(line.substr(colon + 1));
    long long kib = 0;
    if (value >> kib) out += key + "=" + std::to_string(kib) + " ";
  }
  return out;
}

// The idle line (see the top of this file); empty if the daemon is gone.
std::string MeasureIdle(pid_t pid, double settle_s, double idle_s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_s));
  const long long ticks0 = CpuTicks(pid);
  long long ns0 = 0, vol0 = 0;
  ThreadTotals(pid, &ns0, &vol0);
  const double t0 = NowMs();
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_s));
  const long long ticks1 = CpuTicks(pid);
  long long ns1 = 0, vol1 = 0;
  ThreadTotals(pid, &ns1, &vol1);
  const double secs = (NowMs() - t0) / 1e3;
  if (ticks0 < 0 || ticks1 < 0) return "";
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "seconds=%.1f cpu_ticks=%lld cpu_pct=%.3f cpu_ns_pct=%.3f wakeups_s=%.1f ", secs,
                ticks1 - ticks0, 100.0 * static_cast<double>(ticks1 - ticks0) / hz / secs,
                100.0 * static_cast<double>(ns1 - ns0) / 1e9 / secs,
                static_cast<double>(vol1 - vol0) / secs);
  const std::string proc = "/proc/" + std::to_string(pid);
  return buf + KibFields(proc + "/status", {"VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"}) +
         KibFields(proc + "/smaps_rollup", {"Pss", "Pss_Anon", "Pss_File"});
}

struct Run {
  double ready_ms = 0;  // exec -> READY=1 (or exec -> exit for the floor)
  double stop_ms = 0;   // SIGTERM -> reaped
  double cpu_ms = 0;    // user + system over the whole life
  long maxrss_kib = 0;
  std::string idle;     // MeasureIdle's line, with --idle-s
};

// Forks and execs argv with `env_notify` (empty: unchanged) as NOTIFY_SOCKET
// and stderr to `log`. *exec_at receives the child's clock just before execv.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& env_notify,
            const std::string& log, volatile double* exec_at) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (!env_notify.empty()) ::setenv("NOTIFY_SOCKET", env_notify.c_str(), 1);
  const int in = ::open("/dev/null", O_RDONLY);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (in >= 0) ::dup2(in, 0);
  if (out >= 0) {
    ::dup2(out, 1);
    ::dup2(out, 2);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  *exec_at = NowMs();
  ::execv(args[0], args.data());
  ::_exit(127);
}

bool MeasureDaemon(const std::string& bin, const std::string& home, const std::string& log,
                   int timeout_ms, double settle_s, double idle_s, volatile double* exec_at,
                   Run* run) {
  const std::string dir = std::filesystem::temp_directory_path() / "rogatory-startup-XXXXXX";
  std::string tmpl = dir;
  if (::mkdtemp(tmpl.data()) == nullptr) return false;
  const std::string path = tmpl + "/notify";
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("rogatory-startup: notify socket");
    return false;
  }
  *exec_at = 0;
  const pid_t pid = Spawn({bin, "--home", home}, path, log, exec_at);
  bool ready = false;
  const double deadline = NowMs() + timeout_ms;
  while (!ready && NowMs() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) > 0) {
      char buf[512];
      const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      const double at = NowMs();
      if (n > 0) {
        buf[n] = '\0';
        if (std::strstr(buf, "READY=1") != nullptr) {
          ready = true;
          run->ready_ms = at - *exec_at;
        }
      }
    } else if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      break;  // exited before ready
    }
  }
  if (ready && idle_s > 0) run->idle = MeasureIdle(pid, settle_s, idle_s);
  const double term_at = NowMs();
  ::kill(pid, SIGTERM);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  run->stop_ms = NowMs() - term_at;
  run->cpu_ms = TvMs(ru.ru_utime) + TvMs(ru.ru_stime);
  run->maxrss_kib = ru.ru_maxrss;
  ::close(fd);
  std::filesystem::remove_all(tmpl);
  return ready;
}

void MeasureExecFloor(const std::string& bin, volatile double* exec_at, Run* run) {
  *exec_at = 0;
  const pid_t pid = Spawn({bin, "--version"}, "", "/dev/null", exec_at);
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  run->ready_ms = NowMs() - *exec_at;
  run->cpu_ms = TvMs(ru.ru_utime) + TvMs(ru.ru_stime);
  run->maxrss_kib = ru.ru_maxrss;
}

// Opens the store as Store::Open does and reads what every first query
// needs (the schema) and the schema version; ms, or -1 on error.
double MeasureSqliteFloor(const std::string& store) {
  const double t0 = NowMs();
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(store.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_exec(db, "SELECT value FROM meta WHERE key='schema_version'", nullptr, nullptr,
                      nullptr);
  }
  sqlite3_close(db);
  return rc == SQLITE_OK ? NowMs() - t0 : -1;
}

struct Summary {
  double median = 0, max = 0;
};

Summary Summarise(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s.max = v.back();
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rogatory-startup: rogatoryd start-up to ready (sd_notify)"};
  std::string home, log = "/dev/null";
  std::string bin = std::string(ROGATORY_BIN_DIR) + "/rogatoryd";
  int runs = 5, timeout_ms = 60000;
  double idle_s = 0, settle_s = 2;
  app.add_option("--home", home, "node home (no passphrase)")->required();
  app.add_option("--runs", runs, "runs of each measurement")->check(CLI::Range(1, 1000));
  app.add_option("--rogatoryd", bin, "the daemon binary");
  app.add_option("--log", log, "file the daemon's stderr is appended to");
  app.add_option("--timeout-ms", timeout_ms, "give up on a run after this long");
  app.add_option("--idle-s", idle_s, "after ready, measure CPU and memory over this long")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--settle-s", settle_s, "wait this long after ready before --idle-s starts")
      ->check(CLI::Range(0.0, 3600.0));
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  // One shared page: the child writes its clock there just before execv.
  void* page = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 1;
  auto* exec_at = static_cast<volatile double*>(page);

  std::vector<double> ready, stop, cpu, rss, floor_exec, floor_rss, floor_sqlite;
  for (int i = 0; i < runs; ++i) {
    Run r;
    if (!MeasureDaemon(bin, home, log, timeout_ms, settle_s, idle_s, exec_at, &r)) {
      std::fprintf(stderr, "rogatory-startup: error: rogatoryd --home %s did not become ready "
                           "(its stderr: %s)\n", home.c_str(), log.c_str());
      return 1;
    }
    Run f;
    MeasureExecFloor(bin, exec_at, &f);
    const double sq = MeasureSqliteFloor(home + "/store.db");
    std::printf("run %d: ready %.1f ms (stop %.1f ms, cpu %.1f ms, peak rss %ld KiB); "
                "floors: exec %.1f ms (peak rss %ld KiB), sqlite open %.2f ms\n",
                i + 1, r.ready_ms, r.stop_ms, r.cpu_ms, r.maxrss_kib, f.ready_ms, f.maxrss_kib,
                sq);
    if (idle_s > 0) std::printf("run %d: idle %s\n", i + 1, r.idle.c_str());
    ready.push_back(r.ready_ms);
    stop.push_back(r.stop_ms);
    cpu.push_back(r.cpu_ms);
    rss.push_back(static_cast<double>(r.maxrss_kib));
    floor_exec.push_back(f.ready_ms);
    floor_rss.push_back(static_cast<double>(f.maxrss_kib));
    floor_sqlite.push_back(sq);
  }
  const auto p = [](const char* what, const std::vector<double>& v, const char* unit) {
    const Summary s = Summarise(v);
    std::printf("%s: median %.1f %s, max %.1f %s\n", what, s.median, unit, s.max, unit);
  };
  p("ready", ready, "ms");
  p("stop", stop, "ms");
  p("cpu", cpu, "ms");
  p("peak rss", rss, "KiB");
  p("floor exec (rogatoryd --version)", floor_exec, "ms");
  p("floor exec peak rss", floor_rss, "KiB");
  const Summary sq = Summarise(floor_sqlite);
  std::printf("floor sqlite open: median %.2f ms, max %.2f ms\n", sq.median, sq.max);
  return 0;
}
