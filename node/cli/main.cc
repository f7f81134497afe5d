// rogatory: the command-line interface (SPEC section 6). Commands that need
// only the home (init, id, peer, verify) open it directly; the others talk
// to rogatoryd over its control socket and exit 4 when it is not reachable.
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "keys/armor.h"
#include "keys/attachment.h"
#include "keys/bundle.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/directory.h"
#include "keys/file.h"
#include "keys/fingerprint.h"
#include "keys/envelope.h"
#include "keys/identity.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "node/audit.h"
#include "node/cli/output.h"
#include "node/clock.h"
#include "node/config.h"
#include "node/control_client.h"
#include "node/directory.h"
#include "node/home.h"
#include "node/request.h"
#include "node/store.h"
#include "node/transport.h"
#include "proto/mla.pb.h"

namespace rogatory::cli {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitVerify = 3;
constexpr int kExitUnreachable = 4;
constexpr int kControlTimeoutMs = 60000;

int Fail(const Error& e, int code = kExitError) {
  std::fprintf(stderr, "rogatory: error: %s\n", e.message.c_str());
  if (!e.hint.empty()) std::fprintf(stderr, "rogatory: hint: %s\n", e.hint.c_str());
  return code;
}

int Fail(const std::string& message, const std::string& hint = {}, int code = kExitError) {
  return Fail(MakeError(Code::kInvalidArgument, message, hint), code);
}

// Invalid UTF-8 (a binary body) is replaced, never thrown; exact bytes are
// given in base64 fields where they matter (show's body_base64).
void PrintJson(const nlohmann::ordered_json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return MakeError(Code::kNotFound,
                     "cannot read " + what + " " + path + ": " + std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Writes a new file (mode 0600 unless `mode` says otherwise); refuses to
// overwrite unless `force`. "-" writes to stdout.
Status WriteFile(const std::string& path, const std::string& data, bool force,
                 mode_t mode = 0644) {
  if (path == "-") {
    std::cout << data;
    std::cout.flush();
    return {};
  }
  Status s = WriteFileDurably(path, data, mode, force, "file");
  if (!s.ok() && s.error().code == Code::kAlreadyExists) {
    return MakeError(Code::kAlreadyExists, s.error().message,
                     "choose another name or pass --force");
  }
  return s;
}

// Calls the daemon; on failure prints the error and sets *exit_code.
std::optional<control::ControlResponse> Call(const Home& home, control::ControlRequest req,
                                             int* exit_code) {
  auto resp = CallDaemon(home, std::move(req), kControlTimeoutMs);
  if (!resp.ok()) {
    // Only "not running" is unreachable (4); a daemon that took the request
    // and did not answer leaves the outcome unknown (1).
    *exit_code = Fail(resp.error(),
                      resp.error().code == Code::kUnavailable ? kExitUnreachable : kExitError);
    return std::nullopt;
  }
  if (resp->has_error()) {
    const auto& e = resp->error();
    *exit_code = Fail(MakeError(static_cast<Code>(e.code()), e.message(), e.hint()));
    return std::nullopt;
  }
  return std::move(resp).value();
}

// ---------------------------------------------------------------- attachments
// A progress line on stderr for long operations, when stdout and stderr are
// terminals; nothing otherwise (scripts and logs get no control characters,
// SPEC 9).
class ProgressBar {
 public:
  explicit ProgressBar(std::string what)
      : what_(std::move(what)),
        active_(::isatty(STDOUT_FILENO) == 1 && ::isatty(STDERR_FILENO) == 1),
        start_(std::chrono::steady_clock::now()) {}
  ~ProgressBar() {
    if (active_ && drawn_) std::fputc('\n', stderr);
  }
  Progress callback() {
    if (!active_) return {};
    return [this](uint64_t done, uint64_t total) { Draw(done, total); };
  }

 private:
  void Draw(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (finished_ || (drawn_ && done < total && now - last_ < std::chrono::milliseconds(100))) {
      return;
    }
    finished_ = done >= total;
    last_ = now;
    drawn_ = true;
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double mib = 1024.0 * 1024.0;
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * (static_cast<double>(done) / total)) : width;
    std::fprintf(stderr, "\r%s [%s%s] %.1f/%.1f MiB %3d%% %.0f MB/s ", what_.c_str(),
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 std::string(static_cast<size_t>(width - filled), ' ').c_str(), done / mib,
                 total / mib, total > 0 ? static_cast<int>(100.0 * done / total) : 100,
                 secs > 0 ? done / secs / 1e6 : 0.0);
    std::fflush(stderr);
  }

  std::string what_;
  bool active_;
  bool drawn_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

// Seals the files to attach into the home's staging area, for the daemon to
// take over (the daemon never reads the operator's files: under systemd it
// cannot). Files are read once, never whole in memory.
class Staged {
 public:
  explicit Staged(const Home& home) : home_(home) {}
  ~Staged() {
    if (keep_) return;
    for (const auto& a : items_) ::unlink((home_.staging() + "/" + a.staged_path()).c_str());
  }
  Status Add(const std::string& path, const std::string& message_id) {
    std::error_code ec;
    std::filesystem::create_directories(home_.staging(), ec);
    if (ec) {
      return MakeError(Code::kUnavailable,
                       "cannot create " + home_.staging() + ": " + ec.message());
    }
    const std::string name = std::filesystem::path(path).filename().string();
    const std::string staged = message_id + "." + std::to_string(items_.size()) + "." +
                               ToHex(RandomBytes(8));
    std::string raw = RandomBytes(kAttachmentKeyBytes);
    SecretBytes key = SecretBytes::From(raw);
    WipeString(raw);
    ProgressBar bar("sealing " + name);
    ROG_ASSIGN_OR_RETURN(SealedFile sealed,
                         SealFile(path, home_.staging() + "/" + staged, key, message_id,
                                  kDefaultChunkBytes, bar.callback()));
    control::StagedAttachment a;
    a.set_name(name);
    a.set_size(sealed.size);
    a.set_sha256(sealed.sha256);
    a.set_key(std::string(key.view()));
    a.set_chunk_size(kDefaultChunkBytes);
    a.set_staged_path(staged);
    items_.push_back(std::move(a));
    return {};
  }
  Status AddAll(const std::vector<std::string>& paths, const std::string& message_id) {
    for (const auto& p : paths) ROG_RETURN_IF_ERROR(Add(p, message_id));
    return {};
  }
  void CopyTo(google::protobuf::RepeatedPtrField<control::StagedAttachment>* out) const {
    for (const auto& a : items_) *out->Add() = a;
  }
  bool empty() const { return items_.empty(); }
  // The daemon took the files over.
  void Keep() { keep_ = true; }

 private:
  const Home& home_;
  std::vector<control::StagedAttachment> items_;
  bool keep_ = false;
};

// `--wait`: follows message `id` until every recipient has it (or refused
// it, or it expired), drawing its attachments' transfer on a terminal.
// 0 when every recipient holds it.
int WaitDelivered(const Home& home, const std::string& own_id, const std::string& id) {
  ProgressBar bar("sending");
  const Progress draw = bar.callback();
  for (;;) {
    control::ControlRequest req;
    req.mutable_show()->set_id(own_id + "/" + id);
    int code = kExitOk;
    auto resp = Call(home, req, &code);
    if (!resp) return code;
    const auto& m = resp->message();
    uint64_t done = 0, total = 0;
    bool settled = true;
    std::string failed;
    for (const auto& r : m.recipients()) {
      total += m.attachment_bytes();
      done += std::min(r.transferred_bytes(), m.attachment_bytes());
      if (r.state() == "queued") {
        settled = false;
      } else if (r.state() != "delivered") {
        failed += (failed.empty() ? "" : "; ") + r.id() + " " + r.state() +
                  (r.error().empty() ? "" : ": " + r.error());
      }
    }
    if (draw && total > 0) draw(done, total);
    if (settled) {
      if (failed.empty()) return kExitOk;
      return Fail("message " + id + " was not delivered to every recipient: " + failed);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int WaitFor(const Home& home, const std::string& id);

// ---------------------------------------------------------------- keys
// Reads one line from the terminal without echo. Only called when stdin and
// stderr are terminals.
// Echo comes back even when Ctrl-C ends the prompt.
termios g_saved_mode{};
void RestoreEchoAndDie(int sig) {
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_mode);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

Result<SecretBytes> PromptSecret(const std::string& prompt) {
  std::cerr << prompt << std::flush;
  termios old_mode{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old_mode) == 0;
  if (tty) {
    g_saved_mode = old_mode;
    ::signal(SIGINT, RestoreEchoAndDie);
    ::signal(SIGTERM, RestoreEchoAndDie);
    termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  SecretBytes buf(1024);
  size_t len = 0;
  for (char c; len < buf.size() && ::read(STDIN_FILENO, &c, 1) == 1 && c != '\n';) {
    buf.data()[len++] = static_cast<uint8_t>(c);
  }
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old_mode);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  }
  std::cerr << "\n";
  if (len == 0) return MakeError(Code::kInvalidArgument, "the passphrase is empty");
  SecretBytes out(len);
  std::memcpy(out.data(), buf.data(), len);
  return out;
}

bool Interactive() { return ::isatty(STDIN_FILENO) && ::isatty(STDERR_FILENO); }

// Re-encrypts the keystore under a new passphrase: written beside it, made
// durable, then renamed over it, so a crash leaves the old or the new file,
// never neither. The keys themselves do not change.
// Reads the keystore, with the passphrase from `file`, the systemd
// credential, or (on a terminal) a prompt; `*passphrase` is what opened it.
Result<Identity> UnlockKeystore(const Home& home, const std::string& file,
                                std::optional<SecretBytes>* passphrase) {
  ROG_ASSIGN_OR_RETURN(*passphrase, FindPassphrase(file));
  auto id = Identity::ReadKeystore(home.keystore(), *passphrase);
  if (!id.ok() && id.error().code == Code::kFailedPrecondition && !passphrase->has_value() &&
      Interactive()) {
    ROG_ASSIGN_OR_RETURN(*passphrase, PromptSecret("current passphrase: "));
    id = Identity::ReadKeystore(home.keystore(), *passphrase);
  }
  return id;
}

// Replaces the keystore: written beside it, synced, renamed over it.
Status ReplaceKeystore(const Home& home, const Identity& id,
                       const std::optional<SecretBytes>& passphrase) {
  const std::string next = home.keystore() + ".new";
  ::unlink(next.c_str());  // left by an interrupted earlier run
  ROG_RETURN_IF_ERROR(id.WriteKeystore(next, passphrase));
  if (::rename(next.c_str(), home.keystore().c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(next.c_str());
    return MakeError(Code::kUnavailable, "cannot replace " + home.keystore() + ": " + why);
  }
  if (const int dir = ::open(home.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

int RunKeysPasswd(const Home& home, const std::string& old_file, const std::string& new_file) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  std::optional<SecretBytes> old_pass;
  auto id = UnlockKeystore(home, old_file, &old_pass);
  if (!id.ok()) return Fail(id.error());
  std::optional<SecretBytes> new_pass;
  if (!new_file.empty()) {
    auto p = ReadPassphraseFile(new_file);
    if (!p.ok()) return Fail(p.error());
    new_pass = std::move(p).value();
  } else if (Interactive()) {
    auto first = PromptSecret("new passphrase: ");
    if (!first.ok()) return Fail(first.error());
    auto again = PromptSecret("new passphrase again: ");
    if (!again.ok()) return Fail(again.error());
    if (first->view() != again->view()) return Fail("the two new passphrases differ");
    new_pass = std::move(first).value();
  } else {
    return Fail("no new passphrase", "pass --new-passphrase-file FILE (mode 0600)", kExitUsage);
  }
  if (auto s = ReplaceKeystore(home, *id, new_pass); !s.ok()) return Fail(s.error());
  std::cout << "changed the passphrase of " << home.keystore()
            << "; a running rogatoryd keeps its keys and needs the new passphrase at its next "
               "start\n";
  return kExitOk;
}

// Key rotation (SPEC 9): new encryption and transport keys (and with
// --identity the pre-committed next identity key), a new card chained to the
// current one. With the daemon stopped it only rewrites the keystore (the
// daemon pushes the card when it starts); with it running, the daemon
// adopts the keys at once.
int RunKeysRotate(const Home& home, const std::string& pass_file, bool identity,
                  const std::string& valid_for, bool json) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto validity = ParseDuration(valid_for);
  if (!validity.ok()) return Fail(validity.error(), kExitUsage);
  std::optional<SecretBytes> passphrase;
  auto id = UnlockKeystore(home, pass_file, &passphrase);
  if (!id.ok()) return Fail(id.error());
  const int64_t now = SystemClock().NowMicros();
  auto rotated = id->Rotated(identity, now, now + *validity);
  if (!rotated.ok()) return Fail(rotated.error());
  // Held across the write when no daemon runs, so none starts with the old
  // keystore half-replaced.
  auto lock = DaemonLock::Acquire(home);
  if (auto s = ReplaceKeystore(home, *rotated, passphrase); !s.ok()) return Fail(s.error());
  const wire::Card& c = rotated->card();
  bool live = false;
  if (!lock.ok()) {
    control::ControlRequest req;
    req.set_version(1);
    if (passphrase.has_value()) {
      req.mutable_reload_keys()->set_passphrase(std::string(passphrase->view()));
    } else {
      (void)req.mutable_reload_keys();
    }
    int code = kExitOk;
    auto resp = Call(home, std::move(req), &code);
    if (!resp) {
      std::cerr << "rogatory: hint: the keystore holds the new keys: restart rogatoryd to use "
                   "them\n";
      return code;
    }
    live = true;
  }
  if (json) {
    nlohmann::json j;
    j["node_id"] = c.node_id();
    j["fingerprint"] = FingerprintText(rotated->fingerprint());
    j["card_sequence"] = c.sequence();
    j["identity_key_rotated"] = identity;
    j["valid_until"] = Rfc3339(c.valid_until());
    j["daemon_updated"] = live;
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::cout << "rotated the " << (identity ? "identity, encryption and transport" : "encryption and transport")
            << " keys of " << c.node_id() << ": card sequence " << c.sequence() << ", valid until "
            << Rfc3339(c.valid_until()) << "\n"
            << "fingerprint unchanged: " << FingerprintText(rotated->fingerprint()) << "\n"
            << (live ? "rogatoryd now uses the new keys and sends the new card to every peer\n"
                     : "rogatoryd sends the new card to every peer when it starts\n");
  return kExitOk;
}

// Revocation of this node's own identity key (SPEC 9), for a key known or
// feared stolen: signed with that key, kept in the store, and sent by the
// daemon to every peer (at once if it runs, else as connections come up
// when it starts). Peers then accept nothing more from this node: it needs
// a new identity and a new card exchange.
int RunKeysRevoke(const Home& home, const std::string& pass_file, const std::string& reason,
                  bool yes) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  if (!yes) {
    if (!Interactive()) {
      return Fail("revoking this node's key needs confirmation",
                  "pass --yes to revoke without asking", kExitUsage);
    }
    std::cerr << "Revoke this node's identity key? Every peer will stop accepting anything from "
                 "this node. Type 'revoke' to confirm: "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "revoke") return Fail("not revoked: the answer was not 'revoke'");
  }
  std::optional<SecretBytes> passphrase;
  auto id = UnlockKeystore(home, pass_file, &passphrase);
  if (!id.ok()) return Fail(id.error());
  wire::Revocation rev;
  rev.set_version(1);
  rev.set_node(id->fingerprint());
  rev.set_signing_key(id->signing().public_key);
  rev.set_card_sequence(id->card().sequence());
  rev.set_revoked_at(SystemClock().NowMicros());
  rev.set_reason(reason);
  const std::string signed_rev = SignRevocation(rev, id->signing());
  auto lock = DaemonLock::Acquire(home);
  if (lock.ok()) {
    auto store = Store::Open(home.store());
    if (!store.ok()) return Fail(store.error());
    auto stored = (*store)->InsertRevocation(id->fingerprint(), rev.revoked_at(), signed_rev);
    if (!stored.ok()) return Fail(stored.error());
    std::cout << "revoked this node's identity key; rogatoryd sends the revocation to every "
                 "peer when it starts\n";
    return kExitOk;
  }
  control::ControlRequest req;
  req.set_version(1);
  req.set_publish_revocation(signed_rev);
  int code = kExitOk;
  if (!Call(home, std::move(req), &code)) return code;
  std::cout << "revoked this node's identity key; rogatoryd is sending the revocation to every "
               "peer\n";
  return kExitOk;
}

// ---------------------------------------------------------------- backup
// A copy of everything a node is: the store (SQLite's online backup API, a
// consistent snapshot even while the daemon writes), the keystore as it is
// (still under its passphrase), node.toml and the sealed attachments. The
// store is copied first: every attachment it names was complete before it.
int RunBackup(const Home& home, const std::string& out) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    return Fail("backup directory " + out + " exists and is not empty",
                "give a new directory; a backup never overwrites another");
  }
  fs::create_directories(out, ec);
  if (ec) return Fail("cannot create " + out + ": " + ec.message());
  ::chmod(out.c_str(), 0700);
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  if (auto s = (*store)->BackupTo(out + "/store.db"); !s.ok()) return Fail(s.error());
  for (const auto& file : {home.keystore(), home.config()}) {
    const std::string to = out + "/" + fs::path(file).filename().string();
    fs::copy_file(file, to, ec);
    if (ec) return Fail("cannot copy " + file + " to " + to + ": " + ec.message());
    ::chmod(to.c_str(), 0600);
  }
  size_t files = 0;
  if (fs::exists(home.attachments(), ec)) {
    fs::copy(home.attachments(), out + "/attachments",
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return Fail("cannot copy the attachments: " + ec.message());
    for (const auto& e : fs::recursive_directory_iterator(out + "/attachments", ec)) {
      if (e.is_regular_file()) ++files;
    }
  }
  ::sync();  // the copy is on disk before the command says so
  auto copy = Store::Open(out + "/store.db");
  if (!copy.ok()) return Fail(copy.error());
  auto log = AuditLog::Load(copy->get());
  if (!log.ok()) return Fail(log.error());
  std::cout << "backed up " << home.dir() << " to " << out << ": audit log of "
            << (*log)->size() << " entries, keys (as protected as the original), node.toml, "
            << files << " attachment file(s)\n";
  return kExitOk;
}

// Puts a backup back, with the daemon stopped, and signs a restore
// statement (SPEC 9): a tree head of the restored log and the size of the
// log it abandons, so partners accept the rollback instead of recording an
// equivocation, and send again what this node acknowledged after it.
int RunRestore(const Home& home, const std::string& from, const std::string& passphrase_file) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* f : {"store.db", "keys.bin", "node.toml"}) {
    if (!fs::exists(from + "/" + f, ec)) {
      return Fail(from + " is not a backup: it has no " + f,
                  "give a directory written by 'rogatory backup'");
    }
  }
  fs::create_directories(home.dir(), ec);
  ::chmod(home.dir().c_str(), 0700);
  if (DaemonLock::IsHeld(home)) {
    return Fail("rogatoryd is running for " + home.dir(), "stop it first, then restore");
  }
  auto lock = DaemonLock::Acquire(home);  // and no daemon starts meanwhile
  if (!lock.ok()) return Fail(lock.error());
  auto passphrase = FindPassphrase(passphrase_file);
  if (!passphrase.ok()) return Fail(passphrase.error());
  auto id = Identity::ReadKeystore(from + "/keys.bin", *passphrase);
  if (!id.ok()) return Fail(id.error());
  if (fs::exists(home.keystore(), ec)) {
    auto current = Identity::ReadCard(home.keystore());
    auto card = current.ok() ? VerifyCard(*current) : Result<VerifiedCard>(current.error());
    if (!card.ok() || card->fingerprint != id->fingerprint()) {
      return Fail("the backup in " + from + " is of another node than " + home.dir(),
                  "restore it into its own home");
    }
  }
  // The size of the log being abandoned: known if the store being replaced
  // is still there (its log, its latest head, and what restore statements
  // it already made withdrew), else every later head is withdrawn. Its
  // restore statements, this node's and its peers', are carried over.
  uint64_t abandoned = static_cast<uint64_t>(INT64_MAX);
  std::vector<Store::RestoreRow> kept_statements;
  if (fs::exists(home.store(), ec)) {
    auto old = Store::Open(home.store());
    if (!old.ok()) return Fail(old.error());
    auto log = AuditLog::Load(old->get());
    auto head = (*old)->LatestTreeHead();
    auto statements = (*old)->AllRestoreStatements();
    if (!log.ok()) return Fail(log.error());
    if (!head.ok()) return Fail(head.error());
    if (!statements.ok()) return Fail(statements.error());
    abandoned = (*log)->size();
    if (*head) abandoned = std::max<uint64_t>(abandoned, static_cast<uint64_t>((*head)->size));
    for (const auto& row : *statements) {
      if (row.log != id->fingerprint()) continue;
      auto st = WithAnyKey(id->signing_keys(), [&](const std::string& key) {
        return VerifyRestoreStatement(row.signed_statement, key);
      });
      if (st.ok()) abandoned = std::max<uint64_t>(abandoned, st->abandoned_size());
    }
    kept_statements = std::move(statements).value();
  }
  // The restored store is made complete beside the current one (copied,
  // statement signed and committed, its WAL folded in), then renamed over
  // it: a crash before the rename leaves the old store, and running
  // restore again does it all again; after it, the new store is whole.
  const std::string next = home.store() + ".restoring";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(next + suffix, ec);
  fs::copy_file(from + "/store.db", next, ec);
  if (ec) return Fail("cannot copy the store: " + ec.message());
  ::chmod(next.c_str(), 0600);
  uint64_t restored_size = 0;
  {
    auto store = Store::Open(next);
    if (!store.ok()) return Fail(store.error());
    auto log = AuditLog::Load(store->get());
    if (!log.ok()) return Fail(log.error());
    restored_size = (*log)->size();
    const int64_t now = SystemClock().NowMicros();
    if (auto s = (*store)->Begin(true); !s.ok()) return Fail(s.error());
    for (const auto& row : kept_statements) {
      if (auto r = (*store)->InsertRestoreStatement(row.log, row.at, row.signed_statement);
          !r.ok()) {
        return Fail(r.error());
      }
    }
    auto head = (*log)->SignHead(id->fingerprint(), id->signing(), now);
    if (!head.ok()) return Fail(head.error());
    wire::RestoreStatement st;
    st.set_version(1);
    st.set_log(id->fingerprint());
    st.set_restored_head(head->signed_head);
    st.set_abandoned_size(std::max<uint64_t>(abandoned, restored_size));
    st.set_restored_at(now);
    const std::string signed_statement = SignRestoreStatement(st, id->signing());
    if (auto r = (*store)->InsertRestoreStatement(id->fingerprint(), now, signed_statement);
        !r.ok()) {
      return Fail(r.error());
    }
    if (auto s = (*store)->Commit(); !s.ok()) return Fail(s.error());
    if (auto s = (*store)->Checkpoint(); !s.ok()) return Fail(s.error());
  }
  if (fs::exists(next + "-wal", ec) && fs::file_size(next + "-wal", ec) > 0) {
    return Fail("the restored store still has a write-ahead log; nothing was replaced",
                "run restore again");
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    fs::remove(next + suffix, ec);
    fs::remove(home.store() + suffix, ec);  // the old store's, before the rename
  }
  if (::rename(next.c_str(), home.store().c_str()) != 0) {
    return Fail("cannot replace " + home.store() + ": " + std::strerror(errno));
  }
  if (const int d = ::open(home.dir().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); d >= 0) {
    ::fsync(d);
    ::close(d);
  }
  for (const char* f : {"keys.bin", "node.toml"}) {
    const std::string to = home.dir() + "/" + f;
    if (fs::exists(to, ec)) continue;  // same node (checked above): keep
    fs::copy_file(from + "/" + f, to, ec);
    if (ec) return Fail("cannot copy " + std::string(f) + ": " + ec.message());
    ::chmod(to.c_str(), 0600);
  }
  fs::remove_all(home.attachments(), ec);
  if (fs::exists(from + "/attachments", ec)) {
    fs::copy(from + "/attachments", home.attachments(), fs::copy_options::recursive, ec);
    if (ec) return Fail("cannot copy the attachments: " + ec.message());
  }
  ::sync();
  std::cout << "restored " << id->card().node_id() << " from " << from << ": audit log back to "
            << restored_size << " entries"
            << (abandoned != static_cast<uint64_t>(INT64_MAX)
                    ? " (from " + std::to_string(abandoned) + ")"
                    : std::string(" (the replaced store was not there)"))
            << "; restore statement signed. Partners accept the rollback and send again what "
               "this node acknowledged after that point when it next connects\n";
  return kExitOk;
}

// ---------------------------------------------------------------- init
struct InitArgs {
  std::string name, authority, country, listen, passphrase_file, valid_for = "730d";
};

int RunInit(const Home& home, const InitArgs& a) {
  std::error_code ec;
  std::filesystem::create_directories(home.dir(), ec);
  if (ec) return Fail("cannot create node home " + home.dir() + ": " + ec.message());
  ::chmod(home.dir().c_str(), 0700);
  if (::access(home.keystore().c_str(), F_OK) == 0) {
    return Fail("node home " + home.dir() + " is already initialized",
                "use another --home, or remove it if you really mean to start over");
  }
  auto validity = ParseDuration(a.valid_for);
  if (!validity.ok()) return Fail(validity.error());
  std::optional<SecretBytes> passphrase;
  if (!a.passphrase_file.empty()) {
    auto p = ReadPassphraseFile(a.passphrase_file);
    if (!p.ok()) return Fail(p.error());
    passphrase = std::move(p).value();
  }
  const int64_t now = SystemClock().NowMicros();
  CardParams params{a.name, a.authority, a.country, {a.listen}, now - 300'000'000LL,
                    now + *validity};
  auto id = Identity::Generate(params);
  if (!id.ok()) return Fail(id.error());
  // The keystore first: it is what marks a home as initialised.
  if (auto s = id->WriteKeystore(home.keystore(), passphrase); !s.ok()) return Fail(s.error());
  if (auto s = WriteFile(home.config(), DefaultConfigText(a.name, a.listen), true, 0600);
      !s.ok()) {
    ::unlink(home.keystore().c_str());
    return Fail(s.error());
  }
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  std::cout << "initialized node " << a.name << " in " << home.dir() << "\n"
            << "fingerprint " << FingerprintText(id->fingerprint()) << "\n";
  std::cerr << "next: 'rogatory id export -o " << a.name
            << ".card' and give the card and the fingerprint (over another channel) to "
               "your partners\n";
  return kExitOk;
}

// ---------------------------------------------------------------- id
Result<VerifiedCard> OwnCard(const Home& home) {
  ROG_RETURN_IF_ERROR(home.CheckExists());
  ROG_ASSIGN_OR_RETURN(std::string card, Identity::ReadCard(home.keystore()));
  return VerifyCard(card);
}

int RunIdShow(const Home& home, bool json) {
  auto vc = OwnCard(home);
  if (!vc.ok()) return Fail(vc.error());
  const wire::Card& c = vc->card;
  if (json) {
    nlohmann::ordered_json j;
    j["id"] = c.node_id();
    j["fingerprint"] = FingerprintText(vc->fingerprint);
    j["authority"] = c.authority();
    j["country"] = c.country();
    j["endpoints"] = std::vector<std::string>(c.endpoints().begin(), c.endpoints().end());
    j["keys"] = {{"signing", ToBase64(c.signing_key())},
                 {"encryption", ToBase64(c.encryption_key())},
                 {"transport", ToZ85(c.transport_key())}};
    j["card_sequence"] = c.sequence();
    j["valid_from"] = Rfc3339(c.valid_from());
    j["valid_until"] = Rfc3339(c.valid_until());
    PrintJson(j);
  } else {
    std::cout << "id:          " << c.node_id() << "\n"
              << "authority:   " << c.authority() << " (" << c.country() << ")\n"
              << "fingerprint: " << FingerprintText(vc->fingerprint) << "\n";
    for (const auto& e : c.endpoints()) std::cout << "endpoint:    " << e << "\n";
    std::cout << "signing:     " << ToBase64(c.signing_key()) << "\n"
              << "encryption:  " << ToBase64(c.encryption_key()) << "\n"
              << "transport:   " << ToZ85(c.transport_key()) << "\n"
              << "card:        sequence " << c.sequence() << ", valid until "
              << Rfc3339(c.valid_until()) << "\n";
  }
  return kExitOk;
}

int RunIdExport(const Home& home, const std::string& out, bool force) {
  auto vc = OwnCard(home);
  if (!vc.ok()) return Fail(vc.error());
  const std::string text = Armor(kCardArmorType, vc->signed_bytes);
  if (out.empty()) {
    std::cout << text;
    return kExitOk;
  }
  if (auto s = WriteFile(out, text, force); !s.ok()) return Fail(s.error());
  std::cerr << "wrote the card of " << vc->card.node_id() << " to " << out << "; fingerprint "
            << FingerprintText(vc->fingerprint) << "\n";
  return kExitOk;
}

// ---------------------------------------------------------------- peer
int RunPeerAdd(const Home& home, const std::string& file, const std::string& fp_text) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto want = ParseFingerprint(fp_text);
  if (!want.ok()) return Fail(want.error(), kExitUsage);
  auto text = ReadFile(file, "card file");
  if (!text.ok()) return Fail(text.error());
  auto card = VerifyArmoredCard(*text);
  if (!card.ok()) return Fail("card " + file + " is not valid: " + card.error().message, {},
                              kExitVerify);
  if (card->fingerprint != *want) {
    return Fail("card " + file + " has fingerprint " + FingerprintText(card->fingerprint) +
                    ", not the " + FingerprintText(*want) + " you were given",
                "do not add it: ask the other authority, over another channel, which is right",
                kExitVerify);
  }
  const int64_t now = SystemClock().NowMicros();
  if (card->card.valid_until() < now || card->card.valid_from() > now) {
    return Fail("card " + file + " is valid from " + Rfc3339(card->card.valid_from()) + " to " +
                    Rfc3339(card->card.valid_until()) + ", not now",
                "ask the other authority for a current card");
  }
  auto own = OwnCard(home);
  if (own.ok() && own->fingerprint == card->fingerprint) {
    return Fail("card " + file + " is this node's own card");
  }
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  const wire::Card& c = card->card;
  // A newer card of a peer already in the roster replaces it only if it
  // chains to the card trusted now (as a pushed rotation must).
  auto peers = (*store)->ListPeers();
  if (!peers.ok()) return Fail(peers.error());
  bool recovery = false;
  for (const auto& p : *peers) {
    if (p.fingerprint == card->fingerprint && p.card == card->signed_bytes &&
        p.source != "manual") {
      // The card a directory brought, now checked and pinned by hand.
      if (auto s = (*store)->SetPeerSource(p.node_id, "manual"); !s.ok()) return Fail(s.error());
      std::cout << "pinned peer " << p.node_id << " " << FingerprintText(p.fingerprint)
                << " by hand (it came from a directory)\n";
      return kExitOk;
    }
    if (p.fingerprint != card->fingerprint || p.card == card->signed_bytes) continue;
    auto trusted = VerifyCard(p.card);
    auto chained = trusted.ok() ? CheckCardUpdate(*trusted, *card) : Status{trusted.error()};
    if (!chained.ok()) {
      if (chained.error().code == Code::kFailedPrecondition) return Fail(chained.error());
      return Fail("card " + file + " is not valid: " + chained.error().message, {}, kExitVerify);
    }
    recovery = IsRecovery(*trusted, *card);
  }
  if (auto s = (*store)->AddPeer(PeerRowFromCard(*card, "manual", SystemClock().NowMicros()),
                                 recovery);
      !s.ok()) {
    return Fail(s.error());
  }
  if (recovery) {
    std::cout << "replaced the cards of " << c.node_id()
              << " signed only by its previous identity key: it moved to its pre-committed "
                 "key\n";
  }
  std::cout << "added peer " << c.node_id() << " (" << c.authority() << ", " << c.country()
            << ") " << FingerprintText(card->fingerprint) << "\n";
  return kExitOk;
}

// Revocation takes effect at once: a running daemon re-reads the roster at
// its next turn (PRAGMA data_version), refuses frames from the peer even on
// an open connection, closes its own connections to it and sends it nothing.
int RunPeerRevoke(const Home& home, const std::string& id, bool yes) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto peers = (*store)->ListPeers();
  if (!peers.ok()) return Fail(peers.error());
  const PeerRow* peer = nullptr;
  for (const auto& p : *peers) {
    if (p.node_id == id) peer = &p;
  }
  if (peer == nullptr) {
    return Fail("no peer '" + id + "' in the roster", "'rogatory peer list' shows the roster");
  }
  if (peer->revoked_at) return Fail("peer '" + id + "' was revoked already");
  if (!yes) {
    if (!::isatty(STDIN_FILENO) || !::isatty(STDERR_FILENO)) {
      return Fail("revoking a peer needs confirmation", "pass --yes to revoke without asking",
                  kExitUsage);
    }
    std::cerr << "Revoke " << peer->node_id << " (" << peer->authority << ", " << peer->country
              << ") " << FingerprintText(peer->fingerprint)
              << "?\nNothing more will be accepted from it or sent to it. Type its node id to "
                 "confirm: "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != peer->node_id) return Fail("not revoked: the answer was not '" + id + "'");
  }
  if (auto s = (*store)->RevokePeer(id, SystemClock().NowMicros()); !s.ok()) {
    return Fail(s.error());
  }
  std::cout << "revoked peer " << id << " " << FingerprintText(peer->fingerprint) << "\n";
  return kExitOk;
}

int RunPeerList(const Home& home, bool json) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto peers = (*store)->ListPeers();
  if (!peers.ok()) return Fail(peers.error());
  auto authorities = (*store)->DirectoryAuthorities();
  if (!authorities.ok()) return Fail(authorities.error());
  // Where each peer's trust comes from: pinned by hand, or a directory.
  std::map<std::string, std::string> authority_ids;
  for (const auto& a : *authorities) authority_ids[a.fingerprint] = a.node_id;
  auto directory_of = [&](const PeerRow& p) -> nlohmann::ordered_json {
    const std::string fp = DirectorySourceAuthority(p.source);
    if (fp.empty()) return nullptr;
    auto it = authority_ids.find(fp);
    return {{"id", it != authority_ids.end() ? it->second : ""},
            {"fingerprint", FingerprintText(fp)}};
  };
  auto source_text = [&](const PeerRow& p) {
    auto d = directory_of(p);
    if (d.is_null()) return std::string(p.source == "manual" ? "by-hand" : p.source);
    return "directory:" + (d["id"].get<std::string>().empty() ? d["fingerprint"].get<std::string>()
                                                              : d["id"].get<std::string>());
  };
  if (json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& p : *peers) {
      arr.push_back({{"id", p.node_id},
                     {"fingerprint", FingerprintText(p.fingerprint)},
                     {"authority", p.authority},
                     {"country", p.country},
                     {"endpoint", p.endpoint},
                     {"card_sequence", p.card_sequence},
                     {"source", DirectorySourceAuthority(p.source).empty() ? p.source
                                                                           : "directory"},
                     {"directory", directory_of(p)},
                     {"added_at", Rfc3339(p.added_at)},
                     {"revoked", p.revoked_at.has_value()},
                     {"revoked_at", p.revoked_at ? nlohmann::ordered_json(Rfc3339(*p.revoked_at))
                                                 : nlohmann::ordered_json(nullptr)}});
    }
    PrintJson(arr);
  } else if (peers->empty()) {
    std::cout << "no peers: add one with 'rogatory peer add CARD --fingerprint FP'\n";
  } else {
    for (const auto& p : *peers) {
      std::cout << p.node_id << "  " << FingerprintText(p.fingerprint) << "  " << p.country
                << "  " << p.authority << "  " << p.endpoint << "  " << source_text(p)
                << (p.revoked_at ? "  REVOKED" : "") << "\n";
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------- directory
// Signed directories (docs/protocol.md 26). A directory authority is a
// Rogatory identity (a home made with `init`; it need not run a daemon):
// `directory build` signs with its key, operators pin its fingerprint with
// `directory trust` and apply its directories with `directory import`.

int RunDirectoryBuild(const Home& home, const std::string& pass_file, uint64_t sequence,
                      const std::vector<std::string>& card_files,
                      const std::vector<std::string>& removals, const std::string& out,
                      bool force) {
  if (sequence == 0) return Fail("--sequence must be 1 or more", {}, kExitUsage);
  std::optional<SecretBytes> passphrase;
  auto id = UnlockKeystore(home, pass_file, &passphrase);
  if (!id.ok()) return Fail(id.error());
  wire::Directory d;
  d.set_version(1);
  d.set_authority_card(id->signed_card());
  d.set_sequence(sequence);
  d.set_issued_at(SystemClock().NowMicros());
  std::vector<std::string> listed;
  for (const auto& file : card_files) {
    auto text = ReadFile(file, "card file");
    if (!text.ok()) return Fail(text.error());
    auto card = VerifyArmoredCard(*text);
    if (!card.ok()) {
      return Fail("card " + file + " is not valid: " + card.error().message, {}, kExitVerify);
    }
    auto* e = d.add_entries();
    e->set_fingerprint(card->fingerprint);
    e->set_card(card->signed_bytes);
    listed.push_back(card->fingerprint);
  }
  for (const auto& r : removals) {
    const auto eq = r.find('=');
    auto fp = ParseFingerprint(r.substr(0, eq));
    if (!fp.ok()) return Fail("--remove " + r + ": " + fp.error().message, {}, kExitUsage);
    auto* rm = d.add_removals();
    rm->set_fingerprint(*fp);
    rm->set_revoked_at(d.issued_at());
    if (eq != std::string::npos) rm->set_reason(r.substr(eq + 1));
    listed.push_back(*fp);
  }
  // The nodes' own revocations this home holds (the authority runs a node
  // that received them), so every importer applies them too.
  if (auto store = Store::Open(home.store()); store.ok()) {
    for (const auto& fp : listed) {
      auto held = (*store)->Revocations(fp);
      if (held.ok()) {
        for (auto& r : *held) d.add_revocations(std::move(r));
      }
    }
  }
  const std::string signed_dir = SignDirectory(d, id->signing());
  auto check = VerifyDirectory(signed_dir);  // duplicates, listed-and-removed
  if (!check.ok()) return Fail(check.error(), kExitUsage);
  if (auto s = WriteFile(out, Armor(kDirectoryArmorType, signed_dir), force); !s.ok()) {
    return Fail(s.error());
  }
  std::cerr << "signed directory " << sequence << " of " << id->card().node_id() << " ("
            << FingerprintText(id->fingerprint()) << "): " << d.entries_size() << " card(s), "
            << d.removals_size() << " removal(s), " << d.revocations_size()
            << " revocation(s)" << (out == "-" ? "" : " to " + out) << "\n";
  return kExitOk;
}

int RunDirectoryShow(const std::string& file, bool json) {
  auto text = ReadFile(file, "directory file");
  if (!text.ok()) return Fail(text.error());
  auto dir = VerifyArmoredDirectory(*text);
  if (!dir.ok()) return Fail("directory " + file + " is not valid: " + dir.error().message, {},
                             kExitVerify);
  const auto& d = dir->directory;
  if (json) {
    nlohmann::ordered_json j;
    j["authority"] = {{"id", dir->authority.card.node_id()},
                      {"fingerprint", FingerprintText(dir->authority.fingerprint)},
                      {"name", dir->authority.card.authority()},
                      {"country", dir->authority.card.country()}};
    j["sequence"] = d.sequence();
    j["issued_at"] = Rfc3339(d.issued_at());
    auto entries = nlohmann::ordered_json::array();
    for (const auto& c : dir->cards) {
      entries.push_back({{"id", c.card.node_id()},
                         {"fingerprint", FingerprintText(c.fingerprint)},
                         {"authority", c.card.authority()},
                         {"country", c.card.country()},
                         {"endpoint", c.card.endpoints().empty() ? "" : c.card.endpoints(0)},
                         {"card_sequence", c.card.sequence()}});
    }
    j["entries"] = entries;
    auto removals = nlohmann::ordered_json::array();
    for (const auto& r : d.removals()) {
      removals.push_back({{"fingerprint", FingerprintText(r.fingerprint())},
                          {"revoked_at", Rfc3339(r.revoked_at())},
                          {"reason", r.reason()}});
    }
    j["removals"] = removals;
    j["revocations"] = d.revocations_size();
    PrintJson(j);
    return kExitOk;
  }
  std::cout << "directory " << d.sequence() << " of " << dir->authority.card.node_id() << " ("
            << dir->authority.card.authority() << ", " << dir->authority.card.country()
            << ") " << FingerprintText(dir->authority.fingerprint) << ", issued "
            << Rfc3339(d.issued_at()) << "\n";
  for (const auto& c : dir->cards) {
    std::cout << "  " << c.card.node_id() << "  " << FingerprintText(c.fingerprint) << "  "
              << c.card.country() << "  " << c.card.authority() << "\n";
  }
  for (const auto& r : d.removals()) {
    std::cout << "  removed " << FingerprintText(r.fingerprint())
              << (r.reason().empty() ? "" : " (" + r.reason() + ")") << "\n";
  }
  if (d.revocations_size() > 0) {
    std::cout << "  " << d.revocations_size() << " signed self-revocation(s)\n";
  }
  std::cout << "signature checked against the card it carries; whether you trust "
            << dir->authority.card.node_id() << " is 'rogatory directory trust'\n";
  return kExitOk;
}

int RunDirectoryTrust(const Home& home, const std::string& file, const std::string& fp_text) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto want = ParseFingerprint(fp_text);
  if (!want.ok()) return Fail(want.error(), kExitUsage);
  auto text = ReadFile(file, "card or directory file");
  if (!text.ok()) return Fail(text.error());
  // The authority's card, or a directory it signed (which carries it).
  Result<VerifiedCard> card = MakeError(Code::kInvalidArgument, "");
  if (text->find("-----BEGIN ROGATORY " + std::string(kDirectoryArmorType) + "-----") == 0) {
    auto dir = VerifyArmoredDirectory(*text);
    card = dir.ok() ? Result<VerifiedCard>(std::move(dir->authority))
                    : Result<VerifiedCard>(dir.error());
  } else {
    card = VerifyArmoredCard(*text);
  }
  if (!card.ok()) {
    return Fail(file + " is not a valid card or directory: " + card.error().message, {},
                kExitVerify);
  }
  if (card->fingerprint != *want) {
    return Fail("directory authority " + card->card.node_id() + " in " + file +
                    " has fingerprint " + FingerprintText(card->fingerprint) + ", not the " +
                    FingerprintText(*want) + " you were given",
                "do not trust it: ask the authority, over another channel, which is right",
                kExitVerify);
  }
  const int64_t now = SystemClock().NowMicros();
  if (card->card.valid_until() < now) {
    return Fail("the card of " + card->card.node_id() + " expired on " +
                    Rfc3339(card->card.valid_until()),
                "ask the authority for a current card");
  }
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto fresh = TrustDirectoryAuthority(**store, *card, now);
  if (!fresh.ok()) return Fail(fresh.error(), kExitVerify);
  std::cout << (*fresh ? "trusted" : "already trusted") << " directory authority "
            << card->card.node_id() << " (" << card->card.authority() << ", "
            << card->card.country() << ") " << FingerprintText(card->fingerprint) << "\n";
  return kExitOk;
}

int RunDirectoryImport(const Home& home, const std::string& file, bool json) {
  auto own = OwnCard(home);
  if (!own.ok()) return Fail(own.error());
  auto text = ReadFile(file, "directory file");
  if (!text.ok()) return Fail(text.error());
  auto dir = VerifyArmoredDirectory(*text);
  if (!dir.ok()) return Fail("directory " + file + " is not valid: " + dir.error().message, {},
                             kExitVerify);
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto report = ImportDirectory(**store, *dir, own->fingerprint, SystemClock().NowMicros());
  if (!report.ok()) {
    return Fail(report.error(),
                report.error().code == Code::kUnauthenticated ? kExitVerify : kExitError);
  }
  const auto& r = *report;
  using Lines = std::vector<DirectoryImportReport::Line>;
  if (json) {
    auto lines = [](const Lines& v) {
      auto a = nlohmann::ordered_json::array();
      for (const auto& l : v) {
        a.push_back({{"id", l.node_id},
                     {"fingerprint", FingerprintText(l.fingerprint)},
                     {"detail", l.detail}});
      }
      return a;
    };
    nlohmann::ordered_json j;
    j["authority"] = {{"id", r.authority}, {"fingerprint", FingerprintText(r.fingerprint)}};
    j["sequence"] = r.sequence;
    j["already_imported"] = r.already_imported;
    j["authority_rotated"] = r.authority_rotated;
    j["added"] = lines(r.added);
    j["updated"] = lines(r.updated);
    j["unchanged"] = lines(r.unchanged);
    j["kept"] = lines(r.kept);
    j["refused"] = lines(r.refused);
    j["revoked"] = lines(r.revoked);
    j["unlisted"] = lines(r.unlisted);
    PrintJson(j);
    return kExitOk;
  }
  if (r.already_imported) {
    std::cout << "directory " << r.sequence << " of " << r.authority
              << " was imported already: nothing changed\n";
    return kExitOk;
  }
  std::cout << "imported directory " << r.sequence << " of " << r.authority << " ("
            << FingerprintText(r.fingerprint) << "): " << r.added.size() << " added, "
            << r.updated.size() << " updated, " << r.unchanged.size() << " unchanged, "
            << r.kept.size() << " kept, " << r.refused.size() << " refused, " << r.revoked.size()
            << " revoked\n";
  if (r.authority_rotated) {
    std::cout << "  the authority's card was replaced by its rotation the directory carries\n";
  }
  auto print = [](const char* what, const Lines& v) {
    for (const auto& l : v) {
      std::cout << "  " << what << " " << l.node_id << " " << FingerprintText(l.fingerprint)
                << (l.detail.empty() ? "" : ": " + l.detail) << "\n";
    }
  };
  print("updated", r.updated);
  print("kept", r.kept);
  print("refused", r.refused);
  print("revoked", r.revoked);
  print("unlisted", r.unlisted);
  return kExitOk;
}

int RunDirectoryList(const Home& home, bool json) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto authorities = (*store)->DirectoryAuthorities();
  auto peers = (*store)->ListPeers();
  if (!authorities.ok()) return Fail(authorities.error());
  if (!peers.ok()) return Fail(peers.error());
  auto count = [&](const std::string& fp) {
    const std::string source = DirectorySource(fp);
    return std::count_if(peers->begin(), peers->end(),
                         [&](const PeerRow& p) { return p.source == source; });
  };
  if (json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& a : *authorities) {
      arr.push_back({{"id", a.node_id},
                     {"fingerprint", FingerprintText(a.fingerprint)},
                     {"trusted_at", Rfc3339(a.trusted_at)},
                     {"sequence", a.sequence},
                     {"imported_at", a.imported_at ? nlohmann::ordered_json(Rfc3339(*a.imported_at))
                                                   : nlohmann::ordered_json(nullptr)},
                     {"peers", count(a.fingerprint)}});
    }
    PrintJson(arr);
  } else if (authorities->empty()) {
    std::cout << "no directory authorities: pin one with 'rogatory directory trust FILE "
                 "--fingerprint FP'\n";
  } else {
    for (const auto& a : *authorities) {
      std::cout << a.node_id << "  " << FingerprintText(a.fingerprint) << "  "
                << (a.imported_at ? "directory " + std::to_string(a.sequence) + " imported " +
                                        Rfc3339(*a.imported_at)
                                  : std::string("no directory imported yet"))
                << "  " << count(a.fingerprint) << " peer(s)\n";
    }
  }
  return kExitOk;
}

// ---------------------------------------------------------------- send
struct SendArgs {
  std::string to, subject, body, body_file, stdin_marker, priority = "normal", kind = "info",
                                                        in_reply_to, case_id, expires,
                                                        handling = "H0", handling_note;
  std::vector<std::string> attach;
  bool body_set = false;
  bool json = false;
  bool wait = false;
};

// Handling code and note into a send request; false (after printing the
// error) when H3 lacks its note.
bool SetHandling(control::SendRequest* s, const std::string& handling, const std::string& note,
                 int* exit_code) {
  static const std::map<std::string, uint32_t> kHandling = {
      {"H0", 0}, {"H1", 1}, {"H2", 2}, {"H3", 3}, {"h0", 0}, {"h1", 1}, {"h2", 2}, {"h3", 3}};
  s->set_handling(kHandling.at(handling));
  if (s->handling() == 3 && note.empty()) {
    *exit_code = Fail("handling code H3 needs --handling-note TEXT stating the restrictions", {},
                      kExitUsage);
    return false;
  }
  s->set_handling_note(note);
  return true;
}

// Seals `attach` (if any) for a message id chosen here, hands the request
// (whose message part is `m`: a send or a request update) to the daemon,
// prints the id; with `wait`, follows the message until every recipient
// has it.
template <typename Msg>
int Submit(const Home& home, const control::ControlRequest& req, Msg* m,
           const std::vector<std::string>& attach, bool json, bool wait) {
  Staged staged(home);
  if (!attach.empty()) {
    m->set_message_id(NewMessageId(SystemClock().NowMicros()));
    if (auto st = staged.AddAll(attach, m->message_id()); !st.ok()) return Fail(st.error());
    staged.CopyTo(m->mutable_attachments());
  }
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  staged.Keep();
  if (json) PrintJson({{"id", resp->sent_id()}});
  else std::cout << resp->sent_id() << "\n";
  std::cout.flush();
  return wait ? WaitFor(home, resp->sent_id()) : kExitOk;
}

// `case ...` (SPEC 8): one control command; `post` stages its attachments
// first, like `send`.
struct CaseArgs {
  std::string op, case_id, title, members, member, type = "note", text, file, assignee, state;
  std::vector<std::string> attach;
  bool text_set = false;
  bool json = false;
};

int RunCase(const Home& home, const CaseArgs& a) {
  control::ControlRequest req;
  auto* c = req.mutable_case_command();
  c->set_op(a.op);
  c->set_case_id(a.case_id);
  if (a.op == "create") {
    c->set_title(a.title);
    std::stringstream ids(a.members);
    for (std::string id; std::getline(ids, id, ',');) {
      if (!id.empty()) c->add_members(id);
    }
  } else if (a.op == "invite" || a.op == "remove") {
    c->add_members(a.member);
  }
  Staged staged(home);
  if (a.op == "post") {
    if (a.text_set == !a.file.empty()) {
      return Fail("give the entry's text exactly once: --text TEXT or --file FILE", {}, kExitUsage);
    }
    std::string text = a.text;
    if (!a.file.empty()) {
      auto t = ReadFile(a.file, "entry file");
      if (!t.ok()) return Fail(t.error());
      text = std::move(*t);
    }
    c->set_type(a.type);
    c->set_text(text);
    c->set_task_state(a.state);
    if (!a.assignee.empty() && a.type != "task") {
      return Fail("--assign is for tasks", "add --type task", kExitUsage);
    }
    c->set_assignee(a.assignee);
    if (!a.attach.empty()) {
      c->set_message_id(NewMessageId(SystemClock().NowMicros()));
      if (auto st = staged.AddAll(a.attach, c->message_id()); !st.ok()) return Fail(st.error());
      staged.CopyTo(c->mutable_attachments());
    }
  }
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  staged.Keep();
  const auto& r = resp->case_result();
  if (a.op == "log") {
    if (a.json) PrintJson(CaseLogJson(r));
    else std::cout << CaseLogText(r);
  } else if (a.op == "list") {
    if (a.json) PrintJson(CaseListJson(r));
    else std::cout << CaseListText(r);
  } else if (a.json) {
    PrintJson({{"id", r.id()}});
  } else if (!r.id().empty()) {
    std::cout << r.id() << "\n";
  }
  return kExitOk;
}

int RunSend(const Home& home, const SendArgs& a) {
  const int sources = (a.body_set ? 1 : 0) + (!a.body_file.empty() ? 1 : 0) +
                      (!a.stdin_marker.empty() ? 1 : 0);
  if (sources != 1) {
    return Fail("give the body exactly once: --body TEXT, --body-file FILE, or - for stdin", {},
                kExitUsage);
  }
  if (!a.stdin_marker.empty() && a.stdin_marker != "-") {
    return Fail("unexpected argument '" + a.stdin_marker + "'", "use - to read the body from stdin",
                kExitUsage);
  }
  control::ControlRequest req;
  auto* s = req.mutable_send();
  std::stringstream to(a.to);
  for (std::string id; std::getline(to, id, ',');) {
    if (!id.empty()) s->add_to(id);
  }
  s->set_subject(a.subject);
  if (a.body_set) {
    s->set_body(a.body);
  } else if (!a.body_file.empty()) {
    auto b = ReadFile(a.body_file, "body file");
    if (!b.ok()) return Fail(b.error());
    s->set_body(*b);
  } else {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    s->set_body(ss.str());
  }
  static const std::map<std::string, uint32_t> kPriorities = {
      {"normal", 1}, {"high", 2}, {"urgent", 3}};
  static const std::map<std::string, uint32_t> kKinds = {
      {"request", 1}, {"reply", 2}, {"status", 3}, {"info", 4}};
  s->set_priority(kPriorities.at(a.priority));
  s->set_kind(kKinds.at(a.kind));
  int code = kExitOk;
  if (!SetHandling(s, a.handling, a.handling_note, &code)) return code;
  s->set_in_reply_to(a.in_reply_to);
  s->set_case_id(a.case_id);
  if (!a.expires.empty()) {
    auto d = ParseDuration(a.expires);
    if (!d.ok()) return Fail(d.error(), kExitUsage);
    if (*d <= 0) return Fail("--expires must be a positive duration", {}, kExitUsage);
    s->set_expires_in_us(*d);
  }
  return Submit(home, req, s, a.attach, a.json, a.wait);
}

int WaitFor(const Home& home, const std::string& id) {
  auto own = OwnCard(home);
  if (!own.ok()) return Fail(own.error());
  return WaitDelivered(home, own->card.node_id(), id);
}

// ---------------------------------------------------------------- fetch
// Decrypts attachment `index` of message `id` to `out`, checking every chunk
// and the SHA-256. Returns the attachment's description.
Result<control::FetchResponse> FetchTo(const Home& home, const std::string& id, uint32_t index,
                                       const std::string& out, bool force, int* exit_code) {
  control::ControlRequest req;
  req.mutable_fetch()->set_id(id);
  req.mutable_fetch()->set_attachment(index);
  auto resp = Call(home, req, exit_code);
  if (!resp) return MakeError(Code::kUnavailable, "");  // already reported
  auto& f = *resp->mutable_fetch();
  if (force) ::unlink(out.c_str());
  SecretBytes key = SecretBytes::From(f.key());
  WipeString(*f.mutable_key());
  ProgressBar bar("decrypting " + f.name());
  if (auto s = OpenFile(f.path(), out, key, f.message_id(), f.size(), f.sha256(), f.chunk_size(),
                        bar.callback());
      !s.ok()) {
    if (s.error().code == Code::kAlreadyExists) {
      *exit_code = Fail(s.error().message, "choose another name or pass --force");
    } else {
      *exit_code = Fail(s.error(), s.error().code == Code::kDataLoss ? kExitVerify : kExitError);
    }
    return MakeError(s.error().code, "");
  }
  std::cerr << "wrote " << f.name() << " (" << f.size() << " bytes, SHA-256 "
            << ToHex(f.sha256()) << ", checked) to " << out << "\n";
  return f;
}

int RunFetch(const Home& home, const std::string& id, uint32_t index, const std::string& out,
             bool force) {
  if (out.empty() || out == "-") {
    return Fail("fetch writes to a file: pass -o FILE", {}, kExitUsage);
  }
  int code = kExitOk;
  (void)FetchTo(home, id, index, out, force, &code);
  return code;
}

// ---------------------------------------------------------------- requests
int RunRequestNew(const Home& home, const std::string& file, const std::string& to,
                  const std::vector<std::string>& attach, const std::string& handling,
                  const std::string& handling_note, bool json, bool wait) {
  auto text = ReadFile(file, "request file");
  if (!text.ok()) return Fail(text.error());
  std::vector<std::string> problems;
  auto parsed = ParseRequestJson(*text, SystemClock().NowMicros(), &problems, to);
  if (!parsed.ok()) {
    if (problems.empty()) problems.push_back(parsed.error().message);
    for (const auto& p : problems) std::fprintf(stderr, "rogatory: error: %s: %s\n", file.c_str(), p.c_str());
    std::fprintf(stderr, "rogatory: hint: nothing was sent; the request form is described in docs/examples/README.md\n");
    return kExitError;
  }
  const mla::MlaRequest& r = *parsed;
  control::ControlRequest req;
  auto* s = req.mutable_send();
  s->add_to(r.requested_authority());
  s->set_subject(RequestSubject(r));
  s->set_kind(wire::KIND_REQUEST);
  s->set_priority(static_cast<uint32_t>(r.priority()));
  s->set_body(SerializeCanonical(r));
  int code = kExitOk;
  if (!SetHandling(s, handling, handling_note, &code)) return code;
  return Submit(home, req, s, attach, json, wait);
}

int RunRequestUpdate(const Home& home, const std::string& id, const std::string& state,
                     const std::string& note, const std::vector<std::string>& attach, bool json,
                     bool wait) {
  auto st = ParseState(state);
  if (!st.ok()) return Fail(st.error(), kExitUsage);
  if (*st == mla::STATE_REFUSED && note.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Fail("refusing a request needs the grounds: pass --note TEXT", {}, kExitUsage);
  }
  control::ControlRequest req;
  auto* u = req.mutable_request_update();
  u->set_id(id);
  u->set_state(state);
  u->set_note(note);
  return Submit(home, req, u, attach, json, wait);
}

int RunRequestList(const Home& home, bool json) {
  control::ControlRequest req;
  req.mutable_requests();
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  if (json) PrintJson(RequestListJson(resp->requests()));
  else std::cout << RequestListText(resp->requests());
  return kExitOk;
}

// ---------------------------------------------------------------- listings
int RunList(const Home& home, bool outbox, bool json) {
  control::ControlRequest req;
  if (outbox) req.mutable_outbox();
  else req.mutable_inbox();
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  if (json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& m : resp->messages().items()) {
      arr.push_back(outbox ? OutboxJson(m) : InboxJson(m));
    }
    PrintJson(arr);
  } else {
    std::cout << (outbox ? OutboxText(resp->messages()) : InboxText(resp->messages()));
  }
  return kExitOk;
}

int RunShow(const Home& home, const std::string& id, bool json) {
  control::ControlRequest req;
  req.mutable_show()->set_id(id);
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  if (json) PrintJson(ShowJson(resp->message()));
  else std::cout << ShowText(resp->message());
  return kExitOk;
}

int RunStatus(const Home& home, bool json) {
  control::ControlRequest req;
  req.mutable_status();
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  if (json) PrintJson(StatusJson(resp->status()));
  else std::cout << StatusText(resp->status());
  return kExitOk;
}

int RunExport(const Home& home, const std::string& id, const std::string& out,
              const std::string& permission_ref, const std::string& attachments_dir, bool force) {
  control::ControlRequest req;
  req.mutable_export_bundle()->set_id(id);
  req.mutable_export_bundle()->set_permission_ref(permission_ref);
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  // 0600: a bundle discloses the content key of its message.
  if (auto s = WriteFile(out, resp->bundle(), force, 0600); !s.ok()) return Fail(s.error());
  if (out != "-") std::cerr << "wrote provenance bundle of " << id << " to " << out << "\n";
  // A head no peer has countersigned yet proves less: say so, and when.
  VerifyReport report = VerifyBundle(resp->bundle(), "");
  bool witnessed = false;
  for (const auto& p : report.log_proofs) witnessed = witnessed || !p.witnesses.empty();
  if (!witnessed) {
    std::cerr << "note: no peer has countersigned the tree head in this bundle yet\n"
              << "hint: export again once `rogatory status` shows the head witnessed "
                 "(peers do so within [audit] tree_head_interval_s)\n";
  }
  if (attachments_dir.empty()) return kExitOk;
  // The attachments themselves, decrypted and checked, beside the bundle:
  // `verify BUNDLE --attachment FILE` checks them against the signed hashes.
  control::ControlRequest show;
  show.mutable_show()->set_id(id);
  auto shown = Call(home, show, &code);
  if (!shown) return code;
  std::error_code ec;
  std::filesystem::create_directories(attachments_dir, ec);
  if (ec) return Fail("cannot create " + attachments_dir + ": " + ec.message());
  const auto& list = shown->message().attachments();
  for (int i = 0; i < list.size(); ++i) {
    const std::string path = attachments_dir + "/" + std::to_string(i) + "-" + list[i].name();
    if (!FetchTo(home, id, static_cast<uint32_t>(i), path, force, &code).ok()) return code;
  }
  return kExitOk;
}

// SHA-256 of a file, streamed.
Result<std::string> FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(Code::kNotFound, "cannot read " + path + ": " + std::strerror(errno));
  std::vector<char> buf(1 << 20);
  Sha256Stream sha;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    sha.Update({buf.data(), static_cast<size_t>(in.gcount())});
  }
  if (in.bad()) return MakeError(Code::kUnavailable, "cannot read " + path);
  return sha.Finish();
}

int RunVerify(const std::string& file, const std::string& expect,
              const std::vector<std::string>& attachment_files, bool json) {
  if (!expect.empty()) {
    if (auto fp = ParseFingerprint(expect); !fp.ok()) return Fail(fp.error(), kExitUsage);
  }
  auto text = ReadFile(file, "bundle");
  if (!text.ok()) return Fail(text.error());
  VerifyReport r = VerifyBundle(*text, expect);
  // Files given with --attachment must be attachments the sender signed.
  for (const auto& path : attachment_files) {
    auto sha = FileSha256(path);
    if (!sha.ok()) return Fail(sha.error());
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    const std::string hex = ToHex(*sha);
    std::string matched;
    for (const auto& a : r.attachments) {
      if (a.sha256_hex == hex && a.size == size) matched = a.name;
    }
    Check c{"attachment_file", !matched.empty(),
            matched.empty() ? path + " (sha256 " + hex + ") is not an attachment of this message"
                            : path + " is attachment " + matched + " (sha256 " + hex + ")"};
    if (!c.ok) {
      r.errors.push_back(c.detail);
      r.valid = false;
    }
    r.checks.push_back(std::move(c));
  }
  if (json) PrintJson(VerifyJson(r));
  else std::cout << VerifyText(r);
  if (!r.valid) {
    std::fprintf(stderr, "rogatory: error: bundle %s does not verify: %s\n", file.c_str(),
                 r.errors.empty() ? "unknown" : r.errors.front().c_str());
    return kExitVerify;
  }
  return kExitOk;
}

// `audit verify`: works with or without the daemon (reads the store; SQLite
// WAL lets it read while the daemon writes).
int RunAuditVerify(const Home& home, bool json) {
  if (auto s = home.CheckExists(); !s.ok()) return Fail(s.error());
  auto store = Store::Open(home.store());
  if (!store.ok()) return Fail(store.error());
  auto card = OwnCard(home);
  if (!card.ok()) return Fail(card.error());
  auto r = VerifyAuditLog(store->get(), card->fingerprint, card->SigningKeys());
  if (!r.ok()) return Fail(r.error());
  if (json) {
    nlohmann::ordered_json j;
    j["valid"] = r->ok;
    j["size"] = r->size;
    j["root"] = ToHex(r->root);
    j["subtrees_checked"] = r->nodes_checked;
    j["tree_heads_checked"] = r->heads_checked;
    j["errors"] = r->ok ? nlohmann::ordered_json::array()
                        : nlohmann::ordered_json::array({r->first_error});
    PrintJson(j);
  } else if (r->ok) {
    std::cout << "audit log of " << r->size << " entries verifies, with " << r->heads_checked
              << " signed tree head(s); root " << ToHex(r->root) << "\n";
  }
  if (!r->ok) {
    std::fprintf(stderr, "rogatory: error: audit log does not verify: %s\n",
                 r->first_error.c_str());
    return kExitVerify;
  }
  return kExitOk;
}

int RunAuditHead(const Home& home, bool json) {
  auto card = OwnCard(home);
  if (!card.ok()) return Fail(card.error());
  control::ControlRequest req;
  req.mutable_tree_head();
  int code = kExitOk;
  auto resp = Call(home, req, &code);
  if (!resp) return code;
  auto head = VerifyTreeHead(resp->tree_head(), card->card.signing_key());  // signed just now
  if (!head.ok()) return Fail(head.error(), kExitVerify);
  if (head->log() != card->fingerprint) {
    return Fail("the daemon's tree head names another log than this node's", {}, kExitVerify);
  }
  if (json) {
    PrintJson({{"log", FingerprintText(head->log())},
               {"size", head->size()},
               {"root", ToHex(head->root())},
               {"timestamp", Rfc3339(head->timestamp())},
               {"signed_tree_head", ToBase64(resp->tree_head())}});
  } else {
    std::cout << "tree head: size " << head->size() << ", root " << ToHex(head->root())
              << ", signed " << Rfc3339(head->timestamp()) << "\n";
  }
  return kExitOk;
}

}  // namespace

int Main(int argc, char** argv) {
  if (auto s = InitCrypto(); !s.ok()) return Fail(s.error());
  CLI::App app{"rogatory: exchange mutual legal assistance traffic between authorities"};
  app.set_version_flag("--version", ROGATORY_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // --home is accepted before or after the subcommand
  std::string home_flag;
  app.add_option("--home", home_flag, "node home (default $ROGATORY_HOME, else ~/.rogatory)");
  int exit_code = kExitOk;
  auto home = [&] { return Home(Home::Resolve(home_flag)); };

  InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "create a node home: keys, node.toml, empty store");
  init_cmd->add_option("--name", init.name, "node id, [a-z0-9][a-z0-9-]{1,31}")->required();
  init_cmd->add_option("--authority", init.authority, "name of the authority")->required();
  init_cmd->add_option("--country", init.country, "ISO 3166-1 alpha-2 code")->required();
  init_cmd->add_option("--listen", init.listen, "tcp://HOST:PORT this node listens on")
      ->required();
  init_cmd->add_option("--passphrase-file", init.passphrase_file,
                       "protect the keystore with the passphrase in this file");
  init_cmd->add_option("--valid-for", init.valid_for, "card validity (default 730d)");
  init_cmd->callback([&] { exit_code = RunInit(home(), init); });

  bool json = false;
  std::string out;
  bool force = false;
  auto* id_cmd = app.add_subcommand("id", "this node's identity");
  id_cmd->require_subcommand(1);
  id_cmd->fallthrough();
  auto* id_show = id_cmd->add_subcommand("show", "node id, fingerprint, endpoints, keys");
  id_show->add_flag("--json", json, "print JSON");
  id_show->callback([&] { exit_code = RunIdShow(home(), json); });
  auto* id_export = id_cmd->add_subcommand("export", "the signed identity card, armored text");
  id_export->add_option("-o,--output", out, "write to FILE instead of stdout");
  id_export->add_flag("--force", force, "overwrite FILE");
  id_export->callback([&] { exit_code = RunIdExport(home(), out, force); });

  std::string card_file, fingerprint;
  auto* peer_cmd = app.add_subcommand("peer", "the roster of partner nodes");
  peer_cmd->require_subcommand(1);
  peer_cmd->fallthrough();
  auto* peer_add = peer_cmd->add_subcommand("add", "add a partner's card after checking its fingerprint");
  peer_add->add_option("CARD_FILE", card_file, "armored card file")->required();
  peer_add->add_option("--fingerprint", fingerprint,
                       "the fingerprint the partner gave you over another channel")
      ->required();
  peer_add->callback([&] { exit_code = RunPeerAdd(home(), card_file, fingerprint); });
  std::string revoke_id;
  bool yes = false;
  auto* peer_revoke = peer_cmd->add_subcommand(
      "revoke", "stop accepting from and sending to a peer, at once");
  peer_revoke->add_option("ID", revoke_id, "the peer's node id")->required();
  peer_revoke->add_flag("--yes", yes, "do not ask for confirmation");
  peer_revoke->callback([&] { exit_code = RunPeerRevoke(home(), revoke_id, yes); });
  auto* peer_list = peer_cmd->add_subcommand("list", "list roster peers");
  peer_list->add_flag("--json", json, "print JSON");
  peer_list->callback([&] { exit_code = RunPeerList(home(), json); });

  auto* keys_cmd = app.add_subcommand("keys", "this node's keys and keystore");
  keys_cmd->require_subcommand(1);
  keys_cmd->fallthrough();
  std::string old_passphrase_file, new_passphrase_file;
  auto* keys_passwd = keys_cmd->add_subcommand("passwd", "change the keystore passphrase");
  keys_passwd->add_option("--passphrase-file", old_passphrase_file,
                          "the current passphrase (first line; mode 0600)");
  keys_passwd->add_option("--new-passphrase-file", new_passphrase_file,
                          "the new passphrase (first line; mode 0600)");
  keys_passwd->callback([&] {
    exit_code = RunKeysPasswd(home(), old_passphrase_file, new_passphrase_file);
  });
  bool rotate_identity = false, rotate_json = false;
  std::string rotate_valid_for = "730d";
  auto* keys_rotate = keys_cmd->add_subcommand(
      "rotate", "new keys and a new card chained to the current one, pushed to every peer");
  keys_rotate->add_flag("--identity", rotate_identity,
                        "also replace the identity key, by the one the current card committed to");
  keys_rotate->add_option("--passphrase-file", old_passphrase_file,
                          "the keystore passphrase (first line; mode 0600)");
  keys_rotate->add_option("--valid-for", rotate_valid_for, "new card validity (default 730d)");
  keys_rotate->add_flag("--json", rotate_json, "print the result as JSON");
  bool revoke_yes = false;
  std::string revoke_reason;
  auto* keys_revoke = keys_cmd->add_subcommand(
      "revoke", "revoke this node's own identity key (stolen): signed, sent to every peer");
  keys_revoke->add_option("--reason", revoke_reason, "why, in a few words (shown to peers)");
  keys_revoke->add_option("--passphrase-file", old_passphrase_file,
                          "the keystore passphrase (first line; mode 0600)");
  keys_revoke->add_flag("--yes", revoke_yes, "do not ask for confirmation");
  keys_revoke->callback([&] {
    exit_code = RunKeysRevoke(home(), old_passphrase_file, revoke_reason, revoke_yes);
  });
  keys_rotate->callback([&] {
    exit_code = RunKeysRotate(home(), old_passphrase_file, rotate_identity, rotate_valid_for,
                              rotate_json);
  });

  auto* directory_cmd = app.add_subcommand(
      "directory", "signed directories of partner cards, published by an authority you trust");
  directory_cmd->require_subcommand(1);
  directory_cmd->fallthrough();
  std::string directory_file, directory_out, directory_pass;
  std::vector<std::string> directory_cards, directory_removals;
  uint64_t directory_sequence = 0;
  bool directory_force = false;
  auto* directory_trust = directory_cmd->add_subcommand(
      "trust", "pin a directory authority after checking its fingerprint");
  directory_trust->add_option("FILE", directory_file,
                              "the authority's card, or a directory it signed")->required();
  directory_trust->add_option("--fingerprint", fingerprint,
                              "the authority's fingerprint, as it gave it to you over another "
                              "channel")->required();
  directory_trust->callback(
      [&] { exit_code = RunDirectoryTrust(home(), directory_file, fingerprint); });
  auto* directory_import = directory_cmd->add_subcommand(
      "import", "verify a signed directory and apply its cards and revocations to the roster");
  directory_import->add_option("FILE", directory_file, "armored directory file")->required();
  directory_import->add_flag("--json", json, "print JSON");
  directory_import->callback(
      [&] { exit_code = RunDirectoryImport(home(), directory_file, json); });
  auto* directory_list = directory_cmd->add_subcommand(
      "list", "trusted directory authorities and what was imported from each");
  directory_list->add_flag("--json", json, "print JSON");
  directory_list->callback([&] { exit_code = RunDirectoryList(home(), json); });
  auto* directory_show = directory_cmd->add_subcommand(
      "show", "a directory file's authority and entries (its signature checked)");
  directory_show->add_option("FILE", directory_file, "armored directory file")->required();
  directory_show->add_flag("--json", json, "print JSON");
  directory_show->callback([&] { exit_code = RunDirectoryShow(directory_file, json); });
  auto* directory_build = directory_cmd->add_subcommand(
      "build", "sign a directory of card files with this home's identity key (the authority)");
  directory_build->add_option("CARD_FILE", directory_cards, "armored card files to list");
  directory_build->add_option("--sequence", directory_sequence,
                              "this directory's number: higher than the last one published")
      ->required();
  directory_build->add_option("--remove", directory_removals,
                              "FP[=REASON]: withdraw a node listed before (repeatable)");
  directory_build->add_option("-o,--output", directory_out, "file to write (- for stdout)")
      ->required();
  directory_build->add_flag("--force", directory_force, "overwrite the output file");
  directory_build->add_option("--passphrase-file", directory_pass,
                              "the keystore passphrase (first line; mode 0600)");
  directory_build->callback([&] {
    exit_code = RunDirectoryBuild(home(), directory_pass, directory_sequence, directory_cards,
                                  directory_removals, directory_out, directory_force);
  });

  std::string backup_out;
  auto* backup_cmd = app.add_subcommand(
      "backup", "copy store, keys, node.toml and attachments, also while the daemon runs");
  backup_cmd->add_option("-o,--output", backup_out, "a new directory for the copy")->required();
  backup_cmd->callback([&] { exit_code = RunBackup(home(), backup_out); });
  std::string restore_from, restore_passphrase;
  auto* restore_cmd = app.add_subcommand(
      "restore", "put a backup back (daemon stopped) and sign a restore statement");
  restore_cmd->add_option("BACKUP_DIR", restore_from, "a directory 'rogatory backup' wrote")
      ->required();
  restore_cmd->add_option("--passphrase-file", restore_passphrase,
                          "the keystore passphrase, to sign the statement");
  restore_cmd->callback([&] { exit_code = RunRestore(home(), restore_from, restore_passphrase); });

  auto* status_cmd = app.add_subcommand("status", "daemon health, peers, queue depths");
  status_cmd->add_flag("--json", json, "print JSON");
  status_cmd->callback([&] { exit_code = RunStatus(home(), json); });

  SendArgs send;
  auto* send_cmd = app.add_subcommand("send", "send a signed, encrypted message");
  send_cmd->add_option("--to", send.to, "recipient node ids, comma separated")->required();
  send_cmd->add_option("--subject", send.subject, "subject line")->required();
  send_cmd->add_option("--body", send.body, "body text")
      ->each([&](const std::string&) { send.body_set = true; });
  send_cmd->add_option("--body-file", send.body_file, "read the body from FILE");
  send_cmd->add_option("body_stdin", send.stdin_marker, "- reads the body from stdin");
  send_cmd->add_option("--priority", send.priority, "urgent, high or normal")
      ->check(CLI::IsMember({"urgent", "high", "normal"}));
  send_cmd->add_option("--kind", send.kind, "request, reply, status or info")
      ->check(CLI::IsMember({"request", "reply", "status", "info"}));
  send_cmd->add_option("--in-reply-to", send.in_reply_to, "id of the message answered");
  send_cmd->add_option("--case", send.case_id, "case id");
  send_cmd->add_option("--expires", send.expires, "expiry, e.g. 30d, 12h, P7D (default 30d)");
  send_cmd->add_option("--handling", send.handling, "handling code H0 (default), H1, H2, H3")
      ->check(CLI::IsMember({"H0", "H1", "H2", "H3", "h0", "h1", "h2", "h3"}));
  send_cmd->add_option("--handling-note", send.handling_note, "restrictions, for H3");
  send_cmd->add_option("--attach", send.attach, "attach FILE (repeatable)")
      ->check(CLI::ExistingFile);
  send_cmd->add_flag("--json", send.json, "print JSON");
  send_cmd->add_flag("--wait", send.wait,
                     "after printing the id, wait until every recipient has the message "
                     "(a progress bar for attachments on a terminal); exit 1 if one refuses it");
  send_cmd->callback([&] { exit_code = RunSend(home(), send); });

  auto* inbox_cmd = app.add_subcommand("inbox", "received messages, newest first");
  inbox_cmd->add_flag("--json", json, "print JSON");
  inbox_cmd->callback([&] { exit_code = RunList(home(), false, json); });
  auto* outbox_cmd = app.add_subcommand("outbox", "sent messages with delivery state");
  outbox_cmd->add_flag("--json", json, "print JSON");
  outbox_cmd->callback([&] { exit_code = RunList(home(), true, json); });

  std::string msg_id;
  auto* show_cmd = app.add_subcommand("show", "one message: header, body, signature, receipts");
  show_cmd->add_option("MSG", msg_id, "message id, or FROM/ID when several senders used it")
      ->required();
  show_cmd->add_flag("--json", json, "print JSON");
  show_cmd->callback([&] { exit_code = RunShow(home(), msg_id, json); });

  std::string permission_ref;
  auto* export_cmd = app.add_subcommand("export", "write a self-contained provenance bundle");
  export_cmd->add_option("MSG", msg_id, "message id, or FROM/ID when several senders used it")
      ->required();
  export_cmd->add_option("-o,--output", out, "bundle file (- for stdout)")->required();
  export_cmd->add_option("--permission-ref", permission_ref,
                         "the sender's permission, required for H1 and H2 messages");
  std::string attachments_dir;
  export_cmd->add_option("--attachments-dir", attachments_dir,
                         "also write the decrypted attachments (N-NAME) into DIR");
  export_cmd->add_flag("--force", force, "overwrite the bundle file");
  export_cmd->callback([&] {
    exit_code = RunExport(home(), msg_id, out, permission_ref, attachments_dir, force);
  });

  uint32_t attachment_index = 0;
  auto* fetch_cmd = app.add_subcommand("fetch", "decrypt an attachment to a file, checking its SHA-256");
  fetch_cmd->add_option("MSG", msg_id, "message id, or FROM/ID")->required();
  fetch_cmd->add_option("--attachment", attachment_index, "attachment number, from 0")->required();
  fetch_cmd->add_option("-o,--output", out, "file to write")->required();
  fetch_cmd->add_flag("--force", force, "overwrite the file");
  fetch_cmd->callback(
      [&] { exit_code = RunFetch(home(), msg_id, attachment_index, out, force); });

  auto* request_cmd = app.add_subcommand("request", "structured MLA requests and their life cycle");
  request_cmd->require_subcommand(1);
  request_cmd->fallthrough();
  std::string request_file, request_to, state, note, req_handling = "H0", req_handling_note;
  std::vector<std::string> attach;
  bool wait = false;
  auto* request_new = request_cmd->add_subcommand("new", "send a structured MLA request");
  request_new->add_option("--from-file", request_file, "request in the JSON form (docs/examples)")
      ->required();
  request_new->add_option("--to", request_to, "requested authority's node id (overrides the file)");
  request_new->add_option("--attach", attach, "attach FILE (repeatable)")->check(CLI::ExistingFile);
  request_new->add_option("--handling", req_handling, "handling code H0 (default), H1, H2, H3")
      ->check(CLI::IsMember({"H0", "H1", "H2", "H3"}));
  request_new->add_option("--handling-note", req_handling_note, "restrictions, for H3");
  request_new->add_flag("--json", json, "print JSON");
  request_new->add_flag("--wait", wait, "wait until the requested authority has it");
  request_new->callback([&] {
    exit_code = RunRequestNew(home(), request_file, request_to, attach, req_handling,
                              req_handling_note, json, wait);
  });
  auto* request_update = request_cmd->add_subcommand("update", "signed status update of a request");
  request_update->add_option("MSG", msg_id, "request id, or FROM/ID")->required();
  request_update->add_option("--state", state,
                             "acknowledged, in_progress, executed, partially_executed, refused "
                             "(requested side) or withdrawn (requester)")
      ->required();
  request_update->add_option("--note", note, "comment; the grounds, for refused");
  request_update->add_option("--attach", attach, "attach FILE (repeatable), e.g. results")
      ->check(CLI::ExistingFile);
  request_update->add_flag("--json", json, "print JSON");
  request_update->add_flag("--wait", wait, "wait until the other party has the update");
  request_update->callback(
      [&] { exit_code = RunRequestUpdate(home(), msg_id, state, note, attach, json, wait); });
  auto* request_list = request_cmd->add_subcommand("list", "requests with state, history, deadlines");
  request_list->add_flag("--json", json, "print JSON");
  request_list->callback([&] { exit_code = RunRequestList(home(), json); });

  CaseArgs case_args;
  auto* case_cmd = app.add_subcommand("case", "joint investigations: cases shared by member authorities");
  case_cmd->require_subcommand(1);
  case_cmd->fallthrough();
  auto* case_create = case_cmd->add_subcommand("create", "create a case; this node leads it");
  case_create->add_option("TITLE", case_args.title, "case title")->required();
  case_create->add_option("--members", case_args.members, "member node ids, ID[,ID...], other than the lead")
      ->required();
  case_create->add_flag("--json", case_args.json, "print JSON");
  case_create->callback([&] {
    case_args.op = "create";
    exit_code = RunCase(home(), case_args);
  });
  auto* case_invite = case_cmd->add_subcommand("invite", "add a member (lead only)");
  case_invite->add_option("CASE", case_args.case_id, "case id")->required();
  case_invite->add_option("ID", case_args.member, "node id")->required();
  case_invite->callback([&] {
    case_args.op = "invite";
    exit_code = RunCase(home(), case_args);
  });
  auto* case_remove = case_cmd->add_subcommand("remove", "remove a member (lead only); a new key epoch starts");
  case_remove->add_option("CASE", case_args.case_id, "case id")->required();
  case_remove->add_option("ID", case_args.member, "node id")->required();
  case_remove->callback([&] {
    case_args.op = "remove";
    exit_code = RunCase(home(), case_args);
  });
  auto* case_post = case_cmd->add_subcommand("post", "add a signed, encrypted entry to a case");
  case_post->add_option("CASE", case_args.case_id, "case id")->required();
  case_post->add_option("--text", case_args.text, "the entry's text")
      ->each([&](const std::string&) { case_args.text_set = true; });
  case_post->add_option("--file", case_args.file, "read the entry's text from FILE")
      ->check(CLI::ExistingFile);
  case_post->add_option("--type", case_args.type, "note (default), task, evidence, status")
      ->check(CLI::IsMember({"note", "task", "evidence", "status"}));
  case_post->add_option("--assign", case_args.assignee, "task: the member node id it is assigned to");
  case_post->add_option("--state", case_args.state, "task: open (default), done, cancelled")
      ->check(CLI::IsMember({"open", "done", "cancelled"}));
  case_post->add_option("--attach", case_args.attach, "attach FILE (repeatable): an evidence item")
      ->check(CLI::ExistingFile);
  case_post->add_flag("--json", case_args.json, "print JSON");
  case_post->callback([&] {
    case_args.op = "post";
    exit_code = RunCase(home(), case_args);
  });
  auto* case_log = case_cmd->add_subcommand("log", "a case's entries, in the order every member shows");
  case_log->add_option("CASE", case_args.case_id, "case id")->required();
  case_log->add_flag("--json", case_args.json, "print JSON");
  case_log->callback([&] {
    case_args.op = "log";
    exit_code = RunCase(home(), case_args);
  });
  auto* case_list = case_cmd->add_subcommand("list", "cases this node is or was a member of");
  case_list->add_flag("--json", case_args.json, "print JSON");
  case_list->callback([&] {
    case_args.op = "list";
    exit_code = RunCase(home(), case_args);
  });

  auto* audit_cmd = app.add_subcommand("audit", "the node's tamper-evident audit log");
  audit_cmd->require_subcommand(1);
  audit_cmd->fallthrough();
  auto* audit_verify = audit_cmd->add_subcommand(
      "verify", "recompute the whole log from its entries; exit 3 on any mismatch");
  audit_verify->add_flag("--json", json, "print JSON");
  audit_verify->callback([&] { exit_code = RunAuditVerify(home(), json); });
  auto* audit_head = audit_cmd->add_subcommand(
      "head", "a signed tree head of the log as it is now (asks the daemon)");
  audit_head->add_flag("--json", json, "print JSON");
  audit_head->callback([&] { exit_code = RunAuditHead(home(), json); });

  std::string bundle_file, expect;
  auto* verify_cmd = app.add_subcommand("verify", "check a bundle offline; exit 3 if anything fails");
  verify_cmd->add_option("BUNDLE", bundle_file, "bundle file")->required();
  verify_cmd->add_option("--expect-fingerprint", expect, "the sender must have this fingerprint");
  std::vector<std::string> attachment_files;
  verify_cmd->add_option("--attachment", attachment_files,
                         "check FILE against the attachments' signed SHA-256 (repeatable)");
  verify_cmd->add_flag("--json", json, "print JSON");
  verify_cmd->callback(
      [&] { exit_code = RunVerify(bundle_file, expect, attachment_files, json); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.empty()) what = e.get_name();
    std::fprintf(stderr, "rogatory: error: %s\nrogatory: hint: see rogatory --help\n",
                 what.c_str());
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace rogatory::cli

int main(int argc, char** argv) {
  ::umask(077);  // homes, stores and bundles are private to the operator
  try {
    return rogatory::cli::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rogatory: error: internal error: %s\n", e.what());
    return 1;
  }
}
