#include "keys/envelope.h"

#include <sodium.h>

#include <set>

#include "keys/crypto.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/limits.h"
#include "keys/strict_parse.h"

namespace rogatory {

namespace {

std::string InnerSignedBytes(std::string_view inner_header, std::string_view body_sha256) {
  std::string input(inner_header);
  input.append(body_sha256);
  return input;
}

}  // namespace

Status ValidateMessageId(std::string_view id) {
  bool ok = !id.empty() && id.size() <= limits::kMaxMessageIdLength && id[0] != '-';
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                (c >= '0' && c <= '9') || c == '-' || c == '_');
  }
  if (!ok) {
    return MakeError(Code::kInvalidArgument,
                     "message id is not 1 to 64 letters, digits, '-' or '_' "
                     "(not starting with '-')");
  }
  return {};
}

std::string NewMessageId(int64_t now_us) {
  // Millisecond time in 10 base32 characters (50 bits), then 80 random bits
  // in 16: ids sort by creation time and never collide in practice.
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  uint64_t ms = static_cast<uint64_t>(now_us / 1000);
  std::string out(26, '0');
  for (int i = 9; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kAlphabet[ms & 31];
    ms >>= 5;
  }
  const std::string rnd = RandomBytes(10);
  unsigned buffer = 0;
  int bits = 0;
  size_t pos = 10;
  for (unsigned char c : rnd) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out[pos++] = kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

Result<std::string> SealEnvelope(const Identity& sender, const Draft& d,
                                 std::string* inner_signed_sha256) {
  ROG_RETURN_IF_ERROR(ValidateMessageId(d.message_id));
  if (d.recipients.empty() || d.recipients.size() > limits::kMaxRecipients) {
    return MakeError(Code::kInvalidArgument,
                     "a message needs 1 to " + std::to_string(limits::kMaxRecipients) +
                         " recipients");
  }
  if (d.expires_at_us <= d.created_at_us) {
    return MakeError(Code::kInvalidArgument, "expiry must be after creation");
  }
  // The same ranges every recipient enforces (ParseEnvelope, OpenEnvelope):
  // a message it would refuse is never sealed.
  if (d.priority <= wire::PRIORITY_UNSPECIFIED || d.priority > wire::PRIORITY_URGENT) {
    return MakeError(Code::kInvalidArgument,
                     "unknown priority code " + std::to_string(d.priority) + " (known: 1 to 3)");
  }
  if (d.inner.kind() < 0 || d.inner.kind() > wire::KIND_INFO) {
    return MakeError(Code::kInvalidArgument,
                     "unknown kind code " + std::to_string(d.inner.kind()) + " (known: 0 to 4)");
  }
  if (d.inner.handling() < 0 || d.inner.handling() > wire::HANDLING_H3) {
    return MakeError(Code::kInvalidArgument, "unknown handling code " +
                                                 std::to_string(d.inner.handling()) +
                                                 " (known: 0 to 3)");
  }
  SecretBytes content_key(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
  randombytes_buf(content_key.data(), content_key.size());

  wire::OuterHeader outer;
  outer.set_version(1);
  outer.set_message_id(d.message_id);
  outer.set_sender(sender.fingerprint());
  std::set<std::string> seen;
  for (const auto& r : d.recipients) {
    if (!seen.insert(r.fingerprint).second) {
      return MakeError(Code::kInvalidArgument, "a recipient is named twice");
    }
    outer.add_recipients(r.fingerprint);
  }
  outer.set_created_at(d.created_at_us);
  outer.set_expires_at(d.expires_at_us);
  outer.set_priority(d.priority);
  outer.set_key_commitment(KeyedHash(content_key, labels::kKeyCommitment));
  const std::string outer_bytes = SerializeCanonical(outer);

  wire::InnerHeader inner = d.inner;
  inner.set_outer_header(outer_bytes);
  wire::Payload payload;
  payload.set_inner_header(SerializeCanonical(inner));
  const std::string inner_signed = InnerSignedBytes(payload.inner_header(), Sha256(d.body));
  payload.set_inner_signature(Sign(sender.signing(), labels::kEnvelopeInner, inner_signed));
  if (inner_signed_sha256 != nullptr) {
    std::string labeled(labels::kEnvelopeInner);
    labeled.push_back('\0');
    labeled.append(inner_signed);
    *inner_signed_sha256 = Sha256(labeled);
  }
  payload.set_body(d.body);
  std::string plaintext = SerializeCanonical(payload);

  wire::SealedMessage sealed;
  sealed.set_outer_header(outer_bytes);
  for (const auto& r : d.recipients) {
    SecretBytes computed;
    if (r.shared == nullptr) {
      ROG_ASSIGN_OR_RETURN(computed, BoxSharedKey(sender.encryption().secret, r.encryption_key));
    }
    const SecretBytes& shared = r.shared != nullptr ? *r.shared : computed;
    auto* wk = sealed.add_wrapped_keys();
    wk->set_recipient(r.fingerprint);
    std::string nonce;
    wk->set_box(BoxSeal(shared, content_key.view(), &nonce));
    wk->set_nonce(nonce);
  }
  std::string nonce;
  sealed.set_ciphertext(AeadSeal(content_key, plaintext, outer_bytes, &nonce));
  sealed.set_nonce(nonce);
  sodium_memzero(plaintext.data(), plaintext.size());

  wire::Envelope env;
  env.set_sealed(SerializeCanonical(sealed));
  env.set_signature(Sign(sender.signing(), labels::kEnvelopeOuter, env.sealed()));
  return SerializeCanonical(env);
}

Result<ParsedEnvelope> ParseEnvelope(std::string_view bytes) {
  ParsedEnvelope p;
  ROG_RETURN_IF_ERROR(ParseStrict(bytes, &p.envelope, "envelope"));
  ROG_RETURN_IF_ERROR(ParseStrict(p.envelope.sealed(), &p.sealed, "sealed message"));
  ROG_RETURN_IF_ERROR(ParseStrict(p.sealed.outer_header(), &p.outer, "outer header"));
  const wire::OuterHeader& o = p.outer;
  if (o.version() != 1) {
    return MakeError(Code::kInvalidArgument,
                     "envelope has unsupported version " + std::to_string(o.version()));
  }
  ROG_RETURN_IF_ERROR(ValidateMessageId(o.message_id()));
  if (o.sender().size() != kFingerprintBytes) {
    return MakeError(Code::kInvalidArgument, "envelope sender fingerprint is malformed");
  }
  if (o.recipients().empty() ||
      static_cast<size_t>(o.recipients_size()) > limits::kMaxRecipients) {
    return MakeError(Code::kInvalidArgument, "envelope has no or too many recipients");
  }
  if (o.expires_at() <= o.created_at() || o.key_commitment().size() != 32 ||
      o.priority() <= wire::PRIORITY_UNSPECIFIED || o.priority() > wire::PRIORITY_URGENT) {
    return MakeError(Code::kInvalidArgument, "envelope header fields are invalid");
  }
  if (p.envelope.signature().size() != kSignatureBytes ||
      p.sealed.nonce().size() != kXNonceBytes ||
      p.sealed.wrapped_keys_size() != o.recipients_size()) {
    return MakeError(Code::kInvalidArgument, "envelope structure is invalid");
  }
  std::set<std::string> recipients;
  for (const auto& r : o.recipients()) {
    if (r.size() != kFingerprintBytes || !recipients.insert(r).second) {
      return MakeError(Code::kInvalidArgument, "envelope recipient list is invalid");
    }
  }
  for (int i = 0; i < p.sealed.wrapped_keys_size(); ++i) {
    const auto& wk = p.sealed.wrapped_keys(i);
    if (wk.recipient() != o.recipients(i) || wk.nonce().size() != kXNonceBytes ||
        wk.box().size() != kSymmetricKeyBytes + 16) {
      return MakeError(Code::kInvalidArgument, "envelope wrapped key is invalid");
    }
  }
  p.bytes = std::string(bytes);
  return p;
}

Status VerifyOuterSignature(const ParsedEnvelope& env,
                            std::string_view sender_signing_key, std::string_view key_owner) {
  // The key must be the sender's, or a caller that looked up the wrong key
  // would accept a forgery. After an identity rotation the key no longer
  // hashes to the node's fingerprint (keys/card.h): the caller names whose
  // key it is.
  const std::string owner =
      key_owner.empty() ? FingerprintOf(sender_signing_key) : std::string(key_owner);
  if (owner != env.outer.sender() ||
      !Verify(sender_signing_key, labels::kEnvelopeOuter, env.envelope.sealed(),
              env.envelope.signature())) {
    return MakeError(Code::kUnauthenticated, "envelope outer signature does not verify");
  }
  return {};
}

Result<OpenedMessage> OpenWithContentKey(const ParsedEnvelope& env, SecretBytes key,
                                         std::string_view sender_signing_key) {
  if (key.size() != kSymmetricKeyBytes ||
      sodium_memcmp(KeyedHash(key, labels::kKeyCommitment).data(),
                    env.outer.key_commitment().data(), 32) != 0) {
    return MakeError(Code::kUnauthenticated,
                     "content key does not match the envelope's key commitment");
  }
  auto plain = AeadOpen(key, env.sealed.nonce(), env.sealed.ciphertext(),
                        env.sealed.outer_header());
  if (!plain.ok()) return plain.error();
  OpenedMessage m;
  const Status parsed = ParseStrict(plain.value(), &m.payload, "payload");
  WipeString(plain.value());
  if (!parsed.ok()) return parsed.error();
  ROG_RETURN_IF_ERROR(ParseStrict(m.payload.inner_header(), &m.inner, "inner header"));
  if (m.inner.kind() < 0 || m.inner.kind() > wire::KIND_INFO || m.inner.handling() < 0 ||
      m.inner.handling() > wire::HANDLING_H3) {
    return MakeError(Code::kInvalidArgument, "inner header has an unknown kind or handling code");
  }
  if (m.inner.outer_header() != env.sealed.outer_header()) {
    return MakeError(Code::kUnauthenticated,
                     "inner header names a different outer header (re-addressed message)");
  }
  m.body_sha256 = Sha256(m.payload.body());
  const std::string signed_bytes = InnerSignedBytes(m.payload.inner_header(), m.body_sha256);
  if (!Verify(sender_signing_key, labels::kEnvelopeInner, signed_bytes,
              m.payload.inner_signature())) {
    return MakeError(Code::kUnauthenticated, "envelope inner signature does not verify");
  }
  std::string labeled(labels::kEnvelopeInner);
  labeled.push_back('\0');
  labeled.append(signed_bytes);
  m.inner_signed_sha256 = Sha256(labeled);
  m.content_key = std::move(key);
  return m;
}

Result<OpenedMessage> OpenEnvelope(const ParsedEnvelope& env,
                                   const SecretBytes& our_encryption_secret,
                                   std::string_view wrapped_for_fingerprint,
                                   std::string_view peer_encryption_key,
                                   std::string_view sender_signing_key) {
  ROG_ASSIGN_OR_RETURN(SecretBytes shared,
                       BoxSharedKey(our_encryption_secret, peer_encryption_key));
  return OpenEnvelopeShared(env, shared, wrapped_for_fingerprint, sender_signing_key);
}

Result<OpenedMessage> OpenEnvelopeShared(const ParsedEnvelope& env, const SecretBytes& shared,
                                         std::string_view wrapped_for_fingerprint,
                                         std::string_view sender_signing_key) {
  const wire::WrappedKey* wk = nullptr;
  for (const auto& k : env.sealed.wrapped_keys()) {
    if (k.recipient() == wrapped_for_fingerprint) wk = &k;
  }
  if (wk == nullptr) {
    return MakeError(Code::kPermissionDenied, "this node is not a recipient of the message");
  }
  ROG_ASSIGN_OR_RETURN(SecretBytes key, BoxOpen(shared, wk->nonce(), wk->box()));
  return OpenWithContentKey(env, std::move(key), sender_signing_key);
}

}  // namespace rogatory
