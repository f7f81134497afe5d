// Fuzz target: node.toml as `rogatoryd` and the CLI read it (node/config.h
// ParseConfig; LoadConfig reads the file and calls it). A configuration that
// parses must keep its node id and endpoint valid enough for the text that
// `rogatory init` writes with them to parse again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "node/config.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  fuzz::Init();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = ParseConfig(text, "node.toml");
  if (!cfg.ok()) return 0;
  auto again = ParseConfig(DefaultConfigText(cfg->node_id, cfg->listen), "node.toml");
  if (!again.ok()) {
    std::fprintf(stderr, "%s\n", again.error().message.c_str());
    fuzz::Violated("the default config for a parsed node id and endpoint does not parse");
  }
  return 0;
}
