#include "node/config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "keys/card.h"
#include "node/clock.h"

namespace rogatory {

namespace {

Error ConfigError(std::string_view source, const std::string& what) {
  return MakeError(Code::kInvalidArgument, std::string(source) + ": " + what,
                   "fix the file; 'rogatory init' writes a commented example");
}

}  // namespace

Result<NodeConfig> ParseConfig(std::string_view text, std::string_view source) {
  toml::table tbl;
  try {
    tbl = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "line " << e.source().begin.line << ": " << e.description();
    return ConfigError(source, os.str());
  }
  NodeConfig cfg;
  static const std::set<std::string> kSections = {"node", "delivery", "limits", "transport",
                                                  "audit", "cases"};
  for (const auto& [key, value] : tbl) {
    if (!kSections.count(std::string(key.str())) || !value.is_table()) {
      return ConfigError(source, "unknown section [" + std::string(key.str()) + "]");
    }
  }
  // Reads one key; records it as known; type errors are reported.
  std::set<std::string> known;
  Status status;
  auto get_str = [&](const char* section, const char* key, std::string* out) {
    known.insert(std::string(section) + "." + key);
    auto node = tbl[section][key];
    if (!node) return;
    if (!node.is_string()) {
      status = ConfigError(source, std::string(section) + "." + key + " must be a string");
      return;
    }
    *out = node.value<std::string>().value();
  };
  auto get_int = [&](const char* section, const char* key, int64_t* out, int64_t min,
                     int64_t max, int64_t scale) {
    known.insert(std::string(section) + "." + key);
    auto node = tbl[section][key];
    if (!node) return;
    if (!node.is_integer()) {
      status = ConfigError(source, std::string(section) + "." + key + " must be an integer");
      return;
    }
    const int64_t v = node.value<int64_t>().value();
    if (v < min || v > max) {
      status = ConfigError(source, std::string(section) + "." + key + " must be between " +
                                       std::to_string(min) + " and " + std::to_string(max));
      return;
    }
    *out = v * scale;
  };
  auto get_bool = [&](const char* section, const char* key, bool* out) {
    known.insert(std::string(section) + "." + key);
    auto node = tbl[section][key];
    if (!node) return;
    if (!node.is_boolean()) {
      status = ConfigError(source, std::string(section) + "." + key + " must be true or false");
      return;
    }
    *out = node.value<bool>().value();
  };
  auto get_duration = [&](const char* section, const char* key, int64_t* out) {
    std::string text;
    get_str(section, key, &text);
    if (text.empty() || !status.ok()) return;
    auto d = ParseDuration(text);
    if (!d.ok()) {
      status = ConfigError(source, std::string(section) + "." + key + ": " + d.error().message);
      return;
    }
    *out = *d;
  };

  get_str("node", "id", &cfg.node_id);
  get_str("node", "listen", &cfg.listen);
  int64_t allowance_s = cfg.clock_allowance_us / 1000000;
  get_int("delivery", "clock_allowance_seconds", &allowance_s, 0, 86400, 1);
  cfg.clock_allowance_us = allowance_s * 1000000;
  get_int("delivery", "retry_cap_ms", &cfg.retry_cap_ms, 10, 3600 * 1000, 1);
  get_duration("delivery", "default_expiry", &cfg.default_expiry_us);
  get_int("limits", "max_frame_bytes", &cfg.max_frame_bytes, 64 * 1024,
          int64_t{1} << 30, 1);
  get_int("limits", "max_body_bytes", &cfg.max_body_bytes, 1024, int64_t{1} << 28, 1);
  get_int("limits", "in_flight_per_peer", &cfg.in_flight_per_peer, 1, 100000, 1);
  get_int("limits", "commit_batch", &cfg.commit_batch, 1, 100000, 1);
  get_int("limits", "max_attachments", &cfg.max_attachments, 0, 1024, 1);
  get_int("limits", "max_attachment_bytes", &cfg.max_attachment_bytes, 0, int64_t{1} << 40, 1);
  get_int("limits", "transfers_per_peer", &cfg.transfers_per_peer, 1, 64, 1);
  get_int("limits", "chunk_window", &cfg.chunk_window, 1, 256, 1);
  int64_t head_s = cfg.tree_head_interval_ms / 1000;
  get_int("audit", "tree_head_interval_s", &head_s, 1, 86400, 1);
  cfg.tree_head_interval_ms = head_s * 1000;
  int64_t sync_s = cfg.case_sync_interval_ms / 1000;
  get_int("cases", "sync_interval_s", &sync_s, 1, 86400, 1);
  cfg.case_sync_interval_ms = sync_s * 1000;
  int64_t turn_ms = cfg.turn_budget_us / 1000;
  get_int("limits", "turn_budget_ms", &turn_ms, 1, 1000, 1);
  cfg.turn_budget_us = turn_ms * 1000;
  int64_t hb = cfg.heartbeat_ivl_ms, hbt = cfg.heartbeat_timeout_ms;
  int64_t hs = cfg.handshake_timeout_ms;
  get_int("transport", "handshake_timeout_ms", &hs, 100, 600000, 1);
  cfg.handshake_timeout_ms = static_cast<int>(hs);
  get_int("transport", "heartbeat_ivl_ms", &hb, 100, 600000, 1);
  get_int("transport", "heartbeat_timeout_ms", &hbt, 100, 600000, 1);
  get_bool("transport", "connect_all", &cfg.connect_all);
  int64_t idle_s = cfg.idle_close_ms / 1000;
  get_int("transport", "idle_close_s", &idle_s, 0, 86400 * 7, 1);
  cfg.idle_close_ms = idle_s * 1000;
  get_str("transport", "socks_proxy", &cfg.socks_proxy);
  cfg.heartbeat_ivl_ms = static_cast<int>(hb);
  cfg.heartbeat_timeout_ms = static_cast<int>(hbt);
  if (!status.ok()) return status.error();

  for (const auto& [section, value] : tbl) {
    for (const auto& [key, v] : *value.as_table()) {
      (void)v;
      const std::string full = std::string(section.str()) + "." + std::string(key.str());
      if (!known.count(full)) return ConfigError(source, "unknown setting " + full);
    }
  }
  if (cfg.node_id.empty()) return ConfigError(source, "node.id is missing");
  if (auto s = ValidateNodeId(cfg.node_id); !s.ok()) {
    return ConfigError(source, s.error().message);
  }
  if (cfg.listen.empty()) return ConfigError(source, "node.listen is missing");
  if (auto s = ValidateEndpoint(cfg.listen); !s.ok()) {
    return ConfigError(source, "node.listen: " + s.error().message);
  }
  if (cfg.max_body_bytes + (64 << 10) > cfg.max_frame_bytes) {
    return ConfigError(source, "limits.max_body_bytes must be at least 64 KiB below "
                               "limits.max_frame_bytes (an envelope carries its body)");
  }
  if (!cfg.socks_proxy.empty() && cfg.socks_proxy.find(':') == std::string::npos) {
    return ConfigError(source, "transport.socks_proxy must be HOST:PORT");
  }
  if (cfg.default_expiry_us <= 0 || cfg.default_expiry_us > cfg.max_expiry_us) {
    return ConfigError(source, "delivery.default_expiry must be between 1s and 365d");
  }
  return cfg;
}

Result<NodeConfig> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return MakeError(Code::kNotFound, "cannot read " + path,
                     "run 'rogatory init' to create a node home");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

std::string DefaultConfigText(const std::string& node_id, const std::string& listen) {
  return "# Rogatory node settings. See docs/operator-guide.md.\n"
         "[node]\n"
         "id = \"" + node_id + "\"\n"
         "listen = \"" + listen + "\"\n"
         "\n"
         "[delivery]\n"
         "# clock_allowance_seconds = 300   # envelopes dated further in the future are refused\n"
         "# retry_cap_ms = 10000            # longest wait between delivery attempts\n"
         "# default_expiry = \"30d\"          # when --expires is not given (at most 365d)\n"
         "\n"
         "[limits]\n"
         "# max_frame_bytes = 16777216      # ZMQ_MAXMSGSIZE on every socket\n"
         "# max_body_bytes = 8388608\n"
         "# in_flight_per_peer = 256        # unacknowledged deliveries per peer and lane\n"
         "# commit_batch = 256              # frames per store transaction, at most\n"
         "# max_attachments = 64            # attachments of one message\n"
         "# max_attachment_bytes = 68719476736  # one attachment (64 GiB)\n"
         "# transfers_per_peer = 2          # messages with attachments received at once\n"
         "# chunk_window = 8                # 1 MiB chunks requested ahead\n"
         "# turn_budget_ms = 4              # reading time before a commit, at most\n"
         "\n"
         "[audit]\n"
         "# tree_head_interval_s = 60       # sign a tree head this often when the log grew\n"
         "\n"
         "[cases]\n"
         "# sync_interval_s = 10            # compare case logs with connected members this often\n"
         "\n"
         "[transport]\n"
         "# heartbeat_ivl_ms = 5000\n"
         "# heartbeat_timeout_ms = 15000\n"
         "# handshake_timeout_ms = 10000    # close connections that do not finish CURVE by then\n"
         "# connect_all = false             # keep a connection open to every peer, so they\n"
         "#                                 # can deliver over it (listen port unreachable)\n"
         "# idle_close_s = 120              # close a connection idle this long (0: never);\n"
         "#                                 # it opens again when there is something to send\n"
         "# socks_proxy = \"127.0.0.1:1080\"  # SOCKS5 proxy for outbound connections\n";
}

}  // namespace rogatory
