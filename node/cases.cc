#include "node/cases.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/fingerprint.h"
#include "keys/limits.h"
#include "keys/strict_parse.h"

namespace rogatory {

namespace {


std::string Who(const CaseState* c, const std::string& fp) {
  if (c != nullptr) {
    for (auto it = c->epochs.rbegin(); it != c->epochs.rend(); ++it) {
      auto m = it->second.members.find(fp);
      if (m != it->second.members.end()) return m->second.node_id();
    }
  }
  return FingerprintText(fp);
}

// The signing key `fp` had in any epoch of the case ("" if never a member).
std::string AnyKeyOf(const CaseState& c, const std::string& fp) {
  for (auto it = c.epochs.rbegin(); it != c.epochs.rend(); ++it) {
    auto m = it->second.members.find(fp);
    if (m != it->second.members.end()) return m->second.signing_key();
  }
  return "";
}

}  // namespace

std::vector<std::string> CaseState::SyncTargets() const {
  std::vector<std::string> out;
  for (const auto& [fp, card] : latest().members) out.push_back(fp);
  for (const auto& fp : latest().removed) out.push_back(fp);
  return out;
}

Status CaseBook::Load() {
  cases_.clear();
  ROG_ASSIGN_OR_RETURN(auto memberships, store_->CaseMemberships());
  for (const auto& row : memberships) {
    wire::CaseEntry raw;
    wire::CaseEntryHeader h;
    ROG_RETURN_IF_ERROR(ParseStrict(row.entry, &raw, "case entry"));
    ROG_RETURN_IF_ERROR(ParseStrict(raw.header(), &h, "case entry header"));
    ROG_ASSIGN_OR_RETURN(auto m, ParseMembership(raw.body()));
    VerifiedCaseEntry v{h, raw.body(), row.hash, row.entry};
    CaseState& c = cases_[row.case_id];
    c.id = row.case_id;
    ROG_RETURN_IF_ERROR(Apply(&c, v, &m));
  }
  ROG_ASSIGN_OR_RETURN(auto heads, store_->CaseHeads());
  for (const auto& h : heads) {
    auto it = cases_.find(h.case_id);
    if (it == cases_.end()) continue;
    it->second.heads[h.author] = {h.seq, h.hash};
    it->second.max_lamport = std::max(it->second.max_lamport, h.lamport);
  }
  return {};
}

const CaseState* CaseBook::Find(const std::string& case_id) const {
  auto it = cases_.find(case_id);
  return it == cases_.end() ? nullptr : &it->second;
}

CaseBook::Result1 CaseBook::Refuse(const std::string& case_id, const std::string& kind,
                                   const std::string& why, const std::string& evidence,
                                   int64_t now) {
  const std::string detail = via_.empty() ? why : why + " (relayed by " + via_ + ")";
  auto fresh = store_->InsertCaseReport({case_id, now, kind, detail, evidence},
                                        Sha256(kind + '\0' + evidence));
  if (fresh.ok() && *fresh) spdlog::warn("case {}: refused entry ({}): {}", case_id, kind, detail);
  return {Outcome::kRefused, case_id, why};
}

std::string CaseBook::MembershipEntryBytes(const CaseState& c, uint64_t epoch) {
  auto ep = c.epochs.find(epoch);
  if (ep == c.epochs.end()) return "";
  auto rows = store_->CaseMemberships();
  if (!rows.ok()) return "";
  for (const auto& r : *rows) {
    if (r.case_id == c.id && r.hash == ep->second.hash) return r.entry;
  }
  return "";
}

Status CaseBook::CanPost(const std::string& case_id) const {
  auto it = cases_.find(case_id);
  if (it == cases_.end() || it->second.epochs.empty()) {
    return MakeError(Code::kNotFound, "no case " + case_id + " on this node",
                     "see `rogatory case list`");
  }
  const CaseState& c = it->second;
  if (!c.IsMember(me_->fingerprint())) {
    return MakeError(Code::kPermissionDenied, "this node was removed from case " + case_id);
  }
  if (c.keys.count(c.latest().epoch) == 0) {
    return MakeError(Code::kInternal, "no key for epoch " + std::to_string(c.latest().epoch) +
                                          " of case " + case_id);
  }
  return {};
}

Status CaseBook::Apply(CaseState* c, const VerifiedCaseEntry& v, const wire::CaseMembership* m) {
  const auto& h = v.header;
  auto& head = c->heads[h.author()];
  if (static_cast<int64_t>(h.seq()) > head.first) head = {static_cast<int64_t>(h.seq()), v.hash};
  c->max_lamport = std::max(c->max_lamport, static_cast<int64_t>(h.lamport()));
  if (m == nullptr) return {};
  if (h.seq() == 1 && h.epoch() == 1) {
    c->lead = h.author();
    c->title = m->title();
    c->created_at = h.created_at();
  }
  CaseEpoch ep;
  ep.epoch = h.epoch();
  ep.hash = v.hash;
  for (const auto& member : m->members()) {
    ROG_ASSIGN_OR_RETURN(auto card, VerifyCard(member.card()));
    ep.members[member.fingerprint()] = card.card;
    ep.cards[member.fingerprint()] = member.card();
    c->last_seq.erase(member.fingerprint());  // a member invited back may post again
  }
  for (const auto& r : m->removed()) {
    ep.removed.push_back(r.fingerprint());
    auto last = c->last_seq.find(r.fingerprint());
    const auto seq = static_cast<int64_t>(r.last_seq());
    if (last == c->last_seq.end() || seq < last->second) c->last_seq[r.fingerprint()] = seq;
  }
  // The keys wrapped for this node, from the lead's encryption key: the
  // pair of the cards in the membership first, then (after a rotation on
  // either side) our kept earlier keys and the lead's other keys.
  auto lead = ep.members.find(c->lead);
  if (lead != ep.members.end()) {
    std::vector<const SecretBytes*> ours{&me_->encryption().secret};
    for (const auto& p : me_->previous()) ours.push_back(&p.encryption.secret);
    std::vector<std::string> theirs{lead->second.encryption_key()};
    if (keys_) {
      for (auto& k : keys_(c->lead).encryption) {
        if (std::find(theirs.begin(), theirs.end(), k) == theirs.end()) theirs.push_back(k);
      }
    }
    for (const auto& w : m->keys()) {
      if (w.recipient() != me_->fingerprint()) continue;
      bool opened = false;
      for (size_t i = 0; i < ours.size() && !opened; ++i) {
        for (size_t j = 0; j < theirs.size() && !opened; ++j) {
          auto shared = BoxSharedKey(*ours[i], theirs[j]);
          if (!shared.ok()) continue;
          auto key = UnwrapEpochKey(*shared, w);
          if (key.ok()) {
            c->keys[w.epoch()] = std::make_shared<SecretBytes>(std::move(*key));
            opened = true;
          }
        }
      }
    }
  }
  c->epochs[ep.epoch] = std::move(ep);
  return {};
}

Result<VerifiedCaseEntry> CaseBook::VerifyBy(const std::string& bytes, const std::string& author,
                                             const std::string& case_key) const {
  // The key the case card names (bound to `author` by the membership), then
  // the keys of the author's card chain as this node holds it.
  KnownKeys known;
  if (author == me_->fingerprint()) {
    known.signing = me_->signing_keys();
  } else if (keys_) {
    known = keys_(author);
  }
  std::vector<std::string> keys{case_key};
  for (const auto& k : known.signing) {
    if (k != case_key) keys.push_back(k);
  }
  Result<VerifiedCaseEntry> first = MakeError(Code::kUnauthenticated,
                                              "case entry signature does not verify");
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].empty()) continue;
    auto r = VerifyCaseEntry(bytes, keys[i], author);
    if (r.ok()) {
      auto retired = known.retired_since.find(keys[i]);
      if (retired == known.retired_since.end() || r->header.created_at() < retired->second) {
        return r;
      }
      r = MakeError(Code::kUnauthenticated,
                    "case entry is signed with an identity key its author had replaced before");
    }
    if (i == 0 || r.error().code == Code::kInvalidArgument) first = std::move(r);
    if (first.error().code == Code::kInvalidArgument) return first;
  }
  return first;
}

Result<CaseBook::Result1> CaseBook::Accept(const std::string& entry_bytes, int64_t now,
                                           const std::string& via) {
  via_ = via;
  ROG_ASSIGN_OR_RETURN(Result1 r, AcceptOne(entry_bytes, now));
  if (r.outcome != Outcome::kAccepted || draining_) return r;
  // What waited for this entry may go in now; each acceptance may free more.
  // (It came from wherever: no relay is named for it.)
  draining_ = true;
  via_.clear();
  bool progress = true;
  while (progress) {
    progress = false;
    auto pending = store_->CasePending(r.case_id);
    if (!pending.ok()) break;
    for (const auto& bytes : *pending) {
      auto again = AcceptOne(bytes, now);
      if (!again.ok()) {
        draining_ = false;
        return again.error();
      }
      if (again->outcome == Outcome::kPending) continue;
      (void)store_->RemoveCasePending(r.case_id, CaseEntryHash(bytes));
      progress = progress || again->outcome == Outcome::kAccepted;
    }
  }
  draining_ = false;
  return r;
}

Result<CaseBook::Result1> CaseBook::AcceptOne(const std::string& bytes, int64_t now) {
  if (bytes.size() > limits::kMaxCaseEntryBytes) {
    return Result1{Outcome::kRefused, "", "case entry of " + std::to_string(bytes.size()) +
                                              " bytes is over the limit"};
  }
  auto peek = PeekCaseEntryHeader(bytes);
  if (!peek.ok()) return Result1{Outcome::kRefused, "", peek.error().message};
  const wire::CaseEntryHeader h = *peek;
  const std::string& id = h.case_id();
  if (!ValidateCaseId(id).ok()) return Result1{Outcome::kRefused, "", "malformed case id"};
  const std::string hash = CaseEntryHash(bytes);
  auto it = cases_.find(id);
  CaseState* c = it == cases_.end() ? nullptr : &it->second;
  auto wait = [&]() -> Result<Result1> {
    ROG_ASSIGN_OR_RETURN(int64_t n, store_->CountCasePending(id));
    ROG_ASSIGN_OR_RETURN(int64_t all, store_->CountAllCasePending());
    if (n >= (c == nullptr ? limits::kMaxUnknownCasePending : limits::kMaxCasePending) ||
        all >= limits::kMaxAllCasePending) {
      return Result1{Outcome::kRefused, id, "too many entries wait for what they depend on"};
    }
    ROG_RETURN_IF_ERROR(store_->AddCasePending(id, hash, bytes, now));
    return Result1{Outcome::kPending, id, ""};
  };
  // An honest counter is at most the number of entries anyone has seen:
  // one far ahead of this node's would only exhaust the counter for all.
  const uint64_t seen = c == nullptr ? 0 : static_cast<uint64_t>(c->max_lamport);
  if (h.lamport() > limits::kMaxCaseLamport || h.lamport() > seen + limits::kMaxCaseLamportJump) {
    return Result1{Outcome::kRefused, id, "Lamport counter out of range"};
  }
  const bool first = h.type() == wire::CASE_MEMBERSHIP && h.seq() == 1 && h.epoch() == 1;
  std::string key;
  std::optional<wire::CaseMembership> membership;
  if (c == nullptr) {
    if (!first) return wait();
    // The case's first entry: the lead's card in it verifies its signature,
    // and the case id commits to the lead.
    wire::CaseEntry raw;
    if (!ParseStrict(bytes, &raw, "case entry").ok()) {
      return Result1{Outcome::kRefused, id, "malformed case entry"};
    }
    auto m = ParseMembership(raw.body());
    if (!m.ok()) return Result1{Outcome::kRefused, id, m.error().message};
    for (const auto& member : m->members()) {
      if (member.fingerprint() != h.author()) continue;
      auto card = VerifyCard(member.card());
      if (card.ok()) key = card->card.signing_key();
    }
    if (key.empty() || CaseId(h.author(), m->case_nonce()) != id) {
      return Result1{Outcome::kRefused, id, "first entry of case " + id + " is not its lead's"};
    }
    membership = std::move(*m);
  } else if (h.type() == wire::CASE_MEMBERSHIP) {
    const CaseEpoch& latest = c->latest();
    if (h.author() != c->lead) {
      // Reported under a member's name only when that member signed it.
      const std::string member_key = AnyKeyOf(*c, h.author());
      if (member_key.empty()) {
        return Refuse(id, "not_member",
                      "membership change by " + Who(c, h.author()) +
                          ", never a member (its signature cannot be checked)",
                      bytes, now);
      }
      if (!VerifyBy(bytes, h.author(), member_key).ok()) {
        return Result1{Outcome::kRefused, id, "case entry signature does not verify"};
      }
      return Refuse(id, "not_lead",
                    "membership change signed by " + Who(c, h.author()) + ", not the lead",
                    bytes, now);
    }
    if (h.epoch() > latest.epoch + 1) return wait();
    if (h.epoch() <= latest.epoch) {
      // The lead signed two memberships for one epoch, or this is a copy.
      auto ep = c->epochs.find(h.epoch());
      if (ep != c->epochs.end() && ep->second.hash == hash) return Result1{Outcome::kDuplicate, id, ""};
      if (ep == c->epochs.end() || !VerifyBy(bytes, h.author(), AnyKeyOf(*c, h.author())).ok()) {
        return Result1{Outcome::kRefused, id, "membership entry for a past epoch"};
      }
      return Refuse(id, "fork",
                    "the lead signed two membership entries for epoch " +
                        std::to_string(h.epoch()),
                    MembershipEntryBytes(*c, h.epoch()) + bytes, now);
    }
    if (h.membership() != latest.hash) {
      return Refuse(id, "invalid", "membership entry does not follow the current one", bytes, now);
    }
    key = AnyKeyOf(*c, h.author());
  } else {
    auto ep = c->epochs.find(h.epoch());
    if (ep == c->epochs.end()) return wait();
    if (h.membership() != ep->second.hash) {
      return Refuse(id, "invalid",
                    "entry names a membership entry that is not epoch " +
                        std::to_string(h.epoch()) + "'s",
                    bytes, now);
    }
    auto member = ep->second.members.find(h.author());
    if (member == ep->second.members.end()) {
      // Reported under a former member's name only when it signed it.
      const std::string former = AnyKeyOf(*c, h.author());
      if (!former.empty() && !VerifyBy(bytes, h.author(), former).ok()) {
        return Result1{Outcome::kRefused, id, "case entry signature does not verify"};
      }
      return Refuse(id, "not_member",
                    "entry by " + Who(c, h.author()) + ", not a member in epoch " +
                        std::to_string(h.epoch()) +
                        (former.empty() ? " (never a member: its signature cannot be checked)"
                                        : ""),
                    bytes, now);
    }
    key = member->second.signing_key();
  }

  auto v = VerifyBy(bytes, h.author(), key);
  if (!v.ok()) {
    return Refuse(id, "invalid", "entry by " + Who(c, h.author()) + ": " + v.error().message,
                  bytes, now);
  }
  if (c != nullptr) {
    auto last = c->last_seq.find(h.author());
    if (last != c->last_seq.end() && static_cast<int64_t>(h.seq()) > last->second) {
      return Refuse(id, "removed",
                    "entry " + std::to_string(h.seq()) + " by " + Who(c, h.author()) +
                        ", written after its removal (its last accepted entry is " +
                        std::to_string(last->second) + ")",
                    bytes, now);
    }
  }
  ROG_ASSIGN_OR_RETURN(auto existing,
                       store_->FindCaseEntry(id, h.author(), static_cast<int64_t>(h.seq())));
  if (existing) {
    if (existing->hash == hash) return Result1{Outcome::kDuplicate, id, ""};
    return Refuse(id, "fork",
                  Who(c, h.author()) + " signed two different entries with sequence " +
                      std::to_string(h.seq()),
                  existing->entry + bytes, now);
  }
  if (h.seq() > 1) {
    ROG_ASSIGN_OR_RETURN(auto prev, store_->FindCaseEntry(id, h.author(),
                                                         static_cast<int64_t>(h.seq()) - 1));
    if (!prev) return wait();
    if (prev->hash != h.prev() || prev->lamport >= static_cast<int64_t>(h.lamport())) {
      return Refuse(id, "invalid",
                    "entry " + std::to_string(h.seq()) + " by " + Who(c, h.author()) +
                        " does not follow its previous entry",
                    bytes, now);
    }
  }
  if (h.type() == wire::CASE_MEMBERSHIP) {
    // Every membership entry, the first included, against its header.
    auto m = ParseMembershipEntry(*v);
    if (!m.ok()) return Refuse(id, "invalid", m.error().message, bytes, now);
    // Earlier epochs' keys go only to members this entry adds.
    for (const auto& w : m->keys()) {
      if (c != nullptr && w.epoch() < h.epoch() && c->IsMember(w.recipient())) {
        return Refuse(id, "invalid", "membership entry hands earlier keys to a current member",
                      bytes, now);
      }
    }
    membership = std::move(*m);
  }

  CaseEntryRow row{id,
                   h.author(),
                   static_cast<int64_t>(h.seq()),
                   hash,
                   static_cast<int64_t>(h.lamport()),
                   static_cast<int64_t>(h.epoch()),
                   static_cast<int>(h.type()),
                   h.created_at(),
                   now,
                   bytes};
  // The entry, its audit-log leaf, and what a removal cuts off: one unit.
  ROG_RETURN_IF_ERROR(store_->Savepoint());
  Status st = store_->InsertCaseEntry(row);
  if (st.ok()) st = log_(id, h.author(), hash);
  if (st.ok()) st = store_->RemoveCasePending(id, hash);
  std::vector<CaseEntryRow> dropped;
  if (st.ok() && membership && c != nullptr) {
    for (const auto& r : membership->removed()) {
      auto gone = store_->DropCaseEntriesAfter(id, r.fingerprint(),
                                               static_cast<int64_t>(r.last_seq()));
      if (!gone.ok()) {
        st = gone.error();
        break;
      }
      for (auto& g : *gone) dropped.push_back(std::move(g));
    }
  }
  if (!st.ok()) {
    store_->RollbackToSavepoint();
    (void)store_->Release();
    return st.error();
  }
  ROG_RETURN_IF_ERROR(store_->Release());
  if (c == nullptr) {
    c = &cases_[id];
    c->id = id;
  }
  ROG_RETURN_IF_ERROR(Apply(c, *v, membership ? &*membership : nullptr));
  // Entries a removed member wrote after its cut-off, accepted here before
  // the removal arrived, leave the log as they are refused everywhere.
  for (const auto& g : dropped) {
    Refuse(id, "removed",
           "entry " + std::to_string(g.seq) + " by " + Who(c, g.author) +
               ", written after its removal, was taken out of the log",
           g.entry, now);
    auto head = store_->FindCaseEntry(id, g.author, c->last_seq[g.author]);
    if (head.ok() && head->has_value()) {
      c->heads[g.author] = {(*head)->seq, (*head)->hash};
    } else {
      c->heads.erase(g.author);
    }
  }
  return Result1{Outcome::kAccepted, id, ""};
}

Result<std::string> CaseBook::Create(const std::string& title,
                                     const std::vector<std::string>& member_cards, int64_t now) {
  MembershipDraft d;
  d.case_nonce = RandomBytes(16);
  d.case_id = CaseId(me_->fingerprint(), d.case_nonce);
  d.title = title;
  d.seq = 1;
  d.lamport = 1;
  d.epoch = 1;
  d.created_at = now;
  d.member_cards.push_back(me_->signed_card());
  for (const auto& c : member_cards) d.member_cards.push_back(c);
  SecretBytes key = NewEpochKey();
  ROG_ASSIGN_OR_RETURN(std::string bytes, MakeMembershipEntry(*me_, d, key));
  ROG_ASSIGN_OR_RETURN(Result1 r, Accept(bytes, now));
  if (r.outcome != Outcome::kAccepted) {
    return MakeError(Code::kInternal, "the new case's first entry was refused: " + r.reason);
  }
  return d.case_id;
}

Result<std::string> CaseBook::NewMembership(CaseState* c, std::vector<std::string> cards,
                                            std::vector<std::pair<std::string, uint64_t>> removed,
                                            std::vector<std::string> added, int64_t now) {
  const CaseEpoch& latest = c->latest();
  MembershipDraft d;
  d.case_id = c->id;
  const auto& mine = c->heads[me_->fingerprint()];
  d.seq = static_cast<uint64_t>(mine.first) + 1;
  d.prev = mine.second;
  d.lamport = static_cast<uint64_t>(c->max_lamport) + 1;
  d.epoch = latest.epoch + 1;
  d.previous_membership = latest.hash;
  d.created_at = now;
  d.member_cards = std::move(cards);
  d.removed = std::move(removed);
  d.added = std::move(added);
  if (!d.added.empty()) {
    for (const auto& [epoch, key] : c->keys) d.history_keys.emplace_back(epoch, key.get());
  }
  SecretBytes key = NewEpochKey();
  ROG_ASSIGN_OR_RETURN(std::string bytes, MakeMembershipEntry(*me_, d, key));
  ROG_ASSIGN_OR_RETURN(Result1 r, Accept(bytes, now));
  if (r.outcome != Outcome::kAccepted) {
    return MakeError(Code::kInternal, "the membership entry was refused: " + r.reason);
  }
  return CaseEntryHash(bytes);
}

namespace {
Status MustLead(const CaseState* c, const std::string& id, const std::string& me) {
  if (c == nullptr) {
    return MakeError(Code::kNotFound, "no case " + id + " on this node", "see `rogatory case list`");
  }
  if (c->lead != me) {
    return MakeError(Code::kPermissionDenied,
                     "only the lead of case " + id + " changes its members",
                     "ask the lead's authority");
  }
  return {};
}
}  // namespace

Result<std::string> CaseBook::Invite(const std::string& case_id, const std::string& card,
                                     int64_t now) {
  auto it = cases_.find(case_id);
  CaseState* c = it == cases_.end() ? nullptr : &it->second;
  ROG_RETURN_IF_ERROR(MustLead(c, case_id, me_->fingerprint()));
  ROG_ASSIGN_OR_RETURN(auto vc, VerifyCard(card));
  if (c->IsMember(vc.fingerprint)) {
    return MakeError(Code::kAlreadyExists,
                     vc.card.node_id() + " is already a member of case " + case_id);
  }
  std::vector<std::string> cards;
  for (const auto& [fp, bytes] : c->latest().cards) cards.push_back(bytes);
  cards.push_back(card);
  return NewMembership(c, std::move(cards), {}, {vc.fingerprint}, now);
}

Result<std::string> CaseBook::Remove(const std::string& case_id, const std::string& fp,
                                     int64_t now) {
  auto it = cases_.find(case_id);
  CaseState* c = it == cases_.end() ? nullptr : &it->second;
  ROG_RETURN_IF_ERROR(MustLead(c, case_id, me_->fingerprint()));
  if (fp == c->lead) {
    return MakeError(Code::kInvalidArgument, "the lead cannot remove itself from case " + case_id);
  }
  if (!c->IsMember(fp)) {
    return MakeError(Code::kNotFound, Who(c, fp) + " is not a member of case " + case_id);
  }
  std::vector<std::string> cards;
  for (const auto& [member, bytes] : c->latest().cards) {
    if (member != fp) cards.push_back(bytes);
  }
  auto head = c->heads.find(fp);
  const uint64_t last = head == c->heads.end() ? 0 : static_cast<uint64_t>(head->second.first);
  return NewMembership(c, std::move(cards), {{fp, last}}, {}, now);
}

Result<std::string> CaseBook::Post(const std::string& case_id, wire::CaseEntryType type,
                                   const wire::CaseBody& body, int64_t now) {
  ROG_RETURN_IF_ERROR(CanPost(case_id));
  CaseState& c = cases_.at(case_id);
  const CaseEpoch& ep = c.latest();
  auto key = c.keys.find(ep.epoch);
  wire::CaseEntryHeader h;
  h.set_version(1);
  h.set_case_id(case_id);
  h.set_author(me_->fingerprint());
  const auto& mine = c.heads[me_->fingerprint()];
  h.set_seq(static_cast<uint64_t>(mine.first) + 1);
  h.set_prev(mine.second);
  h.set_lamport(static_cast<uint64_t>(c.max_lamport) + 1);
  h.set_epoch(ep.epoch);
  h.set_membership(ep.hash);
  h.set_type(type);
  h.set_created_at(now);
  std::string sealed = SealCaseBody(*key->second, &h, body);
  const std::string bytes = SignCaseEntry(h, std::move(sealed), me_->signing());
  ROG_ASSIGN_OR_RETURN(Result1 r, Accept(bytes, now));
  if (r.outcome != Outcome::kAccepted) {
    return MakeError(Code::kInternal, "the entry was refused: " + r.reason);
  }
  return CaseEntryHash(bytes);
}

std::optional<wire::CaseBody> CaseBook::Open(const CaseEntryRow& row) const {
  if (row.type == wire::CASE_MEMBERSHIP) return std::nullopt;
  auto c = cases_.find(row.case_id);
  if (c == cases_.end()) return std::nullopt;
  auto key = c->second.keys.find(static_cast<uint64_t>(row.epoch));
  if (key == c->second.keys.end()) return std::nullopt;
  wire::CaseEntry raw;
  wire::CaseEntryHeader h;
  if (!raw.ParseFromString(row.entry) || !h.ParseFromString(raw.header())) return std::nullopt;
  auto body = OpenCaseBody(*key->second, h, raw.body());
  if (!body.ok()) return std::nullopt;
  return *body;
}

}  // namespace rogatory
