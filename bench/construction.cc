#include "bench/construction.h"

#include <chrono>
#include <cstdlib>

#include "keys/crypto.h"
#include "keys/receipt.h"

namespace rogatory::bench {

namespace {
Identity NewIdentity(const char* id) {
  auto r = Identity::Generate({id, "Bench " + std::string(id), "FR", {"tcp://127.0.0.1:9"}, 0,
                               4'102'444'800LL * 1'000'000});
  if (!r.ok()) std::abort();
  return std::move(r).value();
}
}  // namespace

Parties MakeParties() {
  if (!InitCrypto().ok()) std::abort();
  Identity s = NewIdentity("bench-sender");
  Identity r = NewIdentity("bench-recipient");
  auto ss = BoxSharedKey(s.encryption().secret, r.encryption().public_key);
  auto rs = BoxSharedKey(r.encryption().secret, s.encryption().public_key);
  return Parties{std::move(s), std::move(r), std::move(*ss), std::move(*rs)};
}

std::string SenderSeal(const Parties& p, size_t body_size, std::string* inner_sha) {
  Draft d;
  d.message_id = NewMessageId(1'800'000'000'000'000);
  d.created_at_us = 1'800'000'000'000'000;
  d.expires_at_us = d.created_at_us + 3600LL * 1'000'000;
  d.priority = wire::PRIORITY_NORMAL;
  d.recipients.push_back({p.recipient.fingerprint(), p.recipient.encryption().public_key,
                          &p.sender_shared});
  d.inner.set_subject("benchmark");
  d.body.assign(body_size, 'b');
  auto env = SealEnvelope(p.sender, d, inner_sha);
  if (!env.ok()) std::abort();
  return std::move(env).value();
}

std::string ReceiverAccept(const Parties& p, const std::string& envelope) {
  auto env = ParseEnvelope(envelope);
  if (!env.ok() || !VerifyOuterSignature(*env, p.sender.signing().public_key).ok()) {
    std::abort();
  }
  auto opened = OpenEnvelopeShared(*env, p.recipient_shared, p.recipient.fingerprint(),
                                   p.sender.signing().public_key);
  if (!opened.ok()) std::abort();
  wire::Receipt rc;
  rc.set_version(1);
  rc.set_message_id(env->outer.message_id());
  rc.set_sender(p.sender.fingerprint());
  rc.set_recipient(p.recipient.fingerprint());
  rc.set_envelope_sha256(Sha256(envelope));
  rc.set_inner_sha256(opened->inner_signed_sha256);
  rc.set_received_at(1);
  return SignReceipt(rc, p.recipient.signing());
}

bool SenderCheckReceipt(const Parties& p, const std::string& envelope,
                        const std::string& inner_sha, const std::string& receipt) {
  auto r = VerifyReceipt(receipt, p.recipient.signing().public_key);
  if (!r.ok()) return false;
  auto env = ParseEnvelope(envelope);
  return CheckReceiptMatches(*r, env->outer.message_id(), p.sender.fingerprint(),
                             p.recipient.fingerprint(), Sha256(envelope), inner_sha)
      .ok();
}

CeilingReport MeasureCeiling(size_t body_size, double seconds) {
  Parties p = MakeParties();
  using Clock = std::chrono::steady_clock;
  double sender = 0, receiver = 0;
  long n = 0;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    std::string inner;
    auto t0 = Clock::now();
    const std::string env = SenderSeal(p, body_size, &inner);
    auto t1 = Clock::now();
    const std::string receipt = ReceiverAccept(p, env);
    auto t2 = Clock::now();
    if (!SenderCheckReceipt(p, env, inner, receipt)) std::abort();
    auto t3 = Clock::now();
    sender += std::chrono::duration<double, std::micro>((t1 - t0) + (t3 - t2)).count();
    receiver += std::chrono::duration<double, std::micro>(t2 - t1).count();
    ++n;
  }
  CeilingReport r;
  r.sender_us = sender / static_cast<double>(n);
  r.receiver_us = receiver / static_cast<double>(n);
  r.two_core_ceiling = 1e6 / std::max(r.sender_us, r.receiver_us);
  return r;
}

}  // namespace rogatory::bench
