// Provenance bundles (`rogatory export` / `rogatory verify`). Verification
// needs nothing but the bundle: no node, no network, no database. This file
// and what it includes from keys/ and proto/ is the whole verifier.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "keys/result.h"
#include "keys/secret.h"

namespace rogatory {

inline constexpr char kBundleArmorType[] = "BUNDLE";

struct BundleParts {
  std::string envelope;                 // serialized Envelope
  const SecretBytes* content_key = nullptr;
  std::vector<std::string> cards;       // serialized SignedCard
  std::vector<std::string> receipts;    // serialized SignedReceipt
  std::string permission_ref;
  int64_t exported_at_us = 0;
};

// Returns the armored bundle text.
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
  std::vector<Check> checks;
  std::vector<std::string> errors;
};

// Verifies an armored bundle. Never fails as a call: every problem, from bad
// armor to a forged receipt, is a failed check and an entry in `errors`.
// `expect_fingerprint` (text form, optional) must name the sender.
VerifyReport VerifyBundle(std::string_view armored, std::string_view expect_fingerprint);

}  // namespace rogatory
