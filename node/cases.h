// Joint investigations (SPEC 8): the cases this node takes part in. Every
// entry, written here or received from any member, goes through Accept,
// which checks it exactly the same way: author signature, membership of the
// epoch it names, the author's hash chain, removal, forks. Entries whose
// dependencies (the author's previous entry, the membership entry they
// name, the case's first entry) have not arrived wait in case_pending and
// are retried when something is accepted, so validity never depends on
// arrival order. The in-memory model (epochs, members, heads, keys) is
// rebuilt from the store by Load.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keys/case_entry.h"
#include "keys/identity.h"
#include "keys/result.h"
#include "node/store.h"
#include "proto/wire.pb.h"

namespace rogatory {

struct CaseEpoch {
  uint64_t epoch = 0;
  std::string hash;                           // its membership entry
  std::map<std::string, wire::Card> members;  // by fingerprint
  std::map<std::string, std::string> cards;   // serialized SignedCard, by fingerprint
  std::vector<std::string> removed;           // removed by this entry
};

struct CaseState {
  std::string id;
  std::string lead;
  std::string title;
  int64_t created_at = 0;
  std::map<uint64_t, CaseEpoch> epochs;
  std::map<std::string, std::pair<int64_t, std::string>> heads;  // author -> (seq, hash)
  std::map<std::string, int64_t> last_seq;  // removed author -> last accepted seq
  int64_t max_lamport = 0;
  std::map<uint64_t, std::shared_ptr<SecretBytes>> keys;  // epoch keys this node holds

  const CaseEpoch& latest() const { return epochs.rbegin()->second; }
  bool IsMember(const std::string& fp) const { return latest().members.count(fp) > 0; }
  // Members of the latest epoch, and those its entry removed (they must
  // learn of their removal).
  std::vector<std::string> SyncTargets() const;
};

class CaseBook {
 public:
  // `log` appends an accepted entry to the audit log (case id, author, hash).
  using AuditHook = std::function<Status(const std::string& case_id, const std::string& author,
                                         const std::string& hash)>;
  // Keys a node has had by the card chain this node holds for it (the
  // roster's, or its own), current first; empty if unknown. A member's
  // card in a case is the one it had when invited: after a key rotation,
  // its entries verify and its wrapped keys open with these (SPEC 9).
  struct KnownKeys {
    std::vector<std::string> signing;
    std::vector<std::string> encryption;
    // An identity key replaced by a later card -> that card's valid_from:
    // entries it signs must be dated before (a thief of a retired key
    // cannot write new entries that members relay).
    std::map<std::string, int64_t> retired_since;
  };
  using KeyLookup = std::function<KnownKeys(const std::string& fingerprint)>;
  CaseBook(Store* store, const Identity* me, AuditHook log, KeyLookup keys = nullptr)
      : store_(store), me_(me), log_(std::move(log)), keys_(std::move(keys)) {}

  Status Load();

  enum class Outcome { kAccepted, kDuplicate, kPending, kRefused };
  struct Result1 {
    Outcome outcome = Outcome::kRefused;
    std::string case_id;
    std::string reason;  // one line, for a refusal
  };
  // Checks and stores one entry (inside the caller's transaction), then
  // retries the case's waiting entries. Refusals worth evidence are stored
  // in case_reports and logged.
  // `via`: the node id it came from, named in reports.
  Result<Result1> Accept(const std::string& entry_bytes, int64_t now, const std::string& via = "");
  // Why this node cannot post to the case now, if it cannot.
  Status CanPost(const std::string& case_id) const;

  // The lead's commands, and posting. Each builds a signed entry and
  // accepts it; returns the case id (Create) or the entry's hash.
  Result<std::string> Create(const std::string& title, const std::vector<std::string>& member_cards,
                             int64_t now);
  Result<std::string> Invite(const std::string& case_id, const std::string& card, int64_t now);
  Result<std::string> Remove(const std::string& case_id, const std::string& fp, int64_t now);
  Result<std::string> Post(const std::string& case_id, wire::CaseEntryType type,
                           const wire::CaseBody& body, int64_t now);

  const CaseState* Find(const std::string& case_id) const;
  const std::map<std::string, CaseState>& cases() const { return cases_; }
  // The body of a stored entry this node can read (membership: nullopt).
  std::optional<wire::CaseBody> Open(const CaseEntryRow& row) const;

 private:
  Result<Result1> AcceptOne(const std::string& entry_bytes, int64_t now);
  Result1 Refuse(const std::string& case_id, const std::string& kind, const std::string& why,
                 const std::string& evidence, int64_t now);
  Status Apply(CaseState* c, const VerifiedCaseEntry& v, const wire::CaseMembership* m);
  Result<std::string> NewMembership(CaseState* c, std::vector<std::string> cards,
                                    std::vector<std::pair<std::string, uint64_t>> removed,
                                    std::vector<std::string> added, int64_t now);

  std::string MembershipEntryBytes(const CaseState& c, uint64_t epoch);
  // Verifies an entry by `author` with the key its case card names, then
  // with every key of the author's card chain (keys_).
  Result<VerifiedCaseEntry> VerifyBy(const std::string& bytes, const std::string& author,
                                     const std::string& case_key) const;

  Store* store_;
  const Identity* me_;
  std::string via_;
  AuditHook log_;
  KeyLookup keys_;
  std::map<std::string, CaseState> cases_;
  bool draining_ = false;
};

}  // namespace rogatory
