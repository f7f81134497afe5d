#include "keys/bundle.h"

#include <cstdio>
#include <ctime>
#include <map>
#include <set>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/merkle.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "proto/wire.pb.h"

namespace rogatory {

std::string MakeBundle(const BundleParts& parts) {
  wire::Bundle b;
  b.set_version(kBundleVersion);
  b.set_envelope(parts.envelope);
  if (parts.content_key != nullptr) b.set_content_key(std::string(parts.content_key->view()));
  for (const auto& c : parts.cards) b.add_cards(c);
  for (const auto& r : parts.receipts) b.add_receipts(r);
  for (const auto& r : parts.revocations) b.add_revocations(r);
  for (const auto& lp : parts.log_proofs) {
    wire::LogProof* proof = b.add_log_proofs();
    if (!proof->ParseFromString(lp)) proof->Clear();
  }
  b.set_permission_ref(parts.permission_ref);
  b.set_exported_at(parts.exported_at_us);
  b.set_exporter(parts.exporter);
  std::string bytes = SerializeCanonical(b);  // `signature` still empty
  if (parts.exporter_key != nullptr) {
    b.set_signature(Sign(*parts.exporter_key, labels::kBundle, bytes));
    WipeString(bytes);
    bytes = SerializeCanonical(b);
  }
  std::string text = Armor(kBundleArmorType, bytes);
  WipeString(bytes);
  WipeString(*b.mutable_content_key());
  return text;
}

namespace {

class Checker {
 public:
  explicit Checker(VerifyReport* r) : r_(r) {}
  bool Add(std::string name, bool ok, std::string detail) {
    if (!ok) r_->errors.push_back(name + ": " + detail);
    r_->checks.push_back({std::move(name), ok, std::move(detail)});
    return ok;
  }
  bool Add(std::string name, const Status& s, std::string ok_detail) {
    return s.ok() ? Add(std::move(name), true, std::move(ok_detail))
                  : Add(std::move(name), false, s.error().message);
  }

 private:
  VerifyReport* r_;
};

const char* HandlingName(wire::Handling h) {
  switch (h) {
    case wire::HANDLING_H1: return "H1";
    case wire::HANDLING_H2: return "H2";
    case wire::HANDLING_H3: return "H3";
    default: return "H0";
  }
}

Party PartyOf(const std::string& fp, const std::map<std::string, VerifiedCard>& cards) {
  Party p;
  p.fingerprint = FingerprintText(fp);
  auto it = cards.find(fp);
  if (it != cards.end()) {
    p.id = it->second.card.node_id();
    p.authority = it->second.card.authority();
    p.country = it->second.card.country();
  }
  return p;
}

// "2026-01-05T10:00:00Z": to the second, UTC (keys/ may not use node/clock.h).
std::string UtcText(int64_t us) {
  const std::time_t t = static_cast<std::time_t>(us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(us) + " us";
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// "nl-om (AAAA-...)", or the fingerprint alone for a party without a card.
std::string Named(const Party& p) {
  return p.id.empty() ? p.fingerprint : p.id + " (" + p.fingerprint + ")";
}

// The head of a LogProof, checked with the card of the owner it names. The
// owner is read from the unverified head only to find that card; the
// signature then decides.
Result<wire::TreeHead> CheckLogHead(std::string_view signed_head,
                                    const std::map<std::string, VerifiedCard>& cards) {
  wire::SignedTreeHead sth;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_head, &sth, "tree head"));
  wire::TreeHead claimed;
  ROG_RETURN_IF_ERROR(ParseStrict(sth.tree_head(), &claimed, "tree head body"));
  if (claimed.log().size() != kFingerprintBytes) {
    return MakeError(Code::kInvalidArgument, "tree head names no log owner");
  }
  const Party owner = PartyOf(claimed.log(), cards);
  auto card = cards.find(claimed.log());
  if (card == cards.end()) {
    return MakeError(Code::kFailedPrecondition,
                     "bundle lacks the card of log owner " + owner.fingerprint +
                         ", so its tree head cannot be checked");
  }
  auto head = WithAnyKey(card->second.SigningKeys(), [&](const std::string& key) {
    return VerifyTreeHead(signed_head, key);
  });
  if (!head.ok()) {
    return MakeError(head.error().code, "log of " + Named(owner) + ": " + head.error().message);
  }
  return head;
}

// The LogProof's entry is this envelope's, in the log of `head.log()`, and
// its path leads to the head's root. Returns "sent" or "received".
Result<std::string> CheckLogEntry(const wire::LogProof& lp, const wire::TreeHead& head,
                                  const wire::OuterHeader& outer,
                                  const std::string& envelope_sha,
                                  const std::map<std::string, uint64_t>& receipt_index) {
  wire::LogEntry e;
  ROG_RETURN_IF_ERROR(ParseStrict(lp.entry(), &e, "log entry"));
  if (e.version() != 1) {
    return MakeError(Code::kInvalidArgument,
                     "log entry has unsupported version " + std::to_string(e.version()));
  }
  const std::string& owner = head.log();
  std::string kind;
  if (e.kind() == wire::LOG_ENVELOPE_SENT) {
    kind = "sent";
    if (owner != outer.sender()) {
      return MakeError(Code::kUnauthenticated,
                       "entry records the envelope as sent, but the log is not the sender's");
    }
    if (e.sender() != outer.sender() || !e.peer().empty()) {
      return MakeError(Code::kUnauthenticated,
                       "entry records an envelope sent by another node than its sender");
    }
  } else if (e.kind() == wire::LOG_ENVELOPE_RECEIVED) {
    kind = "received";
    bool recipient = false;
    for (const auto& rc : outer.recipients()) recipient = recipient || rc == owner;
    if (!recipient) {
      return MakeError(Code::kUnauthenticated,
                       "entry records the envelope as received, but the log is not a recipient's");
    }
    if (e.sender() != outer.sender() || e.peer() != outer.sender()) {
      return MakeError(Code::kUnauthenticated,
                       "entry records an envelope received from another node than its sender");
    }
    auto receipt = receipt_index.find(owner);
    if (receipt != receipt_index.end() && receipt->second != 0 &&
        receipt->second != lp.index() + 1) {
      return MakeError(Code::kUnauthenticated,
                       "entry " + std::to_string(lp.index()) + " is not the position the "
                       "recipient's receipt names (" + std::to_string(receipt->second) +
                       ", counted from 1)");
    }
  } else {
    return MakeError(Code::kUnauthenticated,
                     "entry is of kind " + std::to_string(e.kind()) +
                         ", not an envelope sent or received");
  }
  if (e.message_id() != outer.message_id()) {
    return MakeError(Code::kUnauthenticated,
                     "entry is for message " + e.message_id() + ", not " + outer.message_id());
  }
  if (e.sha256() != envelope_sha) {
    return MakeError(Code::kUnauthenticated,
                     "entry names another envelope (SHA-256 " + ToHex(e.sha256()) + ")");
  }
  if (lp.index() >= head.size()) {
    return MakeError(Code::kInvalidArgument,
                     "entry " + std::to_string(lp.index()) + " lies beyond the tree head's " +
                         std::to_string(head.size()) + " entries");
  }
  const std::vector<std::string> path(lp.path().begin(), lp.path().end());
  Status in = merkle::VerifyInclusion(merkle::LeafHash(lp.entry()), lp.index(), head.size(),
                                      path, head.root());
  if (!in.ok()) {
    return MakeError(in.error().code, "entry " + std::to_string(lp.index()) + " of " +
                                          std::to_string(head.size()) + ": " +
                                          in.error().message);
  }
  return kind;
}

// Every cosignature of `signed_head` verifies with the card of the witness
// it names; no witness twice, none the owner. Returns the witnesses.
Result<std::vector<VerifyReport::LogProofSummary::Witness>> CheckCosignatures(
    const wire::LogProof& lp, const wire::TreeHead& head,
    const std::map<std::string, VerifiedCard>& cards) {
  std::vector<VerifyReport::LogProofSummary::Witness> out;
  std::set<std::string> seen;
  const int n = lp.cosignatures_size();
  for (int i = 0; i < n; ++i) {
    const std::string& sc = lp.cosignatures(i);
    const std::string which = "cosignature " + std::to_string(i + 1) + " of " + std::to_string(n);
    const std::string witness = CosignatureWitness(sc);
    if (witness.size() != kFingerprintBytes) {
      return MakeError(Code::kInvalidArgument, which + " is malformed or names no witness");
    }
    const Party w = PartyOf(witness, cards);
    if (witness == head.log()) {
      return MakeError(Code::kUnauthenticated, which + " is by the log owner " + Named(w) +
                                                   ", who cannot witness its own log");
    }
    if (!seen.insert(witness).second) {
      return MakeError(Code::kInvalidArgument,
                       which + ": witness " + Named(w) + " countersigns twice");
    }
    auto card = cards.find(witness);
    if (card == cards.end()) {
      return MakeError(Code::kFailedPrecondition,
                       which + ": bundle lacks the card of witness " + w.fingerprint);
    }
    auto c = WithAnyKey(card->second.SigningKeys(), [&](const std::string& key) {
      return VerifyCosignature(sc, key, lp.signed_tree_head());
    });
    if (!c.ok()) {
      return MakeError(c.error().code, which + " by " + Named(w) + ": " + c.error().message);
    }
    if (c->log() != head.log() || c->size() != head.size()) {
      return MakeError(Code::kUnauthenticated,
                       which + " by " + Named(w) + " names another log or size than the tree head");
    }
    out.push_back({w, c->witnessed_at()});
  }
  return out;
}

// The bundle's `export_signature`: it names an exporter that is the
// envelope's sender or a recipient, carries that exporter's card, and the
// exporter signed the bundle as it is. `b` parsed strictly, so clearing the
// signature and serializing again gives back exactly the bytes signed.
Status CheckExportSignature(const wire::Bundle& b, const wire::OuterHeader& outer,
                            const std::map<std::string, VerifiedCard>& cards) {
  if (b.exporter().size() != kFingerprintBytes) {
    return MakeError(Code::kInvalidArgument, "bundle names no exporter");
  }
  const Party exporter = PartyOf(b.exporter(), cards);
  bool party = b.exporter() == outer.sender();
  for (const auto& rc : outer.recipients()) party = party || rc == b.exporter();
  if (!party) {
    return MakeError(
        Code::kUnauthenticated,
        "exporter " + Named(exporter) + " is neither the sender nor a recipient of the message");
  }
  auto card = cards.find(b.exporter());
  if (card == cards.end()) {
    return MakeError(Code::kFailedPrecondition, "bundle lacks the card of exporter " +
                                                    exporter.fingerprint +
                                                    ", so its signature cannot be checked");
  }
  if (b.signature().empty()) {
    return MakeError(Code::kUnauthenticated, "bundle is not signed by its exporter");
  }
  wire::Bundle unsigned_bundle = b;
  unsigned_bundle.clear_signature();
  std::string signed_bytes = SerializeCanonical(unsigned_bundle);
  const bool ok =
      VerifiesWithAny(card->second.SigningKeys(), labels::kBundle, signed_bytes, b.signature());
  WipeString(signed_bytes);  // both hold the content key
  WipeString(*unsigned_bundle.mutable_content_key());
  if (!ok) {
    return MakeError(Code::kUnauthenticated,
                     "signature of exporter " + Named(exporter) +
                         " does not verify: the bundle was changed after export");
  }
  return {};
}

}  // namespace

// A receipt names every attachment the recipient stored and checked, in
// order, with the SHA-256 and size the signed inner header gives.
static Status ReceiptCoversAttachments(const wire::Receipt& receipt, const wire::InnerHeader& inner) {
  bool same = receipt.attachments_size() == inner.attachments_size();
  for (int i = 0; same && i < inner.attachments_size(); ++i) {
    same = receipt.attachments(i).sha256() == inner.attachments(i).sha256() &&
           receipt.attachments(i).size() == inner.attachments(i).size();
  }
  if (same) return {};
  return MakeError(Code::kUnauthenticated,
                   "receipt does not name the message's attachments as the sender signed them");
}

namespace {

// A revocation of the sender's key, against the earliest time a receipt or
// a witness bound the signature to (VerifyBundle's comment in bundle.h).
void CheckSenderRevocation(const wire::Bundle& b, const std::map<std::string, VerifiedCard>& cards,
                           const std::string& sender, const std::string& signer_key,
                           VerifyReport* r, Checker& check) {
  auto card = cards.find(sender);
  if (card == cards.end()) return;
  std::optional<int64_t> bound;
  auto earliest = [&](int64_t t) { bound = bound ? std::min(*bound, t) : t; };
  for (const auto& rc : r->receipts) earliest(rc.received_at_us);
  for (const auto& lp : r->log_proofs) {
    for (const auto& w : lp.witnesses) earliest(w.witnessed_at_us);
  }
  for (const auto& bytes : b.revocations()) {
    auto rev = VerifyRevocation(bytes, card->second);
    if (!rev.ok()) {
      if (rev.error().code == Code::kInvalidArgument) continue;  // of another node
      check.Add("sender_key_not_revoked", false,
                "a revocation of the sender's key does not verify: " + rev.error().message);
      continue;
    }
    if (rev->signing_key() != signer_key) continue;  // revokes another key of its chain
    const std::string when = "the sender revoked its identity key at " + UtcText(rev->revoked_at()) +
                             (rev->reason().empty() ? "" : " (\"" + rev->reason() + "\")");
    if (!bound) {
      check.Add("sender_key_not_revoked", false,
                when + "; no receipt or witnessed tree head shows the signature was made before");
    } else if (rev->revoked_at() <= *bound) {
      check.Add("sender_key_not_revoked", false,
                when + ", before the earliest receipt or cosignature binding this signature (" +
                    UtcText(*bound) + ")");
    } else {
      check.Add("sender_key_not_revoked", true,
                when + ", after a receipt or cosignature bound this signature at " + UtcText(*bound));
    }
  }
}

}  // namespace

VerifyReport VerifyBundle(std::string_view armored, std::string_view expect_fingerprint) {
  VerifyReport r;
  Checker check(&r);

  auto bytes = Dearmor(kBundleArmorType, armored);
  if (!check.Add("format", bytes.ok() ? Status{} : Status{bytes.error()},
                 "armor is canonical")) {
    return r;
  }
  wire::Bundle b;
  if (!check.Add("bundle", ParseStrict(bytes.value(), &b, "bundle"),
                 "bundle parses in canonical form")) {
    return r;
  }
  // Version 1 bundles (exported before the audit log) carry no exporter
  // signature and no log proof: still verifiable, for what they hold.
  const bool legacy = b.version() == 1;
  const bool legacy_clean = !legacy || (b.log_proofs().empty() && b.exporter().empty() &&
                                        b.signature().empty());
  std::string version_detail =
      b.version() == kBundleVersion ? "version " + std::to_string(kBundleVersion)
      : !legacy ? "unsupported bundle version " + std::to_string(b.version())
      : legacy_clean
          ? "version 1: exported before audit-log proofs; it carries no exporter signature, "
            "inclusion proof, tree head or cosignatures to check"
          : "a version 1 bundle cannot carry an exporter signature or log proofs";
  if (!check.Add("bundle_version", (b.version() == kBundleVersion || legacy) && legacy_clean,
                 version_detail)) {
    return r;
  }
  r.permission_ref = b.permission_ref();
  r.exported_at_us = b.exported_at();

  std::map<std::string, VerifiedCard> cards;
  bool cards_ok = true;
  std::string card_detail;
  for (const auto& c : b.cards()) {
    auto vc = VerifyCard(c);
    if (!vc.ok()) {
      cards_ok = false;
      card_detail = vc.error().message;
      continue;
    }
    cards.emplace(vc->fingerprint, std::move(vc).value());
  }
  check.Add("cards", cards_ok && !cards.empty(),
            cards_ok ? (cards.empty() ? "bundle carries no identity card"
                                      : std::to_string(cards.size()) +
                                            " identity card(s) self-signed and well formed")
                     : card_detail);

  auto env = ParseEnvelope(b.envelope());
  if (!check.Add("envelope", env.ok() ? Status{} : Status{env.error()},
                 "envelope parses in canonical form")) {
    return r;
  }
  const wire::OuterHeader& outer = env->outer;
  r.message_id = outer.message_id();
  r.created_at_us = outer.created_at();
  r.expires_at_us = outer.expires_at();
  r.sender = PartyOf(outer.sender(), cards);
  for (const auto& rc : outer.recipients()) r.recipients.push_back(PartyOf(rc, cards));

  // As early as the sender and recipients are known: a bundle edited after
  // export (permission_ref, exported_at, a card or receipt swapped) is first
  // of all no longer what its exporter signed.
  if (b.exporter().size() == kFingerprintBytes) r.exporter = PartyOf(b.exporter(), cards);
  if (!legacy) {
    check.Add("export_signature", CheckExportSignature(b, outer, cards),
              "exported by " + Named(r.exporter) + " at " + UtcText(b.exported_at()));
  }

  if (!expect_fingerprint.empty()) {
    auto want = ParseFingerprint(expect_fingerprint);
    check.Add("expected_sender", want.ok() && want.value() == outer.sender(),
              want.ok() ? (want.value() == outer.sender()
                               ? "sender is " + r.sender.fingerprint
                               : "sender is " + r.sender.fingerprint + ", expected " +
                                     FingerprintText(want.value()))
                        : want.error().message);
  }

  auto sender_card = cards.find(outer.sender());
  if (!check.Add("sender_card", sender_card != cards.end(),
                 sender_card != cards.end()
                     ? "card of " + r.sender.id + " (" + r.sender.fingerprint + ")"
                     : "bundle lacks the card of sender " + r.sender.fingerprint)) {
    return r;
  }
  // The card of the message's time: the latest card of the sender's chain
  // (keys rotate, SPEC 9) whose identity key signed it and whose validity
  // began before the message was created.
  const VerifiedCard& chain = sender_card->second;
  const wire::Card* sc = nullptr;
  for (auto it = chain.chain.rbegin(); it != chain.chain.rend() && sc == nullptr; ++it) {
    if (it->valid_from() <= outer.created_at() &&
        VerifyOuterSignature(*env, it->signing_key(), outer.sender()).ok()) {
      sc = &*it;
    }
  }
  if (sc == nullptr) sc = &chain.card;  // the checks below say what fails
  const bool in_validity =
      outer.created_at() >= sc->valid_from() && outer.created_at() <= sc->valid_until();
  check.Add("sender_card_validity", in_validity,
            in_validity ? "message created within the validity period of the sender's card " +
                              std::to_string(sc->sequence())
                        : "message created outside the sender card's validity period");
  const std::string& sender_key = sc->signing_key();
  check.Add("outer_signature", VerifyOuterSignature(*env, sender_key, outer.sender()),
            "signed by " + r.sender.fingerprint);

  auto opened = OpenWithContentKey(*env, SecretBytes::From(b.content_key()), sender_key);
  if (check.Add("inner_signature", opened.ok() ? Status{} : Status{opened.error()},
                "plaintext signed by " + r.sender.fingerprint +
                    "; content key matches the key commitment")) {
    r.subject = opened->inner.subject();
    r.handling = HandlingName(opened->inner.handling());
    r.handling_note = opened->inner.handling_note();
    r.body_sha256_hex = ToHex(opened->body_sha256);
    for (const auto& a : opened->inner.attachments()) {
      r.attachments.push_back({a.name(), a.size(), ToHex(a.sha256())});
    }
  }

  const std::string envelope_sha = Sha256(b.envelope());
  // Each verified receipt's audit-log position (1-based, 0: none), by
  // recipient: a proof of the envelope in that recipient's log must agree.
  std::map<std::string, uint64_t> receipt_index;
  for (const auto& sr : b.receipts()) {
    // Signed bytes first: the signer is the recipient whose card's key
    // verifies the signature; only then is the receipt body parsed.
    Status st = MakeError(Code::kUnauthenticated,
                          "receipt is not signed by any recipient whose card the bundle carries");
    std::string who = "no recipient";
    for (const auto& rc : outer.recipients()) {
      auto card = cards.find(rc);
      if (card == cards.end()) continue;
      auto verified = WithAnyKey(card->second.SigningKeys(), [&](const std::string& key) {
        return VerifyReceipt(sr, key);
      });
      if (verified.ok()) {
        who = FingerprintText(rc);
        st = CheckReceiptMatches(*verified, outer.message_id(), outer.sender(), rc,
                                 envelope_sha, opened.ok() ? opened->inner_signed_sha256 : "");
        if (st.ok() && opened.ok()) st = ReceiptCoversAttachments(*verified, opened->inner);
        if (st.ok()) {
          r.receipts.push_back({card->second.card.node_id(), who, verified->received_at()});
          receipt_index[rc] = verified->audit_index();
        }
        break;
      }
      if (verified.error().code == Code::kInvalidArgument) {
        st = verified.error();  // malformed: no key will verify it
        break;
      }
    }
    check.Add("receipt", st, "receipt signed by " + who + " names this envelope and plaintext");
  }

  // The head first: until it verifies, its root proves nothing, and "the
  // owner's card is missing" or "signed by someone else" is the useful
  // first error. Then the entry and its path, then who vouches for the head.
  if (b.log_proofs().empty() && !legacy) {
    check.Add("inclusion_proof", false, "bundle carries no audit-log proof");
  }
  for (const auto& lp : b.log_proofs()) {
    auto head = CheckLogHead(lp.signed_tree_head(), cards);
    if (!head.ok()) {
      check.Add("tree_head", false, head.error().message);
      check.Add("inclusion_proof", false, "not checked: the tree head does not verify");
      check.Add("cosignatures", false, "not checked: the tree head does not verify");
      continue;
    }
    VerifyReport::LogProofSummary sum;
    sum.log = PartyOf(head->log(), cards);
    sum.index = lp.index();
    sum.tree_size = head->size();
    sum.root_hex = ToHex(head->root());
    sum.tree_head_at_us = head->timestamp();
    check.Add("tree_head", true,
              "the log of " + Named(sum.log) + " has " + std::to_string(sum.tree_size) +
                  " entries under a head it signed at " + UtcText(sum.tree_head_at_us));
    auto kind = CheckLogEntry(lp, *head, outer, envelope_sha, receipt_index);
    const bool included = check.Add(
        "inclusion_proof", kind.ok() ? Status{} : Status{kind.error()},
        kind.ok() ? "envelope is entry " + std::to_string(sum.index) + " of the " +
                        std::to_string(sum.tree_size) + "-entry log of " + Named(sum.log) +
                        ", which " + *kind + " it"
                  : "");
    auto witnesses = CheckCosignatures(lp, *head, cards);
    std::string names;
    if (witnesses.ok()) {
      for (const auto& w : *witnesses) names += (names.empty() ? "" : ", ") + Named(w.party);
    }
    const bool witnessed = check.Add(
        "cosignatures", witnesses.ok() ? Status{} : Status{witnesses.error()},
        !witnesses.ok() || witnesses->empty()
            ? "no witness has countersigned this tree head yet"
            : "tree head countersigned by " + names);
    if (included && witnessed) {
      sum.kind = *kind;
      sum.witnesses = std::move(witnesses).value();
      r.log_proofs.push_back(std::move(sum));
    }
  }

  CheckSenderRevocation(b, cards, outer.sender(), sender_key, &r, check);
  r.valid = r.errors.empty();
  return r;
}

}  // namespace rogatory
