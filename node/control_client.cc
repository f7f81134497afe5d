#include "node/control_client.h"

#include <zmq.hpp>

namespace rogatory {

Result<control::ControlResponse> CallDaemon(const Home& home, control::ControlRequest request,
                                            int timeout_ms) {
  const Error unreachable = MakeError(
      Code::kUnavailable, "rogatoryd is not running for " + home.dir(),
      "start it with: rogatoryd --home " + home.dir());
  if (!DaemonLock::IsHeld(home)) return unreachable;
  request.set_version(1);
  try {
    zmq::context_t ctx(1);
    zmq::socket_t s(ctx, zmq::socket_type::req);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::rcvtimeo, timeout_ms);
    s.set(zmq::sockopt::sndtimeo, timeout_ms);
    s.connect(home.control_endpoint());
    if (!s.send(zmq::buffer(request.SerializeAsString()), zmq::send_flags::none)) {
      return unreachable;
    }
    zmq::message_t reply;
    if (!s.recv(reply, zmq::recv_flags::none)) {
      return MakeError(Code::kDeadlineExceeded,
                       "rogatoryd for " + home.dir() + " did not answer within " +
                           std::to_string(timeout_ms / 1000) + " s; the outcome is unknown",
                       "check 'rogatory outbox' before sending again, and the daemon's log");
    }
    control::ControlResponse resp;
    if (!resp.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      return MakeError(Code::kInternal, "rogatoryd sent a malformed control response; the "
                                        "outcome is unknown");
    }
    return resp;
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kUnavailable,
                     "cannot reach rogatoryd for " + home.dir() + ": " + e.what());
  }
}

}  // namespace rogatory
