// The node's SQLite store (WAL, synchronous=FULL): roster, inbox, outbox with
// per-recipient delivery state, receipts. One Store object per connection;
// not thread-safe (the daemon's loop thread owns its Store; the CLI opens its
// own). Schema migrations are versioned in the `meta` table; a store written
// by a newer schema is refused and left untouched.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include "keys/result.h"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace rogatory {

inline constexpr int kSchemaVersion = 9;

struct PeerRow;
struct VerifiedCard;
PeerRow PeerRowFromCard(const VerifiedCard& card, std::string source, int64_t added_at);

struct PeerRow {
  std::string node_id;
  std::string fingerprint;  // raw 20 bytes
  std::string card;         // serialized SignedCard
  uint64_t card_sequence = 0;
  std::string authority;
  std::string country;
  std::string signing_key;
  std::string encryption_key;
  std::string transport_key;
  std::string endpoint;
  // "manual" (pinned by hand with `peer add`), or "directory:" and the
  // directory authority's fingerprint text (node/directory.h).
  std::string source;
  int64_t added_at = 0;
  std::optional<int64_t> revoked_at;
};

// A directory authority pinned with `directory trust`, and the last
// directory imported from it.
struct DirectoryAuthorityRow {
  std::string fingerprint;  // raw 20 bytes
  std::string node_id;
  std::string card;         // serialized SignedCard
  int64_t trusted_at = 0;
  uint64_t sequence = 0;             // 0: no directory imported yet
  std::string directory_sha256;      // of the last imported SignedDirectory
  std::optional<int64_t> imported_at;
};

// Header fields kept in clear columns for listing (the envelope stays sealed).
struct MessageMeta {
  std::string message_id;
  std::string sender;      // raw fingerprint
  std::string recipients;  // concatenated raw fingerprints (20 bytes each)
  std::string subject;
  int kind = 0;
  int priority = 0;
  int handling = 0;
  std::string handling_note;
  std::string case_id;
  std::string in_reply_to;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct InboxRow {
  int64_t received_seq = 0;
  MessageMeta meta;
  std::string envelope;
  std::string envelope_sha256;
  std::string inner_sha256;
  int64_t received_at = 0;
  std::string receipt;  // the SignedReceipt we issued
};

struct RecipientRow {
  std::string fingerprint;
  std::string node_id;
  std::string state = "queued";  // queued | delivered | expired | failed
  int attempts = 0;
  int64_t next_attempt_at = 0;
  int64_t delivered_at = 0;
  std::string error;
  std::string receipt;  // SignedReceipt from the recipient
};

struct OutboxRow {
  int64_t seq = 0;
  MessageMeta meta;
  std::string envelope;
  std::string envelope_sha256;
  std::string inner_sha256;
  std::vector<RecipientRow> recipients;
};

// One (message, recipient) pair that is due for a delivery attempt.
struct DueDelivery {
  int64_t seq = 0;
  std::string message_id;
  std::string recipient;  // raw fingerprint
  int priority = 0;
  int attempts = 0;
  std::string envelope;
};

// What an incoming ack or refusal is checked against.
struct PendingDelivery {
  int64_t seq = 0;
  int64_t expires_at = 0;
  std::string state;
  std::string envelope_sha256;
  std::string inner_sha256;
};

struct QueueCount {
  std::string recipient;  // raw fingerprint
  int priority = 0;
  int64_t count = 0;
  int64_t oldest_created_at = 0;
};

// A structured MLA request, on either side (SPEC 7). Keyed by (requester,
// request id): ids are unique per sender only.
struct RequestRow {
  std::string requester;        // raw fingerprint
  std::string request_id;       // message id of the request
  std::string requested;        // raw fingerprint
  bool outgoing = false;        // this node is the requester
  std::string envelope_sha256;  // of the request's envelope
  int64_t created_at = 0;
  int64_t deadline = 0;         // microseconds, 0: none
  int priority = 0;
  std::string state;            // sent | delivered | acknowledged | ... (request.h)
  int64_t seq = 0;              // sequence of the last status update, 0: none
  std::string head;             // chain hash of the last status update
  std::string subject;
  std::string case_reference;
  int64_t updated_at = 0;
};

// One step of a request's history: `sent` and `delivered` (seq 0, from the
// envelope and its receipt) and every signed status update (seq >= 1).
struct RequestEvent {
  int64_t seq = 0;
  std::string state;
  std::string by;          // raw fingerprint of the node that made it
  int64_t at = 0;
  std::string note;
  std::string message_id;  // the status message ("" for sent/delivered)
};

// One attachment of a stored message (its file is under the home's
// attachments/ directory, node/transfer.h).
struct AttachmentRow {
  std::string name;
  uint64_t size = 0;
  std::string sha256;
  uint32_t chunk_size = 0;
};

// A signed tree head of this node's audit log.
struct TreeHeadRow {
  int64_t size = 0;
  std::string root;
  int64_t at = 0;
  std::string signed_head;  // serialized SignedTreeHead
};

// A cosignature of a tree head of `log` at `size` by `witness`.
struct CosignatureRow {
  std::string log;
  int64_t size = 0;
  std::string witness;
  int64_t at = 0;                    // witnessed_at
  std::string signed_cosignature;    // serialized SignedCosignature
};

// A tree head of another node's log: the latest one checked consistent
// (directly from its owner), or one learnt by gossip awaiting that check.
struct PeerHeadRow {
  std::string log;
  int64_t size = 0;
  std::string root;
  int64_t at = 0;                 // the head's timestamp
  std::string signed_head;        // serialized SignedTreeHead
  bool checked = false;
  std::string via;                // fingerprint of the node that showed it
};

struct EquivocationRow {
  std::string log;
  int64_t detected_at = 0;
  std::string reason;
  std::string evidence;  // serialized wire::Equivocation
};

// One accepted entry of a case (SPEC 8).
struct CaseEntryRow {
  std::string case_id;
  std::string author;
  int64_t seq = 0;
  std::string hash;
  int64_t lamport = 0;
  int64_t epoch = 0;
  int type = 0;            // wire::CaseEntryType
  int64_t created_at = 0;
  int64_t received_at = 0;
  std::string entry;       // serialized CaseEntry
};

// The latest entry of one author in one case, and the highest Lamport
// counter of that author's entries.
struct CaseHeadRow {
  std::string case_id;
  std::string author;
  int64_t seq = 0;
  std::string hash;
  int64_t lamport = 0;
};

// A refused or forked entry, kept as evidence.
struct CaseReportRow {
  std::string case_id;
  int64_t at = 0;
  std::string kind;     // fork | not_member | not_lead | removed | invalid
  std::string detail;   // one line
  std::string evidence; // the offending entry (and, for a fork, the other one)
};

class Store {
 public:
  // Opens (creating if needed) the store at `path` and migrates it.
  // `vfs`: an SQLite VFS registered by name (tests inject faults with one);
  // "" is SQLite's default.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const std::string& vfs = "");
  ~Store();

  // Transactions. Begin() starts BEGIN IMMEDIATE; Commit() is durable
  // (synchronous=FULL) when it returns ok. Begin(false) starts a transaction
  // whose commit is not synced (synchronous=NORMAL): only for bookkeeping
  // whose loss on power failure is harmless (retry times, expiry marks); the
  // next durable commit syncs it with everything before it.
  Status Begin(bool durable = true);
  Status Commit();
  void Rollback();
  bool in_transaction() const { return in_tx_; }
  // A savepoint inside the current transaction: the writes between
  // Savepoint() and Release() are kept or undone together.
  Status Savepoint();
  Status Release();
  void RollbackToSavepoint();
  // False when SQLite itself ended the transaction (it rolls back the whole
  // transaction on some errors, e.g. some disk-full cases).
  bool InTransaction() const;

  // A counter that changes whenever another connection committed (roster
  // edits by the CLI while the daemon runs).
  Result<int64_t> DataVersion();

  // ---- roster
  // Adds a peer, or updates it to a card with a higher sequence number and
  // the same fingerprint. kAlreadyExists if the id or a key belongs to a
  // different peer.
  // `replace_branch`: the card replaces the stored one whatever its
  // sequence (a recovery the caller checked with CheckCardUpdate).
  Status AddPeer(const PeerRow& peer, bool replace_branch = false);
  // Marks the peer revoked at `at_us`; kNotFound for an unknown node id,
  // kAlreadyExists if it was revoked already.
  Status RevokePeer(const std::string& node_id, int64_t at_us);
  Result<std::vector<PeerRow>> ListPeers();
  // Sets where a peer's trust comes from (`peer add` of a card a directory
  // brought pins it by hand).
  Status SetPeerSource(const std::string& node_id, const std::string& source);

  // ---- directory authorities (node/directory.h)
  // Pins an authority, or replaces its card (a rotation), keeping what was
  // imported from it.
  Status PutDirectoryAuthority(const DirectoryAuthorityRow& row);
  Result<std::vector<DirectoryAuthorityRow>> DirectoryAuthorities();
  Status RecordDirectoryImport(const std::string& fingerprint, uint64_t sequence,
                               const std::string& sha256, int64_t at);

  // ---- this node's card at its peers (key rotation)
  // Records this node's current card sequence. When it is higher than the
  // one recorded before (the keys were rotated since), every peer without a
  // card_acks row is recorded as holding the card recorded before; true then.
  // With none recorded (a store of an earlier build, or a node rotated
  // before its first start), the one before is `first_sequence`, the
  // node's first card.
  Result<bool> NoteOwnCard(uint64_t sequence, uint64_t first_sequence);
  // Records that `peer` holds this node's card `sequence`; true if that is
  // newer than what was recorded (or, with `may_lower`, different).
  Result<bool> SetCardAck(const std::string& peer, uint64_t sequence, bool may_lower = false);
  // Signed revocations of a node's own identity key (ours, or a peer's);
  // true if new.
  Result<bool> InsertRevocation(const std::string& node, int64_t revoked_at,
                                const std::string& signed_revocation);
  Result<std::vector<std::string>> Revocations(const std::string& node);
  // Peer fingerprint -> sequence of this node's card it holds (rows only).
  Result<std::map<std::string, uint64_t>> CardAcks();

  // ---- inbox
  // Any stored message from `sender` with this id (kept as long as the
  // message: it catches a reused id even after the dedup record is gone).
  Result<std::optional<InboxRow>> FindInbox(const std::string& sender,
                                            const std::string& message_id);
  // The dedup record (sender, id) with the stored message, while it lives
  // (until the message's expiry plus the clock allowance).
  Result<std::optional<InboxRow>> FindSeen(const std::string& sender,
                                           const std::string& message_id);
  // Deletes dedup records of messages that expired before `cutoff`.
  Result<int64_t> PruneSeen(int64_t cutoff);
  Result<int64_t> InsertInbox(const InboxRow& row);
  // Newest first. Without `with_content` the envelope and receipt columns
  // are left empty: a listing never loads message bodies into memory.
  Result<std::vector<InboxRow>> ListInbox(int limit, bool with_content = false);
  // Every stored message with this id (ids are unique per sender only).
  Result<std::vector<InboxRow>> ListInboxById(const std::string& message_id);
  Result<int64_t> CountInbox();

  // ---- outbox
  Result<int64_t> InsertOutbox(const OutboxRow& row);
  // True when `recipient` has a queued delivery due at `now` (one index seek).
  Result<bool> HasDue(const std::string& recipient, int64_t now);
  // Due deliveries to one recipient: priority first, then queue order.
  Result<std::vector<DueDelivery>> DueDeliveriesFor(const std::string& recipient, int64_t now,
                                                    int limit);
  // Id of the last message queued before `seq` to `recipient` with the same
  // priority and still queued; "" if none.
  Result<std::string> PreviousQueued(const std::string& recipient, int priority, int64_t seq);
  Status RecordAttempt(int64_t seq, const std::string& recipient, int attempts,
                       int64_t next_attempt_at);
  Result<std::optional<PendingDelivery>> FindPending(const std::string& message_id,
                                                     const std::string& recipient);
  Status MarkDelivered(int64_t seq, const std::string& recipient, const std::string& receipt,
                       int64_t at);
  // Makes every queued delivery to `recipient` due at `now` (its connection
  // came back: retry at once instead of waiting out the backoff).
  Status ResetBackoff(const std::string& recipient, int64_t now);
  Status MarkExpired(int64_t seq, const std::string& recipient, const std::string& error);
  Status MarkFailed(int64_t seq, const std::string& recipient, const std::string& error);
  // Marks `queued` recipients of messages with expires_at < cutoff expired.
  Result<int64_t> ExpireQueued(int64_t cutoff);
  // Earliest next_attempt_at among queued recipients.
  Result<std::optional<int64_t>> NextAttemptAt();
  Result<std::vector<OutboxRow>> ListOutbox(int limit, bool with_content = false);
  Result<std::optional<OutboxRow>> GetOutboxById(const std::string& message_id);
  Result<std::vector<QueueCount>> QueueCounts();

  // ---- attachments
  Status InsertAttachments(const std::string& sender, const std::string& message_id,
                           const std::vector<AttachmentRow>& rows);
  Result<std::vector<AttachmentRow>> ListAttachments(const std::string& sender,
                                                     const std::string& message_id);

  // ---- requests (SPEC 7)
  // Inserts the request with its first event(s).
  Status InsertRequest(const RequestRow& row, const std::vector<RequestEvent>& events);
  Result<std::optional<RequestRow>> FindRequest(const std::string& requester,
                                                const std::string& request_id);
  Result<std::vector<RequestRow>> FindRequestsById(const std::string& request_id);
  // Records a signed status update: the new state, sequence and chain head.
  Status ApplyRequestStatus(const RequestRow& updated, const RequestEvent& event);
  // `sent` -> `delivered` on the requester's side, when the receipt arrives
  // (also from `expired`: a receipt that arrives late still counts, SPEC 5).
  Status MarkRequestDelivered(const std::string& requester, const std::string& request_id,
                              const std::string& requested, int64_t at);
  // `sent` -> `expired` for requests whose delivery expired.
  Result<int64_t> ExpireRequests();
  // Open requests first, nearest deadline first; then closed ones, newest first.
  Result<std::vector<RequestRow>> ListRequests();
  Result<std::vector<RequestEvent>> RequestHistory(const std::string& requester,
                                                   const std::string& request_id);
  // Open requests whose deadline passed before `now` and that were not yet
  // warned about; MarkDeadlineWarned records the warning.
  Result<std::vector<RequestRow>> DeadlinesPassed(int64_t now);
  Status MarkDeadlineWarned(const std::string& requester, const std::string& request_id);
  // Open requests past their deadline: {as requester, as requested}.
  Result<std::pair<int64_t, int64_t>> CountOverdue(int64_t now);

  // ---- audit log (append-only Merkle log, node/audit.h)
  Result<int64_t> AuditSize();
  // Appends leaf `index` (== AuditSize()) with the perfect subtree roots it
  // completed, as one unit.
  Status AppendAudit(int64_t index, const std::string& entry, const std::string& leaf_hash,
                     const std::string& message_id,
                     const std::vector<std::tuple<uint32_t, uint64_t, std::string>>& nodes);
  Result<std::string> AuditLeafHash(int64_t index);
  Result<std::optional<std::string>> AuditNode(uint32_t level, uint64_t index);
  // Leaves in index order from `from`: (index, entry, leaf_hash).
  Result<std::vector<std::tuple<int64_t, std::string, std::string>>> AuditLeaves(int64_t from,
                                                                                 int limit);

  // Signed tree heads, one per log size (the first signed at that size).
  Status InsertTreeHead(const TreeHeadRow& head);
  Result<std::vector<TreeHeadRow>> ListTreeHeads();
  Result<std::optional<TreeHeadRow>> LatestTreeHead();
  Result<std::optional<TreeHeadRow>> TreeHeadAt(int64_t size);
  // The largest head of at least `min_size` that some witness cosigned.
  Result<std::optional<TreeHeadRow>> LatestCosignedTreeHead(const std::string& log,
                                                            int64_t min_size);
  // (index, entry) of the log entries about `message_id`.
  Result<std::vector<std::pair<int64_t, std::string>>> AuditEntriesFor(
      const std::string& message_id);
  Result<std::vector<std::pair<int64_t, std::string>>> AuditEntriesWithoutMessageId(int limit);
  Status SetAuditMessageId(int64_t index, const std::string& message_id);

  // ---- witnessing (node/witness.h)
  Status InsertCosignature(const CosignatureRow& c);
  Result<std::vector<CosignatureRow>> Cosignatures(const std::string& log, int64_t size);
  // The largest size of `log` that `witness` cosigned, -1 if none.
  Result<int64_t> LatestCosignedSize(const std::string& log, const std::string& witness);
  Result<int64_t> CountWitnesses(const std::string& log);
  // The checked head first, then pending ones by size.
  Result<std::vector<PeerHeadRow>> PeerHeads(const std::string& log);
  // The checked heads most recently signed, one per log: what gossip carries.
  Result<std::vector<PeerHeadRow>> LatestCheckedPeerHeads(int limit);
  Status AddPendingPeerHead(const PeerHeadRow& h);
  // Makes `h` the log's checked head; its pending heads are dropped (the
  // caller checked them all).
  Status SetCheckedPeerHead(const PeerHeadRow& h);
  // False when the same evidence was already stored.
  Result<bool> InsertEquivocation(const std::string& log, int64_t at, const std::string& reason,
                                  const std::string& evidence, const std::string& evidence_sha256);
  Result<std::vector<EquivocationRow>> ListEquivocations();
  // Whether recipient `fp` acknowledged: (outbox seq, SignedReceipt) of every
  // delivery it holds a receipt for.
  Result<std::vector<std::pair<int64_t, std::string>>> DeliveredTo(const std::string& fp);
  // Puts a delivered recipient back in the queue, due at `now` (a peer that
  // restored its store lost what it acknowledged after the restored point).
  // True if it was put back (not if it had expired meanwhile).
  Result<bool> Requeue(int64_t seq, const std::string& fp, int64_t now);
  // Copies the whole store to a new file at `path` with SQLite's online
  // backup API: a consistent snapshot even while the daemon writes.
  Status BackupTo(const std::string& path);
  // Folds the write-ahead log into the database file and truncates it.
  Status Checkpoint();
  // Every stored restore statement, this node's and its peers'.
  struct RestoreRow {
    std::string log;
    int64_t at = 0;
    std::string signed_statement;
  };
  Result<std::vector<RestoreRow>> AllRestoreStatements();
  // Returns true if the statement was new.
  Result<bool> InsertRestoreStatement(const std::string& log, int64_t at,
                                const std::string& signed_statement);
  Result<std::vector<std::string>> RestoreStatements(const std::string& log);

  // ---- cases (node/cases.h)
  Status InsertCaseEntry(const CaseEntryRow& r);
  Result<std::optional<CaseEntryRow>> FindCaseEntry(const std::string& case_id,
                                                    const std::string& author, int64_t seq);
  Result<std::vector<CaseEntryRow>> CaseEntriesFrom(const std::string& case_id,
                                                    const std::string& author, int64_t from_seq,
                                                    int limit);
  // In the order every member shows: Lamport counter, author, sequence.
  Result<std::vector<CaseEntryRow>> CaseLog(const std::string& case_id);
  // Every membership entry of every case, by case and epoch.
  Result<std::vector<CaseEntryRow>> CaseMemberships();
  Result<std::vector<CaseHeadRow>> CaseHeads();
  Status AddCasePending(const std::string& case_id, const std::string& hash,
                        const std::string& entry, int64_t at);
  Result<std::vector<std::string>> CasePending(const std::string& case_id);
  Result<int64_t> CountCasePending(const std::string& case_id);
  Result<int64_t> CountAllCasePending();
  // Removes the author's entries after `seq` (a removal's cut-off) and
  // returns them.
  Result<std::vector<CaseEntryRow>> DropCaseEntriesAfter(const std::string& case_id,
                                                        const std::string& author, int64_t seq);
  Status RemoveCasePending(const std::string& case_id, const std::string& hash);
  // False when the same evidence was already reported.
  Result<bool> InsertCaseReport(const CaseReportRow& r, const std::string& evidence_sha256);
  Result<std::vector<CaseReportRow>> CaseReports(const std::string& case_id);

  Result<std::string> IntegrityCheck();

 private:
  explicit Store(std::unique_ptr<SQLite::Database> db);
  Status Migrate();
  template <typename F>
  auto Run(const char* what, F&& fn) -> decltype(fn());
  SQLite::Statement& Prepare(const char* sql);
  Status LoadRecipients(OutboxRow* row);
  void InsertPeerHead(const PeerHeadRow& h, bool checked);
  void RestoreDurability();
  void InsertEvent(const std::string& requester, const std::string& request_id,
                   const RequestEvent& e);
  Status EndQueued(int64_t seq, const std::string& recipient, const char* state,
                   const std::string& error);

  std::unique_ptr<SQLite::Database> db_;
  std::vector<std::pair<const char*, std::unique_ptr<SQLite::Statement>>> cache_;
  bool in_tx_ = false;
  bool synchronous_full_ = true;
};

}  // namespace rogatory
