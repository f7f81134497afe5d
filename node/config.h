// node.toml: a node's settings. Every limit of keys/limits.h that an
// operator may tune has a key here; docs/operator-guide.md lists them.
#pragma once

#include <cstdint>
#include <string>

#include "keys/limits.h"
#include "keys/result.h"

namespace rogatory {

struct NodeConfig {
  std::string node_id;
  std::string listen;  // tcp://HOST:PORT bound by the ROUTER socket
  // [delivery]
  int64_t retry_cap_ms = limits::kDefaultRetryCapMs;
  int64_t clock_allowance_us = limits::kDefaultClockAllowanceSeconds * 1000000;
  int64_t default_expiry_us = limits::kDefaultExpirySeconds * 1000000;
  int64_t max_expiry_us = limits::kMaxExpirySeconds * 1000000;
  // [limits]
  int64_t max_frame_bytes = limits::kDefaultMaxFrameBytes;
  int64_t max_body_bytes = limits::kDefaultMaxBodyBytes;
  int64_t in_flight_per_peer = limits::kDefaultInFlightPerPeer;
  int64_t max_attachments = limits::kDefaultMaxAttachments;
  int64_t max_attachment_bytes = limits::kDefaultMaxAttachmentBytes;
  int64_t transfers_per_peer = limits::kDefaultTransfersPerPeer;
  int64_t chunk_window = limits::kDefaultChunkWindow;
  int64_t tree_head_interval_ms = 60'000;  // [audit] tree_head_interval_s
  int64_t case_sync_interval_ms = 10'000;  // [cases] sync_interval_s
  int64_t commit_batch = limits::kDefaultCommitBatch;
  // Time one loop turn may spend reading frames before it commits and
  // answers (bounds the latency an urgent message sees behind bulk work).
  int64_t turn_budget_us = limits::kDefaultTurnBudgetUs;
  // [transport]
  int heartbeat_ivl_ms = 5000;
  int heartbeat_timeout_ms = 15000;
  // [transport] handshake_timeout_ms: a connection that has not finished
  // its CURVE handshake by then is closed (raw TCP connections that never
  // speak cost nothing for long).
  int handshake_timeout_ms = 10000;
  // Open a connection to every roster peer at start and keep it, so peers
  // can deliver over it (for a node whose listen port they cannot reach).
  bool connect_all = false;
  // [transport] idle_close_s: a connection this node opened is closed when
  // no work (deliveries, receipts, attachments, case entries, cards) went
  // either way over it for this long and nothing is in flight; it opens
  // again when there is something to send. Background traffic (tree heads,
  // case log comparison, hellos) does not keep it open. 0: never (also with
  // connect_all).
  int64_t idle_close_ms = 120'000;
  // host:port of a SOCKS5 proxy for outbound connections (ZMQ_SOCKS_PROXY).
  std::string socks_proxy;
};

// Parses node.toml text. kInvalidArgument naming the file, line and key on
// any problem; unknown keys are refused so a typo is never silently ignored.
Result<NodeConfig> ParseConfig(std::string_view toml_text, std::string_view source_name);
Result<NodeConfig> LoadConfig(const std::string& path);

// The node.toml that `rogatory init` writes.
std::string DefaultConfigText(const std::string& node_id, const std::string& listen);

}  // namespace rogatory
