// Adversarial tests against a real rogatoryd: a hostile client in this test
// speaks the wire protocol over its own CURVE connection and crafts frames.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <SQLiteCpp/SQLiteCpp.h>
#include <sodium.h>

#include <fstream>
#include <set>

#include <zmq.hpp>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/identity.h"
#include "keys/labels.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "keys/case_entry.h"
#include "node/transport.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

int64_t SystemClock_Now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Identity MakeIdentity(const std::string& id) {
  EXPECT_TRUE(InitCrypto().ok());
  auto r = Identity::Generate({id, "Hostile " + id, "XX", {"tcp://127.0.0.1:9"}, 0,
                               int64_t{4102444800} * 1000000});
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

// Writes `who`'s card to a file and adds it to `node`'s roster.
void AddToRoster(const Node& node, const Identity& who, const std::string& dir) {
  const std::string path = dir + "/" + who.card().node_id() + ".card";
  std::ofstream(path) << Armor(kCardArmorType, who.signed_card());
  auto r = node.Cli({"peer", "add", path, "--fingerprint", FingerprintText(who.fingerprint())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

struct NodeKeys {
  std::string fingerprint;  // raw
  std::string encryption;
  std::string transport;
};

NodeKeys KeysOf(const Node& node) {
  auto j = node.Json({"id", "show", "--json"});
  NodeKeys k;
  k.fingerprint = *ParseFingerprint(j["fingerprint"].get<std::string>());
  k.encryption = *FromBase64(j["keys"]["encryption"].get<std::string>());
  std::string z85 = j["keys"]["transport"];
  k.transport.resize(32);
  zmq_z85_decode(reinterpret_cast<uint8_t*>(k.transport.data()), z85.c_str());
  return k;
}

Draft MakeDraft(const std::string& id, const NodeKeys& to, const std::string& body) {
  Draft d;
  d.message_id = id;
  d.created_at_us = SystemClock_Now();
  d.expires_at_us = d.created_at_us + 3600LL * 1000000;
  d.recipients.push_back({to.fingerprint, to.encryption});
  d.inner.set_subject("hostile");
  d.body = body;
  return d;
}

}  // namespace

// The hostile client: a DEALER that is a CURVE client with `who`'s transport key.
class HostileClient {
 public:
  HostileClient(const Identity& who, const NodeKeys& server, const std::string& endpoint)
      : socket_(ctx_, zmq::socket_type::dealer) {
    socket_.set(zmq::sockopt::linger, 0);
    zmq_setsockopt(socket_.handle(), ZMQ_CURVE_SERVERKEY, server.transport.data(), 32);
    zmq_setsockopt(socket_.handle(), ZMQ_CURVE_PUBLICKEY, who.transport().public_key.data(), 32);
    zmq_setsockopt(socket_.handle(), ZMQ_CURVE_SECRETKEY, who.transport().secret.data(), 32);
    socket_.connect(endpoint);
  }

  void SendRaw(const std::string& bytes) { socket_.send(zmq::buffer(bytes), zmq::send_flags::none); }

  void SendEnvelope(const std::string& envelope, uint32_t protocol = 1) {
    wire::Frame f;
    f.set_protocol(protocol);
    f.mutable_deliver()->set_envelope(envelope);
    SendRaw(SerializeCanonical(f));
  }

  // Receives frames until `done` returns true for one, or the deadline passes.
  // Every frame received is kept in frames().
  bool ReceiveUntil(const std::function<bool(const wire::Frame&)>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t m;
      (void)socket_.recv(m, zmq::recv_flags::none);
      wire::Frame f;
      if (!f.ParseFromArray(m.data(), static_cast<int>(m.size()))) continue;
      frames_.push_back(f);
      if (done(f)) return true;
    }
    return false;
  }

  const std::vector<wire::Frame>& frames() const { return frames_; }

  bool AckFor(const std::string& id) {
    for (const auto& f : frames_) {
      if (f.has_ack() && f.ack().message_id() == id) return true;
    }
    return false;
  }
  const wire::Frame* NackFor(const std::string& id) {
    for (const auto& f : frames_) {
      if (f.has_nack() && f.nack().message_id() == id) return &f;
    }
    return nullptr;
  }

 private:
  zmq::context_t ctx_{1};
  zmq::socket_t socket_;
  std::vector<wire::Frame> frames_;
};

namespace {

// A validly signed envelope whose key commitment is not the content key's.
std::string SealWithBadCommitment(const Identity& sender, const Draft& d) {
  SecretBytes key(32);
  randombytes_buf(key.data(), key.size());
  wire::OuterHeader outer;
  outer.set_version(1);
  outer.set_message_id(d.message_id);
  outer.set_sender(sender.fingerprint());
  for (const auto& r : d.recipients) outer.add_recipients(r.fingerprint);
  outer.set_created_at(d.created_at_us);
  outer.set_expires_at(d.expires_at_us);
  outer.set_priority(wire::PRIORITY_NORMAL);
  outer.set_key_commitment(RandomBytes(32));  // not BLAKE2b_K(label)
  const std::string outer_bytes = SerializeCanonical(outer);
  wire::InnerHeader inner = d.inner;
  inner.set_outer_header(outer_bytes);
  wire::Payload payload;
  payload.set_inner_header(SerializeCanonical(inner));
  std::string signed_bytes = payload.inner_header() + Sha256(d.body);
  payload.set_inner_signature(Sign(sender.signing(), labels::kEnvelopeInner, signed_bytes));
  payload.set_body(d.body);
  wire::SealedMessage sealed;
  sealed.set_outer_header(outer_bytes);
  for (const auto& r : d.recipients) {
    auto shared = BoxSharedKey(sender.encryption().secret, r.encryption_key);
    auto* wk = sealed.add_wrapped_keys();
    wk->set_recipient(r.fingerprint);
    std::string nonce;
    wk->set_box(BoxSeal(*shared, key.view(), &nonce));
    wk->set_nonce(nonce);
  }
  std::string nonce;
  sealed.set_ciphertext(AeadSeal(key, SerializeCanonical(payload), outer_bytes, &nonce));
  sealed.set_nonce(nonce);
  wire::Envelope env;
  env.set_sealed(SerializeCanonical(sealed));
  env.set_signature(Sign(sender.signing(), labels::kEnvelopeOuter, env.sealed()));
  return SerializeCanonical(env);
}

class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b = std::make_unique<Node>(dir.path(), "target-node");
    hostile.emplace(MakeIdentity("hostile-peer"));
    other.emplace(MakeIdentity("other-peer"));
    AddToRoster(*b, *hostile, dir.path());
    AddToRoster(*b, *other, dir.path());
    if (!ExtraConfig().empty()) b->WriteConfig(ExtraConfig());
    b->Start();
    keys = KeysOf(*b);
    client = std::make_unique<HostileClient>(*hostile, keys, b->endpoint());
  }

  // Sends a legitimate message from the hostile peer and waits for its ack:
  // frames on one connection are answered in order, so any reply to what
  // was sent before has arrived by then.
  void Barrier() {
    const std::string id = NewMessageId(SystemClock_Now());
    auto env = SealEnvelope(*hostile, MakeDraft(id, keys, "barrier"));
    ASSERT_TRUE(env.ok());
    client->SendEnvelope(*env);
    ASSERT_TRUE(client->ReceiveUntil(
        [&](const wire::Frame& f) { return f.has_ack() && f.ack().message_id() == id; }))
        << b->Log();
  }

  // After every attack, a legitimate peer that took no part in it still
  // gets a message through: the node kept serving.
  void TearDown() override {
    if (HasFatalFailure() || b == nullptr) return;
    HostileClient honest(*other, keys, b->endpoint());
    const std::string id = NewMessageId(SystemClock_Now());
    auto env = SealEnvelope(*other, MakeDraft(id, keys, "still served"));
    ASSERT_TRUE(env.ok());
    honest.SendEnvelope(*env);
    EXPECT_TRUE(honest.ReceiveUntil(
        [&](const wire::Frame& f) { return f.has_ack() && f.ack().message_id() == id; }))
        << "a legitimate peer was not served after the test\n"
        << b->Log();
  }

  size_t InboxSize() { return b->Json({"inbox", "--json"}).size(); }
  virtual std::string ExtraConfig() const { return ""; }

  TempDir dir;
  std::unique_ptr<Node> b;
  std::optional<Identity> hostile, other;
  NodeKeys keys;
  std::unique_ptr<HostileClient> client;
};

TEST_F(HostilePeerTest, EnvelopeSignedByAnotherPeerOverThisConnectionIsRefused) {
  const std::string id = NewMessageId(SystemClock_Now());
  auto env = SealEnvelope(*other, MakeDraft(id, keys, "impersonated"));
  ASSERT_TRUE(env.ok());
  client->SendEnvelope(*env);
  Barrier();
  EXPECT_FALSE(client->AckFor(id));
  EXPECT_TRUE(b->WaitLog("came over the connection of hostile-peer")) << b->Log();
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
}

// Someone holding the peer's transport key (it gets through CURVE and ZAP)
// but not its identity key: envelopes in its name with a forged signature.
TEST_F(HostilePeerTest, AValidTransportKeyWithAForgedIdentitySignatureIsRefused) {
  const Identity thief = MakeIdentity("hostile-peer");  // same name, other keys
  std::vector<std::string> ids;
  for (int variant = 0; variant < 2; ++variant) {
    const std::string id = NewMessageId(SystemClock_Now());
    ids.push_back(id);
    auto env = SealEnvelope(*hostile, MakeDraft(id, keys, "forged"));
    ASSERT_TRUE(env.ok());
    wire::Envelope e;
    ASSERT_TRUE(e.ParseFromString(*env));
    e.set_signature(variant == 0 ? Sign(thief.signing(), labels::kEnvelopeOuter, e.sealed())
                                 : RandomBytes(64));
    client->SendEnvelope(SerializeCanonical(e));
  }
  Barrier();
  for (const auto& id : ids) EXPECT_FALSE(client->AckFor(id)) << id;
  const std::string log = b->Log();
  size_t lines = 0;
  for (size_t at = log.find("outer signature does not verify"); at != std::string::npos;
       at = log.find("outer signature does not verify", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << log;
  EXPECT_NE(log.find("refused frame from hostile-peer"), std::string::npos) << log;
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
}

TEST_F(HostilePeerTest, KeyCommitmentMismatchIsRefusedWithASignedRefusal) {
  const std::string id = NewMessageId(SystemClock_Now());
  client->SendEnvelope(SealWithBadCommitment(*hostile, MakeDraft(id, keys, "two faces")));
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
    return f.has_nack() && f.nack().message_id() == id;
  })) << b->Log();
  EXPECT_FALSE(client->AckFor(id));
  const wire::Frame* nack = client->NackFor(id);
  auto refusal = VerifyRefusal(nack->nack().refusal(),
                               *FromBase64(b->Json({"id", "show", "--json"})["keys"]["signing"]
                                               .get<std::string>()));
  ASSERT_TRUE(refusal.ok());
  EXPECT_NE(refusal->reason().find("key commitment"), std::string::npos) << refusal->reason();
  EXPECT_EQ(InboxSize(), 0u);
}

TEST_F(HostilePeerTest, SameIdWithADifferentEnvelopeIsRefusedAndNotAcknowledged) {
  const std::string id = NewMessageId(SystemClock_Now());
  auto first = SealEnvelope(*hostile, MakeDraft(id, keys, "original"));
  client->SendEnvelope(*first);
  std::vector<std::string> receipts;
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
    if (f.has_ack() && f.ack().message_id() == id) receipts.push_back(f.ack().receipt());
    return !receipts.empty();
  }));

  auto second = SealEnvelope(*hostile, MakeDraft(id, keys, "substituted"));
  client->SendEnvelope(*second);
  ASSERT_TRUE(client->ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_nack() && f.nack().message_id() == id; }))
      << b->Log();

  // The substitute got no ack: the only ack so far is the first one.
  ASSERT_EQ(client->NackFor(id) != nullptr, true);
  // The original again: acknowledged with the byte-identical stored receipt.
  client->SendEnvelope(*first);
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
    if (f.has_ack() && f.ack().message_id() == id) receipts.push_back(f.ack().receipt());
    return receipts.size() == 2;
  }));
  EXPECT_EQ(receipts[0], receipts[1]);
  auto inbox = b->Json({"inbox", "--json"});
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(b->Json({"show", id, "--json"})["body"], "original");
  EXPECT_TRUE(b->WaitLog("already received with a different envelope"));
}

TEST_F(HostilePeerTest, DuplicateEnvelopeGetsTheByteIdenticalReceiptAndIsStoredOnce) {
  const std::string id = NewMessageId(SystemClock_Now());
  auto env = SealEnvelope(*hostile, MakeDraft(id, keys, "twice"));
  std::vector<std::string> receipts;
  for (int i = 0; i < 2; ++i) {
    client->SendEnvelope(*env);
    ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
      if (f.has_ack() && f.ack().message_id() == id) {
        receipts.push_back(f.ack().receipt());
        return true;
      }
      return false;
    }));
  }
  ASSERT_EQ(receipts.size(), 2u);
  EXPECT_EQ(receipts[0], receipts[1]);
  auto receipt = VerifyReceipt(receipts[0], *FromBase64(b->Json({"id", "show", "--json"})["keys"]
                                                            ["signing"]
                                                                .get<std::string>()));
  ASSERT_TRUE(receipt.ok());
  EXPECT_EQ(receipt->envelope_sha256(), Sha256(*env));
  EXPECT_EQ(InboxSize(), 1u);
}

TEST_F(HostilePeerTest, EnvelopeForSomeoneElseIsRefused) {
  const std::string id = NewMessageId(SystemClock_Now());
  NodeKeys elsewhere{other->fingerprint(), other->encryption().public_key, ""};
  client->SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id, elsewhere, "misrouted")));
  ASSERT_TRUE(client->ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_nack() && f.nack().message_id() == id; }));
  EXPECT_FALSE(client->AckFor(id));
  EXPECT_EQ(InboxSize(), 0u);
}

TEST_F(HostilePeerTest, ExpiredAndFutureDatedEnvelopesAreRefused) {
  const std::string expired_id = NewMessageId(SystemClock_Now());
  Draft d = MakeDraft(expired_id, keys, "old");
  d.created_at_us -= 7200LL * 1000000;
  d.expires_at_us = d.created_at_us + 1000000;
  client->SendEnvelope(*SealEnvelope(*hostile, d));
  const std::string future_id = NewMessageId(SystemClock_Now());
  Draft f = MakeDraft(future_id, keys, "from the future");
  f.created_at_us += 3600LL * 1000000;
  f.expires_at_us += 3600LL * 1000000;
  client->SendEnvelope(*SealEnvelope(*hostile, f));
  // Expired: a signed refusal. Future-dated: not accepted yet, but not
  // refused for good either (it is accepted once the clock catches up).
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame&) {
    return client->NackFor(expired_id) != nullptr;
  })) << b->Log();
  EXPECT_TRUE(b->WaitLog("dated beyond the clock allowance")) << b->Log();
  Barrier();
  EXPECT_FALSE(client->AckFor(future_id));
  EXPECT_EQ(client->NackFor(future_id), nullptr);
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
}

TEST_F(HostilePeerTest, MalformedFramesAreLoggedAndTheNodeKeepsServing) {
  client->SendRaw(RandomBytes(300));
  client->SendRaw("");
  client->SendEnvelope(RandomBytes(64));  // a frame whose envelope is junk
  const std::string id = NewMessageId(SystemClock_Now());
  client->SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id, keys, "v9")), 9);
  Barrier();
  EXPECT_TRUE(b->WaitLog("unknown protocol version 9")) << b->Log();
  EXPECT_TRUE(b->WaitLog("envelope refused")) << b->Log();
  EXPECT_FALSE(client->AckFor(id));
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
}

// A frame limit small enough to cross cheaply.
class SmallFrameTest : public HostilePeerTest {
  std::string ExtraConfig() const override {
    return "[limits]\nmax_frame_bytes = 131072\nmax_body_bytes = 1024\n";
  }
};

TEST_F(SmallFrameTest, TruncatedAndOversizedFramesAreRefusedNamingThePeer) {
  Barrier();  // the connection has carried a frame: b knows whose it is
  // A valid frame cut short: refused by the strict parser, one line.
  const std::string id = NewMessageId(SystemClock_Now());
  auto env = SealEnvelope(*hostile, MakeDraft(id, keys, "cut short"));
  ASSERT_TRUE(env.ok());
  wire::Frame f;
  f.set_protocol(1);
  f.mutable_deliver()->set_envelope(*env);
  const std::string whole = SerializeCanonical(f);
  client->SendRaw(whole.substr(0, whole.size() / 2));
  Barrier();
  EXPECT_TRUE(b->WaitLog("refused frame from hostile-peer")) << b->Log();
  EXPECT_FALSE(client->AckFor(id));

  // A frame over max_frame_bytes: ZeroMQ cuts the connection before the
  // daemon sees a byte of it; the daemon names the peer and the limit.
  client->SendRaw(std::string(200 * 1024, 'x'));
  EXPECT_TRUE(b->WaitLog("connection from hostile-peer (127.0.0.1:")) << b->Log();
  EXPECT_TRUE(b->WaitLog("over limits.max_frame_bytes (131072 bytes)")) << b->Log();
  // The peer reconnects and is served again, and so is everyone else.
  Barrier();
  EXPECT_EQ(InboxSize(), 3u);  // the three barriers, nothing else
}

// A tree head of `who`'s log at `size` with root `root`, signed by `signer`.
std::string Head(const Identity& who, const Identity& signer, uint64_t size, char root) {
  wire::TreeHead h;
  h.set_version(1);
  h.set_log(who.fingerprint());
  h.set_size(size);
  h.set_root(std::string(32, root));
  h.set_timestamp(SystemClock_Now());
  return SignTreeHead(h, signer.signing());
}

std::string HeadReplyFrame(const std::string& head, const std::vector<std::string>& gossip = {}) {
  wire::Frame f;
  f.set_protocol(1);
  f.mutable_head_reply()->set_signed_tree_head(head);
  for (const auto& g : gossip) f.mutable_head_reply()->add_gossip()->set_signed_tree_head(g);
  return SerializeCanonical(f);
}

TEST_F(HostilePeerTest, ForgedTreeHeadsAndCosignaturesAreRefusedAndNothingIsKept) {
  // A head of its log signed with another key; a head of another log.
  client->SendRaw(HeadReplyFrame(Head(*hostile, *other, 4, 'a')));
  client->SendRaw(HeadReplyFrame(Head(*other, *hostile, 4, 'a')));
  // A cosignature in another witness's name, and one of a head b never signed.
  wire::TreeHead unsigned_head;
  unsigned_head.set_version(1);
  unsigned_head.set_log(keys.fingerprint);
  unsigned_head.set_size(77);
  unsigned_head.set_root(std::string(32, 'r'));
  const std::string fake = SignTreeHead(unsigned_head, hostile->signing());
  for (const Identity* witness : {&*other, &*hostile}) {
    wire::Frame f;
    f.set_protocol(1);
    f.mutable_cosign()->set_cosignature(
        Cosign(fake, unsigned_head, witness->fingerprint(), witness->signing(), 1));
    client->SendRaw(SerializeCanonical(f));
  }
  // Gossip of other-peer's log forged by the hostile peer, under a valid head.
  client->SendRaw(HeadReplyFrame(Head(*hostile, *hostile, 1, 'a'),
                                 {Head(*other, *hostile, 9, 'z')}));
  Barrier();
  EXPECT_TRUE(b->WaitLog("tree head refused: tree head signature does not verify")) << b->Log();
  EXPECT_TRUE(b->WaitLog("tree head refused: tree head is for another node's log")) << b->Log();
  EXPECT_TRUE(b->WaitLog("cosignature is not by the peer that sent it")) << b->Log();
  EXPECT_TRUE(b->WaitLog("cosignature of a tree head this node never signed")) << b->Log();
  EXPECT_TRUE(b->WaitLog("passed on a tree head of other-peer that does not verify")) << b->Log();
  auto status = b->Json({"status", "--json"});
  EXPECT_TRUE(status["audit"]["equivocations"].empty()) << status.dump();
  EXPECT_EQ(status["audit"]["witnesses"], 0);
  for (const auto& p : status["peers"]) {
    // Only the one valid head of the hostile peer's own log was kept.
    EXPECT_EQ(p["log_size"], p["id"] == "hostile-peer" ? 1 : 0) << p.dump();
  }
}

TEST_F(HostilePeerTest, APeerShowingTwoHistoriesIsCosignedOnceThenCaughtWithEvidence) {
  const std::string first = Head(*hostile, *hostile, 4, 'a');
  client->SendRaw(HeadReplyFrame(first));
  // b checks the head and returns its cosignature, signed by b.
  ASSERT_TRUE(client->ReceiveUntil([](const wire::Frame& f) { return f.has_cosign(); }))
      << b->Log();
  std::string cosignature;
  for (const auto& f : client->frames()) {
    if (f.has_cosign()) cosignature = f.cosign().cosignature();
  }
  const std::string b_key = *FromBase64(b->Json({"id", "show", "--json"})["keys"]["signing"]
                                            .get<std::string>());
  auto c = VerifyCosignature(cosignature, b_key, first);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->witness(), keys.fingerprint);
  EXPECT_EQ(c->size(), 4u);
  // The same size, another root: a split view, kept as evidence.
  client->SendRaw(HeadReplyFrame(Head(*hostile, *hostile, 4, 'b')));
  EXPECT_TRUE(b->WaitLog("EQUIVOCATION: the audit log of hostile-peer")) << b->Log();
  auto status = b->Json({"status", "--json"});
  ASSERT_EQ(status["audit"]["equivocations"].size(), 1u) << status.dump();
  EXPECT_EQ(status["audit"]["equivocations"][0]["log"], "hostile-peer");
  EXPECT_NE(status["audit"]["equivocations"][0]["reason"].get<std::string>().find(
                "different roots"),
            std::string::npos);
  // b still serves the peer, and still holds the first head, not the second.
  Barrier();
  const auto after = b->Json({"status", "--json"});
  for (const auto& p : after["peers"]) {
    if (p["id"] == "hostile-peer") {
      EXPECT_EQ(p["log_size"], 4);
    }
  }
}

// A case entry by `author` (any ciphertext: relays check signatures only).
std::string CaseEntryBy(const Identity& author, const std::string& case_id, uint64_t seq,
                        const std::string& prev, const std::string& membership,
                        wire::CaseEntryType type, const std::string& body) {
  wire::CaseEntryHeader h;
  h.set_version(1);
  h.set_case_id(case_id);
  h.set_author(author.fingerprint());
  h.set_seq(seq);
  h.set_prev(prev);
  h.set_lamport(10 + seq);
  h.set_epoch(type == wire::CASE_MEMBERSHIP ? 2 : 1);
  h.set_membership(membership);
  h.set_type(type);
  h.set_created_at(SystemClock_Now());
  if (type != wire::CASE_MEMBERSHIP) h.set_nonce(std::string(24, 'n'));
  return SignCaseEntry(h, body, author.signing());
}

std::string CaseEntriesFrame(const std::string& case_id, const std::vector<std::string>& entries) {
  wire::Frame f;
  f.set_protocol(1);
  f.mutable_case_entries()->set_case_id(case_id);
  for (const auto& e : entries) f.mutable_case_entries()->add_entries(e);
  return SerializeCanonical(f);
}

TEST_F(HostilePeerTest, CaseEntriesByANonMemberANonLeadOrAForkAreRefusedAndReported) {
  auto created = b->Cli({"case", "create", "Joint team", "--members", "hostile-peer", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string id = nlohmann::json::parse(created.out)["id"];
  const auto log = b->Json({"case", "log", id, "--json"});
  ASSERT_EQ(log.size(), 1u);
  std::string membership;
  {
    SQLite::Database db(b->home() + "/store.db");
    SQLite::Statement q(db, "SELECT hash FROM case_entries WHERE type = 1");
    ASSERT_TRUE(q.executeStep());
    membership.assign(static_cast<const char*>(q.getColumn(0).getBlob()),
                      static_cast<size_t>(q.getColumn(0).getBytes()));
  }
  ASSERT_EQ(ToHex(membership), log[0]["hash"]);
  const std::string ciphertext = RandomBytes(40);
  // other-peer is in b's roster but not in the case.
  const std::string foreign =
      CaseEntryBy(*other, id, 1, "", membership, wire::CASE_NOTE, ciphertext);
  // The hostile peer, a member, signs two different entries with sequence 1.
  const std::string first = CaseEntryBy(*hostile, id, 1, "", membership, wire::CASE_NOTE, ciphertext);
  const std::string second =
      CaseEntryBy(*hostile, id, 1, "", membership, wire::CASE_NOTE, RandomBytes(40));
  // And then changes the membership: only the lead may.
  wire::CaseMembership m;
  m.set_version(1);
  const std::string coup = CaseEntryBy(*hostile, id, 2, CaseEntryHash(first), membership,
                                       wire::CASE_MEMBERSHIP, SerializeCanonical(m));
  client->SendRaw(CaseEntriesFrame(id, {foreign, first, second, coup}));
  Barrier();
  ASSERT_TRUE(WaitFor([&] {
    const auto list = b->Json({"case", "list", "--json"});
    return !list.empty() && list[0]["reports"].size() == 3;
  })) << b->Json({"case", "list", "--json"}).dump();
  const auto reports = b->Json({"case", "list", "--json"})[0]["reports"];
  std::set<std::string> kinds;
  for (const auto& r : reports) kinds.insert(r["kind"].get<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"not_member", "not_lead", "fork"}));
  EXPECT_TRUE(b->WaitLog("refused entry (fork): hostile-peer signed two different entries"))
      << b->Log();
  // The first of the two forked entries stands; nothing else went in.
  const auto after = b->Json({"case", "log", id, "--json"});
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[1]["author"], "hostile-peer");
  EXPECT_EQ(after[1]["hash"], ToHex(CaseEntryHash(first)));
  // The fork's evidence holds both signed entries.
  SQLite::Database db(b->home() + "/store.db");
  SQLite::Statement q(db, "SELECT evidence FROM case_reports WHERE kind = 'fork'");
  ASSERT_TRUE(q.executeStep());
  const std::string evidence(static_cast<const char*>(q.getColumn(0).getBlob()),
                             static_cast<size_t>(q.getColumn(0).getBytes()));
  EXPECT_EQ(evidence, first + second);
}

// Pushed over the peer's own authenticated connection (SPEC 9): a card not
// signed by the identity key the node trusts, and one whose new identity key
// is not the one committed to, are refused; the roster keeps the trusted
// card, and the connection still serves.
TEST_F(HostilePeerTest, AForgedRotationPushedByThePeerIsRefused) {
  Barrier();
  const SigningKey thief = SigningKey::FromSeed(SecretBytes::From(RandomBytes(32)));
  auto push = [&](const std::string& card) {
    wire::Frame f;
    f.set_protocol(1);
    f.mutable_card_update()->set_card(card);
    client->SendRaw(SerializeCanonical(f));
  };
  wire::Card card = hostile->card();
  card.set_sequence(2);
  card.set_transport_key(BoxKey::Generate().public_key);
  // Signed by a key of the thief's own, as the previous key too.
  wire::Card stolen = card;
  stolen.set_signing_key(thief.public_key);
  push(SignRotatedCard(stolen, thief, hostile->signed_card(), thief));
  EXPECT_TRUE(b->WaitLog("card update refused: identity card sequence 2 is not signed by the "
                         "identity key of the card it replaces"))
      << b->Log();
  // Signed by the current key (a thief who stole it), rotating to a key of
  // the thief's own instead of the committed one.
  push(SignRotatedCard(stolen, thief, hostile->signed_card(), hostile->signing()));
  EXPECT_TRUE(b->WaitLog("does not match the next-key hash committed in the card it replaces"))
      << b->Log();
  // No chain at all.
  push(SignCard(card, hostile->signing()));
  EXPECT_TRUE(b->WaitLog("does not chain to the card trusted for it")) << b->Log();
  EXPECT_FALSE(client->ReceiveUntil([](const wire::Frame& f) { return f.has_card_ack(); },
                                    std::chrono::milliseconds(300)));
  auto peers = b->Json({"peer", "list", "--json"});
  for (const auto& p : peers) {
    if (p["id"] == "hostile-peer") {
      EXPECT_EQ(p["card_sequence"], 1) << peers.dump();
    }
  }
  Barrier();  // the old keys still work: nothing was replaced
}

TEST_F(HostilePeerTest, UnknownTransportKeyIsRefusedAtTheHandshake) {
  Identity stranger = MakeIdentity("stranger");
  HostileClient intruder(stranger, keys, b->endpoint());
  const std::string id = NewMessageId(SystemClock_Now());
  intruder.SendEnvelope(*SealEnvelope(stranger, MakeDraft(id, keys, "let me in")));
  EXPECT_TRUE(b->WaitLog("is not in the roster")) << b->Log();
  Barrier();
  EXPECT_FALSE(intruder.AckFor(id));
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
}

TEST_F(HostilePeerTest, AConnectionMadeWithAReplacedTransportKeyIsCutOff) {
  Barrier();  // the connection works
  // The peer's newer card names another transport key (as after a leak).
  wire::Card card = hostile->card();
  card.set_sequence(2);
  card.set_transport_key(BoxKey::Generate().public_key);
  const std::string path = dir.path() + "/hostile-v2.card";
  std::ofstream(path) << Armor(kCardArmorType, SignRotatedCard(card, hostile->signing(),
                                                               hostile->signed_card(),
                                                               hostile->signing()));
  auto r = b->Cli({"peer", "add", path, "--fingerprint", FingerprintText(hostile->fingerprint())});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Frames on the connection made with the old key are refused from now on.
  const std::string id = NewMessageId(SystemClock_Now());
  client->SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id, keys, "old key")));
  EXPECT_TRUE(b->WaitLog("refused frames from hostile-peer: its connection was made with its earlier transport key")) << b->Log();
  EXPECT_FALSE(client->AckFor(id));
  EXPECT_EQ(InboxSize(), 1u);  // the first barrier only
}

// Revocation as docs/operator-guide.md section 12 does it today (issue 8
// adds the signed `peer revoke`): the open connection is cut off at once,
// a new one is refused at the handshake, and nothing goes back to it.
TEST_F(HostilePeerTest, ARevokedPeerIsCutOffOnItsOpenConnectionAndRefusedAfter) {
  Barrier();  // the connection works
  {
    SQLite::Database db(b->home() + "/store.db", SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    ASSERT_EQ(db.exec("UPDATE peers SET revoked_at = 1 WHERE node_id = 'hostile-peer'"), 1);
  }
  // On the connection it already has: refused, one line naming it.
  const std::string id = NewMessageId(SystemClock_Now());
  client->SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id, keys, "after revocation")));
  EXPECT_TRUE(b->WaitLog("refused frame: connection of " +
                         FingerprintText(hostile->fingerprint()) +
                         " is no longer admitted by the roster"))
      << b->Log();
  // A new connection with its key does not get past the handshake.
  HostileClient again(*hostile, keys, b->endpoint());
  const std::string id2 = NewMessageId(SystemClock_Now());
  again.SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id2, keys, "new connection")));
  EXPECT_TRUE(b->WaitLog("refused connection from 127.0.0.1")) << b->Log();
  EXPECT_FALSE(again.ReceiveUntil([](const wire::Frame&) { return true; },
                                  std::chrono::milliseconds(500)));
  EXPECT_FALSE(client->AckFor(id));
  // Nothing is sent to it either.
  auto r = b->Cli({"send", "--to", "hostile-peer", "--subject", "s", "--body", "x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("recipient 'hostile-peer' is revoked"), std::string::npos) << r.err;
  EXPECT_EQ(InboxSize(), 1u);  // the first barrier only
}

TEST_F(HostilePeerTest, AnIdUsedByTwoSendersIsNeverGuessed) {
  const std::string id = NewMessageId(SystemClock_Now());
  client->SendEnvelope(*SealEnvelope(*hostile, MakeDraft(id, keys, "from hostile")));
  ASSERT_TRUE(client->ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_ack() && f.ack().message_id() == id; }));
  HostileClient second(*other, keys, b->endpoint());
  second.SendEnvelope(*SealEnvelope(*other, MakeDraft(id, keys, "from other")));
  ASSERT_TRUE(second.ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_ack() && f.ack().message_id() == id; }));
  auto r = b->Cli({"show", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("more than one sender"), std::string::npos) << r.err;
  EXPECT_EQ(b->Json({"show", "hostile-peer/" + id, "--json"})["body"], "from hostile");
  EXPECT_EQ(b->Json({"show", "other-peer/" + id, "--json"})["body"], "from other");
  EXPECT_EQ(b->Cli({"export", id, "-o", dir.path() + "/x.bundle"}).exit_code, 1);
}

class ShortAllowanceTest : public HostilePeerTest {
 protected:
  std::string ExtraConfig() const override { return "[delivery]\nclock_allowance_seconds = 1\n"; }
};

TEST_F(ShortAllowanceTest, AnOldEnvelopeReplayedAfterItsDedupRecordIsPrunedIsRefused) {
  const std::string id = NewMessageId(SystemClock_Now());
  Draft d = MakeDraft(id, keys, "short-lived");
  d.expires_at_us = d.created_at_us + 2'000'000;
  auto env = SealEnvelope(*hostile, d);
  ASSERT_TRUE(env.ok());
  client->SendEnvelope(*env);
  ASSERT_TRUE(client->ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_ack() && f.ack().message_id() == id; }));
  // Within its lifetime a replay is answered with the stored receipt...
  client->SendEnvelope(*env);
  int acks = 0;
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
    return f.has_ack() && f.ack().message_id() == id && ++acks == 1;
  }));
  // ...after expiry plus the allowance the dedup record is pruned and the
  // replay is refused as expired, never stored again.
  ASSERT_TRUE(b->WaitLog("pruned 1 dedup records")) << b->Log();
  client->SendEnvelope(*env);
  ASSERT_TRUE(client->ReceiveUntil(
      [&](const wire::Frame& f) { return f.has_nack() && f.nack().message_id() == id; }))
      << b->Log();
  EXPECT_TRUE(b->WaitLog("arrived expired"));
  EXPECT_EQ(InboxSize(), 1u);
}

TEST_F(HostilePeerTest, ForgedReceiptsAreRejectedAndTheMessageStaysUndelivered) {
  Barrier();  // b now knows the way back over this connection
  auto sent = b->Cli({"send", "--to", "hostile-peer", "--subject", "to be receipted", "--body",
                      "x", "--json"});
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  const std::string id = nlohmann::json::parse(sent.out)["id"];
  ASSERT_TRUE(client->ReceiveUntil([&](const wire::Frame& f) {
    return f.has_deliver();
  })) << b->Log();
  std::string envelope;
  for (const auto& f : client->frames()) {
    if (f.has_deliver()) envelope = f.deliver().envelope();
  }
  wire::Receipt r;
  r.set_version(1);
  r.set_message_id(id);
  r.set_sender(keys.fingerprint);
  r.set_recipient(hostile->fingerprint());
  r.set_envelope_sha256(Sha256(envelope));
  r.set_inner_sha256(std::string(32, 'i'));
  r.set_received_at(SystemClock_Now());
  auto ack = [&](const std::string& receipt) {
    wire::Frame f;
    f.set_protocol(1);
    f.mutable_ack()->set_message_id(id);
    f.mutable_ack()->set_receipt(receipt);
    client->SendRaw(SerializeCanonical(f));
  };
  ack(SignReceipt(r, other->signing()));  // the wrong signer
  wire::Receipt wrong = r;
  wrong.set_envelope_sha256(Sha256("another envelope"));
  ack(SignReceipt(wrong, hostile->signing()));  // the wrong digest
  ack(SignReceipt(r, hostile->signing()));      // the right envelope, a made-up plaintext digest
  Barrier();
  EXPECT_TRUE(b->WaitLog("receipt for " + id + " rejected")) << b->Log();
  size_t lines = 0;
  const std::string log = b->Log();
  for (size_t at = log.find("refused frame from hostile-peer"); at != std::string::npos;
       at = log.find("refused frame from hostile-peer", at + 1)) {
    if (log.find("rejected", at) < log.find('\n', at)) ++lines;
  }
  EXPECT_EQ(lines, 3u) << log;
  const auto outbox = b->Json({"outbox", "--json"});
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_NE(outbox[0]["state"], "delivered") << outbox.dump();
}

TEST_F(HostilePeerTest, ASignedPartReEncodedWithExtraOrRepeatedFieldsIsRefused) {
  const std::string id = NewMessageId(SystemClock_Now());
  auto env = SealEnvelope(*hostile, MakeDraft(id, keys, "re-encoded"));
  ASSERT_TRUE(env.ok());
  wire::Envelope e;
  ASSERT_TRUE(e.ParseFromString(*env));
  // The sealed part with an unknown field appended, then with a field
  // repeated, each signed again by its (valid) sender: still not canonical.
  const std::string variants[] = {e.sealed() + std::string("\xf8\x07\x01", 3),
                                  e.sealed() + e.sealed().substr(0, 2 + static_cast<unsigned char>(e.sealed()[1]))};
  for (const auto& sealed : variants) {
    wire::Envelope bad;
    bad.set_sealed(sealed);
    bad.set_signature(Sign(hostile->signing(), labels::kEnvelopeOuter, sealed));
    client->SendEnvelope(SerializeCanonical(bad));
  }
  // The envelope itself with its two fields in the other order.
  std::string reordered;
  {
    wire::Envelope sig_only;
    sig_only.set_signature(e.signature());
    wire::Envelope sealed_only;
    sealed_only.set_sealed(e.sealed());
    reordered = SerializeCanonical(sig_only) + SerializeCanonical(sealed_only);
  }
  client->SendEnvelope(reordered);
  Barrier();
  EXPECT_EQ(InboxSize(), 1u);  // the barrier only
  const std::string log = b->Log();
  size_t refused = 0;
  for (size_t at = log.find("refused frame from hostile-peer"); at != std::string::npos;
       at = log.find("refused frame from hostile-peer", at + 1)) {
    ++refused;
  }
  EXPECT_GE(refused, 3u) << log;
  EXPECT_FALSE(client->AckFor(id));
}

// Handshakes time out after a second here, so silent connections go fast.
class FloodTest : public HostilePeerTest {
  std::string ExtraConfig() const override { return "[transport]\nhandshake_timeout_ms = 1000\n"; }
};

TEST_F(FloodTest, AFloodOfUnknownHandshakesAndSilentConnectionsDoesNotStopService) {
  const int port = std::stoi(b->endpoint().substr(b->endpoint().rfind(':') + 1));
  // Raw TCP connections that never say a word.
  std::vector<int> silent;
  for (int i = 0; i < 100; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    silent.push_back(fd);
  }
  // CURVE clients with keys nobody knows, which keep retrying.
  zmq::context_t ctx(1);
  std::vector<zmq::socket_t> strangers;
  for (int i = 0; i < 100; ++i) {
    char pub[41], sec[41];
    ASSERT_EQ(zmq_curve_keypair(pub, sec), 0);
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::reconnect_ivl, 50);
    s.set(zmq::sockopt::curve_serverkey, std::string(ToZ85(keys.transport)));
    s.set(zmq::sockopt::curve_publickey, std::string(pub));
    s.set(zmq::sockopt::curve_secretkey, std::string(sec));
    s.connect(b->endpoint());
    strangers.push_back(std::move(s));
  }
  // The legitimate peer is served throughout.
  for (int i = 0; i < 5; ++i) Barrier();
  ASSERT_TRUE(WaitFor([&] {
    return b->Json({"status", "--json"})["handshakes_refused"].get<uint64_t>() >= 100;
  })) << b->Log();
  for (int i = 0; i < 3; ++i) Barrier();
  // Silent connections are closed once the handshake time is up.
  for (int fd : silent) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char byte;
    ssize_t n;
    do {
      n = ::recv(fd, &byte, 1, 0);  // the greeting, then EOF
    } while (n > 0);
    EXPECT_EQ(n, 0) << "connection still open";
    ::close(fd);
  }
  // The journal holds a few lines, not one per attempt.
  const std::string log = b->Log();
  size_t lines = 0;
  for (size_t at = log.find("refused connection from"); at != std::string::npos;
       at = log.find("refused connection from", at + 1)) {
    ++lines;
  }
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 10u) << log;
  EXPECT_EQ(InboxSize(), 8u);
}

TEST(UnknownNodeTest, ANodeWhoseCardWasNeverAddedCannotDeliver) {
  TempDir dir;
  Node b(dir.path(), "guarded");
  Node c(dir.path(), "uninvited");
  c.Trust(b);  // c knows b, but b never added c
  b.Start();
  c.Start();
  const std::string id = c.Send({"--to", "guarded", "--subject", "hello", "--body", "x"});
  EXPECT_TRUE(b.WaitLog("refused connection from")) << b.Log();
  EXPECT_TRUE(b.WaitLog("is not in the roster"));
  auto out = c.Json({"outbox", "--json"});
  EXPECT_EQ(out[0]["state"], "queued");
  EXPECT_EQ(b.Json({"inbox", "--json"}).size(), 0u);
  EXPECT_EQ(b.Json({"status", "--json"})["inbox"], 0);

  // Adding the card while the daemon runs takes effect without a restart.
  b.Trust(c);
  EXPECT_TRUE(c.WaitOutboxState(id, "delivered")) << c.Log() << b.Log();
  EXPECT_EQ(b.Json({"inbox", "--json"}).size(), 1u);
}

}  // namespace
}  // namespace rogatory::test
