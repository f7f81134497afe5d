// ZeroMQ plumbing: CURVE server and client sockets with every option the
// platform notes call for, and the ZAP handler that admits only roster
// transport keys. The transport knows nothing of the store: the daemon gives
// it a lookup function.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

// Hidden behind ZMQ_BUILD_DRAFT_API in Debian's zmq.h (libzmq 4.3.4), and
// without it a CURVE server with a ZAP handler still admits unknown keys.
inline constexpr int kZmqZapEnforceDomain = 93;
inline constexpr char kZapDomain[] = "rogatory";
inline constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";

struct TransportOptions {
  int64_t max_frame_bytes = 0;
  int heartbeat_ivl_ms = 5000;
  int heartbeat_timeout_ms = 15000;
  int linger_ms = 0;
  std::string socks_proxy;  // host:port, outbound (DEALER) connections only
  // Frames queued per connection, each way, before ZeroMQ stops reading
  // from it (TCP pushback to the sender) or refuses more sends (EAGAIN):
  // bounds what one peer can make us hold.
  int receive_hwm = 1024;
  int handshake_timeout_ms = 10000;  // ZMQ_HANDSHAKE_IVL
};

std::string ToZ85(std::string_view key32);

// Creates the ROUTER, configures CURVE server + ZAP domain + enforcement +
// ROUTER_MANDATORY + limits, and binds `endpoint`. kUnavailable with the
// reason ("Address already in use") when the bind fails.
Result<zmq::socket_t> BindRouter(zmq::context_t& ctx, const SecretBytes& transport_secret,
                                 const std::string& endpoint, const TransportOptions& opts);

// Creates a DEALER that is a CURVE client of `server_key` and connects it.
// ZMQ_IMMEDIATE is set: sends fail with EAGAIN until the handshake is done,
// so nothing piles up for a peer that is down. With `connect` false the
// socket is configured but not connected: the caller attaches a
// ConnectionMonitor first (on loopback the handshake can complete before a
// monitor attached afterwards would see it), then connects it.
Result<zmq::socket_t> ConnectDealer(zmq::context_t& ctx, const SecretBytes& our_secret,
                                    std::string_view our_public, std::string_view server_key,
                                    const std::string& endpoint, const TransportOptions& opts,
                                    bool connect = true);

// Watches a socket's connections through zmq_socket_monitor: the daemon
// polls socket() and calls Drain() when it is readable.
class ConnectionMonitor {
 public:
  enum class Kind {
    kUp,        // handshake succeeded
    kDown,      // disconnected; `fd` is the connection's socket
    kAccepted,  // a listening socket accepted a connection; `fd` as above
  };
  struct Event {
    Kind kind;
    int fd = -1;  // for kDown and kAccepted
  };
  // Attaches to `watched`, which must outlive the monitor. `accepted` also
  // reports kAccepted (for a listening socket).
  static Result<std::unique_ptr<ConnectionMonitor>> Attach(zmq::context_t& ctx,
                                                           zmq::socket_t& watched,
                                                           bool accepted = false);
  ~ConnectionMonitor();
  zmq::socket_t& socket() { return pair_; }
  // The events since the last call, in order.
  std::vector<Event> Drain();

 private:
  ConnectionMonitor(zmq::socket_t pair, void* watched) : pair_(std::move(pair)), watched_(watched) {}
  zmq::socket_t pair_;
  void* watched_;
};

// The ZAP handler (RFC 27) on inproc://zeromq.zap.01. The daemon polls
// socket() and calls HandleRequest() when it is readable.
class ZapHandler {
 public:
  // Maps a CURVE client public key (32 bytes) to the User-Id the connection
  // gets (the peer's fingerprint text), or nullopt to refuse it.
  using Lookup = std::function<std::optional<std::string>(std::string_view client_key)>;
  // Called for each refusal with the peer address and the reason.
  using OnRefuse = std::function<void(const std::string& address, const std::string& why)>;

  static Result<std::unique_ptr<ZapHandler>> Bind(zmq::context_t& ctx);
  zmq::socket_t& socket() { return socket_; }
  void HandleRequest(const Lookup& lookup, const OnRefuse& on_refuse);

 private:
  explicit ZapHandler(zmq::socket_t s) : socket_(std::move(s)) {}
  zmq::socket_t socket_;
};

}  // namespace rogatory
