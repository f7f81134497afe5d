// The CLI side of the control protocol: one request, one response, over the
// daemon's ipc:// control socket.
#pragma once

#include "keys/result.h"
#include "node/home.h"
#include "proto/control.pb.h"

namespace rogatory {

// Sends `request` to the rogatoryd of `home` and waits up to `timeout_ms`.
// kUnavailable when no daemon is running there (the CLI exits 4);
// kDeadlineExceeded when it took the request but did not answer in time
// (the outcome is unknown); otherwise the daemon's response, which may itself
// carry an error.
Result<control::ControlResponse> CallDaemon(const Home& home, control::ControlRequest request,
                                            int timeout_ms);

}  // namespace rogatory
