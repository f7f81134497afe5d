// rogatoryd: one thread, one poll loop, owning every socket (czmq's actor
// style without the extra threads): the ZAP handler, the ROUTER that peers
// connect to, one DEALER per peer it has something for, the control socket
// the CLI talks to, and a signalfd for SIGTERM/SIGINT.
//
// Each loop turn: serve ZAP; read control requests, router frames and dealer
// frames up to the batch size, doing all their store writes in one
// transaction; commit (synchronous=FULL); only then send the acks, receipts
// and control replies that depend on that commit; then send due deliveries.
#pragma once

#include <memory>
#include <optional>

#include "keys/result.h"
#include "keys/secret.h"
#include "node/home.h"

namespace rogatory {

class DaemonImpl;

class Daemon {
 public:
  // Loads node.toml and the keystore, opens the store, binds the sockets.
  // Any problem is one clear error (malformed config, missing keystore, wrong
  // passphrase, port in use, another daemon on this home).
  // SIGTERM and SIGINT must already be blocked in every thread (main() does
  // this before anything starts a thread).
  static Result<std::unique_ptr<Daemon>> Create(const Home& home,
                                                std::optional<SecretBytes> passphrase);
  ~Daemon();

  // Serves until SIGTERM or SIGINT, then shuts down cleanly.
  Status Run();

 private:
  explicit Daemon(std::unique_ptr<DaemonImpl> impl);
  std::unique_ptr<DaemonImpl> impl_;
};

}  // namespace rogatory
