// The cryptographic work one message and its receipt need, split by side,
// shared by the micro-benchmarks and the load tool (which reports it as the
// ceiling of the construction, measured in the same run).
#pragma once

#include <string>

#include "keys/envelope.h"
#include "keys/identity.h"

namespace rogatory::bench {

struct Parties {
  Identity sender;
  Identity recipient;
  SecretBytes sender_shared;     // sender enc secret x recipient enc public
  SecretBytes recipient_shared;  // the same key, from the other side
};

Parties MakeParties();

// Sender: seal a `body_size`-byte message to one recipient. Returns the
// envelope; `inner_sha` receives the inner digest.
std::string SenderSeal(const Parties& p, size_t body_size, std::string* inner_sha);
// Receiver: everything before storing (parse, outer signature, unwrap,
// decrypt, inner signature) and signing the receipt. Returns the receipt.
std::string ReceiverAccept(const Parties& p, const std::string& envelope);
// Sender: verify the receipt and check it names the envelope.
bool SenderCheckReceipt(const Parties& p, const std::string& envelope,
                        const std::string& inner_sha, const std::string& receipt);

struct CeilingReport {
  double sender_us = 0;    // per message, one core
  double receiver_us = 0;  // per message, one core
  // Messages per second if each side has its own core and does nothing but
  // this cryptography: 1e6 / max(sender_us, receiver_us).
  double two_core_ceiling = 0;
};

// Runs the construction for about `seconds` and reports its cost.
CeilingReport MeasureCeiling(size_t body_size, double seconds);

}  // namespace rogatory::bench
