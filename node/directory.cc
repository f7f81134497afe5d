#include "node/directory.h"

#include <algorithm>
#include <map>
#include <set>

#include "keys/crypto.h"
#include "keys/fingerprint.h"
#include "keys/strict_parse.h"

namespace rogatory {

namespace {

constexpr char kDirectoryPrefix[] = "directory:";

// Whether `card` is in the chain of `holder` (an older card of it).
bool InChain(const VerifiedCard& holder, const VerifiedCard& card) {
  const wire::Card* at = holder.AtSequence(card.card.sequence());
  return at != nullptr && at->signing_key() == card.card.signing_key() &&
         at->encryption_key() == card.card.encryption_key() &&
         at->transport_key() == card.card.transport_key();
}

using Line = DirectoryImportReport::Line;

Line LineOf(const PeerRow& p, std::string detail) {
  return {p.node_id, p.fingerprint, std::move(detail)};
}
Line LineOf(const VerifiedCard& c, std::string detail) {
  return {c.card.node_id(), c.fingerprint, std::move(detail)};
}

// The body of ImportDirectory, inside its transaction.
Status Apply(Store& store, const VerifiedDirectory& dir, const std::string& own_fp,
             int64_t now, const std::string& source, DirectoryImportReport* report) {
  ROG_ASSIGN_OR_RETURN(std::vector<PeerRow> rows, store.ListPeers());
  std::map<std::string, const PeerRow*> by_fp;
  for (const auto& r : rows) by_fp[r.fingerprint] = &r;
  std::set<std::string> listed;
  for (const VerifiedCard& card : dir.cards) {
    listed.insert(card.fingerprint);
    if (card.fingerprint == own_fp) continue;  // this node
    auto it = by_fp.find(card.fingerprint);
    if (it == by_fp.end()) {
      if (card.card.valid_until() < now) {
        report->refused.push_back(LineOf(card, "its card expired"));
        continue;
      }
      auto s = store.AddPeer(PeerRowFromCard(card, source, now));
      if (!s.ok()) {
        if (s.error().code != Code::kAlreadyExists) return s;
        report->refused.push_back(LineOf(card, s.error().message));
        continue;
      }
      report->added.push_back(LineOf(card, "card " + std::to_string(card.card.sequence())));
      continue;
    }
    const PeerRow& held = *it->second;
    if (held.revoked_at) {
      report->kept.push_back(LineOf(held, "revoked here: a directory does not restore it"));
      continue;
    }
    if (held.card == card.signed_bytes) {
      report->unchanged.push_back(LineOf(held, ""));
      continue;
    }
    if (held.source == "manual") {
      report->kept.push_back(LineOf(
          held, "pinned by hand with card " + std::to_string(held.card_sequence) +
                    "; the directory has card " + std::to_string(card.card.sequence()) +
                    " (peer add takes it by hand)"));
      continue;
    }
    auto trusted = VerifyCard(held.card);
    if (!trusted.ok()) return trusted.error();
    if (InChain(*trusted, card)) {
      report->unchanged.push_back(LineOf(held, "the roster holds a newer card"));
      continue;
    }
    if (auto s = CheckCardUpdate(*trusted, card); !s.ok()) {
      report->refused.push_back(LineOf(card, s.error().message));
      continue;
    }
    if (card.card.valid_until() < now) {
      report->refused.push_back(LineOf(card, "its card expired"));
      continue;
    }
    const bool recovery = IsRecovery(*trusted, card);
    PeerRow row = PeerRowFromCard(card, held.source, held.added_at);
    if (auto s = store.AddPeer(row, recovery); !s.ok()) {
      if (s.error().code != Code::kAlreadyExists) return s;
      report->refused.push_back(LineOf(card, s.error().message));
      continue;
    }
    report->updated.push_back(
        LineOf(card, "card " + std::to_string(held.card_sequence) + " -> " +
                         std::to_string(card.card.sequence()) + (recovery ? " (recovery)" : "")));
  }

  // The roster as the entries left it (peers added, cards updated), kept
  // up to date as peers are revoked below.
  ROG_ASSIGN_OR_RETURN(rows, store.ListPeers());
  by_fp.clear();
  for (const auto& r : rows) by_fp[r.fingerprint] = &r;
  std::map<std::string, PeerRow> revoked_now;  // fingerprint -> row, revoked by this import
  auto revoke = [&](const PeerRow& p, int64_t at, std::string why) -> Status {
    if (p.revoked_at || revoked_now.count(p.fingerprint)) return {};
    ROG_RETURN_IF_ERROR(store.RevokePeer(p.node_id, at));
    revoked_now[p.fingerprint] = p;
    report->revoked.push_back(LineOf(p, std::move(why)));
    return {};
  };

  // Revocations by the nodes themselves: checked against the card the
  // directory lists, else the one the roster holds.
  std::map<std::string, const VerifiedCard*> listed_cards;
  for (const auto& c : dir.cards) listed_cards[c.fingerprint] = &c;
  for (const std::string& bytes : dir.directory.revocations()) {
    wire::SignedRevocation sr;
    wire::Revocation r;
    if (!ParseStrict(bytes, &sr, "revocation").ok() ||
        !ParseStrict(sr.revocation(), &r, "revocation body").ok()) {
      return MakeError(Code::kInvalidArgument, "directory carries a malformed revocation");
    }
    auto row = by_fp.find(r.node());
    std::optional<VerifiedCard> roster_card;
    const VerifiedCard* card = nullptr;
    if (auto l = listed_cards.find(r.node()); l != listed_cards.end()) card = l->second;
    if (card == nullptr && row != by_fp.end()) {
      auto vc = VerifyCard(row->second->card);
      if (vc.ok()) card = &roster_card.emplace(std::move(*vc));
    }
    if (card == nullptr) continue;  // a node this roster does not know
    auto rev = VerifyRevocation(bytes, *card);
    if (!rev.ok()) {
      return MakeError(Code::kUnauthenticated, "directory carries a revocation of " +
                                                   card->card.node_id() +
                                                   " that does not verify: " +
                                                   rev.error().message);
    }
    ROG_ASSIGN_OR_RETURN(auto held, store.Revocations(r.node()));
    if (held.empty()) {
      ROG_ASSIGN_OR_RETURN(bool fresh, store.InsertRevocation(r.node(), r.revoked_at(), bytes));
      (void)fresh;
    }
    if (row == by_fp.end()) continue;
    ROG_RETURN_IF_ERROR(revoke(*row->second, r.revoked_at(),
                               "it revoked its own identity key" +
                                   (r.reason().empty() ? std::string()
                                                       : " (\"" + r.reason() + "\")")));
  }

  // Removals by the authority: only of what it vouched for.
  std::set<std::string> removed;
  for (const auto& rm : dir.directory.removals()) {
    removed.insert(rm.fingerprint());
    auto row = by_fp.find(rm.fingerprint());
    if (row == by_fp.end() || row->second->revoked_at || revoked_now.count(rm.fingerprint())) {
      continue;
    }
    const PeerRow& p = *row->second;
    if (p.source != source) {
      report->kept.push_back(LineOf(
          p, std::string("removed by the directory, but ") +
                 (p.source == "manual" ? "pinned by hand" : "from another directory") +
                 ": not revoked (peer revoke does it by hand)"));
      continue;
    }
    ROG_RETURN_IF_ERROR(revoke(p, rm.revoked_at(),
                               "removed by the directory" +
                                   (rm.reason().empty() ? std::string()
                                                        : " (\"" + rm.reason() + "\")")));
  }

  for (const auto& p : rows) {
    if (p.source == source && !p.revoked_at && !revoked_now.count(p.fingerprint) &&
        !listed.count(p.fingerprint) && !removed.count(p.fingerprint)) {
      report->unlisted.push_back(LineOf(p, "no longer listed: kept (peer revoke removes it)"));
    }
  }
  return {};
}

}  // namespace

std::string DirectorySource(const std::string& authority_fingerprint) {
  return kDirectoryPrefix + FingerprintText(authority_fingerprint);
}

std::string DirectorySourceAuthority(const std::string& source) {
  if (source.rfind(kDirectoryPrefix, 0) != 0) return {};
  auto fp = ParseFingerprint(source.substr(sizeof kDirectoryPrefix - 1));
  return fp.ok() ? *fp : std::string();
}

Result<bool> TrustDirectoryAuthority(Store& store, const VerifiedCard& authority,
                                     int64_t now_us) {
  ROG_ASSIGN_OR_RETURN(auto pinned, store.DirectoryAuthorities());
  for (const auto& a : pinned) {
    if (a.fingerprint != authority.fingerprint) continue;
    if (a.card == authority.signed_bytes) return false;
    ROG_ASSIGN_OR_RETURN(VerifiedCard held, VerifyCard(a.card));
    if (InChain(held, authority)) return false;  // older than the pinned card
    ROG_RETURN_IF_ERROR(CheckCardUpdate(held, authority));
    break;
  }
  DirectoryAuthorityRow row;
  row.fingerprint = authority.fingerprint;
  row.node_id = authority.card.node_id();
  row.card = authority.signed_bytes;
  row.trusted_at = now_us;
  ROG_RETURN_IF_ERROR(store.PutDirectoryAuthority(row));
  return std::none_of(pinned.begin(), pinned.end(),
                      [&](const auto& a) { return a.fingerprint == authority.fingerprint; });
}

Result<DirectoryImportReport> ImportDirectory(Store& store, const VerifiedDirectory& dir,
                                              const std::string& own_fingerprint,
                                              int64_t now_us) {
  DirectoryImportReport report;
  report.authority = dir.authority.card.node_id();
  report.fingerprint = dir.authority.fingerprint;
  report.sequence = dir.directory.sequence();
  ROG_ASSIGN_OR_RETURN(auto pinned, store.DirectoryAuthorities());
  const DirectoryAuthorityRow* authority = nullptr;
  for (const auto& a : pinned) {
    if (a.fingerprint == dir.authority.fingerprint) authority = &a;
  }
  if (authority == nullptr) {
    return MakeError(Code::kFailedPrecondition,
                     "directory is signed by " + dir.authority.card.node_id() + " (" +
                         FingerprintText(dir.authority.fingerprint) +
                         "), a directory authority this node has not trusted",
                     "check its fingerprint with the authority over another channel, then "
                     "'rogatory directory trust FILE --fingerprint FP'");
  }
  const std::string sha = Sha256(dir.signed_bytes);
  if (dir.directory.sequence() == authority->sequence) {
    if (sha == authority->directory_sha256) {
      report.already_imported = true;
      return report;
    }
    return MakeError(Code::kFailedPrecondition,
                     "directory " + std::to_string(dir.directory.sequence()) + " of " +
                         authority->node_id +
                         " differs from the directory with the same sequence imported before: "
                         "refused",
                     "the authority signed two directories with one sequence number; ask it "
                     "which is right");
  }
  if (dir.directory.sequence() < authority->sequence) {
    return MakeError(Code::kFailedPrecondition,
                     "directory " + std::to_string(dir.directory.sequence()) + " of " +
                         authority->node_id + " is older than directory " +
                         std::to_string(authority->sequence) +
                         " imported before: refused (no rollback)",
                     "import the authority's latest directory");
  }
  // The authority's card: the pinned one, or a newer one chained to it.
  bool rotated = false;
  if (dir.authority.signed_bytes != authority->card) {
    ROG_ASSIGN_OR_RETURN(VerifiedCard held, VerifyCard(authority->card));
    if (InChain(held, dir.authority)) {
      // Signed with a card the authority replaced: perhaps by a retired key.
      return MakeError(Code::kUnauthenticated,
                       "directory is signed with card " +
                           std::to_string(dir.authority.card.sequence()) + " of " +
                           authority->node_id + ", older than the pinned card " +
                           std::to_string(held.card.sequence()) + ": refused",
                       "import a directory the authority signed with its current card");
    }
    if (auto s = CheckCardUpdate(held, dir.authority); !s.ok()) {
      return MakeError(Code::kUnauthenticated,
                       "directory is signed with a card of " + authority->node_id +
                           " that does not follow the pinned one: " + s.error().message);
    }
    rotated = true;
  }
  ROG_RETURN_IF_ERROR(store.Begin());
  const std::string source = DirectorySource(dir.authority.fingerprint);
  Status s = Apply(store, dir, own_fingerprint, now_us, source, &report);
  if (s.ok() && rotated) {
    DirectoryAuthorityRow row = *authority;
    row.card = dir.authority.signed_bytes;
    s = store.PutDirectoryAuthority(row);
  }
  if (s.ok()) {
    s = store.RecordDirectoryImport(dir.authority.fingerprint, dir.directory.sequence(), sha,
                                    now_us);
  }
  if (s.ok()) s = store.Commit();
  if (!s.ok()) {
    if (store.in_transaction()) store.Rollback();
    return s.error();
  }
  report.authority_rotated = rotated;
  return report;
}

}  // namespace rogatory
