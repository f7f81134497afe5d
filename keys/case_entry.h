// The cryptography of joint-investigation case entries (SPEC section 8;
// wire formats in proto/wire.proto, section "cases"). Pure functions: no
// I/O, no state. Which entries a node accepts (chains, forks, removals,
// epochs against the case's history) is the caller's business; this file
// checks what can be checked from one entry alone.
//
//   case id    = "c" || base32-lower(SHA-256("rogatory/case-id/v1" || 0x00
//                || lead fingerprint || case nonce)[0..15])        (25 chars)
//   entry hash = SHA-256(serialized CaseEntry, as received)
//   signature  = Ed25519 over "rogatory/case-entry/v1" || 0x00 || header
//                || SHA-256(body)
//   body       = serialized CaseMembership (membership entries), or
//                XChaCha20-Poly1305 of a serialized CaseBody under the
//                epoch key, nonce in the header, with
//   AD         = case_id || 0x00 || LE64(epoch) || author || LE64(seq)
//   epoch key  = 32 random bytes, wrapped for each member with crypto_box
//                between the lead's encryption key and the member's.
//
// All functions are thread-safe once InitCrypto() has returned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keys/crypto.h"
#include "keys/identity.h"
#include "keys/result.h"
#include "keys/secret.h"
#include "proto/wire.pb.h"

namespace rogatory {

inline constexpr size_t kCaseIdLength = 25;  // "c" + 24 base32 characters
inline constexpr size_t kEpochKeyBytes = 32;

// ------------------------------------------------------------------ ids, hashes

// The case id a lead derives from its fingerprint (raw, 20 bytes) and a
// random case nonce: unique without coordination and bound to the lead.
// Returns "c" followed by 24 characters of [a-z2-7].
std::string CaseId(std::string_view lead_fp, std::string_view nonce);
// OK if `id` has the form CaseId returns; kInvalidArgument otherwise.
Status ValidateCaseId(std::string_view id);

// The entry hash (32 bytes): SHA-256 of the serialized CaseEntry.
std::string CaseEntryHash(std::string_view entry_bytes);

// ------------------------------------------------------------------ entries

// Serializes `header` canonically, signs it with `body` (as the signature
// line above says) and returns the serialized CaseEntry. Does not check the
// header: signing a malformed one is the caller's bug, and VerifyCaseEntry
// refuses the result.
std::string SignCaseEntry(const wire::CaseEntryHeader& header, std::string body,
                          const SigningKey& author_key);

// An entry whose signature and header shape were checked.
struct VerifiedCaseEntry {
  wire::CaseEntryHeader header;
  std::string body;   // CaseEntry.body as received (membership or ciphertext)
  std::string hash;   // CaseEntryHash(bytes)
  std::string bytes;  // the serialized CaseEntry, as received: relays forward these
};

// Parses the outer CaseEntry and its header strictly and checks the header's
// shape (below), without checking the signature: to learn the author whose
// key VerifyCaseEntry needs. Nothing returned here is authenticated.
// kInvalidArgument if malformed.
Result<wire::CaseEntryHeader> PeekCaseEntryHeader(std::string_view entry_bytes);

// Parses the outer CaseEntry strictly, checks the signature with
// `author_signing_key` over the exact header bytes received, then parses the
// header strictly and checks that:
//   - version is 1 and the case id has the CaseId form;
//   - author is 20 bytes and is the fingerprint of `author_signing_key`;
//   - seq >= 1; prev is empty if seq == 1, else 32 bytes;
//   - type is known (not UNSPECIFIED);
//   - epoch >= 1;
//   - the case's first entry is the membership entry with seq 1: it, and
//     only it, has an empty membership hash, and it starts epoch 1; every
//     other entry has a 32-byte membership hash, and every later membership
//     entry an epoch above 1;
//   - a membership entry has no nonce; any other entry has a 24-byte nonce
//     and a body of at least a tag (16 bytes).
// kInvalidArgument if malformed, kUnauthenticated if the signature does not
// verify or was made by a key other than the author's. Does not parse the
// body: see ParseMembershipEntry and OpenCaseBody.
// `key_owner`: the fingerprint the key belongs to, when it is not derived
// from the key (an identity key after a rotation, keys/card.h).
Result<VerifiedCaseEntry> VerifyCaseEntry(std::string_view entry_bytes,
                                          std::string_view author_signing_key,
                                          std::string_view key_owner = {});

// ------------------------------------------------------------------ bodies

// Serializes `body`, encrypts it under `epoch_key` (kEpochKeyBytes; another
// size is a programmer error and aborts) with the AD above, taken from
// `*header` (case_id, epoch, author, seq: set them first), and sets
// header->nonce to the fresh random nonce. Returns the ciphertext, the
// CaseEntry body for SignCaseEntry. The plaintext copy is wiped.
std::string SealCaseBody(const SecretBytes& epoch_key, wire::CaseEntryHeader* header,
                         const wire::CaseBody& body);

// Decrypts `ciphertext` (a verified entry's body) under `epoch_key` with the
// AD from `header`, parses the CaseBody strictly and checks its fields: an
// assignee is empty or 20 bytes, task_state is empty or open|done|cancelled,
// each attachment passes ValidateAttachmentRef. kUnauthenticated if it does
// not decrypt (wrong key, or a byte changed), kInvalidArgument if the
// plaintext is malformed or the header is a membership entry's. The caller
// owns (and should wipe) attachment keys in the result.
Result<wire::CaseBody> OpenCaseBody(const SecretBytes& epoch_key,
                                    const wire::CaseEntryHeader& header,
                                    std::string_view ciphertext);

// ------------------------------------------------------------------ epoch keys

// A fresh random epoch key (kEpochKeyBytes).
SecretBytes NewEpochKey();

// Wraps `epoch_key` for the member `member_fp` (raw) with a random nonce.
// `shared` is BoxSharedKey(lead encryption secret, member encryption
// public key).
wire::WrappedEpochKey WrapEpochKey(const SecretBytes& shared, std::string_view member_fp,
                                   uint64_t epoch, const SecretBytes& epoch_key);

// Opens a wrapped epoch key. `shared` is BoxSharedKey(member encryption
// secret, lead encryption public key). Does not look at w.recipient or
// w.epoch (choose the key with FindEpochKey). kUnauthenticated if the box
// does not open (not for us, or changed) or does not hold kEpochKeyBytes.
Result<SecretBytes> UnwrapEpochKey(const SecretBytes& shared, const wire::WrappedEpochKey& w);

// The key of `epoch` wrapped for `member_fp` in `m`, or nullptr. The pointer
// is into `m`.
const wire::WrappedEpochKey* FindEpochKey(const wire::CaseMembership& m, std::string_view member_fp,
                                          uint64_t epoch);

// ------------------------------------------------------------------ membership

// Parses a membership entry's body strictly and checks what the body alone
// shows: version 1; at least one member; every member's fingerprint is 20
// bytes, its card verifies (VerifyCard) and is that fingerprint's, and no
// member is named twice; every wrapped key is for a member of this entry,
// with a 24-byte nonce and a box of an epoch key (48 bytes), and no
// (member, epoch) is wrapped twice; every removed fingerprint is 20 bytes,
// not named twice and not a member. kInvalidArgument (or the card's error)
// otherwise.
Result<wire::CaseMembership> ParseMembership(std::string_view body);

// What a node calls on a verified membership entry: checks that it is one,
// ParseMembership on its body, then what the header adds:
//   - the author (the lead) is a member;
//   - every member has exactly one key for the entry's epoch, and no key is
//     for a later epoch;
//   - the case's first entry (membership empty) carries a case nonce with
//     CaseId(author, case_nonce) == case_id, removes no one, and wraps no
//     earlier epoch's key; a later entry carries no case nonce.
// Whether earlier-epoch keys go only to members added by this entry, and
// whether the epoch follows the previous membership's, need the case's
// history and are the caller's to check.
Result<wire::CaseMembership> ParseMembershipEntry(const VerifiedCaseEntry& entry);

// The input of a membership entry, as the daemon assembles it.
struct MembershipDraft {
  std::string case_id;     // for the first entry, CaseId(lead, case_nonce)
  std::string title;       // case title (set in the first entry)
  std::string case_nonce;  // first entry only; empty afterwards
  uint64_t seq = 0;        // the lead's sequence number in the case
  std::string prev;        // hash of the lead's entry seq - 1; empty for seq 1
  uint64_t lamport = 0;
  uint64_t epoch = 0;               // the epoch this entry starts: 1 for the first
  std::string previous_membership;  // hash of the previous membership entry; empty for the first
  int64_t created_at = 0;           // microseconds since the Unix epoch
  // Serialized SignedCard of every member of the new epoch, the lead included.
  std::vector<std::string> member_cards;
  // Members removed by this entry: (fingerprint, last accepted seq).
  std::vector<std::pair<std::string, uint64_t>> removed;
  // Earlier epochs' keys (epoch, key) for the members in `added`, which must
  // be members of the new epoch. The pointers must outlive the call.
  std::vector<std::pair<uint64_t, const SecretBytes*>> history_keys;
  std::vector<std::string> added;  // fingerprints (raw) that get history_keys
};

// Builds and signs a membership entry: the lead's key wrapping for every
// member (the new epoch's `epoch_key`, plus history_keys for `added`),
// then checks the result as a receiver would (VerifyCaseEntry and
// ParseMembershipEntry), so it never returns an entry others refuse.
// Returns the serialized signed CaseEntry; the caller keeps `epoch_key`.
// kInvalidArgument naming the problem if the draft is inconsistent (a card
// does not verify, the lead is not a member, an added fingerprint is not a
// member, a history epoch is not earlier than `epoch`, ...).
Result<std::string> MakeMembershipEntry(const Identity& lead, const MembershipDraft& d,
                                        const SecretBytes& epoch_key);

}  // namespace rogatory
