// rogatoryd: the node daemon. Runs in the foreground, logs one line per
// event to stderr, stops cleanly on SIGTERM.
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "keys/crypto.h"
#include "node/daemon.h"
#include "node/home.h"

// The message of a log line as a JSON string (quoted and escaped), for
// --log-format json.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string text =
        nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

int main(int argc, char** argv) {
  // Block the signals before any thread exists, so ZeroMQ's threads inherit
  // the mask and only the daemon's signalfd sees them.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  ::umask(077);  // the store, its WAL and every file the node writes are private
  // Attachment chunks are 1 MiB buffers made and freed at a high rate: keep
  // them in the heap rather than mmap and unmap (and fault in) each one.
  // What the heap keeps is bounded by the chunk windows.
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  CLI::App app{"rogatoryd: the Rogatory node daemon"};
  std::string home_flag, passphrase_file;
  bool debug = false;
  app.add_option("--home", home_flag, "node home (default $ROGATORY_HOME, else ~/.rogatory)");
  app.add_option("--passphrase-file", passphrase_file,
                 "file holding the keystore passphrase (also $CREDENTIALS_DIRECTORY/passphrase)");
  app.add_flag("--debug", debug, "log debug events (same as --log-level debug)");
  std::string log_level = "info", log_format = "text";
  app.add_option("--log-level", log_level, "least severe level logged")
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "error", "critical"}));
  app.add_option("--log-format", log_format,
                 "text: TIME LEVEL MESSAGE; json: one JSON object per line "
                 "{\"time\", \"level\", \"message\"}")
      ->check(CLI::IsMember({"text", "json"}));
  app.set_version_flag("--version", ROGATORY_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "rogatoryd: error: %s\nrogatoryd: hint: see rogatoryd --help\n",
                 e.what());
    return 2;
  }

  auto logger = spdlog::stderr_logger_st("rogatoryd");
  spdlog::set_default_logger(logger);
  if (log_format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessage>('*').set_pattern(
        "{\"time\":\"%Y-%m-%dT%H:%M:%S.%fZ\",\"level\":\"%l\",\"message\":%*}");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_level(debug ? spdlog::level::debug
                          : spdlog::level::from_str(log_level == "warning" ? "warn" : log_level));

  // libsodium first: reading the passphrase allocates secure memory.
  if (auto s = rogatory::InitCrypto(); !s.ok()) {
    std::fprintf(stderr, "rogatoryd: error: %s\n", s.error().message.c_str());
    return 1;
  }
  const rogatory::Home home(rogatory::Home::Resolve(home_flag));
  auto passphrase = rogatory::FindPassphrase(passphrase_file);
  if (!passphrase.ok()) {
    std::fprintf(stderr, "rogatoryd: error: %s\n", passphrase.error().message.c_str());
    return 1;
  }
  auto daemon = rogatory::Daemon::Create(home, std::move(passphrase).value());
  if (!daemon.ok()) {
    std::fprintf(stderr, "rogatoryd: error: %s\n", daemon.error().message.c_str());
    if (!daemon.error().hint.empty()) {
      std::fprintf(stderr, "rogatoryd: hint: %s\n", daemon.error().hint.c_str());
    }
    return 1;
  }
  auto status = (*daemon)->Run();
  if (!status.ok()) {
    std::fprintf(stderr, "rogatoryd: error: %s\n", status.error().message.c_str());
    return 1;
  }
  spdlog::info("stopped");
  return 0;
}
