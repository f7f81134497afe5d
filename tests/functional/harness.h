// Functional-test harness: real rogatoryd processes in temporary homes on
// free loopback ports, driven through the real rogatory CLI. Every wait is a
// condition polled against a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace rogatory::test {

struct CmdResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs a program to completion with stdin from `input` (if non-empty).
CmdResult RunCmd(const std::vector<std::string>& argv, const std::string& input = {});

std::string RogatoryBin();
std::string RogatorydBin();

// A fresh directory, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Polls `cond` every few milliseconds until it is true or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds timeout = std::chrono::seconds(20));

std::string ReadFileText(const std::string& path);

class Node {
 public:
  // Creates a home under `dir` with `rogatory init`.
  Node(const std::string& dir, const std::string& id, const std::string& country = "FR",
       const std::vector<std::string>& extra_init_args = {});
  ~Node();

  const std::string& id() const { return id_; }
  const std::string& home() const { return home_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& fingerprint() const { return fingerprint_; }
  std::string card_path() const { return home_ + "/../" + id_ + ".card"; }
  std::string log_path() const { return home_ + ".log"; }
  std::string Log() const { return ReadFileText(log_path()); }

  // Runs `rogatory --home HOME args...`.
  CmdResult Cli(const std::vector<std::string>& args, const std::string& input = {}) const;
  nlohmann::json Json(const std::vector<std::string>& args) const;

  // Adds `other`'s card to this node's roster with the right fingerprint.
  void Trust(const Node& other) const;

  // Starts rogatoryd and waits until `status` answers.
  void Start(const std::vector<std::string>& extra_args = {});
  // SIGTERM and wait; returns the exit status.
  int Stop();
  void Kill();  // SIGKILL
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // Sends a message; returns its id (asserts success).
  std::string Send(const std::vector<std::string>& to_and_flags);
  // Sends through the control socket directly (no CLI process): returns the
  // id, or "" when the daemon did not confirm (down, killed, timed out).
  std::string SendDirect(const std::string& to, const std::string& subject,
                         const std::string& body, int priority = 1, int64_t expires_in_us = 0,
                         int timeout_ms = 5000) const;
  // Rewrites node.toml: [node] as init wrote it, then `extra` (whole sections).
  void WriteConfig(const std::string& extra) const;
  // Waits until the outbox shows `id` in `state`.
  bool WaitOutboxState(const std::string& id, const std::string& state,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  bool WaitLog(const std::string& needle,
               std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

 private:
  std::string id_;
  std::string home_;
  std::string endpoint_;
  std::string fingerprint_;
  pid_t pid_ = -1;
};

// Every node adds every other's card (the card exchange, done for a test).
void TrustEachOther(const std::vector<Node*>& nodes);

}  // namespace rogatory::test
