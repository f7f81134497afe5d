#include "node/outbox.h"

#include <algorithm>

#include "proto/wire.pb.h"

namespace rogatory {

Lane LaneOf(int priority) {
  return priority == wire::PRIORITY_URGENT ? Lane::kUrgent : Lane::kBulk;
}

const char* LaneName(Lane lane) { return lane == Lane::kUrgent ? "urgent" : "bulk"; }

Outbox::Outbox(Store* store, const NodeConfig& cfg, const Clock* clock)
    : store_(store), cfg_(cfg), clock_(clock) {}

Outbox::Flight& Outbox::FlightOf(const std::string& peer, Lane lane) {
  return flights_[{peer, lane}];
}

void Outbox::DropStale(Flight& f, int64_t now_ms) {
  for (auto it = f.seqs.begin(); it != f.seqs.end();) {
    it = it->second <= now_ms ? f.seqs.erase(it) : std::next(it);
  }
}

Result<std::vector<std::string>> Outbox::DuePeers(const std::vector<std::string>& candidates) {
  const int64_t now = clock_->NowMicros();
  std::vector<std::string> out;
  // One index seek first: when no queued delivery is due (an idle node, or
  // only peers in backoff), no peer can be, and the per-peer seeks below
  // (a query per roster peer, every scheduling pass) are skipped.
  ROG_ASSIGN_OR_RETURN(auto next, store_->NextAttemptAt());
  if (!next.has_value() || *next > now) return out;
  for (const auto& peer : candidates) {
    ROG_ASSIGN_OR_RETURN(bool due, store_->HasDue(peer, now));
    if (due) out.push_back(peer);
  }
  return out;
}

Result<std::vector<Transmission>> Outbox::Take(const std::string& peer, size_t per_lane) {
  const int64_t now_ms = MonotonicMillis();
  size_t room[2];
  for (Lane lane : {Lane::kUrgent, Lane::kBulk}) {
    Flight& f = FlightOf(peer, lane);
    DropStale(f, now_ms);
    const auto window = static_cast<size_t>(cfg_.in_flight_per_peer);
    room[static_cast<int>(lane)] = f.seqs.size() >= window ? 0 : window - f.seqs.size();
    if (per_lane > 0) room[static_cast<int>(lane)] = std::min(room[static_cast<int>(lane)], per_lane);
  }
  if (room[0] == 0 && room[1] == 0) return std::vector<Transmission>();
  const int limit = static_cast<int>(room[0] + room[1]);
  ROG_ASSIGN_OR_RETURN(auto due, store_->DueDeliveriesFor(peer, clock_->NowMicros(), limit));
  std::vector<Transmission> out;
  // The previous still-queued message per priority, chained through the batch.
  std::map<int, std::string> prev;
  for (auto& d : due) {
    const Lane lane = LaneOf(d.priority);
    if (FlightOf(peer, lane).seqs.count(d.seq)) continue;  // sent, not yet settled
    size_t& r = room[static_cast<int>(lane)];
    if (r == 0) continue;
    --r;
    Transmission t;
    t.lane = lane;
    auto p = prev.find(d.priority);
    if (p == prev.end()) {
      ROG_ASSIGN_OR_RETURN(t.prev, store_->PreviousQueued(peer, d.priority, d.seq));
    } else {
      t.prev = p->second;
    }
    prev[d.priority] = d.message_id;
    t.due = std::move(d);
    out.push_back(std::move(t));
  }
  return out;
}

int64_t Outbox::BackoffMs(int attempts) {
  int64_t base = limits::kRetryInitialMs;
  for (int i = 1; i < attempts && base < cfg_.retry_cap_ms; ++i) base *= 2;
  base = std::min(base, cfg_.retry_cap_ms);
  std::uniform_int_distribution<int64_t> jitter(base / 2, base);
  return jitter(rng_);
}

Status Outbox::Attempted(const Transmission& t, bool sent) {
  const int attempts = t.due.attempts + 1;
  // A frame that went out gets at least kMinAckWaitMs for its receipt before
  // it is sent again (a reconnection resends at once anyway).
  const int64_t wait = sent ? std::max(BackoffMs(attempts), kMinAckWaitMs) : BackoffMs(attempts);
  if (sent) FlightOf(t.due.recipient, t.lane).seqs[t.due.seq] = MonotonicMillis() + wait;
  return store_->RecordAttempt(t.due.seq, t.due.recipient, attempts,
                               clock_->NowMicros() + wait * 1000);
}

void Outbox::Settled(const std::string& peer, int64_t seq) {
  for (Lane lane : {Lane::kUrgent, Lane::kBulk}) FlightOf(peer, lane).seqs.erase(seq);
}

Status Outbox::ConnectionUp(const std::string& peer) {
  for (Lane lane : {Lane::kUrgent, Lane::kBulk}) FlightOf(peer, lane).seqs.clear();
  return store_->ResetBackoff(peer, clock_->NowMicros());
}

Result<int64_t> Outbox::Expire() {
  return store_->ExpireQueued(clock_->NowMicros() - cfg_.clock_allowance_us);
}

Result<int64_t> Outbox::MillisUntilDue(int64_t max_ms) {
  ROG_ASSIGN_OR_RETURN(auto next, store_->NextAttemptAt());
  if (!next.has_value()) return max_ms;
  return std::clamp<int64_t>((*next - clock_->NowMicros()) / 1000, 0, max_ms);
}

size_t Outbox::InFlight(const std::string& peer) const {
  size_t n = 0;
  for (const auto& [key, f] : flights_) {
    if (key.first == peer) n += f.seqs.size();
  }
  return n;
}

}  // namespace rogatory
