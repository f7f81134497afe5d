#include "keys/card.h"

#include <algorithm>
#include <cctype>

#include "keys/armor.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"

namespace rogatory {

Status ValidateNodeId(std::string_view id) {
  auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  };
  bool ok = id.size() >= 2 && id.size() <= 32 && id[0] != '-';
  for (char c : id) ok = ok && ok_char(c);
  if (!ok) {
    return MakeError(Code::kInvalidArgument,
                     "node id '" + std::string(id) +
                         "' is not valid: use 2 to 32 lower-case letters, digits "
                         "and '-', not starting with '-'");
  }
  return {};
}

Status ValidateCountry(std::string_view cc) {
  if (cc.size() != 2 || !std::isupper(static_cast<unsigned char>(cc[0])) ||
      !std::isupper(static_cast<unsigned char>(cc[1]))) {
    return MakeError(Code::kInvalidArgument,
                     "country '" + std::string(cc) +
                         "' is not an ISO 3166-1 alpha-2 code such as FR or NL");
  }
  return {};
}

Status ValidateEndpoint(std::string_view endpoint, bool strict_host) {
  const std::string_view prefix = "tcp://";
  const size_t colon = endpoint.rfind(':');
  bool ok = endpoint.substr(0, prefix.size()) == prefix &&
            colon != std::string_view::npos && colon > prefix.size() &&
            colon + 1 < endpoint.size();
  if (ok) {
    const std::string_view port = endpoint.substr(colon + 1);
    unsigned long value = 0;
    for (char c : port) {
      ok = ok && std::isdigit(static_cast<unsigned char>(c));
      value = value * 10 + static_cast<unsigned long>(c - '0');
      if (value > 65535) ok = false;
    }
    ok = ok && value > 0 && port.size() <= 5;
  }
  if (ok) {
    // HOST: `*`, an IPv6 address in brackets, or a DNS name, IPv4 address
    // or interface name. Nothing else: an endpoint is written into
    // node.toml and cards as it is, and shown in one-line messages.
    const std::string_view host = endpoint.substr(prefix.size(), colon - prefix.size());
    const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
    const std::string_view inner = bracketed ? host.substr(1, host.size() - 2) : host;
    for (char c : inner) {
      const bool plain = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                         c == '_' || (host == "*" && c == '*');
      const bool v6 = bracketed && (c == ':' || c == '%');
      const bool lenient = std::isgraph(static_cast<unsigned char>(c)) && c != '"' &&
                           c != '\'' && c != '\\';
      ok = ok && (strict_host ? (plain || v6) : lenient);
    }
    ok = ok && !inner.empty() && host.size() <= 255;
  }
  if (!ok) {
    std::string shown;
    for (char c : endpoint) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return MakeError(Code::kInvalidArgument,
                     "endpoint '" + shown +
                         "' is not of the form tcp://HOST:PORT (HOST: a name, an IPv4 "
                         "address, [an IPv6 address] or *)");
  }
  return {};
}

std::string SignCard(const wire::Card& card, const SigningKey& key) {
  wire::SignedCard signed_card;
  signed_card.set_card(SerializeCanonical(card));
  signed_card.set_signature(Sign(key, labels::kCard, signed_card.card()));
  return SerializeCanonical(signed_card);
}

namespace {

// One card and its self-signature and fields, without its chain.
Status CheckCardFields(const wire::SignedCard& sc, const wire::Card& c) {
  if (c.version() != 1) {
    return MakeError(Code::kInvalidArgument,
                     "identity card has unsupported version " + std::to_string(c.version()));
  }
  if (c.signing_key().size() != kPublicKeyBytes ||
      c.encryption_key().size() != kPublicKeyBytes ||
      c.transport_key().size() != kPublicKeyBytes) {
    return MakeError(Code::kInvalidArgument, "identity card has a key of the wrong size");
  }
  if (!Verify(c.signing_key(), labels::kCard, sc.card(), sc.signature())) {
    return MakeError(Code::kUnauthenticated,
                     "identity card signature does not verify");
  }
  ROG_RETURN_IF_ERROR(ValidateNodeId(c.node_id()));
  ROG_RETURN_IF_ERROR(ValidateCountry(c.country()));
  if (c.authority().empty()) {
    return MakeError(Code::kInvalidArgument, "identity card has no authority name");
  }
  if (c.endpoints().empty()) {
    return MakeError(Code::kInvalidArgument, "identity card has no endpoint");
  }
  for (const auto& e : c.endpoints()) {
    ROG_RETURN_IF_ERROR(ValidateEndpoint(e, /*strict_host=*/false));
  }
  if (c.sequence() == 0 || c.valid_until() <= c.valid_from() ||
      c.next_key_hash().size() != kSha256Bytes) {
    return MakeError(Code::kInvalidArgument,
                     "identity card has an invalid sequence, validity or next-key hash");
  }
  return {};
}

Result<VerifiedCard> VerifyChained(std::string_view signed_card, int depth) {
  if (depth >= kMaxCardChain) {
    return MakeError(Code::kInvalidArgument, "identity card chain is longer than " +
                                                 std::to_string(kMaxCardChain) + " cards");
  }
  wire::SignedCard sc;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_card, &sc, "identity card"));
  wire::Card c;
  ROG_RETURN_IF_ERROR(ParseStrict(sc.card(), &c, "identity card body"));
  ROG_RETURN_IF_ERROR(CheckCardFields(sc, c));
  if (sc.previous().empty() != sc.previous_signature().empty()) {
    return MakeError(Code::kInvalidArgument,
                     "identity card names a previous card without its signature, or the reverse");
  }
  VerifiedCard out;
  if (sc.previous().empty()) {
    out.fingerprint = FingerprintOf(c.signing_key());
  } else {
    ROG_ASSIGN_OR_RETURN(out, VerifyChained(sc.previous(), depth + 1));
    const wire::Card& prev = out.card;
    if (prev.node_id() != c.node_id() || c.sequence() != prev.sequence() + 1) {
      return MakeError(Code::kUnauthenticated,
                       "identity card does not follow the card it replaces (node id " +
                           c.node_id() + ", sequence " + std::to_string(c.sequence()) + " after " +
                           std::to_string(prev.sequence()) + ")");
    }
    if (!Verify(prev.signing_key(), labels::kCardRotation, sc.card(), sc.previous_signature())) {
      return MakeError(Code::kUnauthenticated,
                       "identity card sequence " + std::to_string(c.sequence()) +
                           " is not signed by the identity key of the card it replaces");
    }
    // The commitment moves only with the key it names: a rotation that
    // keeps the identity key keeps the next-key hash, or a thief of the
    // current key could commit to a key of its own and rotate to it next.
    if (c.signing_key() == prev.signing_key() && c.next_key_hash() != prev.next_key_hash()) {
      return MakeError(Code::kUnauthenticated,
                       "identity card sequence " + std::to_string(c.sequence()) +
                           " changes the next-key hash without changing the identity key");
    }
    if (c.signing_key() != prev.signing_key() &&
        NextKeyHash(c.signing_key()) != prev.next_key_hash()) {
      return MakeError(Code::kUnauthenticated,
                       "identity card sequence " + std::to_string(c.sequence()) +
                           " has a new identity key that does not match the next-key hash "
                           "committed in the card it replaces");
    }
  }
  out.chain.push_back(c);
  out.card = std::move(c);
  out.signed_bytes = std::string(signed_card);
  return out;
}

}  // namespace

std::vector<std::string> VerifiedCard::SigningKeys() const {
  std::vector<std::string> keys{card.signing_key()};
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if (std::find(keys.begin(), keys.end(), it->signing_key()) == keys.end()) {
      keys.push_back(it->signing_key());
    }
  }
  return keys;
}

const wire::Card* VerifiedCard::AtSequence(uint64_t seq) const {
  for (const auto& c : chain) {
    if (c.sequence() == seq) return &c;
  }
  return nullptr;
}

std::string SignRotatedCard(const wire::Card& card, const SigningKey& key,
                            std::string_view previous, const SigningKey& previous_key) {
  wire::SignedCard signed_card;
  signed_card.set_card(SerializeCanonical(card));
  signed_card.set_signature(Sign(key, labels::kCard, signed_card.card()));
  signed_card.set_previous(std::string(previous));
  signed_card.set_previous_signature(
      Sign(previous_key, labels::kCardRotation, signed_card.card()));
  return SerializeCanonical(signed_card);
}

Result<VerifiedCard> VerifyCard(std::string_view signed_card) {
  return VerifyChained(signed_card, 0);
}

Status CheckCardUpdate(const VerifiedCard& trusted, const VerifiedCard& update) {
  if (update.fingerprint != trusted.fingerprint || update.card.node_id() != trusted.card.node_id()) {
    return MakeError(Code::kUnauthenticated,
                     "card update for " + trusted.card.node_id() +
                         " does not chain to the identity key trusted for it");
  }
  const wire::Card* same = update.AtSequence(trusted.card.sequence());
  if (same != nullptr && SerializeCanonical(*same) == SerializeCanonical(trusted.card)) {
    return {};  // the trusted card is in the update's chain: a plain successor
  }
  // Recovery (pre-rotation, SPEC 9): the two chains part after a common card
  // A. If every trusted card after A kept A's identity key, and the update
  // moved to the key A committed to, the update wins: only the holder of
  // the next key can make it, while anyone who stole A's key could have
  // made the trusted branch.
  size_t common = 0;  // cards both chains hold, from the first
  while (common < trusted.chain.size() && common < update.chain.size() &&
         SerializeCanonical(trusted.chain[common]) == SerializeCanonical(update.chain[common])) {
    ++common;
  }
  if (common > 0 && common < update.chain.size()) {
    const wire::Card& a = trusted.chain[common - 1];
    bool trusted_kept_key = true;
    for (size_t i = common; i < trusted.chain.size(); ++i) {
      trusted_kept_key = trusted_kept_key && trusted.chain[i].signing_key() == a.signing_key();
    }
    if (trusted_kept_key && update.chain[common].signing_key() != a.signing_key()) return {};
  }
  if (update.card.sequence() < trusted.card.sequence()) {
    return MakeError(Code::kFailedPrecondition,
                     "card update for " + trusted.card.node_id() + " has sequence " +
                         std::to_string(update.card.sequence()) + ", older than the trusted " +
                         std::to_string(trusted.card.sequence()));
  }
  return MakeError(Code::kUnauthenticated,
                   "card update for " + trusted.card.node_id() +
                       " does not chain to the card trusted for it (sequence " +
                       std::to_string(trusted.card.sequence()) + ")");
}

// Whether `update` replaces `trusted` by the recovery rule above (the
// trusted card is not in its chain).
bool IsRecovery(const VerifiedCard& trusted, const VerifiedCard& update) {
  const wire::Card* same = update.AtSequence(trusted.card.sequence());
  return same == nullptr || SerializeCanonical(*same) != SerializeCanonical(trusted.card);
}

Result<VerifiedCard> VerifyArmoredCard(std::string_view text) {
  ROG_ASSIGN_OR_RETURN(std::string bytes, Dearmor(kCardArmorType, text));
  return VerifyCard(bytes);
}

std::string SignRevocation(const wire::Revocation& revocation, const SigningKey& key) {
  wire::SignedRevocation sr;
  sr.set_revocation(SerializeCanonical(revocation));
  sr.set_signature(Sign(key, labels::kRevocation, sr.revocation()));
  return SerializeCanonical(sr);
}

Result<wire::Revocation> VerifyRevocation(std::string_view signed_revocation,
                                          const VerifiedCard& card) {
  wire::SignedRevocation sr;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_revocation, &sr, "revocation"));
  wire::Revocation r;
  ROG_RETURN_IF_ERROR(ParseStrict(sr.revocation(), &r, "revocation body"));
  if (r.version() != 1 || r.node() != card.fingerprint) {
    return MakeError(Code::kInvalidArgument, "revocation is of another version or node");
  }
  const auto keys = card.SigningKeys();
  if (std::find(keys.begin(), keys.end(), r.signing_key()) == keys.end() ||
      !Verify(r.signing_key(), labels::kRevocation, sr.revocation(), sr.signature())) {
    return MakeError(Code::kUnauthenticated,
                     "revocation is not signed by an identity key of " + card.card.node_id());
  }
  return r;
}

std::string NextKeyHash(std::string_view next_signing_public_key) {
  std::string input(labels::kNextKey);
  input.push_back('\0');
  input.append(next_signing_public_key);
  return Sha256(input);
}

}  // namespace rogatory
