// Delivery scheduling: which queued (message, recipient) pairs go out now, in
// what order, and when each is retried. Owns no socket: the daemon asks
// Take() what to send, sends it, and reports back. Not thread-safe; the
// daemon's loop thread owns it.
//
// Policy (SPEC promises 4 and 5):
//  - Per peer, deliveries go out by priority (urgent first), then in the
//    order they were queued. Each carries `prev`: the id of the previous
//    still-queued message of the same priority to that peer; the receiver
//    holds a message back until `prev` is stored, so within one priority a
//    peer stores messages in the order they were sent even across lost
//    connections and retries.
//  - Urgent messages use their own lane (their own connection and window),
//    so a full normal backlog never delays them.
//  - At most `in_flight_per_peer` deliveries per peer and lane are sent and
//    not yet settled; a slow or offline peer fills only its own window.
//  - Retries back off exponentially with jitter up to `retry_cap_ms`, and
//    start again at once when the peer's connection comes back.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "keys/result.h"
#include "node/clock.h"
#include "node/config.h"
#include "node/store.h"

namespace rogatory {

enum class Lane { kUrgent = 0, kBulk = 1 };

// How long a delivery that went out waits for its receipt before a resend.
inline constexpr int64_t kMinAckWaitMs = 2000;
Lane LaneOf(int priority);
const char* LaneName(Lane lane);

struct Transmission {
  DueDelivery due;
  Lane lane = Lane::kBulk;
  std::string prev;  // message id the receiver must hold first ("" = none)
};

class Outbox {
 public:
  Outbox(Store* store, const NodeConfig& cfg, const Clock* clock);

  // Those of `candidates` (raw fingerprints) with deliveries due now. One
  // store query when nothing is due, else one more per candidate.
  Result<std::vector<std::string>> DuePeers(const std::vector<std::string>& candidates);

  // Due deliveries to `peer` that fit its free windows, in sending order;
  // at most `per_lane` per lane when non-zero.
  Result<std::vector<Transmission>> Take(const std::string& peer, size_t per_lane = 0);

  // Records an attempt. `sent` means the transport queued it (never that it
  // was delivered): it then occupies a window slot until settled or until
  // its retry time passes.
  Status Attempted(const Transmission& t, bool sent);

  // A receipt or a signed refusal settled (peer, seq): frees its slot.
  void Settled(const std::string& peer, int64_t seq);

  // The peer's connection (re)appeared: whatever was in flight may be lost,
  // so everything queued for it is due now, in order.
  Status ConnectionUp(const std::string& peer);

  // Marks queued deliveries whose expiry plus the clock allowance passed.
  Result<int64_t> Expire();

  // Milliseconds until the next delivery is due (capped at `max_ms`).
  Result<int64_t> MillisUntilDue(int64_t max_ms);

  size_t InFlight(const std::string& peer) const;
  int64_t BackoffMs(int attempts);

 private:
  struct Flight {
    std::map<int64_t, int64_t> seqs;  // seq -> deadline (monotonic ms)
  };
  Flight& FlightOf(const std::string& peer, Lane lane);
  void DropStale(Flight& f, int64_t now_ms);

  Store* store_;
  const NodeConfig& cfg_;
  const Clock* clock_;
  std::map<std::pair<std::string, Lane>, Flight> flights_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace rogatory
