// Sealing and opening envelopes exactly as SPEC section 4 describes.
//
//   OuterHeader  = version, id, sender, recipients, created, expiry,
//                  priority, key commitment = BLAKE2b-256_K("rogatory/key-commitment/v1")
//   InnerHeader  = OuterHeader bytes, subject, kind, handling, case, reply-to,
//                  attachments
//   inner sig    = Ed25519(label_inner || 0 || InnerHeader || SHA-256(body))
//   Payload      = InnerHeader bytes, inner sig, body
//   ciphertext   = XChaCha20-Poly1305_K(Payload, AD = OuterHeader bytes)
//   wrapped key  = crypto_box_afternm(K) per recipient, random nonce
//   SealedMessage= OuterHeader bytes, wrapped keys, nonce, ciphertext
//   outer sig    = Ed25519(label_outer || 0 || SealedMessage)
//
// Verification order: strict parse, outer signature (junk is rejected before
// any decryption), unwrap, key commitment, decrypt, inner header binds the
// same outer header bytes, inner signature.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keys/identity.h"
#include "keys/result.h"
#include "keys/secret.h"
#include "proto/wire.pb.h"

namespace rogatory {

struct Recipient {
  std::string fingerprint;     // raw 20 bytes
  std::string encryption_key;  // X25519 public key
  // Optional: the precomputed crypto_box shared key between the sender's
  // encryption key and this recipient's (BoxSharedKey); saves a scalar
  // multiplication per message. Not owned.
  const SecretBytes* shared = nullptr;
};

struct Draft {
  std::string message_id;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  wire::Priority priority = wire::PRIORITY_NORMAL;
  std::vector<Recipient> recipients;
  wire::InnerHeader inner;  // outer_header is filled in by Seal
  std::string body;
};

// Returns the serialized Envelope. If `inner_signed_sha256` is given, it
// receives the SHA-256 of the inner signature's input (what receipts name).
Result<std::string> SealEnvelope(const Identity& sender, const Draft& draft,
                                 std::string* inner_signed_sha256 = nullptr);

// A strictly parsed envelope whose structure was checked, signature not yet.
struct ParsedEnvelope {
  std::string bytes;  // serialized Envelope, as received
  wire::Envelope envelope;
  wire::SealedMessage sealed;
  wire::OuterHeader outer;
};

// Strict parse and structural checks (versions, sizes, one wrapped key per
// recipient, id syntax). kInvalidArgument on failure.
Result<ParsedEnvelope> ParseEnvelope(std::string_view bytes);

// Checks the outer signature against the sender's signing key.
// `key_owner`: the fingerprint the key belongs to, when it is not derived
// from the key (an identity key after a rotation, keys/card.h).
Status VerifyOuterSignature(const ParsedEnvelope& env,
                            std::string_view sender_signing_key,
                            std::string_view key_owner = {});

struct OpenedMessage {
  wire::Payload payload;
  wire::InnerHeader inner;
  SecretBytes content_key;
  std::string inner_signed_sha256;  // SHA-256 of the inner signature's input
  std::string body_sha256;
};

// Unwraps our key (as a recipient, or as the sender for any recipient) and
// opens the payload. `peer_encryption_key` is the sender's key when we are a
// recipient, or the chosen recipient's when we are the sender.
Result<OpenedMessage> OpenEnvelope(const ParsedEnvelope& env,
                                   const SecretBytes& our_encryption_secret,
                                   std::string_view wrapped_for_fingerprint,
                                   std::string_view peer_encryption_key,
                                   std::string_view sender_signing_key);

// Same, with the precomputed crypto_box shared key between our encryption
// key and the peer's.
Result<OpenedMessage> OpenEnvelopeShared(const ParsedEnvelope& env, const SecretBytes& shared,
                                         std::string_view wrapped_for_fingerprint,
                                         std::string_view sender_signing_key);

// Opens the payload with a disclosed content key (offline verification).
Result<OpenedMessage> OpenWithContentKey(const ParsedEnvelope& env,
                                         SecretBytes content_key,
                                         std::string_view sender_signing_key);

Status ValidateMessageId(std::string_view id);
std::string NewMessageId(int64_t now_us);

}  // namespace rogatory
