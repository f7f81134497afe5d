// Provenance bundles (`rogatory export` / `rogatory verify`). Verification
// needs nothing but the bundle: no node, no network, no database. This file
// and what it includes from keys/ and proto/ is the whole verifier.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keys/crypto.h"
#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

inline constexpr char kBundleArmorType[] = "BUNDLE";
// 2: exporter signature and audit-log proofs. Version 1 bundles (before
// them) still verify, for the signatures and receipts they carry.
inline constexpr uint32_t kBundleVersion = 2;

struct BundleParts {
  std::string envelope;                 // serialized Envelope
  const SecretBytes* content_key = nullptr;
  std::vector<std::string> cards;       // serialized SignedCard
  std::vector<std::string> receipts;    // serialized SignedReceipt
  // Serialized SignedRevocation of nodes whose cards are carried (SPEC 9).
  std::vector<std::string> revocations;
  // Each a serialized LogProof: the envelope's entry in an audit log, the
  // inclusion proof, the signed tree head and its cosignatures. One that
  // does not parse is carried as an empty LogProof, which fails `verify`.
  std::vector<std::string> log_proofs;
  std::string permission_ref;
  int64_t exported_at_us = 0;
  // The exporting node: its raw fingerprint (20 bytes), which must be the
  // envelope's sender or one of its recipients and whose card must be among
  // `cards`, and its signing key (borrowed for the call, not kept). Without
  // a key the bundle carries no signature, and `verify` fails it.
  std::string exporter;
  const SigningKey* exporter_key = nullptr;
};

// Returns the armored bundle text, signed by `parts.exporter_key` (when
// set) over labels::kBundle || 0x00 || the canonical Bundle with its
// `signature` empty. Does not check the parts: `verify` does. Thread-safe.
std::string MakeBundle(const BundleParts& parts);

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;
};

struct Party {
  std::string id;           // node id from its card ("" if no card)
  std::string fingerprint;  // text form
  std::string authority;
  std::string country;
};

struct VerifyReport {
  bool valid = false;
  Party sender;
  std::vector<Party> recipients;
  std::string message_id;
  int64_t created_at_us = 0;
  int64_t expires_at_us = 0;
  std::string subject;
  std::string handling;          // H0..H3
  std::string handling_note;
  std::string body_sha256_hex;
  std::string permission_ref;
  int64_t exported_at_us = 0;
  // The exporter the bundle names (empty when it names none). Like the two
  // fields above, vouched for only if the `export_signature` check passed.
  Party exporter;
  struct ReceiptSummary {
    std::string recipient;       // node id
    std::string fingerprint;
    int64_t received_at_us = 0;
  };
  std::vector<ReceiptSummary> receipts;
  // Attachments named in the signed inner header: a file can be checked
  // against them (`verify --attachment FILE`).
  struct AttachmentSummary {
    std::string name;
    uint64_t size = 0;
    std::string sha256_hex;
  };
  std::vector<AttachmentSummary> attachments;
  // One per LogProof whose three checks (`tree_head`, `inclusion_proof`,
  // `cosignatures`) all passed: the envelope is entry `index` (from 0) of
  // the first `tree_size` entries of the log of `log`, whose root is
  // `root_hex`, under a head `log` signed at `tree_head_at_us` (its own
  // clock) and that each witness countersigned at `witnessed_at_us`.
  struct LogProofSummary {
    std::string kind;            // "sent" (the sender's log) or "received" (a recipient's)
    Party log;                   // the log owner
    uint64_t index = 0;
    uint64_t tree_size = 0;
    std::string root_hex;
    int64_t tree_head_at_us = 0;
    struct Witness {
      Party party;
      int64_t witnessed_at_us = 0;
    };
    std::vector<Witness> witnesses;  // in the bundle's order
  };
  std::vector<LogProofSummary> log_proofs;
  std::vector<Check> checks;
  std::vector<std::string> errors;
};

// Verifies an armored bundle. Never fails as a call: every problem, from bad
// armor to a forged receipt, is a failed check and an entry in `errors`.
// `expect_fingerprint` (text form, optional) must name the sender.
//
// Right after `envelope` (the first point at which the sender and the
// recipients are known) comes `export_signature`: the bundle names an
// exporter that is the envelope's sender or one of its recipients, carries
// its card, and its signature verifies over the re-serialized bundle. It
// covers `permission_ref`, `exported_at` and the choice of cards, receipts
// and proofs; a failure stops nothing, every later check still runs.
//
// After the receipts come three checks per LogProof, in this order:
// `tree_head` (the head verifies with the card, carried in the bundle, of
// the log owner it names), `inclusion_proof` (the entry is this envelope's
// LOG_ENVELOPE_SENT in the sender's log or LOG_ENVELOPE_RECEIVED in a
// recipient's, and the path leads from it to the head's root) and
// `cosignatures` (each by a distinct witness other than the owner, whose
// card the bundle carries; none is fine). When the head does not verify,
// the other two fail as not checked. A bundle without any LogProof gets one
// failed `inclusion_proof`.
//
// Last, one `sender_key_not_revoked` check when the bundle carries a
// revocation of the sender's identity key (SPEC 9): it passes only if the
// key was revoked after the earliest time a receipt or a witness's
// cosignature bound the signature to (then it was made before the key was
// given up as compromised); a revocation that does not verify fails it.
// Thread-safe (no shared state).
VerifyReport VerifyBundle(std::string_view armored, std::string_view expect_fingerprint);

}  // namespace rogatory
