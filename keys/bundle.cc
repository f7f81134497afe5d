#include "keys/bundle.h"

#include <map>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "proto/wire.pb.h"

namespace rogatory {

std::string MakeBundle(const BundleParts& parts) {
  wire::Bundle b;
  b.set_version(1);
  b.set_envelope(parts.envelope);
  if (parts.content_key != nullptr) b.set_content_key(std::string(parts.content_key->view()));
  for (const auto& c : parts.cards) b.add_cards(c);
  for (const auto& r : parts.receipts) b.add_receipts(r);
  b.set_permission_ref(parts.permission_ref);
  b.set_exported_at(parts.exported_at_us);
  std::string bytes = SerializeCanonical(b);
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
  if (!check.Add("bundle_version", b.version() == 1,
                 b.version() == 1 ? "version 1"
                                  : "unsupported bundle version " + std::to_string(b.version()))) {
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
  const wire::Card& sc = sender_card->second.card;
  const bool in_validity =
      outer.created_at() >= sc.valid_from() && outer.created_at() <= sc.valid_until();
  check.Add("sender_card_validity", in_validity,
            in_validity ? "message created within the sender card's validity period"
                        : "message created outside the sender card's validity period");
  const std::string& sender_key = sender_card->second.card.signing_key();
  check.Add("outer_signature", VerifyOuterSignature(*env, sender_key),
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
  for (const auto& sr : b.receipts()) {
    // Signed bytes first: the signer is the recipient whose card's key
    // verifies the signature; only then is the receipt body parsed.
    Status st = MakeError(Code::kUnauthenticated,
                          "receipt is not signed by any recipient whose card the bundle carries");
    std::string who = "no recipient";
    for (const auto& rc : outer.recipients()) {
      auto card = cards.find(rc);
      if (card == cards.end()) continue;
      auto verified = VerifyReceipt(sr, card->second.card.signing_key());
      if (verified.ok()) {
        who = FingerprintText(rc);
        st = CheckReceiptMatches(*verified, outer.message_id(), outer.sender(), rc,
                                 envelope_sha, opened.ok() ? opened->inner_signed_sha256 : "");
        if (st.ok() && opened.ok()) st = ReceiptCoversAttachments(*verified, opened->inner);
        if (st.ok()) {
          r.receipts.push_back({card->second.card.node_id(), who, verified->received_at()});
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

  r.valid = r.errors.empty();
  return r;
}

}  // namespace rogatory
