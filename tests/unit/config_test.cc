#include <gtest/gtest.h>

#include "node/config.h"

namespace rogatory {
namespace {

TEST(ConfigTest, DefaultConfigParses) {
  auto cfg = ParseConfig(DefaultConfigText("fr-pnat", "tcp://127.0.0.1:7001"), "node.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->node_id, "fr-pnat");
  EXPECT_EQ(cfg->listen, "tcp://127.0.0.1:7001");
  EXPECT_EQ(cfg->clock_allowance_us, 300LL * 1000000);
  EXPECT_EQ(cfg->retry_cap_ms, 10000);
}

TEST(ConfigTest, SettingsAreRead) {
  auto cfg = ParseConfig(
      "[node]\nid = \"x-node\"\nlisten = \"tcp://127.0.0.1:9\"\n"
      "[delivery]\nclock_allowance_seconds = 2\ndefault_expiry = \"P7D\"\n"
      "[limits]\nmax_frame_bytes = 1048576\nmax_body_bytes = 524288\n",
      "node.toml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->clock_allowance_us, 2LL * 1000000);
  EXPECT_EQ(cfg->default_expiry_us, 7LL * 86400 * 1000000);
  EXPECT_EQ(cfg->max_frame_bytes, 1048576);
}

TEST(ConfigTest, ProblemsAreNamed) {
  struct Case {
    const char* text;
    const char* needle;
  };
  const Case cases[] = {
      {"[node]\nid = \n", "line 2"},
      {"[node]\nlisten = \"tcp://127.0.0.1:9\"\n", "node.id is missing"},
      {"[node]\nid = \"x-node\"\n", "node.listen is missing"},
      {"[node]\nid = \"X\"\nlisten = \"tcp://127.0.0.1:9\"\n", "node id"},
      {"[node]\nid = \"x-node\"\nlisten = \"tcp://127.0.0.1:9\"\ncolour = 1\n", "unknown setting node.colour"},
      {"[nodes]\nid = \"x\"\n", "unknown section"},
      {"[node]\nid = \"x-node\"\nlisten = \"tcp://127.0.0.1:9\"\n[limits]\nmax_frame_bytes = \"big\"\n",
       "must be an integer"},
      {"[node]\nid = \"x-node\"\nlisten = \"tcp://127.0.0.1:9\"\n[limits]\nmax_frame_bytes = 1\n",
       "between"},
      {"[node]\nid = \"x-node\"\nlisten = \"udp://x:1\"\n", "node.listen"},
      {"[node]\nid = \"x-node\"\nlisten = \"tcp://127.0.0.1:9\"\n[limits]\nmax_frame_bytes = 1048576\n",
       "max_body_bytes must be at least 64 KiB below"},
  };
  for (const auto& c : cases) {
    auto cfg = ParseConfig(c.text, "node.toml");
    ASSERT_FALSE(cfg.ok()) << c.text;
    EXPECT_NE(cfg.error().message.find(c.needle), std::string::npos)
        << c.text << " -> " << cfg.error().message;
    EXPECT_EQ(cfg.error().message.find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace rogatory
