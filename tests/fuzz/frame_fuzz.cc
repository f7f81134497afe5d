// Fuzz target: one node-to-node frame (wire::Frame) as a peer sends it, and
// every body a node reads from it, checked with the fixed identities of
// fuzz_support.h (Alice is the peer, Bob this node, Carol a third party).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/attachment.h"
#include "keys/case_entry.h"
#include "keys/merkle.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "node/witness.h"
#include "tests/fuzz/fuzz_support.h"

namespace rogatory::fuzz {
namespace {

void Ack(const wire::Ack& ack) {
  // Bob's receipt for one of Alice's envelopes (daemon.cc HandleAck).
  auto r = VerifyReceipt(ack.receipt(), Bob().signing().public_key);
  if (!r.ok()) return;
  (void)CheckReceiptMatches(*r, ack.message_id(), Alice().fingerprint(), Bob().fingerprint(),
                            r->envelope_sha256(), "");
  (void)CheckReceiptMatches(*r, ack.message_id(), Alice().fingerprint(), Bob().fingerprint(),
                            std::string(32, '\0'), std::string(32, '\0'));
}

void Chunk(const wire::Chunk& chunk) {
  const std::vector<std::string>& sealed = SealedChunks();
  for (bool last : {false, true}) {
    std::string out;
    (void)OpenChunk(AttachmentKey(), chunk.message_id(), chunk.index(), last, chunk.data(), &out);
  }
  // The receiving side: the chunks before this one arrived intact, this one
  // is the peer's (transfer.cc IncomingTransfer::Accept).
  ChunkVerifier v(AttachmentKey().Clone(), kChunkMessageId, ChunkPlaintext().size(),
                  Sha256(ChunkPlaintext()), kMinChunkBytes);
  for (uint64_t i = 0; i < chunk.index() && i < sealed.size(); ++i) {
    if (!v.Accept(sealed[i]).ok()) Violated("a sealed chunk does not verify");
  }
  (void)v.Accept(chunk.data());
  (void)v.Accept(chunk.data());  // after done or failed: refused, not crashed
}

// A root for a consistency check: the fixed log's when it has that size,
// else the verified head's, else junk of the right length.
std::string RootFor(uint64_t size, const wire::TreeHead* head) {
  if (size <= kLogSize) return LogRoot(size);
  if (head != nullptr && head->size() == size) return head->root();
  return std::string(32, '\x5a');
}

void HeadReply(const wire::HeadReply& reply) {
  const std::string& alice_key = Alice().signing().public_key;
  auto head = VerifyTreeHead(reply.signed_tree_head(), alice_key);
  (void)TreeHeadBytes(reply.signed_tree_head());
  for (const auto& p : reply.proofs()) {
    const std::vector<std::string> path(p.path().begin(), p.path().end());
    const wire::TreeHead* h = head.ok() ? &*head : nullptr;
    (void)merkle::VerifyConsistency(p.from_size(), p.to_size(), RootFor(p.from_size(), h),
                                    RootFor(p.to_size(), h), path);
    if (!path.empty()) {
      (void)merkle::VerifyConsistency(p.from_size(), p.to_size(), path.front(), path.back(),
                                      path);
    }
  }
  // The witness's judgement (node/witness.cc), knowing nothing, then
  // holding an earlier head of Alice's log.
  (void)CheckHeadReply(Alice().fingerprint(), alice_key, reply, {}, kNowUs);
  HeldHead held;
  held.size = kHeldSize;
  held.root = LogRoot(kHeldSize);
  held.timestamp = kNowUs + static_cast<int64_t>(kHeldSize) * 1'000'000;
  held.signed_head = SignedHead(kHeldSize);
  auto verdict = CheckHeadReply(Alice().fingerprint(), alice_key, reply, {held}, kNowUs);
  if (verdict.ok() && head.ok()) {
    HeldHead later{head->size(), head->root(), head->timestamp(), reply.signed_tree_head()};
    (void)CompareSameSize(held, later, Alice().fingerprint(), kNowUs);
  }
  // Gossip: Carol's (or anyone's) heads with cosignatures.
  for (const auto& g : reply.gossip()) {
    (void)TreeHeadBytes(g.signed_tree_head());
    for (const Identity* owner : {&Carol(), &Alice()}) {
      auto gh = VerifyTreeHead(g.signed_tree_head(), owner->signing().public_key);
      if (!gh.ok()) continue;
      for (const auto& c : g.cosignatures()) {
        const std::string witness = CosignatureWitness(c);
        const Identity& w = witness == Carol().fingerprint() ? Carol() : Bob();
        (void)VerifyCosignature(c, w.signing().public_key, g.signed_tree_head());
      }
    }
  }
  for (const auto& r : reply.restores()) {
    auto st = VerifyRestoreStatement(r, alice_key);
    if (st.ok()) (void)VerifyTreeHead(st->restored_head(), alice_key);
  }
  if (reply.has_answers()) {
    const auto& a = reply.answers();
    const std::vector<uint64_t> check(a.check_sizes().begin(), a.check_sizes().end());
    (void)SizesToProve(kLogSize, a.known_size(), check, {});
  }
}

void CaseEntries(const wire::CaseEntries& ce) {
  (void)ValidateCaseId(ce.case_id());
  for (const auto& e : ce.entries()) ExerciseCaseEntry(e);
}

}  // namespace
}  // namespace rogatory::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rogatory;
  using namespace rogatory::fuzz;
  Init();
  (void)Bob();  // keys made once, outside the measured path
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // As daemon.cc HandleFrame reads it: a plain parse (a frame is not a
  // signed structure), then the protocol version, then the body. Bodies are
  // checked whatever the version, to reach them from more inputs.
  wire::Frame frame;
  if (!frame.ParseFromArray(data, static_cast<int>(size))) return 0;
  wire::Frame strict;
  (void)ParseStrict(bytes, &strict, "frame");
  switch (frame.body_case()) {
    case wire::Frame::kDeliver:
      ExerciseEnvelope(frame.deliver().envelope());
      if (!frame.deliver().prev().empty()) (void)ValidateMessageId(frame.deliver().prev());
      break;
    case wire::Frame::kAck: Ack(frame.ack()); break;
    case wire::Frame::kNack: {
      auto r = VerifyRefusal(frame.nack().refusal(), Bob().signing().public_key);
      (void)r;
      break;
    }
    case wire::Frame::kHold:
      (void)ValidateMessageId(frame.hold().message_id());
      (void)ValidateMessageId(frame.hold().missing());
      break;
    case wire::Frame::kWant:
      (void)ValidateMessageId(frame.want().message_id());
      break;
    case wire::Frame::kChunk: Chunk(frame.chunk()); break;
    case wire::Frame::kHeadRequest: {
      const auto& hr = frame.head_request();
      const std::vector<uint64_t> check(hr.check_sizes().begin(), hr.check_sizes().end());
      const auto sizes = SizesToProve(kLogSize, hr.known_size(), check, {kHeldSize});
      for (uint64_t from : sizes.from) {
        if (from <= kLogSize) (void)LogConsistency(from, kLogSize);
      }
      break;
    }
    case wire::Frame::kHeadReply: HeadReply(frame.head_reply()); break;
    case wire::Frame::kCosign:
      // Bob's cosignature of Alice's latest head, returned to Alice.
      (void)VerifyCosignature(frame.cosign().cosignature(), Bob().signing().public_key,
                              SignedHead(kLogSize));
      break;
    case wire::Frame::kCaseSync:
      (void)ValidateCaseId(frame.case_sync().case_id());
      break;
    case wire::Frame::kCaseEntries: CaseEntries(frame.case_entries()); break;
    case wire::Frame::kHello:
    case wire::Frame::BODY_NOT_SET: break;
  }
  return 0;
}
