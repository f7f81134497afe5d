#include "keys/case_entry.h"

#include <cctype>

#include <sodium.h>

#include <cstdlib>
#include <set>
#include <utility>

#include "keys/attachment.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"

namespace rogatory {

namespace {

// Domain separation of case ids. A hash, not a signature: not in labels.h's
// signing set, but versioned the same way.
constexpr char kCaseIdLabel[] = "rogatory/case-id/v1";
constexpr size_t kCaseIdHashBytes = 15;  // 120 bits: 24 base32 characters, no padding
constexpr size_t kWrappedEpochKeyBytes = kEpochKeyBytes + crypto_box_MACBYTES;

static_assert(kEpochKeyBytes == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kXNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kXNonceBytes == crypto_box_NONCEBYTES);
static_assert(kAeadTagBytes == crypto_aead_xchacha20poly1305_ietf_ABYTES);

void AppendLe64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    out->push_back(static_cast<char>(v & 0xff));
    v >>= 8;
  }
}

// What the entry signature covers after the label: the header bytes as
// received, then SHA-256(body). The hash is fixed-length and last, so the
// split is unambiguous.
std::string SignedBytes(std::string_view header, std::string_view body) {
  std::string out(header);
  out.append(Sha256(body));
  return out;
}

std::string BodyAd(const wire::CaseEntryHeader& h) {
  std::string ad(h.case_id());
  ad.push_back('\0');
  AppendLe64(&ad, h.epoch());
  ad.append(h.author());
  AppendLe64(&ad, h.seq());
  return ad;
}

Error Malformed(const std::string& what) {
  return MakeError(Code::kInvalidArgument, "case entry " + what);
}

// The checks one header allows without keys or history (see
// VerifyCaseEntry in the header).
Status CheckHeaderShape(const wire::CaseEntryHeader& h) {
  if (h.version() != 1) {
    return Malformed("has unsupported version " + std::to_string(h.version()));
  }
  if (!ValidateCaseId(h.case_id()).ok()) return Malformed("has a malformed case id");
  if (h.author().size() != kFingerprintBytes) return Malformed("author fingerprint is malformed");
  if (h.seq() == 0) return Malformed("has sequence number 0 (they start at 1)");
  if (h.seq() == 1 ? !h.prev().empty() : h.prev().size() != kSha256Bytes) {
    return Malformed("previous-entry hash does not fit its sequence number");
  }
  if (h.type() == wire::CASE_ENTRY_UNSPECIFIED || !wire::CaseEntryType_IsValid(h.type())) {
    return Malformed("has an unknown type");
  }
  if (h.epoch() == 0) return Malformed("has epoch 0 (epochs start at 1)");
  const bool membership = h.type() == wire::CASE_MEMBERSHIP;
  // Only the lead writes membership entries, and its first entry creates the
  // case: so for them seq 1, epoch 1 and "no previous membership" coincide.
  const bool first = membership && h.seq() == 1;
  if (first ? !h.membership().empty() || h.epoch() != 1
            : h.membership().size() != kSha256Bytes || (membership && h.epoch() == 1)) {
    return Malformed(
        "membership hash or epoch is malformed (only the case's first entry, a membership "
        "entry with sequence 1, has epoch 1 and no membership hash)");
  }
  if (membership ? !h.nonce().empty() : h.nonce().size() != kXNonceBytes) {
    return Malformed("nonce does not fit its type");
  }
  return {};
}

Status ParseOuter(std::string_view bytes, wire::CaseEntry* entry) {
  ROG_RETURN_IF_ERROR(ParseStrict(bytes, entry, "case entry"));
  if (entry->signature().size() != kSignatureBytes) {
    return Malformed("signature has the wrong size");
  }
  return {};
}

Status CheckHeaderAndBody(const wire::CaseEntryHeader& h, std::string_view body) {
  ROG_RETURN_IF_ERROR(CheckHeaderShape(h));
  if (h.type() != wire::CASE_MEMBERSHIP && body.size() < kAeadTagBytes) {
    return Malformed("body is shorter than an authentication tag");
  }
  return {};
}

}  // namespace

std::string CaseId(std::string_view lead_fp, std::string_view nonce) {
  std::string input(kCaseIdLabel);
  input.push_back('\0');
  input.append(lead_fp);
  input.append(nonce);
  const std::string digest = Sha256(input).substr(0, kCaseIdHashBytes);
  std::string out = Base32(digest);
  out.insert(out.begin(), 'C');
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  // 15 bytes are exactly 24 characters: no bits are left over.
  return out;
}

Status ValidateCaseId(std::string_view id) {
  bool ok = id.size() == kCaseIdLength && id[0] == 'c';
  for (size_t i = 1; ok && i < id.size(); ++i) {
    const char c = id[i];
    ok = (c >= 'a' && c <= 'z') || (c >= '2' && c <= '7');
  }
  if (!ok) {
    return MakeError(Code::kInvalidArgument,
                     "case id is not 'c' followed by 24 characters of a-z and 2-7");
  }
  return {};
}

std::string CaseEntryHash(std::string_view entry_bytes) { return Sha256(entry_bytes); }

std::string SignCaseEntry(const wire::CaseEntryHeader& header, std::string body,
                          const SigningKey& author_key) {
  wire::CaseEntry e;
  e.set_header(SerializeCanonical(header));
  e.set_signature(Sign(author_key, labels::kCaseEntry, SignedBytes(e.header(), body)));
  e.set_body(std::move(body));
  return SerializeCanonical(e);
}

Result<wire::CaseEntryHeader> PeekCaseEntryHeader(std::string_view entry_bytes) {
  wire::CaseEntry e;
  ROG_RETURN_IF_ERROR(ParseOuter(entry_bytes, &e));
  wire::CaseEntryHeader h;
  ROG_RETURN_IF_ERROR(ParseStrict(e.header(), &h, "case entry header"));
  ROG_RETURN_IF_ERROR(CheckHeaderAndBody(h, e.body()));
  return h;
}

Result<VerifiedCaseEntry> VerifyCaseEntry(std::string_view entry_bytes,
                                          std::string_view author_signing_key,
                                          std::string_view key_owner) {
  wire::CaseEntry e;
  ROG_RETURN_IF_ERROR(ParseOuter(entry_bytes, &e));
  if (!Verify(author_signing_key, labels::kCaseEntry, SignedBytes(e.header(), e.body()),
              e.signature())) {
    return MakeError(Code::kUnauthenticated, "case entry signature does not verify");
  }
  VerifiedCaseEntry v;
  ROG_RETURN_IF_ERROR(ParseStrict(e.header(), &v.header, "case entry header"));
  ROG_RETURN_IF_ERROR(CheckHeaderAndBody(v.header, e.body()));
  // The key verified the bytes; it must also be the key of the author they
  // name, or a caller that looked up the wrong key would accept a forgery.
  // After an identity rotation the key no longer hashes to the author's
  // fingerprint (keys/card.h): the caller names whose key it is.
  const std::string owner =
      key_owner.empty() ? FingerprintOf(author_signing_key) : std::string(key_owner);
  if (owner != v.header.author()) {
    return MakeError(Code::kUnauthenticated,
                     "case entry is signed by a key other than its author's");
  }
  v.body = std::move(*e.mutable_body());
  v.hash = CaseEntryHash(entry_bytes);
  v.bytes = std::string(entry_bytes);
  return v;
}

std::string SealCaseBody(const SecretBytes& epoch_key, wire::CaseEntryHeader* header,
                         const wire::CaseBody& body) {
  if (epoch_key.size() != kEpochKeyBytes) std::abort();  // a bug: keys are checked on entry
  std::string plaintext = SerializeCanonical(body);
  std::string nonce;
  std::string ct = AeadSeal(epoch_key, plaintext, BodyAd(*header), &nonce);
  sodium_memzero(plaintext.data(), plaintext.size());
  header->set_nonce(nonce);
  return ct;
}

Result<wire::CaseBody> OpenCaseBody(const SecretBytes& epoch_key,
                                    const wire::CaseEntryHeader& header,
                                    std::string_view ciphertext) {
  if (header.type() == wire::CASE_MEMBERSHIP) {
    return MakeError(Code::kInvalidArgument, "a membership entry's body is not encrypted");
  }
  auto plain = AeadOpen(epoch_key, header.nonce(), ciphertext, BodyAd(header));
  if (!plain.ok()) {
    return MakeError(Code::kUnauthenticated,
                     "case entry body does not decrypt under this epoch key");
  }
  wire::CaseBody body;
  const Status parsed = ParseStrict(plain.value(), &body, "case entry body");
  WipeString(plain.value());
  if (!parsed.ok()) return parsed.error();
  if (!body.assignee().empty() && body.assignee().size() != kFingerprintBytes) {
    return MakeError(Code::kInvalidArgument, "case entry body has a malformed assignee");
  }
  const std::string& s = body.task_state();
  if (!s.empty() && s != "open" && s != "done" && s != "cancelled") {
    return MakeError(Code::kInvalidArgument,
                     "case entry body has a task state other than open, done or cancelled");
  }
  for (const auto& a : body.attachments()) {
    ROG_RETURN_IF_ERROR(ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size()));
  }
  return body;
}

SecretBytes NewEpochKey() {
  SecretBytes key(kEpochKeyBytes);
  randombytes_buf(key.data(), key.size());
  return key;
}

wire::WrappedEpochKey WrapEpochKey(const SecretBytes& shared, std::string_view member_fp,
                                   uint64_t epoch, const SecretBytes& epoch_key) {
  wire::WrappedEpochKey w;
  w.set_recipient(std::string(member_fp));
  w.set_epoch(epoch);
  std::string nonce;
  w.set_box(BoxSeal(shared, epoch_key.view(), &nonce));
  w.set_nonce(nonce);
  return w;
}

Result<SecretBytes> UnwrapEpochKey(const SecretBytes& shared, const wire::WrappedEpochKey& w) {
  ROG_ASSIGN_OR_RETURN(SecretBytes key, BoxOpen(shared, w.nonce(), w.box()));
  if (key.size() != kEpochKeyBytes) {
    return MakeError(Code::kUnauthenticated, "wrapped epoch key has the wrong size");
  }
  return key;
}

const wire::WrappedEpochKey* FindEpochKey(const wire::CaseMembership& m, std::string_view member_fp,
                                          uint64_t epoch) {
  for (const auto& k : m.keys()) {
    if (k.recipient() == member_fp && k.epoch() == epoch) return &k;
  }
  return nullptr;
}

Result<wire::CaseMembership> ParseMembership(std::string_view body) {
  wire::CaseMembership m;
  ROG_RETURN_IF_ERROR(ParseStrict(body, &m, "case membership"));
  auto bad = [](const std::string& what) {
    return MakeError(Code::kInvalidArgument, "case membership " + what);
  };
  if (m.version() != 1) {
    return bad("has unsupported version " + std::to_string(m.version()));
  }
  if (m.members().empty()) return bad("has no members");
  std::set<std::string> members;
  for (const auto& mem : m.members()) {
    if (mem.fingerprint().size() != kFingerprintBytes) {
      return bad("has a malformed member fingerprint");
    }
    auto card = VerifyCard(mem.card());
    if (!card.ok()) {
      return MakeError(card.error().code, "case membership member " +
                                              FingerprintText(mem.fingerprint()) + ": " +
                                              card.error().message);
    }
    if (card->fingerprint != mem.fingerprint()) {
      return bad("member " + FingerprintText(mem.fingerprint()) + " carries another node's card");
    }
    if (!members.insert(mem.fingerprint()).second) {
      return bad("names member " + FingerprintText(mem.fingerprint()) + " twice");
    }
  }
  std::set<std::pair<std::string, uint64_t>> wrapped;
  for (const auto& k : m.keys()) {
    if (members.count(k.recipient()) == 0) {
      return bad("wraps a key for a node that is not a member");
    }
    if (k.nonce().size() != kXNonceBytes || k.box().size() != kWrappedEpochKeyBytes) {
      return bad("has a malformed wrapped key");
    }
    if (!wrapped.insert({k.recipient(), k.epoch()}).second) {
      return bad("wraps the key of epoch " + std::to_string(k.epoch()) + " twice for member " +
                 FingerprintText(k.recipient()));
    }
  }
  std::set<std::string> removed;
  for (const auto& r : m.removed()) {
    if (r.fingerprint().size() != kFingerprintBytes) {
      return bad("has a malformed removed fingerprint");
    }
    if (members.count(r.fingerprint()) != 0) {
      return bad("removes " + FingerprintText(r.fingerprint()) + " but keeps it as a member");
    }
    if (!removed.insert(r.fingerprint()).second) {
      return bad("removes " + FingerprintText(r.fingerprint()) + " twice");
    }
  }
  return m;
}

Result<wire::CaseMembership> ParseMembershipEntry(const VerifiedCaseEntry& entry) {
  const wire::CaseEntryHeader& h = entry.header;
  if (h.type() != wire::CASE_MEMBERSHIP) {
    return MakeError(Code::kInvalidArgument, "case entry is not a membership entry");
  }
  ROG_ASSIGN_OR_RETURN(wire::CaseMembership m, ParseMembership(entry.body));
  auto bad = [](const std::string& what) {
    return MakeError(Code::kInvalidArgument, "case membership " + what);
  };
  bool lead_is_member = false;
  for (const auto& mem : m.members()) {
    if (mem.fingerprint() == h.author()) lead_is_member = true;
    if (FindEpochKey(m, mem.fingerprint(), h.epoch()) == nullptr) {
      return bad("gives member " + FingerprintText(mem.fingerprint()) +
                 " no key for the epoch it starts");
    }
  }
  if (!lead_is_member) return bad("does not name its author (the lead) as a member");
  const bool first = h.membership().empty();
  for (const auto& k : m.keys()) {
    if (k.epoch() > h.epoch() || (first && k.epoch() != h.epoch())) {
      return bad("wraps a key for epoch " + std::to_string(k.epoch()) + " in an entry of epoch " +
                 std::to_string(h.epoch()));
    }
  }
  if (first) {
    if (m.case_nonce().empty() || CaseId(h.author(), m.case_nonce()) != h.case_id()) {
      return bad("of a new case does not derive its case id from the lead and case nonce");
    }
    if (!m.removed().empty()) return bad("of a new case removes members");
  } else if (!m.case_nonce().empty()) {
    return bad("carries a case nonce, which only the case's first entry does");
  }
  return m;
}

Result<std::string> MakeMembershipEntry(const Identity& lead, const MembershipDraft& d,
                                        const SecretBytes& epoch_key) {
  if (epoch_key.size() != kEpochKeyBytes) {
    return MakeError(Code::kInvalidArgument, "epoch key has the wrong size");
  }
  wire::CaseMembership m;
  m.set_version(1);
  m.set_title(d.title);
  m.set_case_nonce(d.case_nonce);

  // Verify every card once and keep its encryption key for the wrapping.
  std::vector<std::pair<std::string, std::string>> member_keys;  // (fp, encryption key)
  for (const auto& card_bytes : d.member_cards) {
    auto card = VerifyCard(card_bytes);
    if (!card.ok()) {
      return MakeError(card.error().code, "member card: " + card.error().message);
    }
    auto* mem = m.add_members();
    mem->set_fingerprint(card->fingerprint);
    mem->set_card(card_bytes);
    member_keys.emplace_back(card->fingerprint, card->card.encryption_key());
  }
  std::set<std::string> added(d.added.begin(), d.added.end());
  for (const auto& fp : added) {
    bool found = false;
    for (const auto& mk : member_keys) found = found || mk.first == fp;
    if (!found) {
      return MakeError(Code::kInvalidArgument,
                       "added node " + FingerprintText(fp) + " is not a member of the new epoch");
    }
  }
  for (const auto& [epoch, key] : d.history_keys) {
    if (key == nullptr || key->size() != kEpochKeyBytes || epoch >= d.epoch) {
      return MakeError(Code::kInvalidArgument,
                       "history key for epoch " + std::to_string(epoch) +
                           " is missing, of the wrong size, or not earlier than the new epoch");
    }
  }
  for (const auto& [fp, enc_key] : member_keys) {
    ROG_ASSIGN_OR_RETURN(SecretBytes shared, BoxSharedKey(lead.encryption().secret, enc_key));
    *m.add_keys() = WrapEpochKey(shared, fp, d.epoch, epoch_key);
    if (added.count(fp) == 0) continue;
    for (const auto& [epoch, key] : d.history_keys) {
      *m.add_keys() = WrapEpochKey(shared, fp, epoch, *key);
    }
  }
  for (const auto& [fp, last_seq] : d.removed) {
    auto* r = m.add_removed();
    r->set_fingerprint(fp);
    r->set_last_seq(last_seq);
  }

  wire::CaseEntryHeader h;
  h.set_version(1);
  h.set_case_id(d.case_id);
  h.set_author(lead.fingerprint());
  h.set_seq(d.seq);
  h.set_prev(d.prev);
  h.set_lamport(d.lamport);
  h.set_epoch(d.epoch);
  h.set_membership(d.previous_membership);
  h.set_type(wire::CASE_MEMBERSHIP);
  h.set_created_at(d.created_at);
  std::string entry = SignCaseEntry(h, SerializeCanonical(m), lead.signing());

  // Check the entry as every receiver will, so a bad draft fails here and
  // not at each member.
  ROG_ASSIGN_OR_RETURN(VerifiedCaseEntry v,
                       VerifyCaseEntry(entry, lead.signing().public_key, lead.fingerprint()));
  ROG_RETURN_IF_ERROR(ParseMembershipEntry(v));
  return entry;
}

}  // namespace rogatory
