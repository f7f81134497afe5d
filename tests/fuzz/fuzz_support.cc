#include "tests/fuzz/fuzz_support.h"

#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>

#include "keys/attachment.h"
#include "keys/card.h"
#include "keys/case_entry.h"
#include "keys/crypto.h"
#include "keys/labels.h"
#include "keys/limits.h"
#include "keys/merkle.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "node/request.h"
#include "node/transfer.h"
#include "proto/mla.pb.h"
#include "proto/storage.pb.h"

namespace rogatory::fuzz {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz_support: %s\n", what.c_str());
  std::abort();
}

// An Identity with keys derived from `name`. Identity has no constructor
// from keys, so this goes through a keystore file, as `rogatoryd` does: a
// mode-0600 temporary file, read back and removed.
Identity MakeIdentity(const std::string& name) {
  SecretBytes secrets(128);
  const char* parts[] = {"signing", "encryption", "transport", "next"};
  for (int i = 0; i < 4; ++i) {
    SecretBytes k = FixedKey("rogatory-fuzz/" + name + "/" + parts[i]);
    std::copy(k.data(), k.data() + 32, secrets.data() + 32 * i);
  }
  const SigningKey signing = SigningKey::FromSeed(FixedKey("rogatory-fuzz/" + name + "/signing"));
  const SigningKey next = SigningKey::FromSeed(FixedKey("rogatory-fuzz/" + name + "/next"));
  const BoxKey encryption = BoxKey::FromSecret(FixedKey("rogatory-fuzz/" + name + "/encryption"));
  const BoxKey transport = BoxKey::FromSecret(FixedKey("rogatory-fuzz/" + name + "/transport"));

  wire::Card c;
  c.set_version(1);
  c.set_node_id(name);
  c.set_authority("Fuzz authority " + name);
  c.set_country("FR");
  c.add_endpoints("tcp://127.0.0.1:7000");
  c.set_signing_key(signing.public_key);
  c.set_encryption_key(encryption.public_key);
  c.set_transport_key(transport.public_key);
  c.set_valid_from(1'000'000);
  c.set_valid_until(4'102'444'800LL * 1'000'000);
  c.set_sequence(1);
  c.set_next_key_hash(NextKeyHash(next.public_key));

  storage::Keystore ks;
  ks.set_version(1);
  ks.set_card(SignCard(c, signing));
  ks.set_secrets(std::string(secrets.view()));
  const std::string bytes = SerializeCanonical(ks);

  const char* tmp = std::getenv("TMPDIR");
  std::string path = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                     "/rogatory-fuzz-keystore-XXXXXX";
  const int fd = ::mkstemp(path.data());  // mode 0600
  if (fd < 0) Die("cannot create a temporary keystore in " + path);
  const bool written = ::write(fd, bytes.data(), bytes.size()) ==
                       static_cast<ssize_t>(bytes.size());
  ::close(fd);
  auto id = written ? Identity::ReadKeystore(path, std::nullopt)
                    : Result<Identity>(MakeError(Code::kUnavailable, "short write"));
  ::unlink(path.c_str());
  if (!id.ok()) Die("fixed identity " + name + ": " + id.error().message);
  return std::move(id).value();
}

// Alice's log: entry i is a LogEntry of a sent envelope with fixed fields.
class FixedLog : public merkle::HashSource {
 public:
  Result<std::string> Leaf(uint64_t index) override {
    if (index >= kLogSize) return MakeError(Code::kNotFound, "no such entry");
    return merkle::LeafHash(LogEntryBytes(index));
  }
};

std::string Msg(uint64_t i) { return "fuzz-log-" + std::to_string(i); }

}  // namespace

void Init() {
  static const bool ok = InitCrypto().ok();
  if (!ok) Die("InitCrypto failed");
}

SecretBytes FixedKey(std::string_view label) { return SecretBytes::From(Sha256(label)); }

const Identity& Alice() {
  Init();
  static const Identity* id = new Identity(MakeIdentity("alice"));
  return *id;
}
const Identity& Bob() {
  Init();
  static const Identity* id = new Identity(MakeIdentity("bob"));
  return *id;
}
const Identity& Carol() {
  Init();
  static const Identity* id = new Identity(MakeIdentity("carol"));
  return *id;
}

const SecretBytes& EpochKey() {
  static const SecretBytes* k = new SecretBytes(FixedKey("rogatory-fuzz/epoch-1"));
  return *k;
}
const SecretBytes& AttachmentKey() {
  static const SecretBytes* k = new SecretBytes(FixedKey("rogatory-fuzz/attachment"));
  return *k;
}

// ------------------------------------------------------------ audit log

std::string LogEntryBytes(uint64_t index) {
  wire::LogEntry e;
  e.set_version(1);
  e.set_kind(index % 2 == 0 ? wire::LOG_ENVELOPE_SENT : wire::LOG_ENVELOPE_RECEIVED);
  e.set_message_id(Msg(index));
  e.set_sender(Alice().fingerprint());
  if (index % 2 == 1) e.set_peer(Bob().fingerprint());
  e.set_sha256(Sha256(Msg(index)));
  e.set_logged_at(kNowUs + static_cast<int64_t>(index));
  return SerializeCanonical(e);
}

std::string LogRoot(uint64_t size) {
  static std::map<uint64_t, std::string>* cache = new std::map<uint64_t, std::string>;
  if (auto it = cache->find(size); it != cache->end()) return it->second;
  FixedLog log;
  auto r = merkle::Root(log, size);
  if (!r.ok()) Die("LogRoot: " + r.error().message);
  return (*cache)[size] = *r;
}

std::vector<std::string> LogConsistency(uint64_t from, uint64_t to) {
  FixedLog log;
  auto r = merkle::ConsistencyProof(log, from, to);
  if (!r.ok()) Die("LogConsistency: " + r.error().message);
  return *r;
}

std::vector<std::string> LogInclusion(uint64_t index, uint64_t size) {
  FixedLog log;
  auto r = merkle::InclusionProof(log, index, size);
  if (!r.ok()) Die("LogInclusion: " + r.error().message);
  return *r;
}

std::string SignedHead(uint64_t size) {
  static std::map<uint64_t, std::string>* cache = new std::map<uint64_t, std::string>;
  if (auto it = cache->find(size); it != cache->end()) return it->second;
  wire::TreeHead h;
  h.set_version(1);
  h.set_log(Alice().fingerprint());
  h.set_size(size);
  h.set_root(LogRoot(size));
  h.set_timestamp(kNowUs + static_cast<int64_t>(size) * 1'000'000);
  return (*cache)[size] = SignTreeHead(h, Alice().signing());
}

// ------------------------------------------------------------ attachment

const std::string& ChunkPlaintext() {
  static const std::string* p = [] {
    auto* s = new std::string(kMinChunkBytes + 100, '\0');
    for (size_t i = 0; i < s->size(); ++i) (*s)[i] = static_cast<char>('a' + i % 26);
    return s;
  }();
  return *p;
}

const std::vector<std::string>& SealedChunks() {
  static const std::vector<std::string>* chunks = [] {
    auto* v = new std::vector<std::string>;
    const std::string& p = ChunkPlaintext();
    const uint64_t n = ChunkCount(p.size(), kMinChunkBytes);
    for (uint64_t i = 0; i < n; ++i) {
      std::string out;
      SealChunk(AttachmentKey(), kChunkMessageId, i, i + 1 == n,
                std::string_view(p).substr(i * kMinChunkBytes, kMinChunkBytes), &out);
      v->push_back(std::move(out));
    }
    return v;
  }();
  return *chunks;
}

// ------------------------------------------------------------ payloads

namespace {
const SecretBytes& ContentKey() {
  static const SecretBytes* k = new SecretBytes(FixedKey("rogatory-fuzz/content"));
  return *k;
}
}  // namespace

const std::string& FixedOuterHeader() {
  static const std::string* bytes = [] {
    wire::OuterHeader o;
    o.set_version(1);
    o.set_message_id("fuzz-payload");
    o.set_sender(Alice().fingerprint());
    o.add_recipients(Bob().fingerprint());
    o.set_created_at(kNowUs);
    o.set_expires_at(kNowUs + 3600LL * 1'000'000);
    o.set_priority(wire::PRIORITY_NORMAL);
    o.set_key_commitment(KeyedHash(ContentKey(), labels::kKeyCommitment));
    return new std::string(SerializeCanonical(o));
  }();
  return *bytes;
}

namespace {
// The crypto_box key between Alice's and Bob's encryption keys (either way).
const SecretBytes& SharedAliceBob() {
  static const SecretBytes* shared = [] {
    auto s = BoxSharedKey(Alice().encryption().secret, Bob().encryption().public_key);
    if (!s.ok()) Die("BoxSharedKey: " + s.error().message);
    return new SecretBytes(std::move(s).value());
  }();
  return *shared;
}
}  // namespace

std::string SealPayload(std::string_view plaintext) {
  const SecretBytes* shared = &SharedAliceBob();
  wire::SealedMessage sealed;
  sealed.set_outer_header(FixedOuterHeader());
  auto* wk = sealed.add_wrapped_keys();
  wk->set_recipient(Bob().fingerprint());
  std::string nonce;
  wk->set_box(BoxSeal(*shared, ContentKey().view(), &nonce));
  wk->set_nonce(nonce);
  sealed.set_ciphertext(AeadSeal(ContentKey(), plaintext, FixedOuterHeader(), &nonce));
  sealed.set_nonce(nonce);
  wire::Envelope env;
  env.set_sealed(SerializeCanonical(sealed));
  env.set_signature(Sign(Alice().signing(), labels::kEnvelopeOuter, env.sealed()));
  return SerializeCanonical(env);
}

std::string MakePayload(wire::InnerHeader inner, std::string_view body) {
  inner.set_outer_header(FixedOuterHeader());
  wire::Payload p;
  p.set_inner_header(SerializeCanonical(inner));
  std::string signed_bytes = p.inner_header();
  signed_bytes.append(Sha256(body));
  p.set_inner_signature(Sign(Alice().signing(), labels::kEnvelopeInner, signed_bytes));
  p.set_body(std::string(body));
  return SerializeCanonical(p);
}

// ------------------------------------------------------------ shared checks

void ExerciseEnvelope(std::string_view bytes) {
  const Identity& alice = Alice();
  const Identity& bob = Bob();
  // daemon.cc HandleDeliver: the signed bytes first, with the peer's key.
  wire::Envelope wrap;
  if (ParseStrict(bytes, &wrap, "envelope").ok()) {
    (void)Verify(alice.signing().public_key, labels::kEnvelopeOuter, wrap.sealed(),
                 wrap.signature());
  }
  auto env = ParseEnvelope(bytes);
  if (!env.ok()) return;
  (void)VerifyOuterSignature(*env, alice.signing().public_key);
  (void)VerifyOuterSignature(*env, bob.signing().public_key);
  // As the recipient (a delivered envelope) ...
  auto opened = OpenEnvelope(*env, bob.encryption().secret, bob.fingerprint(),
                             alice.encryption().public_key, alice.signing().public_key);
  // ... and as the sender opening its own copy for Bob (show, export), with
  // the precomputed shared key as the daemon does (one scalar
  // multiplication less per input).
  auto mine = OpenEnvelopeShared(*env, SharedAliceBob(), bob.fingerprint(),
                                 alice.signing().public_key);
  if (opened.ok() != mine.ok()) Violated("recipient and sender disagree on opening an envelope");
  if (!opened.ok()) return;
  // Offline verification with the disclosed content key (bundles).
  auto again = OpenWithContentKey(*env, opened->content_key.Clone(), alice.signing().public_key);
  if (!again.ok() || again->inner_signed_sha256 != opened->inner_signed_sha256) {
    Violated("an envelope that opened does not open with its own content key");
  }
  ExerciseOpened(*env, *opened);
}

void ExerciseOpened(const ParsedEnvelope& env, const OpenedMessage& opened) {
  const wire::InnerHeader& inner = opened.inner;
  (void)CheckAttachments(inner, limits::kDefaultMaxAttachments,
                         static_cast<uint64_t>(limits::kDefaultMaxAttachmentBytes));
  for (const auto& a : inner.attachments()) {
    (void)SafeAttachmentName(a.name());
    if (ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size()).ok()) {
      const uint64_t n = ChunkCount(a.size(), a.chunk_size());
      (void)SealedSize(a.size(), a.chunk_size());
      (void)SealedChunkLength(a.size(), a.chunk_size(), n - 1);
      (void)SealedChunkOffset(n - 1, a.chunk_size());
    }
  }
  if (!inner.case_id().empty()) (void)ValidateCaseId(inner.case_id());
  if (!inner.in_reply_to().empty()) (void)ValidateMessageId(inner.in_reply_to());
  const std::string& body = opened.payload.body();
  if (inner.kind() == wire::KIND_REQUEST) {
    // daemon.cc IsStructuredRequest / ReadIncoming, and what `show` prints.
    mla::MlaRequest req;
    if (ParseStrict(body, &req, "MLA request").ok() && ValidateRequest(req).ok()) {
      (void)RequestSubject(req);
      // The CLI prints a validated request as JSON: dump() throws on a
      // string that is not UTF-8, which ValidateRequest must have refused.
      (void)RequestToJson(req).dump(2);
    }
  } else if (inner.kind() == wire::KIND_STATUS) {
    mla::StatusUpdate u;
    if (ParseStrict(body, &u, "status update").ok() && ValidateStatusUpdate(u).ok()) {
      (void)StatusChainHash(body);
      for (int from = mla::State_MIN; from <= mla::State_MAX; ++from) {
        for (RequestParty by : {RequestParty::kRequester, RequestParty::kRequested}) {
          (void)CheckTransition(static_cast<mla::State>(from), u.state(), by, u.note(),
                                {"alice", "bob"});
        }
      }
    }
  }
  (void)env;
}

void ExerciseCaseEntry(std::string_view bytes) {
  const Identity& alice = Alice();
  const Identity& bob = Bob();
  if (bytes.size() > limits::kMaxCaseEntryBytes) return;  // CaseBook::AcceptOne
  auto peek = PeekCaseEntryHeader(bytes);
  (void)CaseEntryHash(bytes);
  if (!peek.ok()) return;
  (void)ValidateCaseId(peek->case_id());
  // A case's first entry: its membership body names the lead's card.
  wire::CaseEntry raw;
  if (ParseStrict(bytes, &raw, "case entry").ok()) {
    auto m = ParseMembership(raw.body());
    if (m.ok()) (void)CaseId(peek->author(), m->case_nonce());
  }
  const Identity& author = peek->author() == bob.fingerprint() ? bob : alice;
  auto v = VerifyCaseEntry(bytes, author.signing().public_key);
  if (!v.ok()) return;
  if (v->header.type() == wire::CASE_MEMBERSHIP) {
    auto m = ParseMembershipEntry(*v);
    if (!m.ok()) return;
    auto shared = BoxSharedKey(bob.encryption().secret, author.encryption().public_key);
    if (!shared.ok()) return;
    for (uint64_t epoch = 1; epoch <= v->header.epoch() && epoch <= 4; ++epoch) {
      if (const auto* w = FindEpochKey(*m, bob.fingerprint(), epoch)) {
        (void)UnwrapEpochKey(*shared, *w);
      }
    }
  } else {
    auto body = OpenCaseBody(EpochKey(), v->header, v->body);
    if (!body.ok()) return;
    for (const auto& a : body->attachments()) {
      (void)ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size());
    }
  }
}

void Violated(const char* what) {
  std::fprintf(stderr, "fuzz: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace rogatory::fuzz
