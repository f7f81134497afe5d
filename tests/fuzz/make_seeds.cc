// Writes the seed corpora of the fuzz harnesses: valid inputs of every kind,
// made with the fixed identities of fuzz_support.h so they verify in the
// harnesses, plus a few truncated and altered ones.
//
//   cmake --build build --target fuzz_make_seeds
//   build/tests/fuzz/fuzz_make_seeds [OUT_DIR]   default: tests/fuzz/corpus
//
// Files are written as corpus/<harness>/<name>; existing files of the same
// name are replaced, others (crash reproducers, inputs added by hand) are
// left alone. Envelopes, wrapped keys and case bodies carry random nonces,
// so a rerun changes those files' bytes, not what they exercise.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "keys/armor.h"
#include "keys/attachment.h"
#include "keys/bundle.h"
#include "keys/card.h"
#include "keys/case_entry.h"
#include "keys/crypto.h"
#include "keys/directory.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/merkle.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "node/config.h"
#include "node/request.h"
#include "proto/control.pb.h"
#include "proto/mla.pb.h"
#include "tests/fuzz/fuzz_support.h"

namespace rogatory::fuzz {
namespace {

namespace fs = std::filesystem;

fs::path g_out;
size_t g_files = 0;
size_t g_bytes = 0;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "make_seeds: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Fail(std::string(what) + ": " + r.error().message);
  return std::move(r).value();
}

void Write(const std::string& harness, const std::string& name, std::string_view bytes) {
  const fs::path dir = g_out / harness;
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) Fail("cannot write " + (dir / name).string());
  ++g_files;
  g_bytes += bytes.size();
}

std::string ReadSource(const std::string& rel) {
  std::ifstream in(std::string(ROGATORY_SOURCE_DIR) + "/" + rel, std::ios::binary);
  if (!in) Fail("cannot read " + rel);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string Truncated(std::string_view s, size_t keep) {
  return std::string(s.substr(0, std::min(keep, s.size())));
}
std::string Flipped(std::string s, size_t at) {
  if (!s.empty()) s[at % s.size()] ^= 0x01;
  return s;
}
// The same message with an unknown field (number 15, varint 1) appended:
// what strict parsing must refuse.
std::string WithUnknownField(std::string s) { return s + std::string("\x78\x01", 2); }

std::string FrameBytes(const wire::Frame& f) { return SerializeCanonical(f); }
wire::Frame NewFrame() {
  wire::Frame f;
  f.set_protocol(1);
  return f;
}

// ------------------------------------------------------------ material

struct Material {
  std::string env_simple;       // Alice -> Bob, info
  std::string env_simple_inner_sha;
  std::string env_attach;       // Alice -> Bob, Carol, with an attachment
  std::string env_request;      // Alice -> Bob, structured request
  std::string env_status;       // Alice -> Bob, status update
  std::string request_body;     // serialized MlaRequest
  std::string status_body;      // serialized StatusUpdate
  std::string receipt;          // Bob's, for env_simple
  std::string refusal;          // Bob's, for env_simple
  std::vector<std::string> case_entries;  // membership, note, task, evidence
  std::string case_id;
};

Recipient To(const Identity& id) { return {id.fingerprint(), id.encryption().public_key}; }

Draft NewDraft(const std::string& id, std::vector<Recipient> to) {
  Draft d;
  d.message_id = id;
  d.created_at_us = kNowUs;
  d.expires_at_us = kNowUs + 7LL * 24 * 3600 * 1'000'000;
  d.recipients = std::move(to);
  return d;
}

wire::AttachmentRef FixedAttachment() {
  wire::AttachmentRef a;
  a.set_name("statement.pdf");
  a.set_size(ChunkPlaintext().size());
  a.set_sha256(Sha256(ChunkPlaintext()));
  a.set_key(std::string(AttachmentKey().view()));
  a.set_chunk_size(kMinChunkBytes);
  return a;
}

Material MakeMaterial() {
  const Identity& alice = Alice();
  const Identity& bob = Bob();
  const Identity& carol = Carol();
  Material m;

  Draft d = NewDraft("fuzz-msg-simple", {To(bob)});
  d.inner.set_subject("Hearing of a witness: dates");
  d.inner.set_kind(wire::KIND_INFO);
  d.body = "Proposed dates: 3 and 4 March.\n";
  m.env_simple = Must(SealEnvelope(alice, d, &m.env_simple_inner_sha), "seal simple");

  d = NewDraft(kChunkMessageId, {To(bob), To(carol)});
  d.priority = wire::PRIORITY_URGENT;
  d.inner.set_subject("Evidence");
  d.inner.set_kind(wire::KIND_REPLY);
  d.inner.set_handling(wire::HANDLING_H2);
  d.inner.set_handling_note("no onward transmission");
  d.inner.set_in_reply_to("fuzz-msg-simple");
  *d.inner.add_attachments() = FixedAttachment();
  d.body = "See the attached statement.";
  m.env_attach = Must(SealEnvelope(alice, d), "seal attach");

  std::vector<std::string> problems;
  mla::MlaRequest req = Must(
      ParseRequestJson(ReadSource("docs/examples/fraud-bank-records.json"), kNowUs, &problems,
                       "bob"),
      "example request");
  m.request_body = SerializeCanonical(req);
  d = NewDraft("fuzz-msg-request", {To(bob)});
  d.inner.set_subject(RequestSubject(req));
  d.inner.set_kind(wire::KIND_REQUEST);
  d.body = m.request_body;
  m.env_request = Must(SealEnvelope(alice, d), "seal request");

  mla::StatusUpdate su;
  su.set_version(kStatusUpdateVersion);
  su.set_request_id("fuzz-msg-request");
  su.set_request_sha256(Sha256(m.env_request));
  su.set_sequence(2);
  su.set_prev_sha256(Sha256("previous status update"));
  su.set_state(mla::STATE_REFUSED);
  su.set_note("Dual criminality is not met (art. 2 of the Convention).");
  su.set_created_at(kNowUs);
  m.status_body = SerializeCanonical(su);
  d = NewDraft("fuzz-msg-status", {To(bob)});
  d.inner.set_subject("Status: refused");
  d.inner.set_kind(wire::KIND_STATUS);
  d.body = m.status_body;
  m.env_status = Must(SealEnvelope(alice, d), "seal status");

  wire::Receipt rc;
  rc.set_version(1);
  rc.set_message_id("fuzz-msg-simple");
  rc.set_sender(alice.fingerprint());
  rc.set_sender_card_sequence(1);
  rc.set_recipient(bob.fingerprint());
  rc.set_recipient_card_sequence(1);
  rc.set_envelope_sha256(Sha256(m.env_simple));
  rc.set_inner_sha256(m.env_simple_inner_sha);
  rc.set_received_at(kNowUs + 1'000'000);
  rc.set_audit_index(1);
  m.receipt = SignReceipt(rc, bob.signing());

  wire::Refusal rf;
  rf.set_version(1);
  rf.set_message_id("fuzz-msg-simple");
  rf.set_sender(alice.fingerprint());
  rf.set_refuser(bob.fingerprint());
  rf.set_envelope_sha256(Sha256(m.env_simple));
  rf.set_reason("this node is not a recipient of the message");
  rf.set_refused_at(kNowUs);
  m.refusal = SignRefusal(rf, bob.signing());

  // A case led by Alice with Bob: membership, Bob's note, Alice's task and
  // evidence.
  const std::string nonce(16, '\x42');
  m.case_id = CaseId(alice.fingerprint(), nonce);
  MembershipDraft md;
  md.case_id = m.case_id;
  md.title = "Operation Fuzz";
  md.case_nonce = nonce;
  md.seq = 1;
  md.lamport = 1;
  md.epoch = 1;
  md.created_at = kNowUs;
  md.member_cards = {alice.signed_card(), bob.signed_card()};
  const std::string membership = Must(MakeMembershipEntry(alice, md, EpochKey()), "membership");
  const std::string membership_hash = CaseEntryHash(membership);
  m.case_entries.push_back(membership);

  auto entry = [&](const Identity& author, uint64_t seq, std::string prev, uint64_t lamport,
                   wire::CaseEntryType type, const wire::CaseBody& body) {
    wire::CaseEntryHeader h;
    h.set_version(1);
    h.set_case_id(m.case_id);
    h.set_author(author.fingerprint());
    h.set_seq(seq);
    h.set_prev(prev);
    h.set_lamport(lamport);
    h.set_epoch(1);
    h.set_membership(membership_hash);
    h.set_type(type);
    h.set_created_at(kNowUs + static_cast<int64_t>(lamport));
    std::string sealed = SealCaseBody(EpochKey(), &h, body);
    return SignCaseEntry(h, std::move(sealed), author.signing());
  };
  wire::CaseBody note;
  note.set_text("Bank confirms the account was opened in 2021.");
  m.case_entries.push_back(entry(bob, 1, "", 2, wire::CASE_NOTE, note));
  wire::CaseBody task;
  task.set_text("Request the account statements");
  task.set_assignee(bob.fingerprint());
  task.set_task_state("open");
  m.case_entries.push_back(entry(alice, 2, membership_hash, 3, wire::CASE_TASK, task));
  wire::CaseBody evidence;
  evidence.set_text("Statement of the witness");
  *evidence.add_attachments() = FixedAttachment();
  evidence.set_attachments_message(kChunkMessageId);
  m.case_entries.push_back(entry(alice, 3, CaseEntryHash(m.case_entries.back()), 4,
                                 wire::CASE_EVIDENCE, evidence));
  wire::CaseBody status;
  status.set_status("suspended");
  m.case_entries.push_back(entry(bob, 2, CaseEntryHash(m.case_entries[1]), 5, wire::CASE_STATUS,
                                 status));
  return m;
}

// ------------------------------------------------------------ envelope

void Envelopes(const Material& m) {
  Write("envelope", "simple", m.env_simple);
  Write("envelope", "attachment-urgent", m.env_attach);
  Write("envelope", "request", m.env_request);
  Write("envelope", "status", m.env_status);
  Write("envelope", "simple-truncated", Truncated(m.env_simple, m.env_simple.size() / 2));
  Write("envelope", "simple-bitflip", Flipped(m.env_simple, m.env_simple.size() / 3));
  Write("envelope", "simple-unknown-field", WithUnknownField(m.env_simple));
  Write("envelope", "empty", "");
}

// ------------------------------------------------------------ payload

void Payloads(const Material& m) {
  wire::InnerHeader inner;
  inner.set_subject("Hearing of a witness: dates");
  inner.set_kind(wire::KIND_INFO);
  const std::string info = MakePayload(inner, "Proposed dates: 3 and 4 March.\n");
  Write("payload", "info", info);

  inner.set_kind(wire::KIND_REPLY);
  inner.set_handling(wire::HANDLING_H3);
  inner.set_handling_note("court use only");
  inner.set_in_reply_to("fuzz-msg-simple");
  inner.set_case_id(m.case_id);
  *inner.add_attachments() = FixedAttachment();
  wire::AttachmentRef second = FixedAttachment();
  second.set_name("video.mp4");
  second.set_size(uint64_t{5} << 30);
  second.set_chunk_size(kDefaultChunkBytes);
  *inner.add_attachments() = second;
  Write("payload", "reply-attachments", MakePayload(inner, "Two files."));

  wire::InnerHeader req;
  req.set_subject("MLA request");
  req.set_kind(wire::KIND_REQUEST);
  Write("payload", "request", MakePayload(req, m.request_body));
  wire::InnerHeader st;
  st.set_subject("Status");
  st.set_kind(wire::KIND_STATUS);
  Write("payload", "status", MakePayload(st, m.status_body));

  Write("payload", "info-truncated", Truncated(info, info.size() - 10));
  Write("payload", "info-unknown-field", WithUnknownField(info));
  wire::InnerHeader bad;
  bad.set_kind(static_cast<wire::Kind>(9));
  Write("payload", "unknown-kind", MakePayload(bad, "x"));
}

// ------------------------------------------------------------ frames

void Frames(const Material& m) {
  wire::Frame f = NewFrame();
  f.mutable_deliver()->set_envelope(m.env_simple);
  Write("frame", "deliver", FrameBytes(f));
  f.mutable_deliver()->set_envelope(m.env_request);
  f.mutable_deliver()->set_prev("fuzz-msg-simple");
  Write("frame", "deliver-request-prev", FrameBytes(f));
  f.mutable_deliver()->set_envelope(m.env_status);
  f.mutable_deliver()->clear_prev();
  Write("frame", "deliver-status", FrameBytes(f));
  f.mutable_deliver()->set_envelope(m.env_attach);
  const std::string attach = FrameBytes(f);
  Write("frame", "deliver-attachment", attach);
  Write("frame", "deliver-truncated", Truncated(attach, attach.size() - 7));
  f.set_protocol(2);
  Write("frame", "deliver-protocol-2", FrameBytes(f));

  f = NewFrame();
  f.mutable_ack()->set_message_id("fuzz-msg-simple");
  f.mutable_ack()->set_receipt(m.receipt);
  Write("frame", "ack", FrameBytes(f));
  f.mutable_ack()->set_receipt(Flipped(m.receipt, 40));
  Write("frame", "ack-forged", FrameBytes(f));

  f = NewFrame();
  f.mutable_nack()->set_message_id("fuzz-msg-simple");
  f.mutable_nack()->set_refusal(m.refusal);
  Write("frame", "nack", FrameBytes(f));

  f = NewFrame();
  f.mutable_hello()->set_urgent(true);
  f.mutable_hello()->set_max_frame_bytes(16 << 20);
  Write("frame", "hello", FrameBytes(f));

  f = NewFrame();
  f.mutable_hold()->set_message_id("fuzz-msg-request");
  f.mutable_hold()->set_missing("fuzz-msg-simple");
  Write("frame", "hold", FrameBytes(f));

  f = NewFrame();
  f.mutable_want()->set_message_id(kChunkMessageId);
  f.mutable_want()->set_attachment(0);
  f.mutable_want()->set_first_chunk(0);
  f.mutable_want()->set_count(8);
  Write("frame", "want", FrameBytes(f));

  for (size_t i = 0; i < SealedChunks().size(); ++i) {
    f = NewFrame();
    f.mutable_chunk()->set_message_id(kChunkMessageId);
    f.mutable_chunk()->set_attachment(0);
    f.mutable_chunk()->set_index(i);
    f.mutable_chunk()->set_data(SealedChunks()[i]);
    Write("frame", "chunk-" + std::to_string(i), FrameBytes(f));
  }
  f.mutable_chunk()->set_data(Flipped(SealedChunks().back(), 5));
  Write("frame", "chunk-forged", FrameBytes(f));

  f = NewFrame();
  f.mutable_head_request()->set_known_size(kHeldSize);
  f.mutable_head_request()->add_check_sizes(3);
  f.mutable_head_request()->add_check_sizes(kLogSize + 4);
  Write("frame", "head-request", FrameBytes(f));

  // Alice's head at kLogSize with proofs from kHeldSize and 3, Carol's head
  // gossiped with Bob's cosignature, and a restore statement.
  f = NewFrame();
  wire::HeadReply* hr = f.mutable_head_reply();
  hr->set_signed_tree_head(SignedHead(kLogSize));
  for (uint64_t from : {kHeldSize, uint64_t{3}, uint64_t{8}}) {
    wire::ConsistencyProof* p = hr->add_proofs();
    p->set_from_size(from);
    p->set_to_size(kLogSize);
    for (const auto& h : LogConsistency(from, kLogSize)) p->add_path(h);
  }
  wire::TreeHead carol_head;
  carol_head.set_version(1);
  carol_head.set_log(Carol().fingerprint());
  carol_head.set_size(3);
  carol_head.set_root(Sha256("carol's log"));
  carol_head.set_timestamp(kNowUs);
  const std::string carol_signed = SignTreeHead(carol_head, Carol().signing());
  wire::CosignedHead* g = hr->add_gossip();
  g->set_signed_tree_head(carol_signed);
  g->add_cosignatures(
      Cosign(carol_signed, carol_head, Bob().fingerprint(), Bob().signing(), kNowUs + 5));
  wire::RestoreStatement rs;
  rs.set_version(1);
  rs.set_log(Alice().fingerprint());
  rs.set_restored_head(SignedHead(kHeldSize));
  rs.set_abandoned_size(8);
  rs.set_restored_at(kNowUs + 1);
  hr->add_restores(SignRestoreStatement(rs, Alice().signing()));
  hr->mutable_answers()->set_known_size(kHeldSize);
  hr->mutable_answers()->add_check_sizes(3);
  Write("frame", "head-reply", FrameBytes(f));
  // A rewritten history: a head at kLogSize whose proof does not lead to it.
  hr->mutable_proofs(0)->set_path(0, Sha256("not the tree"));
  Write("frame", "head-reply-bad-proof", FrameBytes(f));

  f = NewFrame();
  wire::TreeHead alice_head;
  alice_head.set_version(1);
  alice_head.set_log(Alice().fingerprint());
  alice_head.set_size(kLogSize);
  alice_head.set_root(LogRoot(kLogSize));
  alice_head.set_timestamp(kNowUs + static_cast<int64_t>(kLogSize) * 1'000'000);
  f.mutable_cosign()->set_cosignature(
      Cosign(SignedHead(kLogSize), alice_head, Bob().fingerprint(), Bob().signing(), kNowUs));
  Write("frame", "cosign", FrameBytes(f));

  f = NewFrame();
  f.mutable_case_sync()->set_case_id(m.case_id);
  wire::CaseHead* ch = f.mutable_case_sync()->add_heads();
  ch->set_author(Alice().fingerprint());
  ch->set_seq(3);
  ch->set_hash(CaseEntryHash(m.case_entries[3]));
  Write("frame", "case-sync", FrameBytes(f));

  f = NewFrame();
  f.mutable_case_entries()->set_case_id(m.case_id);
  for (const auto& e : m.case_entries) f.mutable_case_entries()->add_entries(e);
  Write("frame", "case-entries", FrameBytes(f));
  f.mutable_case_entries()->set_entries(1, Flipped(m.case_entries[1], 60));
  f.mutable_case_entries()->set_more(true);
  Write("frame", "case-entries-forged", FrameBytes(f));

  Write("frame", "empty", "");
  Write("frame", "unknown-field", WithUnknownField(FrameBytes(NewFrame())));
}

// ------------------------------------------------------------ cards

void Cards() {
  const std::string alice = Armor(kCardArmorType, Alice().signed_card());
  Write("card", "alice.card", alice);
  Write("card", "bob.card", Armor(kCardArmorType, Bob().signed_card()));
  Write("card", "alice.bin", Alice().signed_card());
  std::string crlf;
  for (char c : alice) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  Write("card", "alice-crlf.card", crlf);
  Write("card", "alice-truncated.card", Truncated(alice, alice.size() - 40));
  Write("card", "alice-bitflip.bin", Flipped(Alice().signed_card(), 30));
  Write("card", "fingerprint.txt", FingerprintText(Alice().fingerprint()));
  // Chains (key rotation): an encryption/transport rotation, then an
  // identity-key rotation to the committed key.
  const int64_t from = Alice().card().valid_from();
  auto once = Alice().Rotated(false, from, from + 1'000'000);
  if (!once.ok()) return;
  auto twice = once->Rotated(true, from, from + 1'000'000);
  if (!twice.ok()) return;
  Write("card", "alice-rotated.bin", twice->signed_card());
  Write("card", "alice-rotated.card", Armor(kCardArmorType, twice->signed_card()));
}

// ------------------------------------------------------------ directories

// A directory issued by `authority` listing `cards`, removing `removed`.
std::string MakeDirectory(const Identity& authority, const std::vector<std::string>& cards,
                          const std::vector<std::string>& removed) {
  wire::Directory d;
  d.set_version(1);
  d.set_authority_card(authority.signed_card());
  d.set_sequence(7);
  d.set_issued_at(kNowUs);
  for (const auto& c : cards) {
    auto* e = d.add_entries();
    e->set_fingerprint(Must(VerifyCard(c), "directory entry card").fingerprint);
    e->set_card(c);
  }
  for (const auto& fp : removed) {
    auto* r = d.add_removals();
    r->set_fingerprint(fp);
    r->set_revoked_at(kNowUs - 1'000'000);
    r->set_reason("key compromise");
  }
  const std::string signed_dir = SignDirectory(d, authority.signing());
  Must(VerifyDirectory(signed_dir), "the seed directory does not verify");
  return signed_dir;
}

void Directories() {
  // Alice is the authority (the harness re-signs as Alice), listing all
  // three nodes and removing a fourth.
  const std::string removed = Sha256("fuzz-directory-removed").substr(0, kFingerprintBytes);
  const std::string valid = MakeDirectory(
      Alice(), {Alice().signed_card(), Bob().signed_card(), Carol().signed_card()}, {removed});
  Write("directory", "valid.bin", valid);
  Write("directory", "valid.directory", Armor(kDirectoryArmorType, valid));
  Write("directory", "empty.bin", MakeDirectory(Alice(), {}, {}));
  // An authority whose identity key rotated (a card chain of three).
  const int64_t from = Alice().card().valid_from();
  auto once = Alice().Rotated(false, from, from + 1'000'000);
  if (!once.ok()) Fail("rotate: " + once.error().message);
  auto twice = once->Rotated(true, from, from + 1'000'000);
  if (!twice.ok()) Fail("rotate: " + twice.error().message);
  const std::string rotated =
      MakeDirectory(*twice, {Bob().signed_card(), Carol().signed_card()}, {removed});
  Write("directory", "rotated-authority.bin", rotated);
  Write("directory", "rotated-authority.directory", Armor(kDirectoryArmorType, rotated));
}

// ------------------------------------------------------------ bundle

class VectorLog : public merkle::HashSource {
 public:
  explicit VectorLog(std::vector<std::string> entries) : entries_(std::move(entries)) {}
  Result<std::string> Leaf(uint64_t i) override {
    if (i >= entries_.size()) return MakeError(Code::kNotFound, "no entry");
    return merkle::LeafHash(entries_[i]);
  }

 private:
  std::vector<std::string> entries_;
};

void Bundles(const Material& m) {
  auto env = Must(ParseEnvelope(m.env_simple), "parse simple");
  auto opened = Must(OpenEnvelope(env, Bob().encryption().secret, Bob().fingerprint(),
                                  Alice().encryption().public_key,
                                  Alice().signing().public_key),
                     "open simple");
  // Alice's log: two other entries, then this envelope's LOG_ENVELOPE_SENT.
  wire::LogEntry e;
  e.set_version(1);
  e.set_kind(wire::LOG_ENVELOPE_SENT);
  e.set_message_id("fuzz-msg-simple");
  e.set_sender(Alice().fingerprint());
  e.set_sha256(Sha256(m.env_simple));
  e.set_logged_at(kNowUs);
  const std::string entry = SerializeCanonical(e);
  VectorLog log({LogEntryBytes(0), LogEntryBytes(1), entry});
  wire::TreeHead head;
  head.set_version(1);
  head.set_log(Alice().fingerprint());
  head.set_size(3);
  head.set_root(Must(merkle::Root(log, 3), "root"));
  head.set_timestamp(kNowUs + 2'000'000);
  const std::string signed_head = SignTreeHead(head, Alice().signing());
  wire::LogProof lp;
  lp.set_entry(entry);
  lp.set_index(2);
  for (const auto& h : Must(merkle::InclusionProof(log, 2, 3), "inclusion")) lp.add_path(h);
  lp.set_signed_tree_head(signed_head);
  lp.add_cosignatures(Cosign(signed_head, head, Bob().fingerprint(), Bob().signing(), kNowUs + 3));

  BundleParts parts;
  parts.envelope = m.env_simple;
  parts.content_key = &opened.content_key;
  parts.cards = {Alice().signed_card(), Bob().signed_card()};
  parts.receipts = {m.receipt};
  parts.log_proofs = {SerializeCanonical(lp)};
  parts.permission_ref = "Court of Appeal, order 2026/17";
  parts.exported_at_us = kNowUs + 10'000'000;
  parts.exporter = Alice().fingerprint();
  parts.exporter_key = &Alice().signing();
  const std::string armored = MakeBundle(parts);
  const VerifyReport report = VerifyBundle(armored, "");
  if (!report.valid) {
    for (const auto& err : report.errors) std::fprintf(stderr, "bundle: %s\n", err.c_str());
    Fail("the seed bundle does not verify");
  }
  Write("bundle", "valid.bundle", armored);
  const std::string binary = Must(Dearmor(kBundleArmorType, armored), "dearmor");
  Write("bundle", "valid.bin", binary);
  Write("bundle", "valid-bitflip.bin", Flipped(binary, binary.size() / 2));
  Write("bundle", "valid-truncated.bundle", Truncated(armored, armored.size() / 2));
  parts.exporter_key = nullptr;  // unsigned: fails export_signature
  parts.log_proofs.clear();
  Write("bundle", "unsigned.bin", Must(Dearmor(kBundleArmorType, MakeBundle(parts)), "dearmor"));
}

// ------------------------------------------------------------ requests

void Requests() {
  for (const char* name : {"fraud-bank-records.json", "terrorism-subscriber-data.json"}) {
    Write("request", name, ReadSource(std::string("docs/examples/") + name));
  }
  const std::string minimal = R"json({
  "requesting_authority": "Procura della Repubblica di Milano",
  "requested_authority": "ch-ofj",
  "case_reference": "RGNR 2026/123",
  "legal_basis": [{"instrument": "European Convention on Mutual Assistance in Criminal Matters (1959)", "article": "Art. 3"}],
  "offences": [{"name": "fraud", "legal_provision": "art. 640 c.p."}],
  "summary_of_facts": "A short summary.",
  "measures": [{"measure": "bank_records", "description": "Statements of account CH93 0076 2011 6238 5295 7."}],
  "deadline": "2030-01-01T00:00:00Z"
})json";
  Write("request", "minimal-absolute-deadline.json", minimal);
  Write("request", "typo-key.json", R"({"requesting_authority": "X", "dedline": "P30D"})");
  Write("request", "duplicate-key.json", R"({"priority": "high", "priority": "urgent"})");
  Write("request", "truncated.json", Truncated(minimal, minimal.size() / 2));
  Write("request", "deep.json", std::string(80, '[') + std::string(80, ']'));
  Write("request", "not-object.json", R"(["a", 1, null, true, 2.5e10, "\u00e9\ud83d\ude00"])");
}

// ------------------------------------------------------------ config

void Configs() {
  const std::string init = DefaultConfigText("fr-pnat", "tcp://0.0.0.0:7400");
  Write("config", "init.toml", init);
  Write("config", "all-settings.toml", R"([node]
id = "it-milano"
listen = "tcp://192.0.2.10:7400"

[delivery]
clock_allowance_seconds = 120
retry_cap_ms = 5000
default_expiry = "14d"

[limits]
max_frame_bytes = 33554432
max_body_bytes = 16777216
in_flight_per_peer = 64
commit_batch = 128
max_attachments = 16
max_attachment_bytes = 1099511627776
transfers_per_peer = 4
chunk_window = 16
turn_budget_ms = 10

[audit]
tree_head_interval_s = 30

[cases]
sync_interval_s = 5

[transport]
handshake_timeout_ms = 5000
heartbeat_ivl_ms = 2000
heartbeat_timeout_ms = 6000
connect_all = true
socks_proxy = "proxy.example.gov:1080"
)");
  Write("config", "unknown-key.toml", init + "\n[limits]\nmax_frame_size = 1\n");
  Write("config", "bad-type.toml", "[node]\nid = 7\nlisten = \"tcp://0.0.0.0:7400\"\n");
  Write("config", "truncated.toml", Truncated(init, 60));
  Write("config", "inline-tables.toml",
        "node = { id = \"de-bka\", listen = \"tcp://[::1]:7400\" }\n"
        "delivery.default_expiry = \"365d\"\n"
        "transport = { heartbeat_ivl_ms = 0x10, connect_all = false }\n");
}

// ------------------------------------------------------------ control

void Controls() {
  auto write = [](const std::string& name, const control::ControlRequest& r) {
    Write("control", name, SerializeCanonical(r));
  };
  control::ControlRequest r;
  r.set_version(1);
  r.mutable_status();
  write("status", r);

  r.Clear();
  r.set_version(1);
  control::SendRequest* s = r.mutable_send();
  s->add_to("bob");
  s->add_to("carol");
  s->set_subject("Hearing of a witness");
  s->set_body("Proposed dates: 3 and 4 March.\n");
  s->set_priority(wire::PRIORITY_HIGH);
  s->set_kind(wire::KIND_INFO);
  s->set_in_reply_to("fuzz-msg-simple");
  s->set_case_id(CaseId(Alice().fingerprint(), std::string(16, '\x42')));
  s->set_expires_in_us(86400LL * 1'000'000);
  s->set_handling(wire::HANDLING_H1);
  s->set_handling_note("court use only");
  s->set_message_id("01hfuzzmessage0000000000ab");
  control::StagedAttachment* a = s->add_attachments();
  a->set_name("statement.pdf");
  a->set_size(ChunkPlaintext().size());
  a->set_sha256(Sha256(ChunkPlaintext()));
  a->set_key(std::string(AttachmentKey().view()));
  a->set_chunk_size(kMinChunkBytes);
  a->set_staged_path("01hfuzzmessage0000000000ab-0");
  const control::StagedAttachment staged = *a;
  write("send", r);
  s->mutable_attachments(0)->set_staged_path("../../keystore");
  write("send-staged-traversal", r);

  for (const char* which : {"inbox", "outbox", "requests"}) {
    r.Clear();
    r.set_version(1);
    if (std::string(which) == "inbox") r.mutable_inbox()->set_limit(20);
    if (std::string(which) == "outbox") r.mutable_outbox()->set_limit(0);
    if (std::string(which) == "requests") r.mutable_requests()->set_limit(5);
    write(which, r);
  }
  r.Clear();
  r.set_version(1);
  r.mutable_show()->set_id("alice/fuzz-msg-simple");
  write("show", r);
  r.Clear();
  r.set_version(1);
  r.mutable_export_bundle()->set_id("fuzz-msg-simple");
  r.mutable_export_bundle()->set_permission_ref("Court of Appeal, order 2026/17");
  write("export", r);
  r.Clear();
  r.set_version(1);
  r.mutable_request_update()->set_id("alice/fuzz-msg-request");
  r.mutable_request_update()->set_state("refused");
  r.mutable_request_update()->set_note("Dual criminality is not met.");
  write("request-update", r);
  r.Clear();
  r.set_version(1);
  r.mutable_fetch()->set_id("fuzz-msg-simple");
  r.mutable_fetch()->set_attachment(0);
  write("fetch", r);
  r.Clear();
  r.set_version(1);
  r.mutable_tree_head();
  write("tree-head", r);

  const std::string case_id = CaseId(Alice().fingerprint(), std::string(16, '\x42'));
  for (const char* op : {"create", "invite", "remove", "post", "log", "list"}) {
    r.Clear();
    r.set_version(1);
    control::CaseCommand* c = r.mutable_case_command();
    c->set_op(op);
    if (std::string(op) == "create") {
      c->set_title("Operation Fuzz");
      c->add_members("bob");
      c->add_members("carol");
    } else if (std::string(op) != "list") {
      c->set_case_id(case_id);
    }
    if (std::string(op) == "invite" || std::string(op) == "remove") c->add_members("carol");
    if (std::string(op) == "post") {
      c->set_type("task");
      c->set_text("Request the account statements");
      c->set_assignee("bob");
      c->set_task_state("open");
      c->set_message_id("01hfuzzcase00000000000000ab");
      *c->add_attachments() = staged;
    }
    write(std::string("case-") + op, r);
  }

  r.Clear();
  r.set_version(2);
  r.mutable_status();
  write("version-2", r);
  Write("control", "empty", "");
}

}  // namespace
}  // namespace rogatory::fuzz

int main(int argc, char** argv) {
  using namespace rogatory::fuzz;
  g_out = argc > 1 ? fs::path(argv[1]) : fs::path(ROGATORY_SOURCE_DIR) / "tests/fuzz/corpus";
  Init();
  const Material m = MakeMaterial();
  Envelopes(m);
  Payloads(m);
  Frames(m);
  Cards();
  Directories();
  Bundles(m);
  Requests();
  Configs();
  Controls();
  std::printf("make_seeds: wrote %zu files, %zu bytes, under %s\n", g_files, g_bytes,
              g_out.c_str());
  return 0;
}
