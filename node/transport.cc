#include "node/transport.h"

#include <atomic>
#include <cstring>
#include <vector>

namespace rogatory {

std::string ToZ85(std::string_view key32) {
  std::string out(key32.size() * 5 / 4 + 1, '\0');
  zmq_z85_encode(out.data(), reinterpret_cast<const uint8_t*>(key32.data()), key32.size());
  out.pop_back();
  return out;
}

namespace {

void CommonOptions(zmq::socket_t& s, const TransportOptions& o) {
  s.set(zmq::sockopt::linger, o.linger_ms);
  s.set(zmq::sockopt::maxmsgsize, o.max_frame_bytes);
  s.set(zmq::sockopt::heartbeat_ivl, o.heartbeat_ivl_ms);
  s.set(zmq::sockopt::heartbeat_timeout, o.heartbeat_timeout_ms);
  s.set(zmq::sockopt::heartbeat_ttl, o.heartbeat_timeout_ms);
  s.set(zmq::sockopt::rcvhwm, o.receive_hwm);
  s.set(zmq::sockopt::sndhwm, o.receive_hwm);
  s.set(zmq::sockopt::handshake_ivl, o.handshake_timeout_ms);
}

Status SetKey(zmq::socket_t& s, int option, const void* data, size_t size) {
  if (zmq_setsockopt(s.handle(), option, data, size) != 0) {
    return MakeError(Code::kInternal, std::string("zmq_setsockopt: ") + zmq_strerror(zmq_errno()));
  }
  return {};
}

}  // namespace

Result<zmq::socket_t> BindRouter(zmq::context_t& ctx, const SecretBytes& transport_secret,
                                 const std::string& endpoint, const TransportOptions& opts) {
  try {
    zmq::socket_t s(ctx, zmq::socket_type::router);
    CommonOptions(s, opts);
    s.set(zmq::sockopt::router_mandatory, 1);
    s.set(zmq::sockopt::curve_server, 1);
    ROG_RETURN_IF_ERROR(SetKey(s, ZMQ_CURVE_SECRETKEY, transport_secret.data(), 32));
    s.set(zmq::sockopt::zap_domain, kZapDomain);
    const int enforce = 1;
    ROG_RETURN_IF_ERROR(SetKey(s, kZmqZapEnforceDomain, &enforce, sizeof enforce));
    s.bind(endpoint);
    return s;
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kUnavailable, "cannot listen on " + endpoint + ": " + e.what(),
                     "is another node using this port? change node.listen in node.toml");
  }
}

Result<zmq::socket_t> ConnectDealer(zmq::context_t& ctx, const SecretBytes& our_secret,
                                    std::string_view our_public, std::string_view server_key,
                                    const std::string& endpoint, const TransportOptions& opts,
                                    bool connect) {
  try {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    CommonOptions(s, opts);
    s.set(zmq::sockopt::immediate, 1);
    if (!opts.socks_proxy.empty()) s.set(zmq::sockopt::socks_proxy, opts.socks_proxy);
    s.set(zmq::sockopt::reconnect_ivl, 100);
    s.set(zmq::sockopt::reconnect_ivl_max, 5000);
    ROG_RETURN_IF_ERROR(SetKey(s, ZMQ_CURVE_SERVERKEY, server_key.data(), server_key.size()));
    ROG_RETURN_IF_ERROR(SetKey(s, ZMQ_CURVE_PUBLICKEY, our_public.data(), our_public.size()));
    ROG_RETURN_IF_ERROR(SetKey(s, ZMQ_CURVE_SECRETKEY, our_secret.data(), our_secret.size()));
    if (connect) s.connect(endpoint);
    return s;
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kUnavailable, "cannot connect to " + endpoint + ": " + e.what());
  }
}

Result<std::unique_ptr<ConnectionMonitor>> ConnectionMonitor::Attach(zmq::context_t& ctx,
                                                                     zmq::socket_t& watched,
                                                                     bool accepted) {
  static std::atomic<uint64_t> counter{0};
  const std::string endpoint = "inproc://rogatory-monitor-" + std::to_string(++counter);
  const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                     (accepted ? ZMQ_EVENT_ACCEPTED : 0);
  if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), events) != 0) {
    return MakeError(Code::kInternal,
                     std::string("zmq_socket_monitor: ") + zmq_strerror(zmq_errno()));
  }
  try {
    zmq::socket_t pair(ctx, zmq::socket_type::pair);
    pair.set(zmq::sockopt::linger, 0);
    // No high-water mark: libzmq's I/O thread blocks when it cannot post a
    // monitor event, and a burst of connections (a handshake flood reaches
    // the ROUTER's monitor) must not stall every peer's traffic. The daemon
    // drains the events every loop turn.
    pair.set(zmq::sockopt::rcvhwm, 0);
    pair.connect(endpoint);
    return std::unique_ptr<ConnectionMonitor>(new ConnectionMonitor(std::move(pair),
                                                                    watched.handle()));
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kInternal, std::string("monitor: ") + e.what());
  }
}

ConnectionMonitor::~ConnectionMonitor() { zmq_socket_monitor(watched_, nullptr, 0); }

std::vector<ConnectionMonitor::Event> ConnectionMonitor::Drain() {
  std::vector<Event> out;
  for (;;) {
    zmq::message_t head, address;
    if (!pair_.recv(head, zmq::recv_flags::dontwait)) break;
    if (head.more()) (void)pair_.recv(address, zmq::recv_flags::none);
    if (head.size() < 6) continue;  // 16-bit event, 32-bit value
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, head.data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(head.data()) + 2, sizeof value);
    const int fd = static_cast<int>(value);
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) out.push_back({Kind::kUp});
    if (event == ZMQ_EVENT_DISCONNECTED) out.push_back({Kind::kDown, fd});
    if (event == ZMQ_EVENT_ACCEPTED) out.push_back({Kind::kAccepted, fd});
  }
  return out;
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Bind(zmq::context_t& ctx) {
  try {
    zmq::socket_t s(ctx, zmq::socket_type::rep);
    s.set(zmq::sockopt::linger, 0);
    s.bind(kZapEndpoint);
    return std::unique_ptr<ZapHandler>(new ZapHandler(std::move(s)));
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kInternal, std::string("cannot bind the ZAP handler: ") + e.what());
  }
}

void ZapHandler::HandleRequest(const Lookup& lookup, const OnRefuse& on_refuse) {
  std::vector<zmq::message_t> req;
  for (;;) {
    zmq::message_t m;
    if (!socket_.recv(m, zmq::recv_flags::dontwait)) break;
    const bool more = m.more();
    req.push_back(std::move(m));
    if (!more) break;
  }
  if (req.empty()) return;
  // RFC 27: version, request id, domain, address, identity, mechanism,
  // credentials...
  std::string request_id = req.size() > 1 ? req[1].to_string() : "";
  std::string status = "400", text = "refused", user_id;
  const std::string address = req.size() > 3 ? req[3].to_string() : "?";
  if (req.size() < 7 || req[0].to_string() != "1.0") {
    on_refuse(address, "malformed ZAP request");
  } else if (req[2].to_string() != kZapDomain) {
    on_refuse(address, "wrong ZAP domain");
  } else if (req[5].to_string() != "CURVE" || req[6].size() != 32) {
    on_refuse(address, "mechanism " + req[5].to_string() + " is not CURVE");
  } else {
    const std::string key = req[6].to_string();
    auto uid = lookup(key);
    if (uid.has_value()) {
      status = "200";
      text = "OK";
      user_id = *uid;
    } else {
      on_refuse(address, "transport key " + ToZ85(key) + " is not in the roster");
    }
  }
  try {
    socket_.send(zmq::buffer(std::string("1.0")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(request_id), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(user_id), zmq::send_flags::sndmore);
    socket_.send(zmq::message_t(), zmq::send_flags::none);
  } catch (const zmq::error_t&) {
    // The requesting session is gone; nothing to answer.
  }
}

}  // namespace rogatory
