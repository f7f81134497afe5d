#include "node/store.h"

#include "keys/card.h"

#include <SQLiteCpp/Backup.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <functional>
#include <thread>

namespace rogatory {

namespace {

// Runs `fn`, turning SQLite exceptions into errors at the module boundary.
template <typename F>
auto Guard(const char* what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const SQLite::Exception& e) {
    const int code = e.getErrorCode();
    Code c = Code::kInternal;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) c = Code::kUnavailable;
    else if (code == SQLITE_FULL || code == SQLITE_IOERR) c = Code::kUnavailable;
    else if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) c = Code::kDataLoss;
    else if (code == SQLITE_CONSTRAINT) c = Code::kAlreadyExists;
    std::string hint;
    if (code == SQLITE_FULL) hint = "free disk space; nothing was lost";
    return MakeError(c, std::string("store: ") + what + ": " + e.what(), hint);
  }
}

void BindBlob(SQLite::Statement& q, int i, const std::string& s) {
  q.bind(i, s.data(), static_cast<int>(s.size()));
}

std::string Blob(const SQLite::Column& c) {
  if (c.isNull()) return {};
  return std::string(static_cast<const char*>(c.getBlob()), static_cast<size_t>(c.getBytes()));
}

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE peers(
  node_id TEXT PRIMARY KEY,
  fingerprint BLOB NOT NULL UNIQUE,
  card BLOB NOT NULL,
  card_sequence INTEGER NOT NULL,
  authority TEXT NOT NULL,
  country TEXT NOT NULL,
  signing_key BLOB NOT NULL,
  encryption_key BLOB NOT NULL,
  transport_key BLOB NOT NULL UNIQUE,
  endpoint TEXT NOT NULL,
  source TEXT NOT NULL,
  added_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE inbox(
  received_seq INTEGER PRIMARY KEY AUTOINCREMENT,
  sender BLOB NOT NULL,
  message_id TEXT NOT NULL,
  recipients BLOB NOT NULL,
  subject TEXT NOT NULL, kind INTEGER NOT NULL, priority INTEGER NOT NULL,
  handling INTEGER NOT NULL, handling_note TEXT NOT NULL, case_id TEXT NOT NULL,
  in_reply_to TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  envelope BLOB NOT NULL, envelope_sha256 BLOB NOT NULL, inner_sha256 BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  receipt BLOB NOT NULL,
  UNIQUE(sender, message_id)
);
CREATE INDEX inbox_by_id ON inbox(message_id);
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL UNIQUE,
  recipients BLOB NOT NULL,
  subject TEXT NOT NULL, kind INTEGER NOT NULL, priority INTEGER NOT NULL,
  handling INTEGER NOT NULL, handling_note TEXT NOT NULL, case_id TEXT NOT NULL,
  in_reply_to TEXT NOT NULL,
  created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  envelope BLOB NOT NULL, envelope_sha256 BLOB NOT NULL, inner_sha256 BLOB NOT NULL
);
CREATE TABLE outbox_recipients(
  seq INTEGER NOT NULL REFERENCES outbox(seq),
  recipient BLOB NOT NULL,
  node_id TEXT NOT NULL,
  priority INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  delivered_at INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  receipt BLOB,
  PRIMARY KEY(seq, recipient)
);
CREATE INDEX outbox_due ON outbox_recipients(state, next_attempt_at);
CREATE INDEX outbox_queue ON outbox_recipients(state, recipient, priority DESC, seq);
)sql";

// v2: dedup records apart from the messages, so they can be pruned after
// expiry plus the clock allowance while the messages stay.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE seen(
  sender BLOB NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  received_seq INTEGER NOT NULL,
  PRIMARY KEY(sender, message_id)
) WITHOUT ROWID;
CREATE INDEX seen_expiry ON seen(expires_at);
INSERT INTO seen(sender, message_id, expires_at, received_seq)
  SELECT sender, message_id, expires_at, received_seq FROM inbox;
CREATE INDEX outbox_prev ON outbox_recipients(recipient, priority, state, seq);
)sql";

// v3: indexes that keep every scheduling query an index seek or a short
// ordered walk, however long the queue (measured: 25 ms per turn at 8,000
// queued without them).
constexpr const char* kSchemaV3 = R"sql(
CREATE INDEX outbox_ready ON outbox_recipients(state, recipient, next_attempt_at);
CREATE INDEX outbox_expiry ON outbox_recipients(state, expires_at);
DROP INDEX outbox_queue;
CREATE INDEX outbox_queue ON outbox_recipients(state, recipient, priority DESC, seq,
                                               next_attempt_at);
)sql";

// v4: structured MLA requests and their signed history (SPEC 7).
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE requests(
  requester BLOB NOT NULL,
  request_id TEXT NOT NULL,
  requested BLOB NOT NULL,
  outgoing INTEGER NOT NULL,
  envelope_sha256 BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  seq INTEGER NOT NULL,
  head BLOB NOT NULL,
  subject TEXT NOT NULL,
  case_reference TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  deadline_warned INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(requester, request_id)
);
CREATE INDEX requests_by_id ON requests(request_id);
CREATE TABLE request_history(
  id INTEGER PRIMARY KEY,
  requester BLOB NOT NULL,
  request_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL,
  by_node BLOB NOT NULL,
  at INTEGER NOT NULL,
  note TEXT NOT NULL,
  message_id TEXT NOT NULL
);
CREATE INDEX request_history_by_request ON request_history(requester, request_id, id);
CREATE TABLE attachments(
  sender BLOB NOT NULL,
  message_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 BLOB NOT NULL,
  chunk_size INTEGER NOT NULL,
  PRIMARY KEY(sender, message_id, idx)
) WITHOUT ROWID;
)sql";

// v5: the audit log (SPEC 4, node/audit.h): leaves in append order, and the
// roots of complete perfect subtrees so proofs never rebuild the tree.
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE audit_log(
  idx INTEGER PRIMARY KEY,
  entry BLOB NOT NULL,
  leaf_hash BLOB NOT NULL
);
CREATE TABLE audit_nodes(
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY(level, idx)
) WITHOUT ROWID;
CREATE TABLE tree_heads(
  size INTEGER PRIMARY KEY,
  root BLOB NOT NULL,
  at INTEGER NOT NULL,
  signed BLOB NOT NULL
);
)sql";

// v6: witnessing (docs/protocol.md 21): entries found by message id (filled
// for v5 entries by AuditLog::Load), cosignatures of tree heads, other
// nodes' heads (the latest checked one per log, and heads learnt by gossip
// that wait for a consistency proof), equivocation evidence, and restore
// statements (SPEC 9).
constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE audit_log ADD COLUMN message_id TEXT;
CREATE INDEX audit_log_by_message ON audit_log(message_id);
CREATE TABLE cosignatures(
  log BLOB NOT NULL,
  size INTEGER NOT NULL,
  witness BLOB NOT NULL,
  at INTEGER NOT NULL,
  signed BLOB NOT NULL,
  PRIMARY KEY(log, size, witness)
) WITHOUT ROWID;
CREATE TABLE peer_heads(
  log BLOB NOT NULL,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  at INTEGER NOT NULL,
  signed BLOB NOT NULL,
  checked INTEGER NOT NULL,
  via BLOB NOT NULL,
  PRIMARY KEY(log, size)
) WITHOUT ROWID;
CREATE TABLE equivocations(
  id INTEGER PRIMARY KEY,
  log BLOB NOT NULL,
  detected_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  evidence BLOB NOT NULL,
  evidence_sha256 BLOB NOT NULL UNIQUE
);
CREATE TABLE restore_statements(
  log BLOB NOT NULL,
  at INTEGER NOT NULL,
  signed BLOB NOT NULL,
  PRIMARY KEY(log, at)
) WITHOUT ROWID;
)sql";

// v7: joint investigations (SPEC 8, docs/protocol.md 23): accepted case
// entries (each author's hash chain), entries waiting for what they depend
// on, and what was refused or found forked, as evidence.
constexpr const char* kSchemaV7 = R"sql(
CREATE TABLE case_entries(
  case_id TEXT NOT NULL,
  author BLOB NOT NULL,
  seq INTEGER NOT NULL,
  hash BLOB NOT NULL,
  lamport INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  type INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  entry BLOB NOT NULL,
  PRIMARY KEY(case_id, author, seq)
) WITHOUT ROWID;
CREATE INDEX case_entries_order ON case_entries(case_id, lamport, author, seq);
CREATE TABLE case_pending(
  case_id TEXT NOT NULL,
  hash BLOB NOT NULL,
  received_at INTEGER NOT NULL,
  entry BLOB NOT NULL,
  PRIMARY KEY(case_id, hash)
) WITHOUT ROWID;
CREATE TABLE case_reports(
  id INTEGER PRIMARY KEY,
  case_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  detail TEXT NOT NULL,
  evidence BLOB NOT NULL,
  evidence_sha256 BLOB NOT NULL UNIQUE
);
)sql";

// v8: key rotation and revocation (SPEC 9): signed revocations of nodes
// own keys (ours and peers'), and the sequence of this node's card each peer is
// known to hold (a CardAck, or its Hello); a peer without a row holds the
// card that was current when it was added or at the last rotation.
constexpr const char* kSchemaV8 = R"sql(
CREATE TABLE card_acks(
  peer BLOB PRIMARY KEY,
  sequence INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE revocations(
  node BLOB NOT NULL,
  revoked_at INTEGER NOT NULL,
  signed BLOB NOT NULL,
  PRIMARY KEY(node, signed)
) WITHOUT ROWID;
)sql";

// v9: directory authorities (`directory trust`) and the last directory
// imported from each (no rollback to an older one).
constexpr const char* kSchemaV9 = R"sql(
CREATE TABLE directory_authorities(
  fingerprint BLOB PRIMARY KEY,
  node_id TEXT NOT NULL,
  card BLOB NOT NULL,
  trusted_at INTEGER NOT NULL,
  sequence INTEGER NOT NULL DEFAULT 0,
  directory_sha256 BLOB,
  imported_at INTEGER
) WITHOUT ROWID;
)sql";

// States after which nothing more happens to a request (request.h IsFinal).
#define REQUEST_OPEN "state NOT IN ('executed','partially_executed','refused','withdrawn','expired')"

void ReadMeta(const SQLite::Statement& q, int first, MessageMeta* m) {
  m->recipients = Blob(q.getColumn(first));
  m->subject = q.getColumn(first + 1).getString();
  m->kind = q.getColumn(first + 2).getInt();
  m->priority = q.getColumn(first + 3).getInt();
  m->handling = q.getColumn(first + 4).getInt();
  m->handling_note = q.getColumn(first + 5).getString();
  m->case_id = q.getColumn(first + 6).getString();
  m->in_reply_to = q.getColumn(first + 7).getString();
  m->created_at = q.getColumn(first + 8).getInt64();
  m->expires_at = q.getColumn(first + 9).getInt64();
}

void BindMeta(SQLite::Statement& q, int first, const MessageMeta& m) {
  BindBlob(q, first, m.recipients);
  q.bind(first + 1, m.subject);
  q.bind(first + 2, m.kind);
  q.bind(first + 3, m.priority);
  q.bind(first + 4, m.handling);
  q.bind(first + 5, m.handling_note);
  q.bind(first + 6, m.case_id);
  q.bind(first + 7, m.in_reply_to);
  q.bind(first + 8, static_cast<int64_t>(m.created_at));
  q.bind(first + 9, static_cast<int64_t>(m.expires_at));
}

constexpr const char* kMetaCols =
    "recipients, subject, kind, priority, handling, handling_note, case_id, in_reply_to, "
    "created_at, expires_at";

}  // namespace

Store::Store(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}

// Every public method runs through here: SQLite exceptions become errors, and
// every cached statement is reset afterwards so no read transaction lingers
// (it would hide other connections' commits and block checkpoints).
template <typename F>
auto Store::Run(const char* what, F&& fn) -> decltype(fn()) {
  auto result = Guard(what, std::forward<F>(fn));
  for (auto& entry : cache_) {
    try {
      entry.second->reset();
    } catch (const SQLite::Exception&) {
    }
  }
  return result;
}
Store::~Store() {
  cache_.clear();
  if (in_tx_) Rollback();
}

SQLite::Statement& Store::Prepare(const char* sql) {
  for (auto& [key, stmt] : cache_) {
    if (key == sql) {
      stmt->reset();
      stmt->clearBindings();
      return *stmt;
    }
  }
  cache_.emplace_back(sql, std::make_unique<SQLite::Statement>(*db_, sql));
  return *cache_.back().second;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const std::string& vfs) {
  return Guard("open", [&]() -> Result<std::unique_ptr<Store>> {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_FULLMUTEX, 0,
        vfs);
    db->setBusyTimeout(10000);
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    std::unique_ptr<Store> store(new Store(std::move(db)));
    ROG_RETURN_IF_ERROR(store->Migrate());
    return store;
  });
}

Status Store::Migrate() {
  return Run("migrate", [&]() -> Status {
    db_->exec("BEGIN IMMEDIATE");
    try {
      db_->exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      int version = 0;
      {
        SQLite::Statement q(*db_, "SELECT value FROM meta WHERE key='schema_version'");
        if (q.executeStep()) {
          const std::string text = q.getColumn(0).getString();
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
          if (ec != std::errc() || end != text.data() + text.size()) {
            db_->exec("ROLLBACK");
            return MakeError(Code::kDataLoss,
                             "store has an unreadable schema version '" + text + "'");
          }
        }
      }
      if (version > kSchemaVersion) {
        db_->exec("ROLLBACK");
        return MakeError(Code::kFailedPrecondition,
                         "store was written by a newer Rogatory (schema " +
                             std::to_string(version) + ", this build knows " +
                             std::to_string(kSchemaVersion) + "); it was not touched",
                         "run the newer rogatory version");
      }
      if (version < 1) db_->exec(kSchemaV1);
      if (version < 2) db_->exec(kSchemaV2);
      if (version < 3) db_->exec(kSchemaV3);
      if (version < 4) db_->exec(kSchemaV4);
      if (version < 5) db_->exec(kSchemaV5);
      if (version < 6) db_->exec(kSchemaV6);
      if (version < 7) db_->exec(kSchemaV7);
      if (version < 8) db_->exec(kSchemaV8);
      if (version < 9) db_->exec(kSchemaV9);
      db_->exec("INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', '" +
                std::to_string(kSchemaVersion) + "')");
      db_->exec("COMMIT");
    } catch (...) {
      db_->exec("ROLLBACK");
      throw;
    }
    return {};
  });
}

Status Store::Begin(bool durable) {
  return Run("begin", [&]() -> Status {
    if (durable != synchronous_full_) {
      db_->exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      synchronous_full_ = durable;
    }
    db_->exec("BEGIN IMMEDIATE");
    in_tx_ = true;
    return {};
  });
}

Status Store::Commit() {
  return Run("commit", [&]() -> Status {
    try {
      db_->exec("COMMIT");
    } catch (...) {
      Rollback();
      throw;
    }
    in_tx_ = false;
    RestoreDurability();
    return {};
  });
}

void Store::Rollback() {
  in_tx_ = false;
  try {
    db_->exec("ROLLBACK");
  } catch (const SQLite::Exception&) {
    // Already rolled back by SQLite (for example after SQLITE_FULL).
  }
  RestoreDurability();
}

// A non-durable transaction is the exception: every write after it (an
// autocommit one included) is synced again.
void Store::RestoreDurability() {
  if (synchronous_full_) return;
  try {
    db_->exec("PRAGMA synchronous=FULL");
    synchronous_full_ = true;
  } catch (const SQLite::Exception&) {
    // Left as it is; the next Begin(true) sets it.
  }
}

Result<int64_t> Store::DataVersion() {
  return Run("data_version", [&]() -> Result<int64_t> {
    auto& q = Prepare("PRAGMA data_version");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Status Store::AddPeer(const PeerRow& p, bool replace_branch) {
  return Run("add peer", [&]() -> Status {
    auto& find = Prepare(
        "SELECT node_id, fingerprint, card_sequence FROM peers "
        "WHERE node_id=?1 OR fingerprint=?2 OR transport_key=?3");
    find.bind(1, p.node_id);
    BindBlob(find, 2, p.fingerprint);
    BindBlob(find, 3, p.transport_key);
    bool update = false;
    while (find.executeStep()) {
      const std::string id = find.getColumn(0).getString();
      const std::string fp = Blob(find.getColumn(1));
      const auto seq = static_cast<uint64_t>(find.getColumn(2).getInt64());
      if (id != p.node_id || fp != p.fingerprint) {
        return MakeError(Code::kAlreadyExists,
                         "roster already has peer '" + id +
                             "' with a different node id or fingerprint",
                         "the roster keeps one entry per node id and key, revoked ones "
                         "included: ask the partner which card is current");
      }
      if (seq >= p.card_sequence && !replace_branch) {
        return MakeError(Code::kAlreadyExists,
                         "peer '" + id + "' is already in the roster with card sequence " +
                             std::to_string(seq));
      }
      update = true;
    }
    auto& q = Prepare(
        "INSERT INTO peers(node_id, fingerprint, card, card_sequence, authority, country, "
        "signing_key, encryption_key, transport_key, endpoint, source, added_at, revoked_at) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,NULL) "
        "ON CONFLICT(node_id) DO UPDATE SET card=excluded.card, "
        "card_sequence=excluded.card_sequence, authority=excluded.authority, "
        "country=excluded.country, signing_key=excluded.signing_key, "
        "encryption_key=excluded.encryption_key, "
        "transport_key=excluded.transport_key, endpoint=excluded.endpoint, "
        // `peer add` pins by hand a peer a directory brought; a directory
        // never changes the source of a hand-pinned one (node/directory.h).
        "source=CASE WHEN excluded.source='manual' THEN 'manual' ELSE source END");
    q.bind(1, p.node_id);
    BindBlob(q, 2, p.fingerprint);
    BindBlob(q, 3, p.card);
    q.bind(4, static_cast<int64_t>(p.card_sequence));
    q.bind(5, p.authority);
    q.bind(6, p.country);
    BindBlob(q, 7, p.signing_key);
    BindBlob(q, 8, p.encryption_key);
    BindBlob(q, 9, p.transport_key);
    q.bind(10, p.endpoint);
    q.bind(11, p.source);
    q.bind(12, static_cast<int64_t>(p.added_at));
    q.exec();
    (void)update;
    return {};
  });
}

Status Store::RevokePeer(const std::string& node_id, int64_t at_us) {
  return Run("revoke peer", [&]() -> Status {
    auto& find = Prepare("SELECT revoked_at FROM peers WHERE node_id=?1");
    find.bind(1, node_id);
    if (!find.executeStep()) {
      return MakeError(Code::kNotFound, "no peer '" + node_id + "' in the roster",
                       "'rogatory peer list' shows the roster");
    }
    if (!find.getColumn(0).isNull()) {
      return MakeError(Code::kAlreadyExists, "peer '" + node_id + "' was revoked already");
    }
    auto& q = Prepare("UPDATE peers SET revoked_at=?2 WHERE node_id=?1 AND revoked_at IS NULL");
    q.bind(1, node_id);
    q.bind(2, static_cast<int64_t>(at_us));
    q.exec();
    return {};
  });
}

Result<bool> Store::NoteOwnCard(uint64_t sequence, uint64_t first_sequence) {
  return Run("record this node's card", [&]() -> Result<bool> {
    auto& find = Prepare("SELECT value FROM meta WHERE key='own_card_sequence'");
    std::optional<uint64_t> recorded;
    if (find.executeStep()) recorded = std::stoull(find.getColumn(0).getString());
    find.reset();
    if (recorded.has_value() && *recorded >= sequence) return false;
    // Never recorded: the store was last used by a build that could not
    // rotate, so peers hold the node's first card.
    if (!recorded.has_value() && first_sequence < sequence) recorded = first_sequence;
    if (recorded.has_value()) {
      auto& acks = Prepare(
          "INSERT OR IGNORE INTO card_acks(peer, sequence) SELECT fingerprint, ?1 FROM peers");
      acks.bind(1, static_cast<int64_t>(*recorded));
      acks.exec();
    }
    auto& set = Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('own_card_sequence', ?1)");
    set.bind(1, std::to_string(sequence));
    set.exec();
    return recorded.has_value();
  });
}

Status Store::SetPeerSource(const std::string& node_id, const std::string& source) {
  return Run("set peer source", [&]() -> Status {
    auto& q = Prepare("UPDATE peers SET source=?2 WHERE node_id=?1");
    q.bind(1, node_id);
    q.bind(2, source);
    if (q.exec() == 0) return MakeError(Code::kNotFound, "no peer '" + node_id + "' in the roster");
    return {};
  });
}

Status Store::PutDirectoryAuthority(const DirectoryAuthorityRow& row) {
  return Run("trust directory authority", [&]() -> Status {
    auto& q = Prepare(
        "INSERT INTO directory_authorities(fingerprint, node_id, card, trusted_at) "
        "VALUES(?1,?2,?3,?4) ON CONFLICT(fingerprint) DO UPDATE SET "
        "node_id=excluded.node_id, card=excluded.card");
    BindBlob(q, 1, row.fingerprint);
    q.bind(2, row.node_id);
    BindBlob(q, 3, row.card);
    q.bind(4, static_cast<int64_t>(row.trusted_at));
    q.exec();
    return {};
  });
}

Result<std::vector<DirectoryAuthorityRow>> Store::DirectoryAuthorities() {
  return Run("list directory authorities", [&]() -> Result<std::vector<DirectoryAuthorityRow>> {
    auto& q = Prepare(
        "SELECT fingerprint, node_id, card, trusted_at, sequence, directory_sha256, imported_at "
        "FROM directory_authorities ORDER BY node_id");
    std::vector<DirectoryAuthorityRow> out;
    while (q.executeStep()) {
      DirectoryAuthorityRow r;
      r.fingerprint = Blob(q.getColumn(0));
      r.node_id = q.getColumn(1).getString();
      r.card = Blob(q.getColumn(2));
      r.trusted_at = q.getColumn(3).getInt64();
      r.sequence = static_cast<uint64_t>(q.getColumn(4).getInt64());
      r.directory_sha256 = Blob(q.getColumn(5));
      if (!q.getColumn(6).isNull()) r.imported_at = q.getColumn(6).getInt64();
      out.push_back(std::move(r));
    }
    return out;
  });
}

Status Store::RecordDirectoryImport(const std::string& fingerprint, uint64_t sequence,
                                    const std::string& sha256, int64_t at) {
  return Run("record directory import", [&]() -> Status {
    auto& q = Prepare(
        "UPDATE directory_authorities SET sequence=?2, directory_sha256=?3, imported_at=?4 "
        "WHERE fingerprint=?1");
    BindBlob(q, 1, fingerprint);
    q.bind(2, static_cast<int64_t>(sequence));
    BindBlob(q, 3, sha256);
    q.bind(4, static_cast<int64_t>(at));
    if (q.exec() == 0) return MakeError(Code::kNotFound, "directory authority is not trusted");
    return {};
  });
}

Result<bool> Store::InsertRevocation(const std::string& node, int64_t revoked_at,
                                     const std::string& signed_revocation) {
  return Run("store revocation", [&]() -> Result<bool> {
    auto& q = Prepare("INSERT OR IGNORE INTO revocations(node, revoked_at, signed) VALUES(?1,?2,?3)");
    BindBlob(q, 1, node);
    q.bind(2, static_cast<int64_t>(revoked_at));
    BindBlob(q, 3, signed_revocation);
    return q.exec() > 0;
  });
}

Result<std::vector<std::string>> Store::Revocations(const std::string& node) {
  return Run("list revocations", [&]() -> Result<std::vector<std::string>> {
    auto& q = Prepare("SELECT signed FROM revocations WHERE node=?1 ORDER BY revoked_at");
    BindBlob(q, 1, node);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(Blob(q.getColumn(0)));
    return out;
  });
}

Result<bool> Store::SetCardAck(const std::string& peer, uint64_t sequence, bool may_lower) {
  return Run("record card acknowledgement", [&]() -> Result<bool> {
    auto& q = Prepare(
        may_lower ? "INSERT INTO card_acks(peer, sequence) VALUES(?1, ?2) "
                    "ON CONFLICT(peer) DO UPDATE SET sequence=excluded.sequence "
                    "WHERE excluded.sequence != card_acks.sequence"
                  : "INSERT INTO card_acks(peer, sequence) VALUES(?1, ?2) "
                    "ON CONFLICT(peer) DO UPDATE SET sequence=excluded.sequence "
                    "WHERE excluded.sequence > card_acks.sequence");
    BindBlob(q, 1, peer);
    q.bind(2, static_cast<int64_t>(sequence));
    return q.exec() > 0;
  });
}

Result<std::map<std::string, uint64_t>> Store::CardAcks() {
  return Run("list card acknowledgements", [&]() -> Result<std::map<std::string, uint64_t>> {
    auto& q = Prepare("SELECT peer, sequence FROM card_acks");
    std::map<std::string, uint64_t> out;
    while (q.executeStep()) {
      out[Blob(q.getColumn(0))] = static_cast<uint64_t>(q.getColumn(1).getInt64());
    }
    return out;
  });
}

PeerRow PeerRowFromCard(const VerifiedCard& card, std::string source, int64_t added_at) {
  const wire::Card& c = card.card;
  PeerRow row;
  row.node_id = c.node_id();
  row.fingerprint = card.fingerprint;
  row.card = card.signed_bytes;
  row.card_sequence = c.sequence();
  row.authority = c.authority();
  row.country = c.country();
  row.signing_key = c.signing_key();
  row.encryption_key = c.encryption_key();
  row.transport_key = c.transport_key();
  row.endpoint = c.endpoints(0);
  row.source = std::move(source);
  row.added_at = added_at;
  return row;
}

Result<std::vector<PeerRow>> Store::ListPeers() {
  return Run("list peers", [&]() -> Result<std::vector<PeerRow>> {
    auto& q = Prepare(
        "SELECT node_id, fingerprint, card, card_sequence, authority, country, signing_key, "
        "encryption_key, transport_key, endpoint, source, added_at, revoked_at "
        "FROM peers ORDER BY node_id");
    std::vector<PeerRow> out;
    while (q.executeStep()) {
      PeerRow p;
      p.node_id = q.getColumn(0).getString();
      p.fingerprint = Blob(q.getColumn(1));
      p.card = Blob(q.getColumn(2));
      p.card_sequence = static_cast<uint64_t>(q.getColumn(3).getInt64());
      p.authority = q.getColumn(4).getString();
      p.country = q.getColumn(5).getString();
      p.signing_key = Blob(q.getColumn(6));
      p.encryption_key = Blob(q.getColumn(7));
      p.transport_key = Blob(q.getColumn(8));
      p.endpoint = q.getColumn(9).getString();
      p.source = q.getColumn(10).getString();
      p.added_at = q.getColumn(11).getInt64();
      if (!q.getColumn(12).isNull()) p.revoked_at = q.getColumn(12).getInt64();
      out.push_back(std::move(p));
    }
    return out;
  });
}

namespace {

InboxRow ReadInbox(const SQLite::Statement& q) {
  InboxRow r;
  r.received_seq = q.getColumn(0).getInt64();
  r.meta.sender = Blob(q.getColumn(1));
  r.meta.message_id = q.getColumn(2).getString();
  ReadMeta(q, 3, &r.meta);
  r.envelope = Blob(q.getColumn(13));
  r.envelope_sha256 = Blob(q.getColumn(14));
  r.inner_sha256 = Blob(q.getColumn(15));
  r.received_at = q.getColumn(16).getInt64();
  r.receipt = Blob(q.getColumn(17));
  return r;
}

// The same columns with the envelope and the receipt left out (listings).
#define INBOX_LIST_COLS                                                               \
  "received_seq, sender, message_id, recipients, subject, kind, priority, handling, " \
  "handling_note, case_id, in_reply_to, created_at, expires_at, X'', "               \
  "envelope_sha256, inner_sha256, received_at, X''"

#define INBOX_COLS                                                                   \
  "received_seq, sender, message_id, recipients, subject, kind, priority, handling, " \
  "handling_note, case_id, in_reply_to, created_at, expires_at, envelope, "          \
  "envelope_sha256, inner_sha256, received_at, receipt"

}  // namespace

Result<std::optional<InboxRow>> Store::FindInbox(const std::string& sender,
                                                 const std::string& message_id) {
  return Run("find inbox", [&]() -> Result<std::optional<InboxRow>> {
    auto& q = Prepare("SELECT " INBOX_COLS " FROM inbox WHERE sender=?1 AND message_id=?2");
    BindBlob(q, 1, sender);
    q.bind(2, message_id);
    if (!q.executeStep()) return std::optional<InboxRow>();
    return std::optional<InboxRow>(ReadInbox(q));
  });
}

Result<std::optional<InboxRow>> Store::FindSeen(const std::string& sender,
                                                const std::string& message_id) {
  return Run("find seen", [&]() -> Result<std::optional<InboxRow>> {
    auto& q = Prepare("SELECT " INBOX_COLS " FROM inbox WHERE received_seq = "
                      "(SELECT received_seq FROM seen WHERE sender=?1 AND message_id=?2)");
    BindBlob(q, 1, sender);
    q.bind(2, message_id);
    if (!q.executeStep()) return std::optional<InboxRow>();
    return std::optional<InboxRow>(ReadInbox(q));
  });
}

Result<int64_t> Store::PruneSeen(int64_t cutoff) {
  return Run("prune seen", [&]() -> Result<int64_t> {
    auto& q = Prepare("DELETE FROM seen WHERE expires_at < ?1");
    q.bind(1, static_cast<int64_t>(cutoff));
    return static_cast<int64_t>(q.exec());
  });
}

// Runs `fn` inside a SAVEPOINT: a multi-statement write is all or nothing,
// also inside the daemon's batch transaction (SQLite undoes only the failing
// statement on SQLITE_FULL or IOERR, not its siblings).
template <typename F>
auto Atomically(SQLite::Database& db, F&& fn) -> decltype(fn()) {
  db.exec("SAVEPOINT rog_atomic");
  try {
    auto result = fn();
    db.exec("RELEASE rog_atomic");
    return result;
  } catch (...) {
    try {
      db.exec("ROLLBACK TO rog_atomic");
      db.exec("RELEASE rog_atomic");
    } catch (const SQLite::Exception&) {
      // SQLite already rolled back the whole transaction.
    }
    throw;
  }
}

Status Store::Savepoint() {
  return Run("savepoint", [&]() -> Status {
    db_->exec("SAVEPOINT rog_unit");
    return {};
  });
}

Status Store::Release() {
  return Run("release", [&]() -> Status {
    db_->exec("RELEASE rog_unit");
    return {};
  });
}

void Store::RollbackToSavepoint() {
  try {
    db_->exec("ROLLBACK TO rog_unit");
    db_->exec("RELEASE rog_unit");
  } catch (const SQLite::Exception&) {
    // SQLite already rolled back the whole transaction.
  }
}

bool Store::InTransaction() const { return sqlite3_get_autocommit(db_->getHandle()) == 0; }

Result<int64_t> Store::InsertInbox(const InboxRow& r) {
  return Run("insert inbox", [&]() -> Result<int64_t> {
    return Atomically(*db_, [&]() -> int64_t {
    auto& q = Prepare(
        "INSERT INTO inbox(sender, message_id, recipients, subject, kind, priority, handling, "
        "handling_note, case_id, in_reply_to, created_at, expires_at, envelope, "
        "envelope_sha256, inner_sha256, received_at, receipt) "
        "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)");
    BindBlob(q, 1, r.meta.sender);
    q.bind(2, r.meta.message_id);
    BindMeta(q, 3, r.meta);
    BindBlob(q, 13, r.envelope);
    BindBlob(q, 14, r.envelope_sha256);
    BindBlob(q, 15, r.inner_sha256);
    q.bind(16, static_cast<int64_t>(r.received_at));
    BindBlob(q, 17, r.receipt);
    q.exec();
    const int64_t seq = db_->getLastInsertRowid();
    auto& seen = Prepare(
        "INSERT INTO seen(sender, message_id, expires_at, received_seq) VALUES(?1,?2,?3,?4)");
    BindBlob(seen, 1, r.meta.sender);
    seen.bind(2, r.meta.message_id);
    seen.bind(3, static_cast<int64_t>(r.meta.expires_at));
    seen.bind(4, static_cast<int64_t>(seq));
    seen.exec();
    return seq;
    });
  });
}

Result<std::vector<InboxRow>> Store::ListInbox(int limit, bool with_content) {
  return Run("list inbox", [&]() -> Result<std::vector<InboxRow>> {
    auto& q = with_content
                  ? Prepare("SELECT " INBOX_COLS " FROM inbox ORDER BY received_seq DESC LIMIT ?1")
                  : Prepare("SELECT " INBOX_LIST_COLS
                            " FROM inbox ORDER BY received_seq DESC LIMIT ?1");
    q.bind(1, limit > 0 ? limit : -1);
    std::vector<InboxRow> out;
    while (q.executeStep()) out.push_back(ReadInbox(q));
    return out;
  });
}

Result<std::vector<InboxRow>> Store::ListInboxById(const std::string& message_id) {
  return Run("inbox by id", [&]() -> Result<std::vector<InboxRow>> {
    auto& q = Prepare("SELECT " INBOX_COLS " FROM inbox WHERE message_id=?1 ORDER BY received_seq");
    q.bind(1, message_id);
    std::vector<InboxRow> out;
    while (q.executeStep()) out.push_back(ReadInbox(q));
    return out;
  });
}

Result<int64_t> Store::CountInbox() {
  return Run("count inbox", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COUNT(*) FROM inbox");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Result<int64_t> Store::InsertOutbox(const OutboxRow& r) {
  return Run("insert outbox", [&]() -> Result<int64_t> {
    return Atomically(*db_, [&]() -> int64_t {
    auto& q = Prepare(
        "INSERT INTO outbox(message_id, recipients, subject, kind, priority, handling, "
        "handling_note, case_id, in_reply_to, created_at, expires_at, envelope, "
        "envelope_sha256, inner_sha256) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
    q.bind(1, r.meta.message_id);
    BindMeta(q, 2, r.meta);
    BindBlob(q, 12, r.envelope);
    BindBlob(q, 13, r.envelope_sha256);
    BindBlob(q, 14, r.inner_sha256);
    q.exec();
    const int64_t seq = db_->getLastInsertRowid();
    for (const auto& rc : r.recipients) {
      auto& qr = Prepare(
          "INSERT INTO outbox_recipients(seq, recipient, node_id, priority, expires_at, state, "
          "next_attempt_at) VALUES(?1,?2,?3,?4,?5,'queued',?6)");
      qr.bind(1, static_cast<int64_t>(seq));
      BindBlob(qr, 2, rc.fingerprint);
      qr.bind(3, rc.node_id);
      qr.bind(4, r.meta.priority);
      qr.bind(5, static_cast<int64_t>(r.meta.expires_at));
      qr.bind(6, static_cast<int64_t>(rc.next_attempt_at));
      qr.exec();
    }
    return seq;
    });
  });
}

Result<bool> Store::HasDue(const std::string& recipient, int64_t now) {
  return Run("has due", [&]() -> Result<bool> {
    auto& q = Prepare(
        "SELECT EXISTS(SELECT 1 FROM outbox_recipients INDEXED BY outbox_ready "
        "WHERE state='queued' AND recipient=?1 AND next_attempt_at <= ?2)");
    BindBlob(q, 1, recipient);
    q.bind(2, static_cast<int64_t>(now));
    q.executeStep();
    return q.getColumn(0).getInt() != 0;
  });
}

Result<std::vector<DueDelivery>> Store::DueDeliveriesFor(const std::string& recipient,
                                                         int64_t now, int limit) {
  return Run("due deliveries", [&]() -> Result<std::vector<DueDelivery>> {
    auto& q = Prepare(
        "SELECT r.seq, o.message_id, r.recipient, r.priority, r.attempts, o.envelope "
        "FROM outbox_recipients r INDEXED BY outbox_queue JOIN outbox o ON o.seq = r.seq "
        "WHERE r.state='queued' AND r.recipient=?1 AND r.next_attempt_at <= ?2 "
        "ORDER BY r.priority DESC, r.seq LIMIT ?3");
    BindBlob(q, 1, recipient);
    q.bind(2, static_cast<int64_t>(now));
    q.bind(3, limit);
    std::vector<DueDelivery> out;
    while (q.executeStep()) {
      DueDelivery d;
      d.seq = q.getColumn(0).getInt64();
      d.message_id = q.getColumn(1).getString();
      d.recipient = Blob(q.getColumn(2));
      d.priority = q.getColumn(3).getInt();
      d.attempts = q.getColumn(4).getInt();
      d.envelope = Blob(q.getColumn(5));
      out.push_back(std::move(d));
    }
    return out;
  });
}

Result<std::string> Store::PreviousQueued(const std::string& recipient, int priority,
                                          int64_t seq) {
  return Run("previous queued", [&]() -> Result<std::string> {
    auto& q = Prepare(
        "SELECT o.message_id FROM outbox_recipients r JOIN outbox o ON o.seq = r.seq "
        "WHERE r.recipient=?1 AND r.priority=?2 AND r.state='queued' AND r.seq < ?3 "
        "ORDER BY r.seq DESC LIMIT 1");
    BindBlob(q, 1, recipient);
    q.bind(2, priority);
    q.bind(3, static_cast<int64_t>(seq));
    if (!q.executeStep()) return std::string();
    return q.getColumn(0).getString();
  });
}

Status Store::RecordAttempt(int64_t seq, const std::string& recipient, int attempts,
                            int64_t next_attempt_at) {
  return Run("record attempt", [&]() -> Status {
    auto& q = Prepare(
        "UPDATE outbox_recipients SET attempts=?3, next_attempt_at=?4 "
        "WHERE seq=?1 AND recipient=?2 AND state='queued'");
    q.bind(1, static_cast<int64_t>(seq));
    BindBlob(q, 2, recipient);
    q.bind(3, attempts);
    q.bind(4, static_cast<int64_t>(next_attempt_at));
    q.exec();
    return {};
  });
}

Result<std::optional<PendingDelivery>> Store::FindPending(const std::string& message_id,
                                                          const std::string& recipient) {
  return Run("find pending", [&]() -> Result<std::optional<PendingDelivery>> {
    auto& q = Prepare(
        "SELECT r.seq, r.state, o.envelope_sha256, o.inner_sha256, r.expires_at FROM outbox o "
        "JOIN outbox_recipients r ON r.seq=o.seq WHERE o.message_id=?1 AND r.recipient=?2");
    q.bind(1, message_id);
    BindBlob(q, 2, recipient);
    if (!q.executeStep()) return std::optional<PendingDelivery>();
    PendingDelivery p;
    p.seq = q.getColumn(0).getInt64();
    p.state = q.getColumn(1).getString();
    p.envelope_sha256 = Blob(q.getColumn(2));
    p.inner_sha256 = Blob(q.getColumn(3));
    p.expires_at = q.getColumn(4).getInt64();
    return std::optional<PendingDelivery>(std::move(p));
  });
}

Status Store::MarkDelivered(int64_t seq, const std::string& recipient,
                            const std::string& receipt, int64_t at) {
  return Run("mark delivered", [&]() -> Status {
    // A late receipt still makes an expired recipient delivered (SPEC 5).
    auto& q = Prepare(
        "UPDATE outbox_recipients SET state='delivered', receipt=?3, delivered_at=?4, "
        "error='' WHERE seq=?1 AND recipient=?2 AND state IN ('queued','expired')");
    q.bind(1, static_cast<int64_t>(seq));
    BindBlob(q, 2, recipient);
    BindBlob(q, 3, receipt);
    q.bind(4, static_cast<int64_t>(at));
    q.exec();
    return {};
  });
}

Status Store::ResetBackoff(const std::string& recipient, int64_t now) {
  return Run("reset backoff", [&]() -> Status {
    auto& q = Prepare(
        "UPDATE outbox_recipients SET next_attempt_at=?2 "
        "WHERE recipient=?1 AND state='queued' AND next_attempt_at > ?2");
    BindBlob(q, 1, recipient);
    q.bind(2, static_cast<int64_t>(now));
    q.exec();
    return {};
  });
}

// Ends a queued delivery as `state` (expired or failed) with a reason.
Status Store::EndQueued(int64_t seq, const std::string& recipient, const char* state,
                        const std::string& error) {
  return Run("end delivery", [&]() -> Status {
    auto& q = Prepare(
        "UPDATE outbox_recipients SET state=?4, error=?3 "
        "WHERE seq=?1 AND recipient=?2 AND state='queued'");
    q.bind(1, static_cast<int64_t>(seq));
    BindBlob(q, 2, recipient);
    q.bind(3, error);
    q.bind(4, state);
    q.exec();
    return {};
  });
}

Status Store::MarkExpired(int64_t seq, const std::string& recipient, const std::string& error) {
  return EndQueued(seq, recipient, "expired", error);
}

Status Store::MarkFailed(int64_t seq, const std::string& recipient, const std::string& error) {
  return EndQueued(seq, recipient, "failed", error);
}

Result<int64_t> Store::ExpireQueued(int64_t cutoff) {
  return Run("expire", [&]() -> Result<int64_t> {
    auto& q = Prepare(
        "UPDATE outbox_recipients SET state='expired', "
        "error='expired before a receipt arrived' WHERE state='queued' AND expires_at < ?1");
    q.bind(1, static_cast<int64_t>(cutoff));
    return static_cast<int64_t>(q.exec());
  });
}

Result<std::optional<int64_t>> Store::NextAttemptAt() {
  return Run("next attempt", [&]() -> Result<std::optional<int64_t>> {
    auto& q = Prepare(
        "SELECT MIN(next_attempt_at) FROM outbox_recipients INDEXED BY outbox_due "
        "WHERE state='queued'");
    if (!q.executeStep() || q.getColumn(0).isNull()) return std::optional<int64_t>();
    return std::optional<int64_t>(q.getColumn(0).getInt64());
  });
}

Status Store::LoadRecipients(OutboxRow* row) {
  auto& q = Prepare(
      "SELECT recipient, node_id, state, attempts, next_attempt_at, delivered_at, error, "
      "receipt FROM outbox_recipients WHERE seq=?1 ORDER BY rowid");
  q.bind(1, static_cast<int64_t>(row->seq));
  while (q.executeStep()) {
    RecipientRow r;
    r.fingerprint = Blob(q.getColumn(0));
    r.node_id = q.getColumn(1).getString();
    r.state = q.getColumn(2).getString();
    r.attempts = q.getColumn(3).getInt();
    r.next_attempt_at = q.getColumn(4).getInt64();
    r.delivered_at = q.getColumn(5).getInt64();
    r.error = q.getColumn(6).getString();
    r.receipt = Blob(q.getColumn(7));
    row->recipients.push_back(std::move(r));
  }
  return {};
}

namespace {
#define OUTBOX_LIST_COLS                                                                  \
  "seq, message_id, recipients, subject, kind, priority, handling, handling_note, case_id, " \
  "in_reply_to, created_at, expires_at, X'', envelope_sha256, inner_sha256"
#define OUTBOX_COLS                                                                       \
  "seq, message_id, recipients, subject, kind, priority, handling, handling_note, case_id, " \
  "in_reply_to, created_at, expires_at, envelope, envelope_sha256, inner_sha256"

OutboxRow ReadOutbox(const SQLite::Statement& q) {
  OutboxRow r;
  r.seq = q.getColumn(0).getInt64();
  r.meta.message_id = q.getColumn(1).getString();
  ReadMeta(q, 2, &r.meta);
  r.envelope = Blob(q.getColumn(12));
  r.envelope_sha256 = Blob(q.getColumn(13));
  r.inner_sha256 = Blob(q.getColumn(14));
  return r;
}
}  // namespace

Result<std::vector<OutboxRow>> Store::ListOutbox(int limit, bool with_content) {
  return Run("list outbox", [&]() -> Result<std::vector<OutboxRow>> {
    std::vector<OutboxRow> out;
    {
      auto& q = with_content
                    ? Prepare("SELECT " OUTBOX_COLS " FROM outbox ORDER BY seq DESC LIMIT ?1")
                    : Prepare("SELECT " OUTBOX_LIST_COLS " FROM outbox ORDER BY seq DESC LIMIT ?1");
      q.bind(1, limit > 0 ? limit : -1);
      while (q.executeStep()) out.push_back(ReadOutbox(q));
    }
    for (auto& r : out) ROG_RETURN_IF_ERROR(LoadRecipients(&r));
    return out;
  });
}

Result<std::optional<OutboxRow>> Store::GetOutboxById(const std::string& message_id) {
  return Run("get outbox", [&]() -> Result<std::optional<OutboxRow>> {
    OutboxRow row;
    {
      auto& q = Prepare("SELECT " OUTBOX_COLS " FROM outbox WHERE message_id=?1");
      q.bind(1, message_id);
      if (!q.executeStep()) return std::optional<OutboxRow>();
      row = ReadOutbox(q);
    }
    ROG_RETURN_IF_ERROR(LoadRecipients(&row));
    row.meta.sender.clear();
    return std::optional<OutboxRow>(std::move(row));
  });
}

Result<std::vector<QueueCount>> Store::QueueCounts() {
  return Run("queue counts", [&]() -> Result<std::vector<QueueCount>> {
    auto& q = Prepare(
        "SELECT r.recipient, r.priority, COUNT(*), MIN(o.created_at) FROM outbox_recipients r "
        "JOIN outbox o ON o.seq=r.seq WHERE r.state='queued' GROUP BY r.recipient, r.priority");
    std::vector<QueueCount> out;
    while (q.executeStep()) {
      out.push_back({Blob(q.getColumn(0)), q.getColumn(1).getInt(), q.getColumn(2).getInt64(),
                     q.getColumn(3).getInt64()});
    }
    return out;
  });
}

namespace {

#define REQUEST_COLS                                                                    \
  "requester, request_id, requested, outgoing, envelope_sha256, created_at, deadline, " \
  "priority, state, seq, head, subject, case_reference, updated_at"

RequestRow ReadRequest(SQLite::Statement& q) {
  RequestRow r;
  r.requester = Blob(q.getColumn(0));
  r.request_id = q.getColumn(1).getString();
  r.requested = Blob(q.getColumn(2));
  r.outgoing = q.getColumn(3).getInt() != 0;
  r.envelope_sha256 = Blob(q.getColumn(4));
  r.created_at = q.getColumn(5).getInt64();
  r.deadline = q.getColumn(6).getInt64();
  r.priority = q.getColumn(7).getInt();
  r.state = q.getColumn(8).getString();
  r.seq = q.getColumn(9).getInt64();
  r.head = Blob(q.getColumn(10));
  r.subject = q.getColumn(11).getString();
  r.case_reference = q.getColumn(12).getString();
  r.updated_at = q.getColumn(13).getInt64();
  return r;
}

}  // namespace

Status Store::InsertRequest(const RequestRow& r, const std::vector<RequestEvent>& events) {
  return Run("insert request", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      auto& q = Prepare("INSERT INTO requests(" REQUEST_COLS
                        ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)");
      BindBlob(q, 1, r.requester);
      q.bind(2, r.request_id);
      BindBlob(q, 3, r.requested);
      q.bind(4, r.outgoing ? 1 : 0);
      BindBlob(q, 5, r.envelope_sha256);
      q.bind(6, static_cast<int64_t>(r.created_at));
      q.bind(7, static_cast<int64_t>(r.deadline));
      q.bind(8, r.priority);
      q.bind(9, r.state);
      q.bind(10, static_cast<int64_t>(r.seq));
      BindBlob(q, 11, r.head);
      q.bind(12, r.subject);
      q.bind(13, r.case_reference);
      q.bind(14, static_cast<int64_t>(r.updated_at));
      q.exec();
      for (const auto& e : events) InsertEvent(r.requester, r.request_id, e);
      return {};
    });
  });
}

void Store::InsertEvent(const std::string& requester, const std::string& request_id,
                        const RequestEvent& e) {
  auto& q = Prepare(
      "INSERT INTO request_history(requester, request_id, seq, state, by_node, at, note, "
      "message_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
  BindBlob(q, 1, requester);
  q.bind(2, request_id);
  q.bind(3, static_cast<int64_t>(e.seq));
  q.bind(4, e.state);
  BindBlob(q, 5, e.by);
  q.bind(6, static_cast<int64_t>(e.at));
  q.bind(7, e.note);
  q.bind(8, e.message_id);
  q.exec();
}

Result<std::optional<RequestRow>> Store::FindRequest(const std::string& requester,
                                                     const std::string& request_id) {
  return Run("find request", [&]() -> Result<std::optional<RequestRow>> {
    auto& q = Prepare("SELECT " REQUEST_COLS " FROM requests WHERE requester=?1 AND request_id=?2");
    BindBlob(q, 1, requester);
    q.bind(2, request_id);
    if (!q.executeStep()) return std::optional<RequestRow>();
    return std::optional<RequestRow>(ReadRequest(q));
  });
}

Result<std::vector<RequestRow>> Store::FindRequestsById(const std::string& request_id) {
  return Run("requests by id", [&]() -> Result<std::vector<RequestRow>> {
    auto& q = Prepare("SELECT " REQUEST_COLS " FROM requests WHERE request_id=?1");
    q.bind(1, request_id);
    std::vector<RequestRow> out;
    while (q.executeStep()) out.push_back(ReadRequest(q));
    return out;
  });
}

Status Store::ApplyRequestStatus(const RequestRow& r, const RequestEvent& e) {
  return Run("apply request status", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      auto& q = Prepare(
          "UPDATE requests SET state=?3, seq=?4, head=?5, updated_at=?6 "
          "WHERE requester=?1 AND request_id=?2");
      BindBlob(q, 1, r.requester);
      q.bind(2, r.request_id);
      q.bind(3, r.state);
      q.bind(4, static_cast<int64_t>(r.seq));
      BindBlob(q, 5, r.head);
      q.bind(6, static_cast<int64_t>(r.updated_at));
      q.exec();
      InsertEvent(r.requester, r.request_id, e);
      return {};
    });
  });
}

Status Store::MarkRequestDelivered(const std::string& requester, const std::string& request_id,
                                   const std::string& requested, int64_t at) {
  return Run("request delivered", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      auto& q = Prepare(
          "UPDATE requests SET state='delivered', updated_at=?3 "
          "WHERE requester=?1 AND request_id=?2 AND state IN ('sent','expired')");
      BindBlob(q, 1, requester);
      q.bind(2, request_id);
      q.bind(3, static_cast<int64_t>(at));
      if (q.exec() == 0) {
        // Not a request, or a status update already moved it on: the
        // receipt still belongs in the history once.
        auto& known = Prepare(
            "SELECT 1 FROM requests r WHERE requester=?1 AND request_id=?2 AND NOT EXISTS "
            "(SELECT 1 FROM request_history h WHERE h.requester=r.requester AND "
            "h.request_id=r.request_id AND h.state='delivered')");
        BindBlob(known, 1, requester);
        known.bind(2, request_id);
        if (!known.executeStep()) return {};
      }
      InsertEvent(requester, request_id, {0, "delivered", requested, at, "", ""});
      return {};
    });
  });
}

Result<int64_t> Store::ExpireRequests() {
  return Run("expire requests", [&]() -> Result<int64_t> {
    auto& q = Prepare(
        "UPDATE requests SET state='expired' WHERE outgoing=1 AND state='sent' AND EXISTS "
        "(SELECT 1 FROM outbox o JOIN outbox_recipients x ON x.seq=o.seq "
        "WHERE o.message_id=requests.request_id AND x.recipient=requests.requested "
        "AND x.state='expired')");
    return static_cast<int64_t>(q.exec());
  });
}

Result<std::vector<RequestRow>> Store::ListRequests() {
  return Run("list requests", [&]() -> Result<std::vector<RequestRow>> {
    auto& q = Prepare("SELECT " REQUEST_COLS " FROM requests ORDER BY " REQUEST_OPEN
                      " DESC, CASE WHEN " REQUEST_OPEN " AND deadline > 0"
                      " THEN deadline ELSE 9223372036854775807 END,"
                      " updated_at DESC, created_at");
    std::vector<RequestRow> out;
    while (q.executeStep()) out.push_back(ReadRequest(q));
    return out;
  });
}

Result<std::vector<RequestEvent>> Store::RequestHistory(const std::string& requester,
                                                        const std::string& request_id) {
  return Run("request history", [&]() -> Result<std::vector<RequestEvent>> {
    auto& q = Prepare(
        "SELECT seq, state, by_node, at, note, message_id FROM request_history "
        "WHERE requester=?1 AND request_id=?2 ORDER BY id");
    BindBlob(q, 1, requester);
    q.bind(2, request_id);
    std::vector<RequestEvent> out;
    while (q.executeStep()) {
      RequestEvent e;
      e.seq = q.getColumn(0).getInt64();
      e.state = q.getColumn(1).getString();
      e.by = Blob(q.getColumn(2));
      e.at = q.getColumn(3).getInt64();
      e.note = q.getColumn(4).getString();
      e.message_id = q.getColumn(5).getString();
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<std::vector<RequestRow>> Store::DeadlinesPassed(int64_t now) {
  return Run("deadlines passed", [&]() -> Result<std::vector<RequestRow>> {
    auto& q = Prepare("SELECT " REQUEST_COLS " FROM requests WHERE deadline_warned=0 AND "
                      "deadline > 0 AND deadline < ?1 AND " REQUEST_OPEN);
    q.bind(1, static_cast<int64_t>(now));
    std::vector<RequestRow> out;
    while (q.executeStep()) out.push_back(ReadRequest(q));
    return out;
  });
}

Status Store::MarkDeadlineWarned(const std::string& requester, const std::string& request_id) {
  return Run("deadline warned", [&]() -> Status {
    auto& q = Prepare("UPDATE requests SET deadline_warned=1 WHERE requester=?1 AND request_id=?2");
    BindBlob(q, 1, requester);
    q.bind(2, request_id);
    q.exec();
    return {};
  });
}

Result<std::pair<int64_t, int64_t>> Store::CountOverdue(int64_t now) {
  return Run("count overdue", [&]() -> Result<std::pair<int64_t, int64_t>> {
    auto& q = Prepare(
        "SELECT COALESCE(SUM(outgoing=1),0), COALESCE(SUM(outgoing=0),0) FROM requests "
        "WHERE deadline > 0 AND deadline < ?1 AND " REQUEST_OPEN);
    q.bind(1, static_cast<int64_t>(now));
    q.executeStep();
    return std::make_pair(q.getColumn(0).getInt64(), q.getColumn(1).getInt64());
  });
}

Status Store::InsertAttachments(const std::string& sender, const std::string& message_id,
                                const std::vector<AttachmentRow>& rows) {
  return Run("insert attachments", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      for (size_t i = 0; i < rows.size(); ++i) {
        auto& q = Prepare(
            "INSERT INTO attachments(sender, message_id, idx, name, size, sha256, chunk_size) "
            "VALUES(?1,?2,?3,?4,?5,?6,?7)");
        BindBlob(q, 1, sender);
        q.bind(2, message_id);
        q.bind(3, static_cast<int64_t>(i));
        q.bind(4, rows[i].name);
        q.bind(5, static_cast<int64_t>(rows[i].size));
        BindBlob(q, 6, rows[i].sha256);
        q.bind(7, static_cast<int64_t>(rows[i].chunk_size));
        q.exec();
      }
      return {};
    });
  });
}

Result<std::vector<AttachmentRow>> Store::ListAttachments(const std::string& sender,
                                                          const std::string& message_id) {
  return Run("list attachments", [&]() -> Result<std::vector<AttachmentRow>> {
    auto& q = Prepare(
        "SELECT name, size, sha256, chunk_size FROM attachments WHERE sender=?1 AND "
        "message_id=?2 ORDER BY idx");
    BindBlob(q, 1, sender);
    q.bind(2, message_id);
    std::vector<AttachmentRow> out;
    while (q.executeStep()) {
      AttachmentRow a;
      a.name = q.getColumn(0).getString();
      a.size = static_cast<uint64_t>(q.getColumn(1).getInt64());
      a.sha256 = Blob(q.getColumn(2));
      a.chunk_size = static_cast<uint32_t>(q.getColumn(3).getInt64());
      out.push_back(std::move(a));
    }
    return out;
  });
}

Result<int64_t> Store::AuditSize() {
  return Run("audit size", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_log");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Status Store::AppendAudit(int64_t index, const std::string& entry, const std::string& leaf_hash,
                          const std::string& message_id,
                          const std::vector<std::tuple<uint32_t, uint64_t, std::string>>& nodes) {
  return Run("append audit", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      auto& q = Prepare(
          "INSERT INTO audit_log(idx, entry, leaf_hash, message_id) VALUES(?1,?2,?3,?4)");
      q.bind(1, static_cast<int64_t>(index));
      BindBlob(q, 2, entry);
      BindBlob(q, 3, leaf_hash);
      q.bind(4, message_id);
      q.exec();
      for (const auto& [level, idx, hash] : nodes) {
        auto& n = Prepare("INSERT INTO audit_nodes(level, idx, hash) VALUES(?1,?2,?3)");
        n.bind(1, static_cast<int64_t>(level));
        n.bind(2, static_cast<int64_t>(idx));
        BindBlob(n, 3, hash);
        n.exec();
      }
      return {};
    });
  });
}

Result<std::string> Store::AuditLeafHash(int64_t index) {
  return Run("audit leaf", [&]() -> Result<std::string> {
    auto& q = Prepare("SELECT leaf_hash FROM audit_log WHERE idx=?1");
    q.bind(1, static_cast<int64_t>(index));
    if (!q.executeStep()) {
      return MakeError(Code::kDataLoss, "audit log entry " + std::to_string(index) + " is missing");
    }
    return Blob(q.getColumn(0));
  });
}

Result<std::optional<std::string>> Store::AuditNode(uint32_t level, uint64_t index) {
  return Run("audit node", [&]() -> Result<std::optional<std::string>> {
    auto& q = Prepare("SELECT hash FROM audit_nodes WHERE level=?1 AND idx=?2");
    q.bind(1, static_cast<int64_t>(level));
    q.bind(2, static_cast<int64_t>(index));
    if (!q.executeStep()) return std::optional<std::string>();
    return std::optional<std::string>(Blob(q.getColumn(0)));
  });
}

Result<std::vector<std::tuple<int64_t, std::string, std::string>>> Store::AuditLeaves(
    int64_t from, int limit) {
  using Rows = std::vector<std::tuple<int64_t, std::string, std::string>>;
  return Run("audit leaves", [&]() -> Result<Rows> {
    auto& q = Prepare(
        "SELECT idx, entry, leaf_hash FROM audit_log WHERE idx >= ?1 ORDER BY idx LIMIT ?2");
    q.bind(1, static_cast<int64_t>(from));
    q.bind(2, limit);
    Rows out;
    while (q.executeStep()) {
      out.emplace_back(q.getColumn(0).getInt64(), Blob(q.getColumn(1)), Blob(q.getColumn(2)));
    }
    return out;
  });
}

Status Store::InsertTreeHead(const TreeHeadRow& h) {
  return Run("insert tree head", [&]() -> Status {
    auto& q = Prepare("INSERT OR IGNORE INTO tree_heads(size, root, at, signed) VALUES(?1,?2,?3,?4)");
    q.bind(1, static_cast<int64_t>(h.size));
    BindBlob(q, 2, h.root);
    q.bind(3, static_cast<int64_t>(h.at));
    BindBlob(q, 4, h.signed_head);
    q.exec();
    return {};
  });
}

Result<std::vector<TreeHeadRow>> Store::ListTreeHeads() {
  return Run("list tree heads", [&]() -> Result<std::vector<TreeHeadRow>> {
    auto& q = Prepare("SELECT size, root, at, signed FROM tree_heads ORDER BY size");
    std::vector<TreeHeadRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getInt64(), Blob(q.getColumn(1)), q.getColumn(2).getInt64(),
                     Blob(q.getColumn(3))});
    }
    return out;
  });
}

Result<std::optional<TreeHeadRow>> Store::LatestTreeHead() {
  return Run("latest tree head", [&]() -> Result<std::optional<TreeHeadRow>> {
    auto& q = Prepare("SELECT size, root, at, signed FROM tree_heads ORDER BY size DESC LIMIT 1");
    if (!q.executeStep()) return std::optional<TreeHeadRow>();
    return std::optional<TreeHeadRow>(TreeHeadRow{q.getColumn(0).getInt64(),
                                                  Blob(q.getColumn(1)), q.getColumn(2).getInt64(),
                                                  Blob(q.getColumn(3))});
  });
}

Result<std::vector<std::pair<int64_t, std::string>>> Store::AuditEntriesFor(
    const std::string& message_id) {
  using Rows = std::vector<std::pair<int64_t, std::string>>;
  return Run("audit entries for message", [&]() -> Result<Rows> {
    auto& q = Prepare("SELECT idx, entry FROM audit_log WHERE message_id=?1 ORDER BY idx");
    q.bind(1, message_id);
    Rows out;
    while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), Blob(q.getColumn(1)));
    return out;
  });
}

Result<std::vector<std::pair<int64_t, std::string>>> Store::AuditEntriesWithoutMessageId(
    int limit) {
  using Rows = std::vector<std::pair<int64_t, std::string>>;
  return Run("audit entries to index", [&]() -> Result<Rows> {
    auto& q = Prepare("SELECT idx, entry FROM audit_log WHERE message_id IS NULL LIMIT ?1");
    q.bind(1, limit);
    Rows out;
    while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), Blob(q.getColumn(1)));
    return out;
  });
}

Status Store::SetAuditMessageId(int64_t index, const std::string& message_id) {
  return Run("index audit entry", [&]() -> Status {
    auto& q = Prepare("UPDATE audit_log SET message_id=?2 WHERE idx=?1");
    q.bind(1, index);
    q.bind(2, message_id);
    q.exec();
    return {};
  });
}

namespace {
TreeHeadRow HeadFrom(SQLite::Statement& q) {
  return TreeHeadRow{q.getColumn(0).getInt64(), Blob(q.getColumn(1)), q.getColumn(2).getInt64(),
                     Blob(q.getColumn(3))};
}
}  // namespace

Result<std::optional<TreeHeadRow>> Store::TreeHeadAt(int64_t size) {
  return Run("tree head at size", [&]() -> Result<std::optional<TreeHeadRow>> {
    auto& q = Prepare("SELECT size, root, at, signed FROM tree_heads WHERE size=?1");
    q.bind(1, size);
    if (!q.executeStep()) return std::optional<TreeHeadRow>();
    return std::optional<TreeHeadRow>(HeadFrom(q));
  });
}

Result<std::optional<TreeHeadRow>> Store::LatestCosignedTreeHead(const std::string& log,
                                                                 int64_t min_size) {
  return Run("latest cosigned tree head", [&]() -> Result<std::optional<TreeHeadRow>> {
    auto& q = Prepare(
        "SELECT size, root, at, signed FROM tree_heads WHERE size >= ?2 AND size IN "
        "(SELECT size FROM cosignatures WHERE log=?1) ORDER BY size DESC LIMIT 1");
    BindBlob(q, 1, log);
    q.bind(2, min_size);
    if (!q.executeStep()) return std::optional<TreeHeadRow>();
    return std::optional<TreeHeadRow>(HeadFrom(q));
  });
}

Status Store::InsertCosignature(const CosignatureRow& c) {
  return Run("insert cosignature", [&]() -> Status {
    auto& q = Prepare(
        "INSERT OR IGNORE INTO cosignatures(log, size, witness, at, signed) VALUES(?1,?2,?3,?4,?5)");
    BindBlob(q, 1, c.log);
    q.bind(2, c.size);
    BindBlob(q, 3, c.witness);
    q.bind(4, c.at);
    BindBlob(q, 5, c.signed_cosignature);
    q.exec();
    return {};
  });
}

Result<std::vector<CosignatureRow>> Store::Cosignatures(const std::string& log, int64_t size) {
  return Run("cosignatures", [&]() -> Result<std::vector<CosignatureRow>> {
    auto& q = Prepare(
        "SELECT log, size, witness, at, signed FROM cosignatures WHERE log=?1 AND size=?2 "
        "ORDER BY at");
    BindBlob(q, 1, log);
    q.bind(2, size);
    std::vector<CosignatureRow> out;
    while (q.executeStep()) {
      out.push_back({Blob(q.getColumn(0)), q.getColumn(1).getInt64(), Blob(q.getColumn(2)),
                     q.getColumn(3).getInt64(), Blob(q.getColumn(4))});
    }
    return out;
  });
}

Result<int64_t> Store::LatestCosignedSize(const std::string& log, const std::string& witness) {
  return Run("latest cosigned size", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COALESCE(MAX(size), -1) FROM cosignatures WHERE log=?1 AND witness=?2");
    BindBlob(q, 1, log);
    BindBlob(q, 2, witness);
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Result<int64_t> Store::CountWitnesses(const std::string& log) {
  return Run("count witnesses", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COUNT(DISTINCT witness) FROM cosignatures WHERE log=?1");
    BindBlob(q, 1, log);
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

namespace {
PeerHeadRow PeerHeadFrom(SQLite::Statement& q) {
  return PeerHeadRow{Blob(q.getColumn(0)),         q.getColumn(1).getInt64(),
                     Blob(q.getColumn(2)),         q.getColumn(3).getInt64(),
                     Blob(q.getColumn(4)),         q.getColumn(5).getInt64() != 0,
                     Blob(q.getColumn(6))};
}
}  // namespace

Result<std::vector<PeerHeadRow>> Store::PeerHeads(const std::string& log) {
  return Run("peer heads", [&]() -> Result<std::vector<PeerHeadRow>> {
    auto& q = Prepare(
        "SELECT log, size, root, at, signed, checked, via FROM peer_heads WHERE log=?1 "
        "ORDER BY checked DESC, size");
    BindBlob(q, 1, log);
    std::vector<PeerHeadRow> out;
    while (q.executeStep()) out.push_back(PeerHeadFrom(q));
    return out;
  });
}

Result<std::vector<PeerHeadRow>> Store::LatestCheckedPeerHeads(int limit) {
  return Run("latest peer heads", [&]() -> Result<std::vector<PeerHeadRow>> {
    auto& q = Prepare(
        "SELECT log, size, root, at, signed, checked, via FROM peer_heads WHERE checked=1 "
        "ORDER BY at DESC LIMIT ?1");
    q.bind(1, limit);
    std::vector<PeerHeadRow> out;
    while (q.executeStep()) out.push_back(PeerHeadFrom(q));
    return out;
  });
}

void Store::InsertPeerHead(const PeerHeadRow& h, bool checked) {
  auto& q = Prepare(
      "INSERT OR IGNORE INTO peer_heads(log, size, root, at, signed, checked, via) "
      "VALUES(?1,?2,?3,?4,?5,?6,?7)");
  BindBlob(q, 1, h.log);
  q.bind(2, h.size);
  BindBlob(q, 3, h.root);
  q.bind(4, h.at);
  BindBlob(q, 5, h.signed_head);
  q.bind(6, checked ? 1 : 0);
  BindBlob(q, 7, h.via);
  q.exec();
}

Status Store::AddPendingPeerHead(const PeerHeadRow& h) {
  return Run("add pending peer head", [&]() -> Status {
    InsertPeerHead(h, false);
    return {};
  });
}

Status Store::SetCheckedPeerHead(const PeerHeadRow& h) {
  return Run("set checked peer head", [&]() -> Status {
    return Atomically(*db_, [&]() -> Status {
      auto& d = Prepare("DELETE FROM peer_heads WHERE log=?1");
      BindBlob(d, 1, h.log);
      d.exec();
      InsertPeerHead(h, true);
      return {};
    });
  });
}

Result<bool> Store::InsertEquivocation(const std::string& log, int64_t at,
                                       const std::string& reason, const std::string& evidence,
                                       const std::string& evidence_sha256) {
  return Run("insert equivocation", [&]() -> Result<bool> {
    auto& q = Prepare(
        "INSERT OR IGNORE INTO equivocations(log, detected_at, reason, evidence, evidence_sha256) "
        "VALUES(?1,?2,?3,?4,?5)");
    BindBlob(q, 1, log);
    q.bind(2, at);
    q.bind(3, reason);
    BindBlob(q, 4, evidence);
    BindBlob(q, 5, evidence_sha256);
    return q.exec() > 0;
  });
}

Result<std::vector<EquivocationRow>> Store::ListEquivocations() {
  return Run("list equivocations", [&]() -> Result<std::vector<EquivocationRow>> {
    auto& q = Prepare("SELECT log, detected_at, reason, evidence FROM equivocations ORDER BY id");
    std::vector<EquivocationRow> out;
    while (q.executeStep()) {
      out.push_back({Blob(q.getColumn(0)), q.getColumn(1).getInt64(), q.getColumn(2).getString(),
                     Blob(q.getColumn(3))});
    }
    return out;
  });
}

Result<bool> Store::InsertRestoreStatement(const std::string& log, int64_t at,
                                           const std::string& signed_statement) {
  return Run("insert restore statement", [&]() -> Result<bool> {
    auto& q = Prepare("INSERT OR IGNORE INTO restore_statements(log, at, signed) VALUES(?1,?2,?3)");
    BindBlob(q, 1, log);
    q.bind(2, at);
    BindBlob(q, 3, signed_statement);
    return q.exec() > 0;
  });
}

Result<std::vector<std::pair<int64_t, std::string>>> Store::DeliveredTo(const std::string& fp) {
  return Run("delivered to", [&]() -> Result<std::vector<std::pair<int64_t, std::string>>> {
    auto& q = Prepare(
        "SELECT seq, receipt FROM outbox_recipients WHERE recipient=?1 AND state='delivered' "
        "AND receipt IS NOT NULL ORDER BY seq");
    BindBlob(q, 1, fp);
    std::vector<std::pair<int64_t, std::string>> out;
    while (q.executeStep()) out.emplace_back(q.getColumn(0).getInt64(), Blob(q.getColumn(1)));
    return out;
  });
}

Result<bool> Store::Requeue(int64_t seq, const std::string& fp, int64_t now) {
  return Run("requeue", [&]() -> Result<bool> {
    auto& q = Prepare(
        "UPDATE outbox_recipients SET state='queued', attempts=0, next_attempt_at=?3, "
        "delivered_at=0, error='' WHERE seq=?1 AND recipient=?2 AND state='delivered' "
        "AND expires_at > ?3");
    q.bind(1, static_cast<int64_t>(seq));
    BindBlob(q, 2, fp);
    q.bind(3, static_cast<int64_t>(now));
    return q.exec() > 0;
  });
}

Status Store::Checkpoint() {
  return Run("checkpoint", [&]() -> Status {
    SQLite::Statement q(*db_, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (!q.executeStep() || q.getColumn(0).getInt() != 0) {
      return MakeError(Code::kUnavailable, "store: the checkpoint could not complete",
                       "make sure no other program has the store open");
    }
    return {};
  });
}

Status Store::BackupTo(const std::string& path) {
  return Run("backup", [&]() -> Status {
    {
      SQLite::Database copy(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
      SQLite::Backup backup(copy, *db_);
      // Every page in one step, under one read transaction; BUSY and
      // LOCKED are returned, not thrown: wait and try again.
      int rc = SQLITE_OK;
      for (int tries = 0; tries < 100; ++tries) {
        rc = backup.executeStep(-1);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      if (rc != SQLITE_DONE || backup.getRemainingPageCount() != 0) {
        return MakeError(Code::kUnavailable,
                         "store: backup did not complete (SQLite code " + std::to_string(rc) + ")",
                         "try again");
      }
    }
    ::chmod(path.c_str(), 0600);
    return {};
  });
}

Result<std::vector<Store::RestoreRow>> Store::AllRestoreStatements() {
  return Run("all restore statements", [&]() -> Result<std::vector<RestoreRow>> {
    auto& q = Prepare("SELECT log, at, signed FROM restore_statements ORDER BY log, at");
    std::vector<RestoreRow> out;
    while (q.executeStep()) {
      out.push_back({Blob(q.getColumn(0)), q.getColumn(1).getInt64(), Blob(q.getColumn(2))});
    }
    return out;
  });
}

Result<std::vector<std::string>> Store::RestoreStatements(const std::string& log) {
  return Run("restore statements", [&]() -> Result<std::vector<std::string>> {
    auto& q = Prepare("SELECT signed FROM restore_statements WHERE log=?1 ORDER BY at");
    BindBlob(q, 1, log);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(Blob(q.getColumn(0)));
    return out;
  });
}

namespace {
CaseEntryRow CaseEntryFrom(SQLite::Statement& q) {
  CaseEntryRow r;
  r.case_id = q.getColumn(0).getString();
  r.author = Blob(q.getColumn(1));
  r.seq = q.getColumn(2).getInt64();
  r.hash = Blob(q.getColumn(3));
  r.lamport = q.getColumn(4).getInt64();
  r.epoch = q.getColumn(5).getInt64();
  r.type = q.getColumn(6).getInt();
  r.created_at = q.getColumn(7).getInt64();
  r.received_at = q.getColumn(8).getInt64();
  r.entry = Blob(q.getColumn(9));
  return r;
}
#define CASE_ENTRY_COLUMNS \
  "case_id, author, seq, hash, lamport, epoch, type, created_at, received_at, entry"
}  // namespace

Status Store::InsertCaseEntry(const CaseEntryRow& r) {
  return Run("insert case entry", [&]() -> Status {
    auto& q = Prepare("INSERT INTO case_entries(" CASE_ENTRY_COLUMNS
                      ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)");
    q.bind(1, r.case_id);
    BindBlob(q, 2, r.author);
    q.bind(3, r.seq);
    BindBlob(q, 4, r.hash);
    q.bind(5, r.lamport);
    q.bind(6, r.epoch);
    q.bind(7, r.type);
    q.bind(8, r.created_at);
    q.bind(9, r.received_at);
    BindBlob(q, 10, r.entry);
    q.exec();
    return {};
  });
}

Result<std::optional<CaseEntryRow>> Store::FindCaseEntry(const std::string& case_id,
                                                         const std::string& author, int64_t seq) {
  return Run("find case entry", [&]() -> Result<std::optional<CaseEntryRow>> {
    auto& q = Prepare("SELECT " CASE_ENTRY_COLUMNS
                      " FROM case_entries WHERE case_id=?1 AND author=?2 AND seq=?3");
    q.bind(1, case_id);
    BindBlob(q, 2, author);
    q.bind(3, seq);
    if (!q.executeStep()) return std::optional<CaseEntryRow>();
    return std::optional<CaseEntryRow>(CaseEntryFrom(q));
  });
}

Result<std::vector<CaseEntryRow>> Store::CaseEntriesFrom(const std::string& case_id,
                                                         const std::string& author, int64_t from_seq,
                                                         int limit) {
  return Run("case entries from", [&]() -> Result<std::vector<CaseEntryRow>> {
    auto& q = Prepare("SELECT " CASE_ENTRY_COLUMNS
                      " FROM case_entries WHERE case_id=?1 AND author=?2 AND seq>=?3 "
                      "ORDER BY seq LIMIT ?4");
    q.bind(1, case_id);
    BindBlob(q, 2, author);
    q.bind(3, from_seq);
    q.bind(4, limit);
    std::vector<CaseEntryRow> out;
    while (q.executeStep()) out.push_back(CaseEntryFrom(q));
    return out;
  });
}

Result<std::vector<CaseEntryRow>> Store::CaseLog(const std::string& case_id) {
  return Run("case log", [&]() -> Result<std::vector<CaseEntryRow>> {
    auto& q = Prepare("SELECT " CASE_ENTRY_COLUMNS
                      " FROM case_entries WHERE case_id=?1 ORDER BY lamport, author, seq");
    q.bind(1, case_id);
    std::vector<CaseEntryRow> out;
    while (q.executeStep()) out.push_back(CaseEntryFrom(q));
    return out;
  });
}

Result<std::vector<CaseEntryRow>> Store::CaseMemberships() {
  return Run("case memberships", [&]() -> Result<std::vector<CaseEntryRow>> {
    auto& q = Prepare("SELECT " CASE_ENTRY_COLUMNS
                      " FROM case_entries WHERE type=1 ORDER BY case_id, epoch");
    std::vector<CaseEntryRow> out;
    while (q.executeStep()) out.push_back(CaseEntryFrom(q));
    return out;
  });
}

Result<std::vector<CaseHeadRow>> Store::CaseHeads() {
  return Run("case heads", [&]() -> Result<std::vector<CaseHeadRow>> {
    auto& q = Prepare(
        "SELECT e.case_id, e.author, e.seq, e.hash, m.lamport FROM case_entries e JOIN "
        "(SELECT case_id, author, MAX(seq) AS seq, MAX(lamport) AS lamport FROM case_entries "
        "GROUP BY case_id, author) m ON e.case_id=m.case_id AND e.author=m.author AND e.seq=m.seq");
    std::vector<CaseHeadRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), Blob(q.getColumn(1)), q.getColumn(2).getInt64(),
                     Blob(q.getColumn(3)), q.getColumn(4).getInt64()});
    }
    return out;
  });
}

Status Store::AddCasePending(const std::string& case_id, const std::string& hash,
                             const std::string& entry, int64_t at) {
  return Run("add pending case entry", [&]() -> Status {
    auto& q = Prepare(
        "INSERT OR IGNORE INTO case_pending(case_id, hash, received_at, entry) VALUES(?1,?2,?3,?4)");
    q.bind(1, case_id);
    BindBlob(q, 2, hash);
    q.bind(3, at);
    BindBlob(q, 4, entry);
    q.exec();
    return {};
  });
}

Result<std::vector<std::string>> Store::CasePending(const std::string& case_id) {
  return Run("pending case entries", [&]() -> Result<std::vector<std::string>> {
    auto& q = Prepare("SELECT entry FROM case_pending WHERE case_id=?1 ORDER BY received_at");
    q.bind(1, case_id);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(Blob(q.getColumn(0)));
    return out;
  });
}

Result<int64_t> Store::CountCasePending(const std::string& case_id) {
  return Run("count pending case entries", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COUNT(*) FROM case_pending WHERE case_id=?1");
    q.bind(1, case_id);
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Result<int64_t> Store::CountAllCasePending() {
  return Run("count all pending case entries", [&]() -> Result<int64_t> {
    auto& q = Prepare("SELECT COUNT(*) FROM case_pending");
    q.executeStep();
    return q.getColumn(0).getInt64();
  });
}

Result<std::vector<CaseEntryRow>> Store::DropCaseEntriesAfter(const std::string& case_id,
                                                             const std::string& author,
                                                             int64_t seq) {
  return Run("drop case entries", [&]() -> Result<std::vector<CaseEntryRow>> {
    auto& q = Prepare("SELECT " CASE_ENTRY_COLUMNS
                      " FROM case_entries WHERE case_id=?1 AND author=?2 AND seq>?3 ORDER BY seq");
    q.bind(1, case_id);
    BindBlob(q, 2, author);
    q.bind(3, seq);
    std::vector<CaseEntryRow> out;
    while (q.executeStep()) out.push_back(CaseEntryFrom(q));
    auto& d = Prepare("DELETE FROM case_entries WHERE case_id=?1 AND author=?2 AND seq>?3");
    d.bind(1, case_id);
    BindBlob(d, 2, author);
    d.bind(3, seq);
    d.exec();
    return out;
  });
}

Status Store::RemoveCasePending(const std::string& case_id, const std::string& hash) {
  return Run("remove pending case entry", [&]() -> Status {
    auto& q = Prepare("DELETE FROM case_pending WHERE case_id=?1 AND hash=?2");
    q.bind(1, case_id);
    BindBlob(q, 2, hash);
    q.exec();
    return {};
  });
}

Result<bool> Store::InsertCaseReport(const CaseReportRow& r, const std::string& evidence_sha256) {
  return Run("insert case report", [&]() -> Result<bool> {
    auto& q = Prepare(
        "INSERT OR IGNORE INTO case_reports(case_id, at, kind, detail, evidence, evidence_sha256) "
        "VALUES(?1,?2,?3,?4,?5,?6)");
    q.bind(1, r.case_id);
    q.bind(2, r.at);
    q.bind(3, r.kind);
    q.bind(4, r.detail);
    BindBlob(q, 5, r.evidence);
    BindBlob(q, 6, evidence_sha256);
    return q.exec() > 0;
  });
}

Result<std::vector<CaseReportRow>> Store::CaseReports(const std::string& case_id) {
  return Run("case reports", [&]() -> Result<std::vector<CaseReportRow>> {
    auto& q = Prepare(
        "SELECT case_id, at, kind, detail, evidence FROM case_reports WHERE case_id=?1 ORDER BY id");
    q.bind(1, case_id);
    std::vector<CaseReportRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     Blob(q.getColumn(4))});
    }
    return out;
  });
}

Result<std::string> Store::IntegrityCheck() {
  return Run("integrity check", [&]() -> Result<std::string> {
    SQLite::Statement q(*db_, "PRAGMA integrity_check");
    std::string out;
    while (q.executeStep()) out += q.getColumn(0).getString();
    return out;
  });
}

}  // namespace rogatory
