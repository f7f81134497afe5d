#include "node/daemon.h"

#include <signal.h>
#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <functional>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <google/protobuf/stubs/common.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <zmq.h>

#include "keys/attachment.h"
#include "keys/bundle.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/envelope.h"
#include "keys/fingerprint.h"
#include "keys/identity.h"
#include "keys/labels.h"
#include "keys/limits.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "node/clock.h"
#include "node/audit.h"
#include "node/cases.h"
#include "node/config.h"
#include "node/outbox.h"
#include "node/store.h"
#include "node/request.h"
#include "node/transfer.h"
#include "node/transport.h"
#include "node/witness.h"
#include "keys/tree_head.h"
#include "proto/control.pb.h"
#include "proto/mla.pb.h"
#include "proto/wire.pb.h"

namespace rogatory {

namespace {

constexpr int kProtocolVersion = 1;
constexpr uint32_t kControlVersion = 1;

struct Peer {
  PeerRow row;
  std::string fp_text;
  // crypto_box shared key between our encryption key and the peer's,
  // precomputed once per roster load (SPEC 4).
  std::shared_ptr<const SecretBytes> shared;
  // Every identity key of the peer's card chain, the current one first.
  std::vector<std::string> signing_keys;
  // Shared keys to open with: `shared` first, then every pairing of our
  // kept earlier encryption keys and the peer's earlier ones (a message
  // sealed before either side rotated).
  std::vector<std::shared_ptr<const SecretBytes>> opening;
  // Transport keys of the peer's earlier cards (its connections made before
  // we took its rotation are no longer admitted, but that is expected).
  std::vector<std::string> earlier_transport;
  bool revoked() const { return row.revoked_at.has_value(); }
};


struct Dealer {
  zmq::socket_t socket;
  std::string endpoint;
  std::string transport_key;
  std::string our_key;   // our transport public key it dials with
  bool waiting = false;  // last send hit EAGAIN: no connection yet
  int64_t waiting_since_ms = 0;
  bool connected = false;  // from the monitor's handshake/disconnect events
  std::unique_ptr<ConnectionMonitor> monitor;  // destroyed before `socket`
};

// With due work that could not be sent, the scheduler looks again this often.
constexpr int64_t kIdleRescheduleMs = 100;

// A DEALER that has had no connection this long is replaced by a new one.
constexpr int64_t kDealerRenewMs = 2000;

// An envelope is opened with at most this many of a peer's newest
// encryption keys and identity keys (times our own kept keys).
constexpr size_t kMaxOpeningKeys = 8;

// A peer that holds an older card of ours gets the current one this often
// until it acknowledges it.
constexpr int64_t kCardPushMs = 3000;

// A frame to send once the current transaction has committed.
struct Outgoing {
  bool via_router = false;
  bool any_route = false;  // to `peer_fp` over any connection (SendToPeer)
  std::string routing_id;  // router replies
  std::string peer_fp;     // dealer sends
  Lane lane = Lane::kBulk;
  std::string bytes;
  bool background = false;  // IsBackground: opens no connection, keeps none open
};

// Frames that keep no connection open and open none (transport.idle_close_s):
// the periodic comparison of tree heads and case logs, and hellos. The
// rest is work: deliveries, receipts, refusals, attachments, case entries,
// cards, revocations.
bool IsBackground(const wire::Frame& f) {
  switch (f.body_case()) {
    case wire::Frame::kHello:
    case wire::Frame::kHeadRequest:
    case wire::Frame::kHeadReply:
    case wire::Frame::kCosign:
    case wire::Frame::kCaseSync:
      return true;
    default:
      return false;
  }
}

using DealerKey = std::pair<std::string, Lane>;  // (peer fingerprint, lane)

struct PendingControl {
  std::string client_id;
  control::ControlResponse response;
  bool needs_commit = false;
};

std::string FrameBytes(const wire::Frame& f) { return SerializeCanonical(f); }

// A transfer with no chunk accepted for this long asks again from the first
// chunk it lacks (a lost Want or Chunk, a reconnection).
constexpr int64_t kTransferStallMs = 1000;
// Chunks one Want may ask for.
constexpr uint32_t kMaxWantChunks = 16;

// Gossip: third parties' heads per reply, cosignatures per head, and heads
// learnt by gossip held per log until their owner proves them.
constexpr int kGossipHeads = 64;
constexpr size_t kGossipCosignatures = 4;
constexpr int kMaxPendingHeads = 8;
// Head replies in a row without the proof asked for, before the peer is
// reported as withholding it (a legitimate push costs one).
constexpr int kMaxUnprovenReplies = 5;
// Restore statements kept per peer (docs/protocol.md 21).
constexpr size_t kMaxRestoreStatements = 16;

// A message whose envelope verified and whose attachments are arriving.
struct Receiving {
  std::unique_ptr<IncomingTransfer> transfer;
  std::string envelope;
  std::string envelope_sha256;
  wire::OuterHeader outer;
  std::unique_ptr<OpenedMessage> opened;
  Outgoing route;  // where the ack goes once complete
  // Chunks of the current attachment that came ahead of their turn (the
  // sender switched connections), at most one window of them.
  std::map<uint64_t, std::string> early;
};

// An open staged file the sender reads chunks from.
struct ChunkSource {
  int fd = -1;
  uint64_t size = 0;  // plaintext size
  uint32_t chunk_size = 0;
  uint64_t before = 0;  // plaintext size of the message's earlier attachments
  ~ChunkSource() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

class DaemonImpl {
 public:
  Home home;
  NodeConfig cfg;
  std::optional<Identity> me;
  std::unique_ptr<Store> store;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<CaseBook> cases;
  std::optional<DaemonLock> lock;
  SystemClock clock;
  zmq::context_t ctx{1};
  std::unique_ptr<ZapHandler> zap;
  std::optional<zmq::socket_t> router;
  std::unique_ptr<ConnectionMonitor> router_monitor;  // destroyed before `router`
  std::optional<zmq::socket_t> control;
  int signal_fd = -1;
  TransportOptions topts;

  std::map<std::string, Peer> peers;              // by raw fingerprint
  std::map<std::string, std::string> by_transport;  // transport key -> fp
  std::map<std::string, std::string> by_id;         // node id -> fp
  std::map<DealerKey, std::unique_ptr<Dealer>> dealers;
  std::optional<Outbox> outbox;
  std::map<std::string, std::string> last_error;   // fp -> text
  std::map<std::string, int64_t> last_inbound_ms;  // fp -> monotonic ms
  std::map<std::string, int64_t> last_seen_at;     // fp -> wall clock us, for status
  struct InboundRoute {
    std::string routing_id;     // the ROUTER's id for the peer's connection
    std::string transport_key;  // the key that connection was admitted with
  };
  // By (peer fingerprint, lane): a peer's two DEALERs say which lane each
  // connection is in their Hello; a connection not yet known is bulk.
  std::map<DealerKey, InboundRoute> inbound_route;
  std::map<std::string, int64_t> last_resend_ms;   // fp -> monotonic ms
  std::map<std::string, int64_t> peer_max_frame;   // fp -> its max_frame_bytes (Hello)
  // Key rotation: the sequence of our card each peer holds (rows only; a
  // peer without one holds the current card), and when we last pushed it.
  std::map<std::string, uint64_t> card_acks;
  std::map<std::string, int64_t> last_card_push_ms;
  // Peers whose DEALER never came up, and how often (DialKey).
  std::map<std::string, size_t> dial_attempt;
  // When work last went either way with a peer we hold DEALERs to
  // (monotonic ms): idle ones are closed (CloseIdleConnections).
  std::map<std::string, int64_t> last_work_ms;
  // Set when the daemon cannot go on (no listening socket): the loop stops.
  std::optional<Error> fatal;
  // Connections (ROUTER ids) made with a peer's earlier transport key that
  // were logged once.
  std::set<std::string> old_key_connections;
  // Peer cards stored since the roster was last loaded (fingerprint -> sequence).
  std::map<std::string, uint64_t> cards_taken;
  // Signed revocations of our own identity key (`keys revoke`), sent to
  // every peer whose connection comes up.
  std::vector<std::string> own_revocations;
  int64_t roster_version = -1;
  int64_t next_schedule_ms = 0;
  int64_t next_expiry_ms = 0;
  int64_t started_at = 0;
  bool urgent_in_batch = false;  // an urgent delivery was read: commit now
  // Each source (peers' frames, the control socket) is read for at most
  // cfg.turn_budget_us per turn, so the commit and the acks it holds back
  // (an urgent one among them) are never far away, and no source starves
  // another.

  // Attachments being received, by (sender fingerprint, message id).
  std::map<std::pair<std::string, std::string>, Receiving> receiving;
  // Staged files chunks are read from, by (message id, attachment index).
  std::map<std::pair<std::string, uint32_t>, std::unique_ptr<ChunkSource>> chunk_sources;
  // How far each recipient has pulled a message's attachments (plaintext
  // bytes), for `send --wait`; by (message id, recipient fingerprint).
  std::map<std::pair<std::string, std::string>, uint64_t> pulled;
  uint64_t attachment_bytes_sent = 0;
  uint64_t attachment_bytes_received = 0;
  int64_t next_transfer_check_ms = 0;
  int64_t next_head_ms = 0;
  int64_t next_case_sync_ms = 0;
  int64_t last_head_size = -1;  // size of the latest signed tree head, -1: none
  std::map<std::string, int64_t> last_head_request_ms;  // fp -> monotonic ms
  // Cosignatures verified (head bytes + cosignature bytes -> witnessed_at),
  // so the same one gossiped again by every peer is not verified again;
  // cleared when large.
  std::map<std::string, int64_t> verified_cosignatures;
  std::map<std::string, int> unproven_replies;  // fp -> head replies in a row we could not check

  std::vector<Outgoing> outgoing;
  std::vector<PendingControl> replies;
  bool tx_open = false;
  // The scheduling phase writes only retry bookkeeping: its commits are not
  // synced (see Store::Begin). Nothing is acknowledged from that phase.
  bool scheduling = false;

  explicit DaemonImpl(Home h) : home(std::move(h)) {}

  ~DaemonImpl() {
    if (signal_fd >= 0) ::close(signal_fd);
    if (control.has_value()) ::unlink(home.control_socket().c_str());
  }

  // ------------------------------------------------------------ roster
  Status LoadRoster() {
    ROG_ASSIGN_OR_RETURN(int64_t version, store->DataVersion());
    if (version == roster_version) return {};
    ROG_ASSIGN_OR_RETURN(auto rows, store->ListPeers());
    std::map<std::string, Peer> fresh;
    by_transport.clear();
    by_id.clear();
    for (auto& r : rows) {
      Peer p{std::move(r), "", nullptr, {}, {}, {}};
      p.fp_text = FingerprintText(p.row.fingerprint);
      auto shared = BoxSharedKey(me->encryption().secret, p.row.encryption_key);
      if (!shared.ok()) {
        spdlog::warn("peer {} has an unusable encryption key: {}", p.row.node_id,
                     shared.error().message);
        continue;
      }
      p.shared = std::make_shared<const SecretBytes>(std::move(*shared));
      KeyHistory(&p);
      if (!p.revoked()) by_transport[p.row.transport_key] = p.row.fingerprint;
      by_id[p.row.node_id] = p.row.fingerprint;
      fresh.emplace(p.row.fingerprint, std::move(p));
    }
    // Drop dealers whose peer vanished, was revoked or changed keys/endpoint.
    for (auto it = dealers.begin(); it != dealers.end();) {
      auto p = fresh.find(it->first.first);
      if (p == fresh.end() || p->second.revoked() ||
          p->second.row.transport_key != it->second->transport_key ||
          p->second.row.endpoint != it->second->endpoint ||
          DialKey(it->first.first).public_key != it->second->our_key) {
        it = dealers.erase(it);
      } else {
        ++it;
      }
    }
    // Forget inbound connections admitted under keys the roster no longer
    // holds (a revoked peer, a replaced transport key): nothing goes out
    // over them. The others stay usable.
    for (auto it = inbound_route.begin(); it != inbound_route.end();) {
      auto p = fresh.find(it->first.first);
      const bool keep = p != fresh.end() && !p->second.revoked() &&
                        p->second.row.transport_key == it->second.transport_key;
      it = keep ? std::next(it) : inbound_route.erase(it);
    }
    peers = std::move(fresh);
    roster_version = version;
    cards_taken.clear();
    return {};
  }

  // The peer's earlier identity and encryption keys, from its card chain.
  void KeyHistory(Peer* p) {
    p->signing_keys = {p->row.signing_key};
    p->opening = {p->shared};
    auto card = VerifyCard(p->row.card);
    if (!card.ok()) return;
    p->signing_keys = card->SigningKeys();
    for (const auto& c : card->chain) {
      if (c.transport_key() != p->row.transport_key) p->earlier_transport.push_back(c.transport_key());
    }
    std::vector<const SecretBytes*> ours{&me->encryption().secret};
    for (const auto& prev : me->previous()) ours.push_back(&prev.encryption.secret);
    // The peer's newest encryption keys only (kMaxOpeningKeys): each costs
    // a try on every envelope that does not open.
    std::vector<std::string> theirs{p->row.encryption_key};
    for (auto it = card->chain.rbegin();
         it != card->chain.rend() && theirs.size() < kMaxOpeningKeys; ++it) {
      if (std::find(theirs.begin(), theirs.end(), it->encryption_key()) == theirs.end()) {
        theirs.push_back(it->encryption_key());
      }
    }
    for (const SecretBytes* mine : ours) {
      for (const auto& key : theirs) {
        if (mine == ours.front() && key == theirs.front()) continue;  // `shared`
        auto shared = BoxSharedKey(*mine, key);
        if (shared.ok()) p->opening.push_back(std::make_shared<const SecretBytes>(std::move(*shared)));
      }
    }
  }

  // A roster peer's identity and encryption keys, by its card chain, for
  // the case book (a member's case card is the one it had when invited).
  CaseBook::KnownKeys KnownKeysOf(const std::string& fp) const {
    CaseBook::KnownKeys k;
    auto it = peers.find(fp);
    if (it == peers.end()) return k;
    k.signing = it->second.signing_keys;
    auto card = VerifyCard(it->second.row.card);
    if (!card.ok()) return k;
    for (auto c = card->chain.rbegin(); c != card->chain.rend(); ++c) {
      k.encryption.push_back(c->encryption_key());
    }
    for (size_t i = 0; i + 1 < card->chain.size(); ++i) {
      const wire::Card& c = card->chain[i];
      for (size_t j = i + 1; j < card->chain.size(); ++j) {
        if (card->chain[j].signing_key() != c.signing_key()) {
          k.retired_since.emplace(c.signing_key(), card->chain[j].valid_from());
          break;
        }
      }
    }
    return k;
  }

  // Opens an envelope from (or, for our own copy, to) `peer` with every
  // pairing of keys, current first.
  Result<OpenedMessage> OpenWithAnyKey(const Peer& peer, const ParsedEnvelope& env,
                                       const std::string& wrapped_for,
                                       const std::vector<std::string>& signer_keys) {
    Result<OpenedMessage> first = MakeError(Code::kInternal, "no key to open with");
    for (size_t i = 0; i < peer.opening.size(); ++i) {
      for (size_t k = 0; k < signer_keys.size() && k < kMaxOpeningKeys; ++k) {
        auto r = OpenEnvelopeShared(env, *peer.opening[i], wrapped_for, signer_keys[k]);
        if (r.ok()) return r;
        if (i == 0 && k == 0) first = std::move(r);
      }
    }
    return first;
  }

  const Peer* ActivePeer(const std::string& fp) const {
    auto it = peers.find(fp);
    if (it == peers.end() || it->second.revoked()) return nullptr;
    return &it->second;
  }

  std::string NameOf(const std::string& fp) const {
    if (fp == me->fingerprint()) return me->card().node_id();
    auto it = peers.find(fp);
    return it != peers.end() ? it->second.row.node_id : FingerprintText(fp);
  }

  // ------------------------------------------------------------ key rotation
  // (SPEC 9, docs/protocol.md 24) Our card a peer holds: its acknowledged
  // sequence, else the current one.
  uint64_t HeldSequence(const std::string& fp) const {
    auto it = card_acks.find(fp);
    return it != card_acks.end() ? std::min(it->second, me->card().sequence())
                                 : me->card().sequence();
  }

  bool HoldsOurCard(const std::string& fp) const {
    return HeldSequence(fp) >= me->card().sequence();
  }

  // The transport key pair we dial a peer with: the one of the card it
  // holds, since its ZAP handler admits only that key. The current one when
  // that card's keys are no longer kept.
  //
  // What this node knows of the card a peer holds can be stale (a restored
  // store, a card handed over by hand, a peer restored from a backup): when
  // a DEALER never comes up, the next one tries the next candidate, the
  // known card's key first, then the current one, then the kept earlier
  // ones, newest first.
  const BoxKey& DialKey(const std::string& fp) const {
    std::vector<const BoxKey*> candidates;
    if (const BoxKey* held = me->TransportOf(HeldSequence(fp))) candidates.push_back(held);
    if (candidates.empty() || candidates[0] != &me->transport()) {
      candidates.push_back(&me->transport());
    }
    for (const auto& p : me->previous()) {
      if (&p.transport != candidates[0]) candidates.push_back(&p.transport);
    }
    auto it = dial_attempt.find(fp);
    const size_t n = it == dial_attempt.end() ? 0 : it->second;
    return *candidates[n % candidates.size()];
  }

  Status LoadCardAcks() {
    ROG_ASSIGN_OR_RETURN(card_acks, store->CardAcks());
    return {};
  }

  // Sends our current card to a peer that holds an older one, at most every
  // few seconds unless `now`.
  void PushCard(const Peer& peer, bool now) {
    const std::string& fp = peer.row.fingerprint;
    if (HeldSequence(fp) >= me->card().sequence()) return;
    const int64_t now_ms = MonotonicMillis();
    auto& last = last_card_push_ms[fp];
    if (!now && now_ms - last < kCardPushMs) return;
    last = now_ms;
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_card_update()->set_card(me->signed_card());
    (void)SendToPeer(peer, Lane::kBulk, FrameBytes(f));
  }

  // A Hello names the sequence of our card the peer holds.
  void NoteHeldCard(const Peer& peer, uint64_t known) {
    if (known == 0 || known > me->card().sequence()) return;  // an older build, or nonsense
    if (known != HeldSequence(peer.row.fingerprint)) {
      // Also lower: a peer restored from a backup holds an older card than
      // it acknowledged; it is dialled with that card's key again.
      RecordCardAck(peer, known, /*may_lower=*/true);
    }
    if (known < me->card().sequence()) PushCard(peer, /*now=*/true);
  }

  void RecordCardAck(const Peer& peer, uint64_t sequence, bool may_lower = false) {
    if (!EnsureTx().ok()) return;
    auto changed = store->SetCardAck(peer.row.fingerprint, sequence, may_lower);
    if (!changed.ok() || !*changed) return;
    const bool new_dial_key = &DialKey(peer.row.fingerprint) != me->TransportOf(sequence);
    card_acks[peer.row.fingerprint] = sequence;
    dial_attempt.erase(peer.row.fingerprint);
    spdlog::info("{} now holds this node's card sequence {}", peer.row.node_id, sequence);
    if (HoldsOurCard(peer.row.fingerprint)) {
      // What waited for it goes now.
      ResendQueueTo(peer.row.fingerprint, /*rate_limited=*/false);
      SyncCasesWith(peer, /*work=*/true);
    }
    // Our connections to it still use the earlier transport key: the roster
    // reload replaces them.
    if (new_dial_key) roster_version = -1;
  }

  void HandleCardUpdate(const Peer& peer, const wire::CardUpdate& u, const Outgoing& route) {
    auto update = VerifyCard(u.card());
    auto trusted = VerifyCard(peer.row.card);
    Status s = update.ok() ? Status{} : Status{update.error()};
    if (s.ok()) s = trusted.ok() ? CheckCardUpdate(*trusted, *update) : Status{trusted.error()};
    const int64_t now = clock.NowMicros();
    if (s.ok() && update->card.valid_until() <= now) {
      s = MakeError(Code::kFailedPrecondition, "the card has expired");
    }
    if (!s.ok()) {
      Refuse(peer, "card update refused: " + s.error().message);
      return;
    }
    const uint64_t seq = update->card.sequence();
    auto taken = cards_taken.find(peer.row.fingerprint);  // this turn, before the reload
    const bool recovery = IsRecovery(*trusted, *update);
    if ((seq > peer.row.card_sequence || recovery) &&
        (taken == cards_taken.end() || taken->second != seq)) {
      if (!EnsureTx().ok()) return;
      PeerRow row = PeerRowFromCard(*update, peer.row.source, peer.row.added_at);
      if (auto st = store->AddPeer(row, recovery); !st.ok()) {
        Refuse(peer, "card update not stored: " + st.error().message);
        return;
      }
      if (recovery) {
        spdlog::warn("{} ({}) moved to its pre-committed identity key: its card sequence {} "
                     "replaces sequence {}, which was signed only by its previous key (possibly "
                     "by a thief of that key)",
                     peer.row.node_id, peer.fp_text, seq, peer.row.card_sequence);
      }
      const bool identity = update->card.signing_key() != peer.row.signing_key;
      spdlog::info("{} ({}) rotated its {}keys: card sequence {} -> {}", peer.row.node_id,
                   peer.fp_text, identity ? "identity, encryption and transport " : "encryption and transport ",
                   peer.row.card_sequence, seq);
      cards_taken[peer.row.fingerprint] = seq;
      roster_version = -1;  // new keys, new CURVE allowlist, at the next turn
    }
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_card_ack()->set_sequence(seq);
    Outgoing o = route;
    o.bytes = FrameBytes(f);
    outgoing.push_back(std::move(o));
  }

  void HandleCardAck(const Peer& peer, const wire::CardAck& ack) {
    if (ack.sequence() == 0 || ack.sequence() > me->card().sequence()) {
      Refuse(peer, "card acknowledgement names sequence " + std::to_string(ack.sequence()) +
                       ", which this node never issued");
      return;
    }
    RecordCardAck(peer, ack.sequence());
  }

  // ------------------------------------------------------------ revocation
  // (SPEC 9) A peer revoked its own identity key: it is revoked here at the
  // time it names, so nothing more is accepted from it or sent to it, and
  // the statement is kept for bundles.
  void HandleRevocation(const Peer& peer, const std::string& bytes) {
    auto card = VerifyCard(peer.row.card);
    auto rev = card.ok() ? VerifyRevocation(bytes, *card) : Result<wire::Revocation>(card.error());
    if (!rev.ok()) {
      Refuse(peer, "revocation refused: " + rev.error().message);
      return;
    }
    if (!EnsureTx().ok()) return;
    // One per peer: it is revoked from then on (a peer cannot fill the store
    // with revocations sent within one turn, before the roster reload).
    auto held = store->Revocations(peer.row.fingerprint);
    if (!held.ok() || !held->empty()) return;
    auto fresh = store->InsertRevocation(peer.row.fingerprint, rev->revoked_at(), bytes);
    if (!fresh.ok()) {
      spdlog::error("{}", fresh.error().message);
      return;
    }
    if (!peer.revoked()) (void)store->RevokePeer(peer.row.node_id, rev->revoked_at());
    if (*fresh) {
      spdlog::warn("{} ({}) revoked its own identity key{}: it is revoked here; nothing more is "
                   "accepted from it or sent to it",
                   peer.row.node_id, peer.fp_text,
                   rev->reason().empty() ? "" : " (\"" + rev->reason() + "\")");
    }
    roster_version = -1;
  }

  void SendRevocations(const Peer& peer) {
    for (const auto& bytes : own_revocations) {
      wire::Frame f;
      f.set_protocol(kProtocolVersion);
      f.set_revocation(bytes);
      (void)SendToPeer(peer, Lane::kUrgent, FrameBytes(f));
    }
  }

  // `keys revoke` with the daemon running: kept, and sent to every peer now
  // (and to each whose connection comes up later).
  Status PublishRevocation(const std::string& bytes) {
    ROG_ASSIGN_OR_RETURN(VerifiedCard card, VerifyCard(me->signed_card()));
    ROG_ASSIGN_OR_RETURN(wire::Revocation rev, VerifyRevocation(bytes, card));
    ROG_RETURN_IF_ERROR(EnsureTx());
    ROG_ASSIGN_OR_RETURN(bool fresh, store->InsertRevocation(me->fingerprint(), rev.revoked_at(), bytes));
    if (fresh) own_revocations.push_back(bytes);
    spdlog::warn("this node revoked its own identity key; sending the revocation to every peer");
    for (const auto& [fp, peer] : peers) {
      if (peer.revoked()) continue;
      wire::Frame f;
      f.set_protocol(kProtocolVersion);
      f.set_revocation(bytes);
      Outgoing o;
      o.any_route = true;
      o.peer_fp = fp;
      o.lane = Lane::kUrgent;
      o.bytes = FrameBytes(f);
      outgoing.push_back(std::move(o));  // once the revocation is stored
    }
    return {};
  }

  // After the keystore was rotated (at start-up, or `keys rotate` while
  // running): record it, so peers not yet told are dialled with the keys
  // they know, and push the new card to them.
  Status AdoptOwnCard() {
    auto chain = VerifyCard(me->signed_card());
    const uint64_t first = chain.ok() ? chain->chain.front().sequence() : me->card().sequence();
    ROG_ASSIGN_OR_RETURN(bool rotated, store->NoteOwnCard(me->card().sequence(), first));
    ROG_RETURN_IF_ERROR(LoadCardAcks());
    ROG_ASSIGN_OR_RETURN(own_revocations, store->Revocations(me->fingerprint()));
    if (rotated) {
      spdlog::info("this node's keys were rotated: card sequence {}", me->card().sequence());
    }
    return {};
  }

  // `keys rotate` with the daemon running.
  Result<uint64_t> ReloadKeys(const control::ReloadKeys& req) {
    std::optional<SecretBytes> pass;
    if (!req.passphrase().empty()) pass = SecretBytes::From(req.passphrase());
    ROG_ASSIGN_OR_RETURN(Identity fresh, Identity::ReadKeystore(home.keystore(), pass));
    if (fresh.card().sequence() == me->card().sequence() &&
        fresh.signed_card() == me->signed_card()) {
      return fresh.card().sequence();
    }
    auto current = VerifyCard(me->signed_card());
    auto next = VerifyCard(fresh.signed_card());
    if (!current.ok() || !next.ok()) {
      return MakeError(Code::kDataLoss, "the keystore's card does not verify");
    }
    ROG_RETURN_IF_ERROR(CheckCardUpdate(*current, *next));
    if (fresh.card().sequence() == me->card().sequence()) {
      return MakeError(Code::kFailedPrecondition,
                       "the keystore holds another card of the same sequence");
    }
    // Recorded first (committed with this turn): peers not yet told are
    // then dialled with the keys they know, now or after a restart.
    ROG_RETURN_IF_ERROR(EnsureTx());
    if (auto noted = store->NoteOwnCard(fresh.card().sequence(), next->chain.front().sequence());
        !noted.ok()) {
      return noted.error();
    }
    auto r = RebindRouter(fresh.transport().secret);
    if (!r.ok()) {
      auto back = RebindRouter(me->transport().secret);
      if (back.ok()) {
        router.emplace(std::move(*back));
        if (AttachRouterMonitor().ok()) {
          return MakeError(Code::kUnavailable,
                           "the daemon could not listen with the new transport key: " +
                               r.error().message,
                           "the keystore is rotated: restart rogatoryd to use the new keys");
        }
      }
      // Not listening at all: stop, so a supervisor starts it again with
      // the rotated keystore.
      inbound_route.clear();  // nothing may use the ROUTER that is gone
      fatal = MakeError(Code::kUnavailable, "cannot listen on " + cfg.listen +
                                                " after the key rotation: " + r.error().message);
      return *fatal;
    }
    *me = std::move(fresh);
    router.emplace(std::move(*r));
    ROG_RETURN_IF_ERROR(AttachRouterMonitor());
    inbound_route.clear();
    dealers.clear();
    last_card_push_ms.clear();
    dial_attempt.clear();
    roster_version = -1;  // shared keys are recomputed with the new encryption key
    ROG_RETURN_IF_ERROR(AdoptOwnCard());
    spdlog::info("now running with card sequence {}; pushing it to every peer",
                 me->card().sequence());
    return me->card().sequence();
  }

  Status AttachRouterMonitor() {
    router_connections.clear();
    ROG_ASSIGN_OR_RETURN(router_monitor,
                         ConnectionMonitor::Attach(ctx, *router, /*accepted=*/true));
    return {};
  }

  // The ROUTER again, under a new transport key, on the same endpoint: the
  // old one is closed first; ZeroMQ releases the port in its I/O thread, so
  // the bind is retried for a while.
  Result<zmq::socket_t> RebindRouter(const SecretBytes& transport_secret) {
    router_monitor.reset();
    router.reset();
    const int64_t deadline = MonotonicMillis() + 2000;
    for (;;) {
      auto r = BindRouter(ctx, transport_secret, cfg.listen, topts);
      if (r.ok() || MonotonicMillis() > deadline) {
        if (!r.ok()) spdlog::error("cannot listen again on {}: {}", cfg.listen, r.error().message);
        return r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // ------------------------------------------------------------ transactions
  Status EnsureTx() {
    if (tx_open) {
      if (store->InTransaction()) return {};
      // SQLite rolled the batch back after an error: nothing more may run in
      // autocommit and be answered as if part of it. The commit fails.
      return MakeError(Code::kUnavailable, "the store rolled back this turn's transaction");
    }
    ROG_RETURN_IF_ERROR(store->Begin(!scheduling));
    tx_open = true;
    return {};
  }

  void CommitAndFlush() {
    bool committed = true;
    if (tx_open) {
      tx_open = false;
      Status s;
      if (store->InTransaction()) {
        s = store->Commit();
      } else {
        store->Rollback();  // resets the store's bookkeeping
        s = MakeError(Code::kUnavailable, "the transaction was rolled back");
      }
      if (!s.ok()) {
        committed = false;
        spdlog::error("store commit failed, nothing acknowledged: {}", s.error().message);
        // The audit log's state in memory ran ahead of what was rolled back.
        if (auto r = audit->Reload(); !r.ok()) spdlog::error("audit log: {}", r.error().message);
        if (auto r = cases->Load(); !r.ok()) spdlog::error("cases: {}", r.error().message);
        last_head_size = -1;  // a head signed in this turn may be gone too
      }
    }
    if (committed) {
      for (auto& o : outgoing) SendNow(o);
    }
    outgoing.clear();
    for (auto& r : replies) {
      if (r.needs_commit && !committed) {
        r.response.clear_body();
        auto* e = r.response.mutable_error();
        e->set_code(static_cast<uint32_t>(Code::kUnavailable));
        e->set_message("the store could not commit; nothing was queued");
        e->set_hint("check free disk space and the daemon's log");
      }
      SendControlReply(r.client_id, r.response);
    }
    replies.clear();
  }

  void SendNow(const Outgoing& o) {
    if (o.any_route) {
      if (const Peer* p = ActivePeer(o.peer_fp)) {
        (void)SendToPeer(*p, o.lane, o.bytes, o.background);
      }
      return;
    }
    if (o.via_router && !router.has_value()) return;
    try {
      if (o.via_router) {
        if (!router->send(zmq::buffer(o.routing_id),
                          zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
          return;  // queue full: the peer resends and gets the stored receipt
        }
        router->send(zmq::buffer(o.bytes), zmq::send_flags::dontwait);
      } else {
        auto it = dealers.find({o.peer_fp, o.lane});
        if (it == dealers.end()) return;
        (void)it->second->socket.send(zmq::buffer(o.bytes), zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t& e) {
      // Peer gone (EHOSTUNREACH): it will resend and get the stored receipt.
      spdlog::debug("reply not sent: {}", e.what());
    }
  }

  // ------------------------------------------------------------ frames
  void Refuse(const Peer& peer, const std::string& why) {
    spdlog::warn("refused frame from {} ({}): {}", peer.row.node_id, peer.fp_text, why);
    last_error[peer.row.fingerprint] = why;
  }

  void Nack(const Outgoing& route, const wire::OuterHeader& outer,
            const std::string& envelope_sha, const std::string& reason) {
    wire::Refusal r;
    r.set_version(1);
    r.set_message_id(outer.message_id());
    r.set_sender(outer.sender());
    r.set_refuser(me->fingerprint());
    r.set_envelope_sha256(envelope_sha);
    r.set_reason(reason);
    r.set_refused_at(clock.NowMicros());
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_nack()->set_message_id(outer.message_id());
    f.mutable_nack()->set_refusal(SignRefusal(r, me->signing()));
    Outgoing o = route;
    o.bytes = FrameBytes(f);
    outgoing.push_back(std::move(o));
  }

  void HandleFrame(const Peer& peer, const zmq::message_t& data, const Outgoing& route) {
    last_inbound_ms[peer.row.fingerprint] = MonotonicMillis();
    last_seen_at[peer.row.fingerprint] = clock.NowMicros();
    wire::Frame frame;
    if (!frame.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      Refuse(peer, "malformed frame (" + std::to_string(data.size()) + " bytes)");
      return;
    }
    if (frame.protocol() != kProtocolVersion) {
      Refuse(peer, "unknown protocol version " + std::to_string(frame.protocol()));
      return;
    }
    if (route.via_router) LearnInboundRoute(peer, route.routing_id, frame);
    if (!IsBackground(frame)) NoteWork(peer.row.fingerprint);
    switch (frame.body_case()) {
      case wire::Frame::kDeliver: HandleDeliver(peer, frame.deliver(), route); break;
      case wire::Frame::kAck: HandleAck(peer, frame.ack()); break;
      case wire::Frame::kNack: HandleNack(peer, frame.nack()); break;
      case wire::Frame::kHello:  // the peer's connection is up
        if (frame.hello().max_frame_bytes() > 0) {
          peer_max_frame[peer.row.fingerprint] =
              static_cast<int64_t>(frame.hello().max_frame_bytes());
        }
        if (route.via_router) {
          // Answer with our own limits over the same connection, so the
          // dialer never sends a frame our ZeroMQ would drop unanswered.
          wire::Frame f;
          f.set_protocol(kProtocolVersion);
          f.mutable_hello()->set_max_frame_bytes(static_cast<uint64_t>(cfg.max_frame_bytes));
          f.mutable_hello()->set_known_card_sequence(peer.row.card_sequence);
          Outgoing o = route;
          o.bytes = FrameBytes(f);
          outgoing.push_back(std::move(o));
        }
        NoteHeldCard(peer, frame.hello().known_card_sequence());
        SendRevocations(peer);
        ResendQueueTo(peer.row.fingerprint);
        ExchangeHeads(peer);
        SyncCasesWith(peer);
        break;
      case wire::Frame::kHold:  // the peer lacks a predecessor
        ResendQueueTo(peer.row.fingerprint);
        break;
      case wire::Frame::kWant: HandleWant(peer, frame.want()); break;
      case wire::Frame::kChunk: HandleChunk(peer, frame.mutable_chunk()); break;
      case wire::Frame::kHeadRequest: HandleHeadRequest(peer, frame.head_request()); break;
      case wire::Frame::kHeadReply: HandleHeadReply(peer, frame.head_reply()); break;
      case wire::Frame::kCosign: HandleCosign(peer, frame.cosign()); break;
      case wire::Frame::kCaseSync: HandleCaseSync(peer, frame.case_sync()); break;
      case wire::Frame::kCaseEntries: HandleCaseEntries(peer, frame.case_entries()); break;
      case wire::Frame::kCardUpdate: HandleCardUpdate(peer, frame.card_update(), route); break;
      case wire::Frame::kCardAck: HandleCardAck(peer, frame.card_ack()); break;
      case wire::Frame::kRevocation: HandleRevocation(peer, frame.revocation()); break;
      default: Refuse(peer, "frame without a known body"); break;
    }
  }

  void HandleDeliver(const Peer& peer, const wire::Deliver& deliver, const Outgoing& route) {
    const std::string& bytes = deliver.envelope();
    // Signed bytes first (SPEC 4): check the outer signature with the key of
    // the connection's peer before parsing what it signs.
    wire::Envelope wrap;
    if (auto s = ParseStrict(bytes, &wrap, "envelope"); !s.ok()) {
      Refuse(peer, "envelope refused: " + s.error().message);
      return;
    }
    const bool signed_by_peer =
        VerifiesWithAny(peer.signing_keys, labels::kEnvelopeOuter, wrap.sealed(), wrap.signature());
    auto env = ParseEnvelope(bytes);
    if (!env.ok()) {
      Refuse(peer, "envelope refused: " + env.error().message);
      return;
    }
    const wire::OuterHeader& outer = env->outer;
    const std::string& sender = outer.sender();
    if (sender != peer.row.fingerprint) {
      Refuse(peer, "envelope " + outer.message_id() + " is signed as " + FingerprintText(sender) +
                       " but came over the connection of " + peer.row.node_id);
      return;
    }
    const std::string env_sha = Sha256(bytes);
    if (!signed_by_peer) {
      Refuse(peer, "envelope " + outer.message_id() + ": outer signature does not verify");
      Nack(route, outer, env_sha, "envelope outer signature does not verify");
      return;
    }
    if (std::find(outer.recipients().begin(), outer.recipients().end(), me->fingerprint()) ==
        outer.recipients().end()) {
      Refuse(peer, "envelope " + outer.message_id() + " is not addressed to this node");
      Nack(route, outer, env_sha, "this node is not a recipient of the message");
      return;
    }
    if (auto s = EnsureTx(); !s.ok()) {
      spdlog::error("store: {}", s.error().message);
      return;
    }
    // Exactly once: a live dedup record answers a redelivery with the
    // byte-identical stored receipt; after it is pruned (expiry plus the
    // clock allowance) the expiry check below refuses the replay.
    auto seen = store->FindSeen(sender, outer.message_id());
    if (!seen.ok()) {
      spdlog::error("{}", seen.error().message);
      return;
    }
    if (seen->has_value() && (*seen)->envelope_sha256 == env_sha) {
      Ack(route, outer.message_id(), (*seen)->receipt);
      return;
    }
    auto stored = seen->has_value() ? std::move(*seen) : store->FindInbox(sender, outer.message_id());
    if (!stored.ok()) {
      spdlog::error("{}", stored.error().message);
      return;
    }
    // The same envelope without a live dedup record is an old replay: the
    // expiry check below refuses it (records are pruned only after expiry).
    if (stored->has_value() && (*stored)->envelope_sha256 != env_sha) {
      Refuse(peer, "message id " + outer.message_id() +
                       " was already received with a different envelope");
      Nack(route, outer, env_sha, "message id already used for a different envelope");
      return;
    }
    const int64_t now = clock.NowMicros();
    if (outer.expires_at() <= now || stored->has_value()) {
      Refuse(peer, "envelope " + outer.message_id() + " arrived expired");
      Nack(route, outer, env_sha, "the message had expired when it arrived");
      return;
    }
    if (outer.expires_at() - outer.created_at() > cfg.max_expiry_us) {
      Refuse(peer, "envelope " + outer.message_id() + " expires more than 365 days after creation");
      Nack(route, outer, env_sha, "the message's expiry is beyond the 365-day maximum");
      return;
    }
    if (outer.created_at() > now + cfg.clock_allowance_us) {
      // Not a permanent refusal: the same envelope is accepted once this
      // node's clock catches up (the sender keeps retrying until expiry).
      Refuse(peer, "envelope " + outer.message_id() +
                       " is dated beyond the clock allowance; not accepted yet");
      return;
    }
    if (LaneOf(outer.priority()) == Lane::kUrgent) urgent_in_batch = true;
    auto opened = OpenWithAnyKey(peer, *env, me->fingerprint(), peer.signing_keys);
    if (!opened.ok()) {
      Refuse(peer, "envelope " + outer.message_id() + ": " + opened.error().message);
      Nack(route, outer, env_sha, opened.error().message);
      return;
    }
    // In order within a priority: hold this one until its predecessor is in.
    // A predecessor whose envelope verified and whose attachments are still
    // coming counts as in (a long or stuck transfer must not hold back every
    // later message), except for status messages: those apply in order.
    if (!deliver.prev().empty()) {
      auto prev = store->FindInbox(sender, deliver.prev());
      if (!prev.ok()) return;
      const bool prev_arriving = receiving.count({sender, deliver.prev()}) > 0 &&
                                 opened->inner.kind() != wire::KIND_STATUS;
      if (!prev->has_value() && !prev_arriving) {
        spdlog::debug("holding {} from {} until {} arrives", outer.message_id(),
                      peer.row.node_id, deliver.prev());
        // No ack: tell the sender its predecessor is missing, so it resends
        // from there, in order.
        wire::Frame f;
        f.set_protocol(kProtocolVersion);
        f.mutable_hold()->set_message_id(outer.message_id());
        f.mutable_hold()->set_missing(deliver.prev());
        Outgoing o = route;
        o.bytes = FrameBytes(f);
        outgoing.push_back(std::move(o));
        return;
      }
    }
    if (auto s = CheckIncoming(peer, outer, *opened); !s.ok()) {
      Refuse(peer, "message " + outer.message_id() + " refused: " + s.error().message);
      Nack(route, outer, env_sha, s.error().message);
      return;
    }
    if (opened->inner.attachments_size() > 0) {
      ReceiveAttachments(peer, route, bytes, env_sha, outer, std::move(*opened));
      return;
    }
    StoreReceived(peer, route, bytes, env_sha, outer, *opened);
  }

  // A signed tree head for the log as it is, when it grew since the last
  // one (on the schedule, and on demand).
  Result<TreeHeadRow> SignTreeHeadIfGrown() {
    if (static_cast<int64_t>(audit->size()) > last_head_size || last_head_size < 0) {
      ROG_RETURN_IF_ERROR(EnsureTx());
      ROG_ASSIGN_OR_RETURN(TreeHeadRow head,
                           audit->SignHead(me->fingerprint(), me->signing(), clock.NowMicros()));
      last_head_size = head.size;
      spdlog::info("signed tree head at size {}", head.size);
    }
    ROG_ASSIGN_OR_RETURN(auto latest, store->LatestTreeHead());
    if (!latest) return MakeError(Code::kInternal, "no tree head after signing one");
    return *latest;
  }

  // ------------------------------------------------------------ handshakes
  // Refused handshakes are logged one line each, up to kRefusalLinesPerMinute
  // per address; beyond that, one summary line a minute per address, so a
  // flood of handshakes cannot flood the journal.
  static constexpr int kRefusalLinesPerMinute = 5;
  struct RefusalCount {
    int64_t window_start_ms = 0;
    int logged = 0;
    int64_t suppressed = 0;
  };
  std::map<std::string, RefusalCount> refusals;  // by address (IP)
  uint64_t handshakes_refused = 0;

  void NoteRefusedConnection(const std::string& address, const std::string& why) {
    ++handshakes_refused;
    const int64_t now_ms = MonotonicMillis();
    RefusalCount& r = refusals[address];
    if (now_ms - r.window_start_ms >= 60'000) {
      if (r.suppressed > 0) {
        spdlog::warn("refused {} more connections from {} in the last minute", r.suppressed,
                     address);
      }
      r = RefusalCount{now_ms, 0, 0};
    }
    if (r.logged < kRefusalLinesPerMinute) {
      ++r.logged;
      spdlog::warn("refused connection from {}: {}{}", address, why,
                   r.logged == kRefusalLinesPerMinute ? " (further refusals from it are counted)"
                                                      : "");
    } else {
      ++r.suppressed;
    }
    if (refusals.size() > 4096) refusals.clear();  // bounded, whatever the source
  }

  // Connections partners opened to this node, by socket: the address from
  // when it was accepted, the peer from its first frame (ZMQ_SRCFD). ZeroMQ
  // closes a connection that breaks its framing or sends a frame over
  // max_frame_bytes without telling the socket's user why, so the monitor's
  // disconnect is the only trace: it is logged naming the peer.
  struct RouterConnection {
    std::string address;
    std::string peer;  // node id, once a frame came from it
  };
  std::unordered_map<int, RouterConnection> router_connections;

  void WatchRouterConnections() {
    for (const auto& e : router_monitor->Drain()) {
      if (e.kind == ConnectionMonitor::Kind::kAccepted) {
        sockaddr_storage sa{};
        socklen_t len = sizeof sa;
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (::getpeername(e.fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
          if (sa.ss_family == AF_INET) {
            const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
            ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
          } else if (sa.ss_family == AF_INET6) {
            const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
            ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
          }
        }
        router_connections[e.fd] = {std::string(host) + ":" + std::to_string(port), ""};
      } else if (e.kind == ConnectionMonitor::Kind::kDown) {
        auto it = router_connections.find(e.fd);
        if (it == router_connections.end()) continue;
        if (!it->second.peer.empty()) {
          spdlog::info(
              "connection from {} ({}) closed: it hung up, or it sent a frame over "
              "limits.max_frame_bytes ({} bytes) or broke ZeroMQ framing, which ZeroMQ cuts off",
              it->second.peer, it->second.address, cfg.max_frame_bytes);
        }
        router_connections.erase(it);
      }
    }
  }

  void NoteRouterConnection(int fd, const Peer& peer) {
    if (fd < 0) return;
    auto it = router_connections.find(fd);
    if (it != router_connections.end() && it->second.peer.empty()) {
      it->second.peer = peer.row.node_id;
    }
  }

  // ------------------------------------------------------------ cases
  // Anti-entropy (SPEC 8, docs/protocol.md 23): a CaseSync names the latest
  // entry per author the sender holds; the receiver sends what the sender
  // lacks (at most kCaseSyncBudget entries, then `more`), and answers with
  // its own CaseSync when the sender holds what it lacks. Every entry,
  // live or caught up, relayed or not, goes through CaseBook::Accept.

  static constexpr int kCaseSyncBudget = limits::kCaseSyncBudget;
  static constexpr int kCaseEntriesPerFrame = limits::kCaseEntriesPerFrame;

  bool IsCaseTarget(const CaseState& c, const std::string& fp) const {
    const auto targets = c.SyncTargets();
    return std::find(targets.begin(), targets.end(), fp) != targets.end();
  }

  // `work`: opens a connection (after a local entry, or when the peer came
  // to hold our card and entries waited for it); the periodic comparison
  // does not.
  void SendCaseSync(const Peer& peer, const CaseState& c, bool reply, bool work = false) {
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* sync = f.mutable_case_sync();
    sync->set_case_id(c.id);
    sync->set_reply(reply);
    for (const auto& [author, head] : c.heads) {
      auto* h = sync->add_heads();
      h->set_author(author);
      h->set_seq(static_cast<uint64_t>(head.first));
      h->set_hash(head.second);
    }
    QueueToPeer(peer, f, work);
  }

  void SyncCasesWith(const Peer& peer, bool work = false) {
    if (!HoldsOurCard(peer.row.fingerprint)) return;  // after it takes our card
    for (const auto& [id, c] : cases->cases()) {
      if (!c.epochs.empty() && IsCaseTarget(c, peer.row.fingerprint)) {
        SendCaseSync(peer, c, false, work);
      }
    }
  }

  // After a local change: the new entry to every member now, and a sync
  // (a new member lacks the whole history).
  void PushCaseEntry(const std::string& case_id, const std::string& hash) {
    const CaseState* c = cases->Find(case_id);
    if (c == nullptr) return;
    const auto& head = c->heads.find(me->fingerprint());
    if (head == c->heads.end() || head->second.second != hash) return;
    auto row = store->FindCaseEntry(case_id, me->fingerprint(), head->second.first);
    if (!row.ok() || !row->has_value()) return;
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_case_entries()->set_case_id(case_id);
    f.mutable_case_entries()->add_entries((*row)->entry);
    const bool membership = (*row)->type == wire::CASE_MEMBERSHIP;
    for (const auto& fp : c->SyncTargets()) {
      const Peer* p = ActivePeer(fp);
      if (p == nullptr || !HoldsOurCard(fp)) continue;  // synced once it takes our card
      // A removed member gets its removal, never what is written after it.
      if (membership || c->IsMember(fp)) QueueToPeer(*p, f);
      SendCaseSync(*p, *c, false, /*work=*/true);
    }
  }

  void HandleCaseSync(const Peer& peer, const wire::CaseSync& sync) {
    const CaseState* c = cases->Find(sync.case_id());
    if (c == nullptr || c->epochs.empty()) {
      // A case we do not hold yet (we were just invited): ask for it all.
      if (!sync.reply()) {
        wire::Frame f;
        f.set_protocol(kProtocolVersion);
        f.mutable_case_sync()->set_case_id(sync.case_id());
        f.mutable_case_sync()->set_reply(true);
        QueueToPeer(peer, f);
      }
      return;
    }
    const std::string& fp = peer.row.fingerprint;
    if (!IsCaseTarget(*c, fp)) {
      // A former member still asking: nothing for it, and no alarm.
      spdlog::debug("case sync for {} from {}, not a member", c->id, peer.row.node_id);
      return;
    }
    const bool member = c->IsMember(fp);
    const uint64_t latest_epoch = c->latest().epoch;
    std::map<std::string, std::pair<uint64_t, std::string>> theirs;
    for (const auto& h : sync.heads()) theirs[h.author()] = {h.seq(), h.hash()};
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* out = f.mutable_case_entries();
    out->set_case_id(c->id);
    int budget = kCaseSyncBudget;
    bool more = false;
    // Frames stay well under what the peer's ZeroMQ accepts.
    auto peer_max = peer_max_frame.find(fp);
    const size_t frame_bytes = std::min<size_t>(
        limits::kCaseFrameBytes,
        peer_max == peer_max_frame.end() ? limits::kCaseFrameBytes
                                         : static_cast<size_t>(peer_max->second) / 2);
    size_t pending_bytes = 0;
    auto flush = [&](bool last) {
      if (out->entries_size() == 0 && !last) return;
      if (last) out->set_more(more);
      if (out->entries_size() > 0 || more) QueueToPeer(peer, f);
      out->clear_entries();
      pending_bytes = 0;
    };
    bool they_have_more = false;
    for (const auto& [author, head] : theirs) {
      auto mine = c->heads.find(author);
      if (mine == c->heads.end() || static_cast<int64_t>(head.first) > mine->second.first) {
        they_have_more = true;
      }
    }
    for (const auto& [author, head] : c->heads) {
      const auto their = theirs.find(author);
      const int64_t from = their == theirs.end() ? 1 : static_cast<int64_t>(their->second.first);
      // The same sequence, another entry: ours goes out so they see the fork.
      const bool fork = their != theirs.end() && from == head.first &&
                        their->second.second != head.second;
      int64_t next = fork ? from : (their == theirs.end() ? 1 : from + 1);
      while (next <= head.first) {
        if (budget <= 0) {
          more = true;
          break;
        }
        auto rows = store->CaseEntriesFrom(c->id, author, next,
                                           std::min(budget, kCaseEntriesPerFrame));
        if (!rows.ok() || rows->empty()) break;
        for (const auto& row : *rows) {
          next = row.seq + 1;
          // A removed member gets what it could read, and its removal.
          const bool readable = member || static_cast<uint64_t>(row.epoch) < latest_epoch ||
                                row.type == wire::CASE_MEMBERSHIP;
          if (!readable) continue;
          if (pending_bytes + row.entry.size() > frame_bytes) flush(false);
          out->add_entries(row.entry);
          pending_bytes += row.entry.size();
          --budget;
        }
        if (out->entries_size() >= kCaseEntriesPerFrame) flush(false);
      }
    }
    flush(true);
    if (!sync.reply() && they_have_more) SendCaseSync(peer, *c, true);
  }

  void HandleCaseEntries(const Peer& peer, const wire::CaseEntries& e) {
    if (e.entries_size() > 4 * kCaseEntriesPerFrame) {
      Refuse(peer, "case entries frame with " + std::to_string(e.entries_size()) + " entries");
      return;
    }
    if (!EnsureTx().ok()) return;
    const int64_t now = clock.NowMicros();
    for (const auto& bytes : e.entries()) {
      auto r = cases->Accept(bytes, now, peer.row.node_id);
      if (!r.ok()) {
        spdlog::error("case entry from {}: {}", peer.row.node_id, r.error().message);
        // What is in memory may be ahead of what was undone.
        (void)audit->Reload();
        (void)cases->Load();
        return;
      }
      if (r->outcome == CaseBook::Outcome::kRefused && r->case_id.empty()) {
        Refuse(peer, "case entry refused: " + r->reason);
      }
    }
    if (e.more()) {
      if (const CaseState* c = cases->Find(e.case_id()); c != nullptr && !c->epochs.empty()) {
        SendCaseSync(peer, *c, false);
      } else {
        wire::Frame f;
        f.set_protocol(kProtocolVersion);
        f.mutable_case_sync()->set_case_id(e.case_id());
        QueueToPeer(peer, f);
      }
    }
  }

  // An evidence item's files travel as one message to the case's other
  // members (chunked and resumable like any attachment); the entry names
  // them by SHA-256 and the message id.
  Status SendCaseAttachments(const CaseState& c, const control::CaseCommand& cmd,
                             wire::CaseBody* body) {
    control::SendRequest req;
    for (const auto& [fp, card] : c.latest().members) {
      if (fp != me->fingerprint()) req.add_to(card.node_id());
    }
    if (req.to().empty()) {
      return MakeError(Code::kFailedPrecondition, "case " + c.id + " has no other member to send to");
    }
    req.set_subject("evidence for case " + c.id);
    req.set_kind(wire::KIND_INFO);
    req.set_case_id(c.id);
    req.set_message_id(cmd.message_id());
    *req.mutable_attachments() = cmd.attachments();
    ROG_ASSIGN_OR_RETURN(std::string id, Send(req));
    for (const auto& a : cmd.attachments()) {
      auto* ref = body->add_attachments();
      ref->set_name(a.name());
      ref->set_size(a.size());
      ref->set_sha256(a.sha256());
      ref->set_key(a.key());  // readable by members only, under the epoch key
      ref->set_chunk_size(a.chunk_size());
    }
    body->set_attachments_message(id);
    return {};
  }

  // The node id of a case member (or of a peer), else the fingerprint text.
  std::string CaseName(const CaseState& c, const std::string& fp) const {
    for (auto it = c.epochs.rbegin(); it != c.epochs.rend(); ++it) {
      auto m = it->second.members.find(fp);
      if (m != it->second.members.end()) return m->second.node_id();
    }
    return NameOf(fp);
  }

  // A member's fingerprint from its node id: the case's members first, then
  // the roster.
  std::optional<std::string> CaseMemberByName(const CaseState* c, const std::string& id) const {
    if (c != nullptr) {
      for (auto it = c->epochs.rbegin(); it != c->epochs.rend(); ++it) {
        for (const auto& [fp, card] : it->second.members) {
          if (card.node_id() == id) return fp;
        }
      }
    }
    auto p = by_id.find(id);
    if (p != by_id.end()) return p->second;
    return std::nullopt;
  }

  static const char* CaseTypeName(int type) {
    switch (type) {
      case wire::CASE_MEMBERSHIP: return "membership";
      case wire::CASE_NOTE: return "note";
      case wire::CASE_TASK: return "task";
      case wire::CASE_EVIDENCE: return "evidence";
      case wire::CASE_STATUS: return "status";
      default: return "unknown";
    }
  }

  Status CaseCommand(const control::CaseCommand& cmd, control::CaseResult* out, bool* changed) {
    const int64_t now = clock.NowMicros();
    const std::string& op = cmd.op();
    if (op == "list") {
      for (const auto& [id, c] : cases->cases()) {
        if (c.epochs.empty()) continue;
        bool ever = false;
        for (const auto& [e, ep] : c.epochs) ever = ever || ep.members.count(me->fingerprint());
        if (!ever) continue;
        auto* info = out->add_cases();
        info->set_id(id);
        info->set_title(c.title);
        info->set_lead(CaseName(c, c.lead));
        for (const auto& [fp, card] : c.latest().members) info->add_members(card.node_id());
        info->set_epoch(c.latest().epoch);
        info->set_removed(!c.IsMember(me->fingerprint()));
        uint64_t entries = 0;
        for (const auto& [a, h] : c.heads) entries += static_cast<uint64_t>(h.first);
        info->set_entries(entries);
        if (auto n = store->CountCasePending(id); n.ok()) info->set_waiting(static_cast<uint64_t>(*n));
        if (auto reports = store->CaseReports(id); reports.ok()) {
          for (const auto& r : *reports) {
            auto* ri = info->add_reports();
            ri->set_at(r.at);
            ri->set_kind(r.kind);
            ri->set_detail(r.detail);
          }
        }
      }
      return {};
    }
    if (op == "create") {
      if (cmd.title().empty()) return MakeError(Code::kInvalidArgument, "a case needs a title");
      std::vector<std::string> cards;
      for (const auto& m : cmd.members()) {
        auto fp = CaseMemberByName(nullptr, m);
        const Peer* p = fp ? ActivePeer(*fp) : nullptr;
        if (p == nullptr) {
          return MakeError(Code::kNotFound, "unknown member " + m,
                           "add its card first with `rogatory peer add`");
        }
        cards.push_back(p->row.card);
      }
      ROG_RETURN_IF_ERROR(EnsureTx());
      ROG_ASSIGN_OR_RETURN(std::string id, cases->Create(cmd.title(), cards, now));
      out->set_id(id);
      *changed = true;
      spdlog::info("created case {} with {} member(s)", id, cards.size() + 1);
      if (const CaseState* c = cases->Find(id)) PushCaseEntry(id, c->heads.at(me->fingerprint()).second);
      return {};
    }
    const CaseState* c = cases->Find(cmd.case_id());
    if (c == nullptr || c->epochs.empty()) {
      return MakeError(Code::kNotFound, "no case " + cmd.case_id() + " on this node",
                       "see `rogatory case list`");
    }
    if (op == "log") {
      ROG_ASSIGN_OR_RETURN(auto rows, store->CaseLog(c->id));
      for (const auto& row : rows) {
        auto* e = out->add_entries();
        e->set_author(CaseName(*c, row.author));
        e->set_author_fingerprint(FingerprintText(row.author));
        e->set_seq(static_cast<uint64_t>(row.seq));
        e->set_type(CaseTypeName(row.type));
        e->set_created_at(row.created_at);
        e->set_lamport(static_cast<uint64_t>(row.lamport));
        e->set_hash(row.hash);
        e->set_epoch(static_cast<uint64_t>(row.epoch));
        if (row.type == wire::CASE_MEMBERSHIP) {
          e->set_readable(true);
          auto ep = c->epochs.find(static_cast<uint64_t>(row.epoch));
          if (ep != c->epochs.end() && ep->second.hash == row.hash) {
            for (const auto& [fp, card] : ep->second.members) e->add_members(card.node_id());
            for (const auto& fp : ep->second.removed) e->add_removed(CaseName(*c, fp));
          }
          continue;
        }
        auto body = cases->Open(row);
        e->set_readable(body.has_value());
        if (!body) continue;
        e->set_text(body->text().empty() ? body->status() : body->text());
        if (!body->assignee().empty()) e->set_assignee(CaseName(*c, body->assignee()));
        e->set_task_state(body->task_state());
        for (const auto& a : body->attachments()) {
          auto* ai = e->add_attachments();
          ai->set_name(a.name());
          ai->set_size(a.size());
          ai->set_sha256(a.sha256());
        }
        e->set_attachments_message(body->attachments_message());
      }
      return {};
    }
    ROG_RETURN_IF_ERROR(EnsureTx());
    std::string hash;
    if (op == "invite" || op == "remove") {
      if (cmd.members_size() != 1) return MakeError(Code::kInvalidArgument, "name one member");
      auto fp = CaseMemberByName(op == "remove" ? c : nullptr, cmd.members(0));
      if (!fp) return MakeError(Code::kNotFound, "unknown member " + cmd.members(0));
      if (op == "invite") {
        const Peer* p = ActivePeer(*fp);
        if (p == nullptr) {
          return MakeError(Code::kNotFound, "unknown member " + cmd.members(0),
                           "add its card first with `rogatory peer add`");
        }
        ROG_ASSIGN_OR_RETURN(hash, cases->Invite(c->id, p->row.card, now));
      } else {
        ROG_ASSIGN_OR_RETURN(hash, cases->Remove(c->id, *fp, now));
      }
      spdlog::info("case {}: {} {}", c->id, op == "invite" ? "invited" : "removed",
                   cmd.members(0));
    } else if (op == "post") {
      if (cmd.text().size() > limits::kMaxCaseTextBytes) {
        return MakeError(Code::kInvalidArgument,
                         "entry text is " + std::to_string(cmd.text().size()) +
                             " bytes; the limit is " + std::to_string(limits::kMaxCaseTextBytes),
                         "post large material as an attachment (--attach FILE)");
      }
      ROG_RETURN_IF_ERROR(cases->CanPost(c->id));
      wire::CaseBody body;
      body.set_text(cmd.text());
      wire::CaseEntryType type = wire::CASE_NOTE;
      if (cmd.type() == "task") {
        type = wire::CASE_TASK;
        if (!cmd.assignee().empty()) {
          auto fp = CaseMemberByName(c, cmd.assignee());
          if (!fp || !c->IsMember(*fp)) {
            return MakeError(Code::kNotFound, cmd.assignee() + " is not a member of case " + c->id);
          }
          body.set_assignee(*fp);
        }
        body.set_task_state(cmd.task_state().empty() ? "open" : cmd.task_state());
      } else if (cmd.type() == "evidence") {
        type = wire::CASE_EVIDENCE;
      } else if (cmd.type() == "status") {
        type = wire::CASE_STATUS;
        body.set_status(cmd.text());
        body.clear_text();
      } else if (!cmd.type().empty() && cmd.type() != "note") {
        return MakeError(Code::kInvalidArgument, "unknown entry type " + cmd.type(),
                         "use note, task, evidence or status");
      }
      if (cmd.attachments_size() > 0) {
        ROG_RETURN_IF_ERROR(SendCaseAttachments(*c, cmd, &body));
        if (type == wire::CASE_NOTE) type = wire::CASE_EVIDENCE;
      }
      ROG_ASSIGN_OR_RETURN(hash, cases->Post(c->id, type, body, now));
    } else {
      return MakeError(Code::kInvalidArgument, "unknown case command " + op);
    }
    out->set_id(ToHex(hash));
    *changed = true;
    PushCaseEntry(c->id, hash);
    return {};
  }

  // ------------------------------------------------------------ witnessing
  // Tree heads travel between peers (docs/protocol.md 21.4): each side asks
  // for the other's latest head with proofs from what it holds, checks it
  // (node/witness.h), cosigns a consistent one and returns the cosignature,
  // and stores an inconsistent one as evidence. Replies carry the heads of
  // third parties' logs the sender holds (gossip), so a split view shown to
  // two nodes meets at the first node that holds both.

  // Frames of this protocol go out after the turn's commit, over any
  // connection to the peer.
  // `work`: the frame opens a connection even if it is of a background kind
  // (a case comparison that must happen now, section 27).
  void QueueToPeer(const Peer& peer, const wire::Frame& f, bool work = false) {
    Outgoing o;
    o.any_route = true;
    o.peer_fp = peer.row.fingerprint;
    o.bytes = FrameBytes(f);
    o.background = !work && IsBackground(f);
    outgoing.push_back(std::move(o));
  }

  // Asks the peer for its head, and offers ours when it grew past what the
  // peer last cosigned.
  void ExchangeHeads(const Peer& peer) {
    RequestHead(peer);
    auto cosigned = store->LatestCosignedSize(me->fingerprint(), peer.row.fingerprint);
    auto head = SignTreeHeadIfGrown();
    if (!cosigned.ok() || !head.ok() || head->size == 0 || head->size <= *cosigned) return;
    SendHeadReply(peer, *head, static_cast<uint64_t>(std::max<int64_t>(*cosigned, 0)), {});
  }

  void RequestHead(const Peer& peer) {
    auto held = store->PeerHeads(peer.row.fingerprint);
    if (!held.ok()) return;
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* r = f.mutable_head_request();
    for (const auto& h : *held) {
      if (h.checked) {
        r->set_known_size(static_cast<uint64_t>(h.size));
      } else {
        r->add_check_sizes(static_cast<uint64_t>(h.size));
      }
    }
    last_head_request_ms[peer.row.fingerprint] = MonotonicMillis();
    QueueToPeer(peer, f);
  }

  void HandleHeadRequest(const Peer& peer, const wire::HeadRequest& req) {
    auto head = SignTreeHeadIfGrown();
    if (!head.ok()) {
      spdlog::error("cannot answer {}'s tree head request: {}", peer.row.node_id,
                    head.error().message);
      return;
    }
    SendHeadReply(peer, *head, req.known_size(),
                  {req.check_sizes().begin(), req.check_sizes().end()}, &req);
  }

  // Our head with consistency proofs from the sizes the peer holds, our
  // restore statements, and gossip of the third parties' heads we hold.
  void SendHeadReply(const Peer& peer, const TreeHeadRow& head, uint64_t known,
                     const std::vector<uint64_t>& check,
                     const wire::HeadRequest* answers = nullptr) {
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* r = f.mutable_head_reply();
    if (answers != nullptr) *r->mutable_answers() = *answers;
    r->set_signed_tree_head(head.signed_head);
    std::vector<uint64_t> restored;
    if (auto rs = store->RestoreStatements(me->fingerprint()); rs.ok()) {
      for (auto& bytes : *rs) {
        wire::SignedRestoreStatement st;
        wire::RestoreStatement body;
        wire::SignedTreeHead sth;
        wire::TreeHead th;
        if (st.ParseFromString(bytes) && body.ParseFromString(st.statement()) &&
            sth.ParseFromString(body.restored_head()) && th.ParseFromString(sth.tree_head())) {
          restored.push_back(th.size());
        }
        r->add_restores(std::move(bytes));
      }
    }
    const auto size = static_cast<uint64_t>(head.size);
    for (uint64_t from : SizesToProve(size, known, check, restored).from) {
      auto proof = audit->ConsistencyProof(from, size);
      if (!proof.ok()) continue;
      auto* p = r->add_proofs();
      p->set_from_size(from);
      p->set_to_size(size);
      for (auto& h : *proof) p->add_path(std::move(h));
    }
    if (auto gossip = store->LatestCheckedPeerHeads(kGossipHeads); gossip.ok()) {
      for (const auto& g : *gossip) {
        if (g.log == peer.row.fingerprint) continue;
        auto* c = r->add_gossip();
        c->set_signed_tree_head(g.signed_head);
        if (auto cs = store->Cosignatures(g.log, g.size); cs.ok()) {
          for (size_t i = 0; i < cs->size() && i < kGossipCosignatures; ++i) {
            c->add_cosignatures((*cs)[i].signed_cosignature);
          }
        }
      }
    }
    // Heads of the peer's own log that others cosigned, so it can check
    // that its own log still matches what it signed (a silent restore).
    if (auto own = store->PeerHeads(peer.row.fingerprint); own.ok()) {
      for (const auto& h : *own) {
        if (h.checked) r->add_gossip()->set_signed_tree_head(h.signed_head);
      }
    }
    QueueToPeer(peer, f);
  }

  static std::vector<HeldHead> Held(const std::vector<PeerHeadRow>& rows) {
    std::vector<HeldHead> out;
    for (const auto& h : rows) {
      out.push_back({static_cast<uint64_t>(h.size), h.root, h.at, h.signed_head});
    }
    return out;
  }

  void HandleHeadReply(const Peer& peer, const wire::HeadReply& reply) {
    if (!EnsureTx().ok()) return;
    const std::string& fp = peer.row.fingerprint;
    auto held = store->PeerHeads(fp);
    if (!held.ok()) {
      spdlog::error("{}", held.error().message);
      return;
    }
    const int64_t now = clock.NowMicros();
    auto v = WithAnyKey(peer.signing_keys, [&](const std::string& key) {
      return CheckHeadReply(fp, key, reply, Held(*held), now);
    });
    if (!v.ok()) {
      Refuse(peer, "tree head refused: " + v.error().message);
      return;
    }
    // Every restore it announces, whether or not this node held a head it
    // withdraws: what it acknowledged after the restored point is gone.
    for (const auto& bytes : reply.restores()) NoteRestore(peer, bytes);
    switch (v->outcome) {
      case HeadVerdict::Outcome::kInconsistent:
        RecordEquivocation(fp, v->evidence);
        break;
      case HeadVerdict::Outcome::kUnproven: {
        // A pushed head carries a proof from the size the peer guessed we
        // hold; ask with the sizes we do hold (at most once a second). A
        // peer that keeps answering without the proof is withholding it.
        spdlog::debug("tree head of {} not yet checkable: {}", peer.row.node_id, v->reason);
        // Only a reply to a request that named the head's size counts (the
        // reply carries the request it answers): in a busy network third
        // parties gossip the peer's newer heads faster than it can answer,
        // and a push, or a reply to a request sent before we learnt the
        // head, cannot prove it. Nor is such a head asked for again at once
        // (each reply gossips more of them, and the asking would never
        // end): the next exchange does.
        wire::TreeHead unproven;
        const auto& asked = reply.answers();
        const bool was_asked =
            reply.has_answers() && unproven.ParseFromString(TreeHeadBytes(v->unproven_head)) &&
            (asked.known_size() == unproven.size() ||
             std::find(asked.check_sizes().begin(), asked.check_sizes().end(), unproven.size()) !=
                 asked.check_sizes().end());
        if (was_asked && ++unproven_replies[fp] >= kMaxUnprovenReplies) {
          wire::Equivocation ev;
          ev.set_version(1);
          ev.set_log(fp);
          ev.set_earlier(v->unproven_head);
          ev.set_later(reply.signed_tree_head());
          ev.set_reason("did not prove its history extends a head it signed earlier, in " +
                        std::to_string(kMaxUnprovenReplies) + " replies in a row: " + v->reason);
          ev.set_detected_at(now);
          RecordEquivocation(fp, ev);
          break;
        }
        const int64_t now_ms = MonotonicMillis();
        if ((was_asked || !reply.has_answers()) && now_ms - last_head_request_ms[fp] >= 1000) {
          RequestHead(peer);
        }
        break;
      }
      case HeadVerdict::Outcome::kConsistent:
        unproven_replies.erase(fp);
        AcceptHead(peer, reply.signed_tree_head(), v->head, v->restores_used, *held, now);
        break;
    }
    for (const auto& g : reply.gossip()) HandleGossip(peer, g, now);
  }

  void AcceptHead(const Peer& peer, const std::string& signed_head, const wire::TreeHead& head,
                  const std::vector<std::string>& restores, const std::vector<PeerHeadRow>& held,
                  int64_t now) {
    const std::string& fp = peer.row.fingerprint;
    for (const auto& bytes : restores) NoteRestore(peer, bytes);
    const auto size = static_cast<int64_t>(head.size());
    const PeerHeadRow* checked = nullptr;
    for (const auto& h : held) {
      if (h.checked) checked = &h;
    }
    // Every held head was proven: the new one replaces them all.
    if (checked == nullptr || held.size() > 1 || checked->signed_head != signed_head) {
      PeerHeadRow row{fp, size, head.root(), head.timestamp(), signed_head, true, fp};
      if (auto s = store->SetCheckedPeerHead(row); !s.ok()) {
        spdlog::error("{}", s.error().message);
        return;
      }
    }
    if (size == 0) return;
    auto mine = store->Cosignatures(fp, size);
    std::string cosignature;
    if (mine.ok()) {
      for (const auto& c : *mine) {
        if (c.witness == me->fingerprint() &&
            VerifyCosignature(c.signed_cosignature, me->signing().public_key, signed_head).ok()) {
          cosignature = c.signed_cosignature;
        }
      }
    }
    if (cosignature.empty()) {
      cosignature = Cosign(signed_head, head, me->fingerprint(), me->signing(), now);
      (void)store->InsertCosignature({fp, size, me->fingerprint(), now, cosignature});
    }
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_cosign()->set_cosignature(cosignature);
    QueueToPeer(peer, f);
  }

  static uint64_t TreeHeadSizeOf(const std::string& signed_head) {
    wire::TreeHead h;
    return h.ParseFromString(TreeHeadBytes(signed_head)) ? h.size() : 0;
  }

  // A head of a third party's log (or of ours) that `from` holds.
  void HandleGossip(const Peer& from, const wire::CosignedHead& g, int64_t now) {
    wire::TreeHead unverified;
    if (!unverified.ParseFromString(TreeHeadBytes(g.signed_tree_head()))) return;
    const std::string& log = unverified.log();
    if (log == from.row.fingerprint) return;  // its own head comes with proofs
    if (log == me->fingerprint()) {
      CheckOwnHead(from, g, now);
      return;
    }
    const Peer* owner = ActivePeer(log);
    if (owner == nullptr) return;  // a log we cannot check
    auto held = store->PeerHeads(log);
    if (!held.ok()) return;
    for (const auto& h : *held) {
      // The very head we hold (its signature was checked when stored):
      // only its cosignatures may be new. Every peer gossips the same heads.
      if (h.signed_head != g.signed_tree_head()) continue;
      wire::TreeHead held_head;
      const bool withdrawn = held_head.ParseFromString(TreeHeadBytes(h.signed_head)) &&
                             WithdrawnByRestore(log, owner->signing_keys, held_head);
      if (h.checked && !withdrawn) StoreCosignatures(g, log, static_cast<uint64_t>(h.size));
      return;
    }
    auto head = WithAnyKey(owner->signing_keys, [&](const std::string& key) {
      return VerifyTreeHead(g.signed_tree_head(), key);
    });
    if (!head.ok() || head->log() != log) {
      spdlog::warn("{} passed on a tree head of {} that does not verify", from.row.node_id,
                   owner->row.node_id);
      return;
    }
    const HeldHead shown{head->size(), head->root(), head->timestamp(), g.signed_tree_head()};
    int pending = 0;
    for (const auto& h : *held) {
      pending += h.checked ? 0 : 1;
      if (h.size != static_cast<int64_t>(head->size())) continue;
      wire::TreeHead held_head;
      const bool withdrawn =
          (held_head.ParseFromString(TreeHeadBytes(h.signed_head)) &&
           WithdrawnByRestore(log, owner->signing_keys, held_head)) ||
          WithdrawnByRestore(log, owner->signing_keys, *head);
      if (withdrawn) return;
      if (auto ev = CompareSameSize(Held({h})[0], shown, log, now)) {
        ev->set_reason(ev->reason() + " (the second shown by " + from.row.node_id + ")");
        RecordEquivocation(log, *ev);
        return;
      }
      if (h.checked) StoreCosignatures(g, log, head->size());
      return;  // already held
    }
    if (pending >= kMaxPendingHeads) return;
    (void)store->AddPendingPeerHead({log, static_cast<int64_t>(head->size()), head->root(),
                                     head->timestamp(), g.signed_tree_head(), false,
                                     from.row.fingerprint});
  }

  // Witnesses' cosignatures of a head, each verified, kept for gossip.
  void StoreCosignatures(const wire::CosignedHead& g, const std::string& log, uint64_t size) {
    for (const auto& c : g.cosignatures()) {
      const std::string witness = CosignatureWitness(c);
      if (witness == log) continue;
      const Peer* w = witness == me->fingerprint() ? nullptr : ActivePeer(witness);
      if (w == nullptr) continue;
      std::string key_of = g.signed_tree_head();
      key_of.append(c);
      auto known = verified_cosignatures.find(key_of);
      if (known == verified_cosignatures.end()) {
        auto v = WithAnyKey(w->signing_keys, [&](const std::string& key) {
          return VerifyCosignature(c, key, g.signed_tree_head());
        });
        if (!v.ok()) continue;
        if (verified_cosignatures.size() >= 65536) verified_cosignatures.clear();
        known = verified_cosignatures.emplace(std::move(key_of), v->witnessed_at()).first;
      }
      (void)store->InsertCosignature({log, static_cast<int64_t>(size), witness, known->second, c});
    }
  }

  // A peer's signed restore statement (SPEC 9): stored once, logged once,
  // and every delivery the peer acknowledged at a position of its log past
  // the restored head goes back in the queue, to be sent again. The peer's
  // restored store no longer holds those messages; one it still holds is
  // answered with its stored receipt, so nothing arrives twice.
  void NoteRestore(const Peer& peer, const std::string& bytes) {
    const std::string& fp = peer.row.fingerprint;
    auto r = WithAnyKey(peer.signing_keys, [&](const std::string& key) {
      return VerifyRestoreStatement(bytes, key);
    });
    if (!r.ok() || r->log() != fp) return;
    // Bounded: a statement dated in this node's future is not taken (it
    // would withdraw heads signed later), nor more than kMaxRestoreStatements
    // of one peer (each can make this node send again all it acknowledged).
    if (r->restored_at() > clock.NowMicros() + cfg.clock_allowance_us) return;
    if (auto known = store->RestoreStatements(fp);
        !known.ok() || known->size() >= kMaxRestoreStatements) {
      if (known.ok() && std::find(known->begin(), known->end(), bytes) == known->end()) {
        spdlog::warn("{} ({}) announced more than {} restores of its store; ignoring another",
                     peer.row.node_id, peer.fp_text, kMaxRestoreStatements);
      }
      return;
    }
    auto fresh = store->InsertRestoreStatement(fp, r->restored_at(), bytes);
    if (!fresh.ok() || !*fresh) return;
    const uint64_t restored = TreeHeadSizeOf(r->restored_head());
    int requeued = 0;
    if (auto delivered = store->DeliveredTo(fp); delivered.ok()) {
      const int64_t now = clock.NowMicros();
      for (const auto& [seq, receipt] : *delivered) {
        wire::SignedReceipt sr;
        wire::Receipt rc;
        if (!sr.ParseFromString(receipt) || !rc.ParseFromString(sr.receipt())) continue;
        if (rc.audit_index() != 0 && rc.audit_index() <= restored) continue;
        if (auto put = store->Requeue(seq, fp, now); put.ok() && *put) ++requeued;
      }
    }
    next_schedule_ms = 0;
    spdlog::warn("{} ({}) announced a restore of its store: its log went back to size {}; "
                 "heads up to size {} are withdrawn; {} message(s) it had acknowledged after "
                 "that point will be sent again",
                 peer.row.node_id, peer.fp_text, restored, r->abandoned_size(), requeued);
  }

  // Whether a restore statement of `log` (ours, or one its owner showed us)
  // withdrew `head`: heads above the restored size up to the abandoned one,
  // signed before the restore.
  bool WithdrawnByRestore(const std::string& log, const std::vector<std::string>& signing_keys,
                          const wire::TreeHead& head) {
    auto statements = store->RestoreStatements(log);
    if (!statements.ok()) return false;
    for (const auto& bytes : *statements) {
      auto r = WithAnyKey(signing_keys, [&](const std::string& key) {
        return VerifyRestoreStatement(bytes, key);
      });
      if (r.ok() && head.size() > TreeHeadSizeOf(r->restored_head()) &&
          head.size() <= r->abandoned_size() && head.timestamp() <= r->restored_at()) {
        return true;
      }
    }
    return false;
  }

  // A peer holds a head of our own log: it must match our log. If it does
  // not, our store lost history we had signed (restored from a copy without
  // a restore statement): as loud as a peer's equivocation.
  void CheckOwnHead(const Peer& from, const wire::CosignedHead& g, int64_t now) {
    auto head = WithAnyKey(me->signing_keys(), [&](const std::string& key) {
      return VerifyTreeHead(g.signed_tree_head(), key);
    });
    if (!head.ok()) {
      spdlog::warn("{} holds a head of this node's log that this node did not sign",
                   from.row.node_id);
      return;
    }
    if (WithdrawnByRestore(me->fingerprint(), me->signing_keys(), *head)) return;
    std::string why;
    if (head->size() > audit->size()) {
      why = "a head this node signed at size " + std::to_string(head->size()) +
            " is beyond its log of " + std::to_string(audit->size()) +
            " entries: the store was rolled back without a restore statement";
    } else {
      auto root = audit->RootAt(head->size());
      if (root.ok() && *root != head->root()) {
        why = "a head this node signed at size " + std::to_string(head->size()) +
              " does not match its log: the log was rewritten";
      }
    }
    if (why.empty()) {
      StoreCosignatures(g, me->fingerprint(), head->size());
      return;
    }
    wire::Equivocation ev;
    ev.set_version(1);
    ev.set_log(me->fingerprint());
    ev.set_later(g.signed_tree_head());
    ev.set_reason(why + " (shown by " + from.row.node_id + ")");
    ev.set_detected_at(now);
    RecordEquivocation(me->fingerprint(), ev);
  }

  void RecordEquivocation(const std::string& log, const wire::Equivocation& ev) {
    const std::string bytes = SerializeCanonical(ev);
    // Stored and shouted once per contradicted head: the owner's later
    // heads contradict it again and add nothing.
    const std::string key = ev.earlier().empty() ? ev.later() : ev.earlier();
    auto fresh = store->InsertEquivocation(log, ev.detected_at(), ev.reason(), bytes,
                                           Sha256(log + key));
    if (!fresh.ok() || !*fresh) return;
    spdlog::critical("EQUIVOCATION: the audit log of {} ({}) contradicts a tree head it signed "
                     "earlier: {}. Evidence stored; see `rogatory status`.",
                     NameOf(log), FingerprintText(log), ev.reason());
  }

  // The witness returns its cosignature of one of our heads.
  void HandleCosign(const Peer& peer, const wire::Cosign& c) {
    if (CosignatureWitness(c.cosignature()) != peer.row.fingerprint) {
      Refuse(peer, "cosignature is not by the peer that sent it");
      return;
    }
    wire::SignedCosignature sc;
    wire::Cosignature body;
    if (!sc.ParseFromString(c.cosignature()) || !body.ParseFromString(sc.cosignature())) {
      Refuse(peer, "malformed cosignature");
      return;
    }
    if (!EnsureTx().ok()) return;
    auto head = store->TreeHeadAt(static_cast<int64_t>(body.size()));
    if (!head.ok() || !head->has_value()) {
      Refuse(peer, "cosignature of a tree head this node never signed (size " +
                       std::to_string(body.size()) + ")");
      return;
    }
    auto v = WithAnyKey(peer.signing_keys, [&](const std::string& key) {
      return VerifyCosignature(c.cosignature(), key, (*head)->signed_head);
    });
    if (!v.ok() || v->log() != me->fingerprint()) {
      Refuse(peer, "cosignature refused: " +
                       (v.ok() ? std::string("it names another log") : v.error().message));
      return;
    }
    (void)store->InsertCosignature({me->fingerprint(), static_cast<int64_t>(body.size()),
                                    peer.row.fingerprint, v->witnessed_at(), c.cosignature()});
  }

  // Appends one entry to the audit log (inside the current unit).
  Result<int64_t> LogAudit(wire::LogKind kind, const std::string& message_id,
                           const std::string& sender, const std::string& peer,
                           const std::string& sha256) {
    wire::LogEntry e;
    e.set_version(1);
    e.set_kind(kind);
    e.set_message_id(message_id);
    e.set_sender(sender);
    e.set_peer(peer);
    e.set_sha256(sha256);
    e.set_logged_at(clock.NowMicros());
    return audit->Append(e);
  }

  // Stores a verified, complete message with its receipt and answers with
  // the ack (sent once the turn's transaction commits).
  void StoreReceived(const Peer& peer, const Outgoing& route, const std::string& bytes,
                     const std::string& env_sha, const wire::OuterHeader& outer,
                     const OpenedMessage& opened) {
    const int64_t now = clock.NowMicros();
    const std::string& sender = outer.sender();
    wire::Receipt rc;
    rc.set_version(1);
    rc.set_message_id(outer.message_id());
    rc.set_sender(sender);
    rc.set_sender_card_sequence(peer.row.card_sequence);
    rc.set_recipient(me->fingerprint());
    rc.set_recipient_card_sequence(me->card().sequence());
    rc.set_envelope_sha256(env_sha);
    rc.set_inner_sha256(opened.inner_signed_sha256);
    std::vector<AttachmentRow> attachments;
    for (const auto& a : opened.inner.attachments()) {
      auto* ra = rc.add_attachments();
      ra->set_sha256(a.sha256());
      ra->set_size(a.size());
      attachments.push_back({a.name(), a.size(), a.sha256(), a.chunk_size()});
    }
    rc.set_received_at(now);
    InboxRow row;
    row.meta = MetaOf(outer, opened.inner);
    row.envelope = bytes;
    row.envelope_sha256 = env_sha;
    row.inner_sha256 = opened.inner_signed_sha256;
    row.received_at = now;
    // One unit: the audit log entry, the message, its attachments' index,
    // and what it does to a request are stored together or not at all.
    Status s = EnsureTx();
    if (s.ok()) s = store->Savepoint();
    if (s.ok()) {
      auto index = LogAudit(wire::LOG_ENVELOPE_RECEIVED, outer.message_id(), sender, sender,
                            env_sha);
      if (index.ok()) {
        rc.set_audit_index(static_cast<uint64_t>(*index) + 1);  // 1-based; 0: none
        row.receipt = SignReceipt(rc, me->signing());
      } else {
        s = index.error();
      }
      if (s.ok()) {
        auto inserted = store->InsertInbox(row);
        if (!inserted.ok()) s = inserted.error();
      }
      if (s.ok() && !attachments.empty()) {
        s = store->InsertAttachments(sender, outer.message_id(), attachments);
      }
      if (s.ok()) s = ApplyIncoming(peer, outer, opened, env_sha, now);
      if (s.ok()) s = store->Release();
      if (!s.ok()) {
        store->RollbackToSavepoint();
        (void)audit->Reload();
      }
    }
    if (!s.ok()) {
      spdlog::error("cannot store message {} from {}: {}", outer.message_id(), peer.row.node_id,
                    s.error().message);
      return;
    }
    spdlog::info("received message {} from {} ({} bytes{})", outer.message_id(), peer.row.node_id,
                 bytes.size(),
                 attachments.empty() ? "" : ", " + std::to_string(attachments.size()) +
                                                " attachment(s) checked");
    Ack(route, outer.message_id(), row.receipt);
  }

  // ------------------------------------------------------------ requests
  // A message of kind request is a structured MLA request when its body is
  // an MlaRequest (version set); otherwise it is free text (`send --kind
  // request`), which is delivered but not tracked.
  static bool IsStructuredRequest(const wire::InnerHeader& inner, const std::string& body,
                                  mla::MlaRequest* out) {
    return inner.kind() == wire::KIND_REQUEST && ParseStrict(body, out, "MLA request").ok() &&
           out->version() != 0;
  }

  // A request (SPEC 7) on its way out: a valid MLA request for exactly the
  // one authority it names.
  Status CheckOutgoingRequest(const Draft& d, const mla::MlaRequest& req) {
    ROG_RETURN_IF_ERROR(ValidateRequest(req));
    if (d.recipients.size() != 1) {
      return MakeError(Code::kInvalidArgument, "a request goes to exactly one requested authority");
    }
    if (NameOf(d.recipients[0].fingerprint) != req.requested_authority()) {
      return MakeError(Code::kInvalidArgument,
                       "the request names requested authority '" + req.requested_authority() +
                           "' but is addressed to '" + NameOf(d.recipients[0].fingerprint) + "'");
    }
    return {};
  }

  Status RecordOutgoingRequest(const Draft& d, const OutboxRow& row,
                               const mla::MlaRequest& req) {
    RequestRow r;
    r.requester = me->fingerprint();
    r.request_id = d.message_id;
    r.requested = d.recipients[0].fingerprint;
    r.outgoing = true;
    r.envelope_sha256 = row.envelope_sha256;
    r.created_at = d.created_at_us;
    r.deadline = req.deadline_us();
    r.priority = d.priority;
    r.state = std::string(StateName(mla::STATE_SENT));
    r.subject = d.inner.subject();
    r.case_reference = req.case_reference();
    r.updated_at = d.created_at_us;
    return store->InsertRequest(r, {{0, r.state, r.requester, r.created_at, "", ""}});
  }

  // The request `request_id` between us and `peer`, with the peer's part in it.
  Result<std::optional<std::pair<RequestRow, RequestParty>>> RequestWith(
      const std::string& peer_fp, const std::string& request_id) {
    using Found = std::optional<std::pair<RequestRow, RequestParty>>;
    ROG_ASSIGN_OR_RETURN(auto ours, store->FindRequest(me->fingerprint(), request_id));
    if (ours && ours->requested == peer_fp) {
      return Found(std::make_pair(std::move(*ours), RequestParty::kRequested));
    }
    ROG_ASSIGN_OR_RETURN(auto theirs, store->FindRequest(peer_fp, request_id));
    if (theirs && theirs->requested == me->fingerprint()) {
      return Found(std::make_pair(std::move(*theirs), RequestParty::kRequester));
    }
    return Found();
  }

  PartyNames NamesOf(const RequestRow& row, std::string* a, std::string* b) {
    *a = NameOf(row.requester);
    *b = NameOf(row.requested);
    return {*a, *b};
  }

  // Whether status update `u` by `by` continues the request's signed chain.
  Status CheckStatusUpdate(const RequestRow& row, const mla::StatusUpdate& u, RequestParty by) {
    if (u.request_sha256() != row.envelope_sha256) {
      return MakeError(Code::kInvalidArgument,
                       "status update for " + row.request_id + " names another request envelope");
    }
    if (u.sequence() != static_cast<uint64_t>(row.seq) + 1 || u.prev_sha256() != row.head) {
      return MakeError(Code::kFailedPrecondition,
                       "status update " + std::to_string(u.sequence()) + " for " +
                           row.request_id + " does not follow the last one recorded (" +
                           std::to_string(row.seq) + ")");
    }
    ROG_ASSIGN_OR_RETURN(mla::State from, ParseState(row.state));
    std::string a, b;
    return CheckTransition(from, u.state(), by, u.note(), NamesOf(row, &a, &b));
  }

  // What an incoming message does to the request records: nothing, a new
  // request, or a status update of a request between us and its sender.
  struct Effect {
    enum { kNone, kNewRequest, kStatus } kind = kNone;
    mla::MlaRequest request;
    mla::StatusUpdate update;
    RequestRow row;  // the request a status update moves
  };

  // What an incoming message must satisfy beyond its signatures: a request
  // must be a valid MLA request for this node, and a status update must
  // come from the party that owns the transition, in sequence (SPEC 7).
  // CheckIncoming and ApplyIncoming share this one reading of the message.
  Result<Effect> ReadIncoming(const Peer& peer, const wire::OuterHeader& outer,
                              const OpenedMessage& opened) {
    const wire::InnerHeader& inner = opened.inner;
    const std::string& body = opened.payload.body();
    Effect e;
    if (IsStructuredRequest(inner, body, &e.request)) {
      if (auto s = ValidateRequest(e.request); !s.ok()) {
        return MakeError(Code::kInvalidArgument, "not a valid MLA request: " + s.error().message);
      }
      if (outer.recipients_size() != 1 ||
          e.request.requested_authority() != me->card().node_id()) {
        return MakeError(Code::kInvalidArgument,
                         "the request names requested authority '" +
                             e.request.requested_authority() + "', not this node");
      }
      e.kind = Effect::kNewRequest;
      return e;
    }
    if (inner.kind() != wire::KIND_STATUS) return e;
    Status parsed = ParseStrict(body, &e.update, "status update");
    if (parsed.ok()) parsed = ValidateStatusUpdate(e.update);
    if (!parsed.ok()) {
      // Free text is fine, unless the message replies to a request between
      // us: then it must be a valid status update.
      if (inner.in_reply_to().empty()) return e;
      ROG_ASSIGN_OR_RETURN(auto about, RequestWith(peer.row.fingerprint, inner.in_reply_to()));
      if (!about) return e;
      return MakeError(Code::kInvalidArgument,
                       "status message about request " + inner.in_reply_to() +
                           " is not a valid status update: " + parsed.error().message);
    }
    if (!inner.in_reply_to().empty() && inner.in_reply_to() != e.update.request_id()) {
      return MakeError(Code::kInvalidArgument, "status update names request " +
                                                   e.update.request_id() + " but replies to " +
                                                   inner.in_reply_to());
    }
    ROG_ASSIGN_OR_RETURN(auto found, RequestWith(peer.row.fingerprint, e.update.request_id()));
    if (!found) {
      return MakeError(Code::kNotFound, "status update for request " + e.update.request_id() +
                                            ", which this node does not have with " +
                                            peer.row.node_id);
    }
    ROG_RETURN_IF_ERROR(CheckStatusUpdate(found->first, e.update, found->second));
    e.kind = Effect::kStatus;
    e.row = std::move(found->first);
    return e;
  }

  Status CheckIncoming(const Peer& peer, const wire::OuterHeader& outer,
                       const OpenedMessage& opened) {
    auto effect = ReadIncoming(peer, outer, opened);
    if (!effect.ok()) return effect.error();
    return {};
  }

  // Records what a stored incoming message does to a request. Runs inside
  // the message's savepoint; reads the message exactly as CheckIncoming did.
  Status ApplyIncoming(const Peer& peer, const wire::OuterHeader& outer,
                       const OpenedMessage& opened, const std::string& env_sha, int64_t now) {
    ROG_ASSIGN_OR_RETURN(Effect e, ReadIncoming(peer, outer, opened));
    if (e.kind == Effect::kNewRequest) {
      RequestRow r;
      r.requester = outer.sender();
      r.request_id = outer.message_id();
      r.requested = me->fingerprint();
      r.envelope_sha256 = env_sha;
      r.created_at = outer.created_at();
      r.deadline = e.request.deadline_us();
      r.priority = outer.priority();
      r.state = std::string(StateName(mla::STATE_DELIVERED));
      r.subject = opened.inner.subject();
      r.case_reference = e.request.case_reference();
      r.updated_at = now;
      // No case details in the log: ids, parties and times only.
      spdlog::info("request {} from {}", r.request_id, peer.row.node_id);
      return store->InsertRequest(r, {{0, "sent", r.requester, r.created_at, "", ""},
                                      {0, r.state, r.requested, now, "", ""}});
    }
    if (e.kind != Effect::kStatus) return {};
    RequestRow& row = e.row;
    row.state = std::string(StateName(e.update.state()));
    row.seq = static_cast<int64_t>(e.update.sequence());
    row.head = StatusChainHash(opened.payload.body());
    row.updated_at = now;
    spdlog::info("request {} is now {} (status update {} from {})", row.request_id, row.state,
                 outer.message_id(), peer.row.node_id);
    return store->ApplyRequestStatus(
        row, {row.seq, row.state, peer.row.fingerprint, e.update.created_at(), e.update.note(),
              outer.message_id()});
  }

  // `ref` is a request id, or FROM/ID naming the requester's node id.
  Result<RequestRow> FindRequestRef(const std::string& ref) {
    const size_t slash = ref.find('/');
    const std::string from = slash == std::string::npos ? "" : ref.substr(0, slash);
    const std::string id = slash == std::string::npos ? ref : ref.substr(slash + 1);
    ROG_ASSIGN_OR_RETURN(auto rows, store->FindRequestsById(id));
    std::vector<RequestRow> match;
    for (auto& r : rows) {
      if (from.empty() || NameOf(r.requester) == from) match.push_back(std::move(r));
    }
    if (match.empty()) {
      return MakeError(Code::kNotFound, "no request with id '" + ref + "'",
                       "list requests with 'rogatory request list'");
    }
    if (match.size() > 1) {
      return MakeError(Code::kInvalidArgument,
                       "request id '" + id + "' is used by more than one requester",
                       "name the one you mean as FROM/ID, for example " +
                           NameOf(match[0].requester) + "/" + id);
    }
    return std::move(match[0]);
  }

  // `request update`: checks the transition is ours to make, then sends the
  // signed status update and records it, as one unit.
  Result<std::string> UpdateRequest(const control::RequestUpdate& u) {
    ROG_ASSIGN_OR_RETURN(RequestRow row, FindRequestRef(u.id()));
    const RequestParty by = row.outgoing ? RequestParty::kRequester : RequestParty::kRequested;
    ROG_ASSIGN_OR_RETURN(mla::State to, ParseState(u.state()));
    ROG_ASSIGN_OR_RETURN(mla::State from, ParseState(row.state));
    std::string a, b;
    ROG_RETURN_IF_ERROR(CheckTransition(from, to, by, u.note(), NamesOf(row, &a, &b)));
    const int64_t now = clock.NowMicros();
    mla::StatusUpdate su;
    su.set_version(1);
    su.set_request_id(row.request_id);
    su.set_request_sha256(row.envelope_sha256);
    su.set_sequence(static_cast<uint64_t>(row.seq) + 1);
    su.set_prev_sha256(row.head);
    su.set_state(to);
    su.set_note(u.note());
    su.set_created_at(now);
    const std::string body = SerializeCanonical(su);
    control::SendRequest sr;
    sr.add_to(NameOf(row.outgoing ? row.requested : row.requester));
    // The state name stays whole; a long request subject is cut at a
    // character boundary.
    const std::string tail = ": " + std::string(StateName(to));
    std::string about = row.subject;
    const size_t room = limits::kMaxSubjectBytes - tail.size() - 10;
    if (about.size() > room) {
      about.resize(room);
      while (!about.empty() && (static_cast<unsigned char>(about.back()) & 0xC0) == 0x80) {
        about.pop_back();  // continuation bytes of a cut character
      }
      if (!about.empty() && static_cast<unsigned char>(about.back()) >= 0xC0) about.pop_back();
    }
    sr.set_subject("Status of " + about + tail);
    sr.set_kind(wire::KIND_STATUS);
    sr.set_in_reply_to(row.request_id);
    sr.set_priority(static_cast<uint32_t>(row.priority));
    sr.set_body(body);
    sr.set_message_id(u.message_id());
    *sr.mutable_attachments() = u.attachments();
    return Send(sr, [&](const std::string& id, const std::string&) -> Status {
      RequestRow updated = row;
      updated.state = std::string(StateName(to));
      updated.seq = row.seq + 1;
      updated.head = StatusChainHash(body);
      updated.updated_at = now;
      return store->ApplyRequestStatus(
          updated, {updated.seq, updated.state, me->fingerprint(), now, u.note(), id});
    });
  }

  Status ListRequests(control::RequestList* out) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->ListRequests());
    const int64_t now = clock.NowMicros();
    for (const auto& r : rows) {
      auto* info = out->add_items();
      info->set_id(r.request_id);
      info->set_from(NameOf(r.requester));
      info->set_to(NameOf(r.requested));
      info->set_state(r.state);
      info->set_deadline(r.deadline);
      auto state = ParseState(r.state);
      info->set_overdue(r.deadline > 0 && r.deadline < now && state.ok() && !IsFinal(*state));
      info->set_subject(r.subject);
      info->set_case_reference(r.case_reference);
      info->set_priority(static_cast<uint32_t>(r.priority));
      info->set_direction(r.outgoing ? "out" : "in");
      info->set_created_at(r.created_at);
      ROG_ASSIGN_OR_RETURN(auto history, store->RequestHistory(r.requester, r.request_id));
      for (const auto& e : history) {
        auto* h = info->add_history();
        h->set_state(e.state);
        h->set_by(NameOf(e.by));
        h->set_at(e.at);
        h->set_note(e.note);
        h->set_seq(static_cast<uint64_t>(e.seq));
        h->set_message_id(e.message_id);
      }
    }
    return {};
  }

  // Deadlines that act (SPEC 7): one warning when a deadline passes with no
  // outcome, on both sides.
  void WarnDeadlines() {
    auto passed = store->DeadlinesPassed(clock.NowMicros());
    if (!passed.ok()) return;
    for (const auto& r : *passed) {
      spdlog::warn("request {} from {} to {} passed its deadline without an outcome",
                   r.request_id, NameOf(r.requester), NameOf(r.requested));
      (void)store->MarkDeadlineWarned(r.requester, r.request_id);
    }
  }

  // ------------------------------------------------------------ attachments
  // The envelope verified: start (or resume, or just keep going) pulling its
  // attachments. The ack waits until every attachment is stored and its
  // hash checked.
  void ReceiveAttachments(const Peer& peer, const Outgoing& route, const std::string& bytes,
                          const std::string& env_sha, const wire::OuterHeader& outer,
                          OpenedMessage opened) {
    const std::string& fp = peer.row.fingerprint;
    const auto key = std::make_pair(fp, outer.message_id());
    auto it = receiving.find(key);
    if (it == receiving.end()) {
      if (auto s = CheckAttachments(opened.inner, static_cast<size_t>(cfg.max_attachments),
                                    static_cast<uint64_t>(cfg.max_attachment_bytes));
          !s.ok()) {
        Refuse(peer, "message " + outer.message_id() + " refused: " + s.error().message);
        Nack(route, outer, env_sha, s.error().message);
        return;
      }
      for (const auto& a : opened.inner.attachments()) {
        if (static_cast<int64_t>(a.chunk_size() + kChunkTagBytes) + 1024 > cfg.max_frame_bytes) {
          const std::string why = "attachment chunks of " + std::to_string(a.chunk_size()) +
                                  " bytes do not fit this node's frame limit (" +
                                  std::to_string(cfg.max_frame_bytes) + " bytes)";
          Refuse(peer, "message " + outer.message_id() + " refused: " + why);
          Nack(route, outer, env_sha, why);
          return;
        }
      }
      int64_t active = 0;
      for (const auto& [k, r] : receiving) active += k.first == fp ? 1 : 0;
      if (active >= cfg.transfers_per_peer) {
        // Not refused: the sender retries, and gets its turn when one ends.
        spdlog::debug("{} from {} waits: {} transfers from that peer under way",
                      outer.message_id(), peer.row.node_id, active);
        return;
      }
      uint64_t total = 0;
      for (const auto& a : opened.inner.attachments()) total += a.size();
      if (auto s = CheckFreeSpace(total); !s.ok()) {
        Refuse(peer, "message " + outer.message_id() + " not accepted yet: " + s.error().message);
        return;
      }
      auto t = IncomingTransfer::Start(AttachmentDir(home.dir(), fp, outer.message_id()),
                                       outer.message_id(), opened.inner.attachments());
      if (!t.ok()) {
        Refuse(peer, "message " + outer.message_id() + " not accepted yet: " + t.error().message);
        return;
      }
      Receiving r;
      r.transfer = std::move(*t);
      r.envelope = bytes;
      r.envelope_sha256 = env_sha;
      r.outer = outer;
      r.opened = std::make_unique<OpenedMessage>(std::move(opened));
      r.transfer->last_progress_ms = MonotonicMillis();
      if (r.transfer->bytes_done() > 0) {
        spdlog::info("resuming attachments of {} from {} at {} of {} bytes", outer.message_id(),
                     peer.row.node_id, r.transfer->bytes_done(), r.transfer->bytes_total());
      }
      it = receiving.emplace(key, std::move(r)).first;
    }
    it->second.route = route;
    if (it->second.transfer->done()) {
      CompleteReceiving(peer, it);
      return;
    }
    RequestChunks(peer, it->second);
  }

  Status CheckFreeSpace(uint64_t bytes) {
    // What running transfers still need is spoken for.
    for (const auto& [key, r] : receiving) {
      bytes += r.transfer->bytes_total() - r.transfer->bytes_done();
    }
    struct statvfs st {};
    if (::statvfs(home.dir().c_str(), &st) != 0) return {};
    const uint64_t free_bytes = uint64_t{st.f_bavail} * st.f_frsize;
    // Room for the sealed files and a margin for the store.
    if (free_bytes < bytes + bytes / 64 + (uint64_t{256} << 20)) {
      return MakeError(Code::kUnavailable, "not enough free disk space for " +
                                               std::to_string(bytes) + " bytes of attachments (" +
                                               std::to_string(free_bytes) + " free)");
    }
    return {};
  }

  // Keeps cfg.chunk_window chunks of the current attachment requested.
  void RequestChunks(const Peer& peer, Receiving& r) {
    IncomingTransfer& t = *r.transfer;
    if (t.done()) return;
    const uint64_t next = t.next_chunk();
    const uint64_t want_until =
        std::min<uint64_t>(next + static_cast<uint64_t>(cfg.chunk_window), t.chunk_count());
    if (t.requested_until < next) t.requested_until = next;
    // Ask in half-window steps: one Want per few chunks, never an empty pipe.
    const uint64_t half = std::max<uint64_t>(1, static_cast<uint64_t>(cfg.chunk_window) / 2);
    if (t.requested_until >= want_until ||
        (t.requested_until - next >= half && t.requested_until < t.chunk_count())) {
      return;
    }
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* w = f.mutable_want();
    w->set_message_id(r.outer.message_id());
    w->set_attachment(t.current());
    w->set_first_chunk(t.requested_until);
    w->set_count(static_cast<uint32_t>(
        std::min<uint64_t>(want_until - t.requested_until, kMaxWantChunks)));
    if (SendToPeer(peer, Lane::kBulk, FrameBytes(f))) t.requested_until += w->count();
  }

  void RequestStalled(const Peer& peer, Receiving& r) {
    IncomingTransfer& t = *r.transfer;
    if (t.done()) return;
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* w = f.mutable_want();
    w->set_message_id(r.outer.message_id());
    w->set_attachment(t.current());
    w->set_first_chunk(t.next_chunk());
    w->set_count(1);
    (void)SendToPeer(peer, Lane::kBulk, FrameBytes(f));
  }

  void HandleChunk(const Peer& peer, wire::Chunk* c) {
    auto it = receiving.find({peer.row.fingerprint, c->message_id()});
    if (it == receiving.end()) return;  // a late duplicate, or a transfer already refused
    Receiving& r = it->second;
    IncomingTransfer& t = *r.transfer;
    if (c->attachment() == t.current() && c->index() > t.next_chunk() &&
        c->index() < t.next_chunk() + static_cast<uint64_t>(cfg.chunk_window) &&
        c->data().size() == t.ChunkLength(c->index())) {
      r.early[c->index()] = std::move(*c->mutable_data());  // its turn comes
      return;
    }
    if (!AcceptChunk(peer, it, c->attachment(), c->index(), c->data())) return;
    // Chunks that came early follow now, in order.
    for (auto e = r.early.begin(); e != r.early.end() && !t.done();) {
      if (e->first < t.next_chunk()) {
        e = r.early.erase(e);
        continue;
      }
      if (e->first != t.next_chunk()) break;
      const std::string data = std::move(e->second);
      const uint64_t index = e->first;
      r.early.erase(e);
      if (!AcceptChunk(peer, it, t.current(), index, data)) return;
      e = r.early.begin();
    }
    if (t.done()) {
      CompleteReceiving(peer, it);
      return;
    }
    RequestChunks(peer, r);
  }

  // Verifies and stores one chunk; false when the transfer ended (refused,
  // or dropped after a local error) or the chunk was not the expected one.
  bool AcceptChunk(const Peer& peer,
                   std::map<std::pair<std::string, std::string>, Receiving>::iterator it,
                   uint32_t attachment, uint64_t index, const std::string& data) {
    Receiving& r = it->second;
    const uint32_t before = r.transfer->current();
    bool used = false;
    auto s = r.transfer->Accept(attachment, index, data, &used);
    if (!s.ok()) {
      if (s.error().code == Code::kUnavailable) {
        // Our disk, not the sender's data: drop the transfer and resume it
        // from the files when the sender retries.
        spdlog::error("attachments of {} from {}: {}", it->first.second, peer.row.node_id,
                      s.error().message);
        receiving.erase(it);
        return false;
      }
      const std::string why = "attachment check failed: " + s.error().message;
      Refuse(peer, "message " + it->first.second + " refused: " + why);
      if (EnsureTx().ok()) Nack(r.route, r.outer, r.envelope_sha256, why);
      r.transfer->Discard();
      receiving.erase(it);
      return false;
    }
    if (!used) return false;
    if (r.transfer->current() != before) r.early.clear();  // next attachment
    attachment_bytes_received += data.size();
    r.transfer->last_progress_ms = MonotonicMillis();
    r.transfer->stalls = 0;
    return true;
  }

  void CompleteReceiving(const Peer& peer,
                         std::map<std::pair<std::string, std::string>, Receiving>::iterator it) {
    Receiving r = std::move(it->second);
    receiving.erase(it);
    if (auto s = r.transfer->Finish(); !s.ok()) {
      spdlog::error("attachments of {}: {}", r.outer.message_id(), s.error().message);
      return;
    }
    // What the message does (a status update) is checked again: other
    // messages may have moved the request on while its attachments came.
    if (auto s = CheckIncoming(peer, r.outer, *r.opened); !s.ok()) {
      Refuse(peer, "message " + r.outer.message_id() + " refused: " + s.error().message);
      if (EnsureTx().ok()) Nack(r.route, r.outer, r.envelope_sha256, s.error().message);
      r.transfer->Discard();
      return;
    }
    if (LaneOf(r.outer.priority()) == Lane::kUrgent) urgent_in_batch = true;
    StoreReceived(peer, r.route, r.envelope, r.envelope_sha256, r.outer, *r.opened);
  }

  // Stalled transfers ask again from their first missing chunk.
  void CheckTransfers() {
    const int64_t now_ms = MonotonicMillis();
    if (now_ms < next_transfer_check_ms) return;
    next_transfer_check_ms = now_ms + 250;
    const int64_t now = clock.NowMicros();
    for (auto it = receiving.begin(); it != receiving.end();) {
      const Peer* gone = ActivePeer(it->first.first);
      if (gone == nullptr || it->second.outer.expires_at() <= now) {
        // Revoked, or expired before its attachments came: nothing will
        // complete it. Its partial files go too.
        spdlog::warn("abandoning attachments of {} from {}: {}", it->first.second,
                     NameOf(it->first.first),
                     gone == nullptr ? "the peer is no longer admitted" : "the message expired");
        it->second.transfer->Discard();
        it = receiving.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [key, r] : receiving) {
      const int64_t patience =
          kTransferStallMs << std::min<int64_t>(r.transfer->stalls, 5);  // 1 s .. 32 s
      if (now_ms - r.transfer->last_progress_ms <= patience) continue;
      const Peer* peer = ActivePeer(key.first);
      if (peer == nullptr) continue;
      // Logged on the first ask and every 60th after, not on every ask.
      if (r.transfer->stalls++ % 60 == 0) {
        spdlog::info("attachments of {} from {} stalled; asking again from chunk {} of "
                     "attachment {}",
                     key.second, peer->row.node_id, r.transfer->next_chunk(),
                     r.transfer->current());
      }
      // Ask again for the first missing chunk only, and wait longer each
      // time (a slow link must not fill up with duplicate chunks); the
      // window refills as chunks arrive.
      RequestStalled(*peer, r);
      r.transfer->last_progress_ms = now_ms;
    }
  }

  // The sending side: answer a recipient's Want with chunks read from the
  // staged file, as far as the connection takes them now (the receiver asks
  // again for what did not arrive).
  void HandleWant(const Peer& peer, const wire::Want& w) {
    const auto pending = PendingFor(peer, w.message_id(), "chunk request");
    if (!pending || pending->state != "queued") return;
    ChunkSource* src = SourceFor(w.message_id(), w.attachment());
    if (src == nullptr) {
      Refuse(peer, "chunk request for attachment " + std::to_string(w.attachment()) + " of " +
                       w.message_id() + ", which has no such attachment");
      return;
    }
    const uint64_t count = ChunkCount(src->size, src->chunk_size);
    const uint64_t end = std::min<uint64_t>(
        count, w.first_chunk() + std::min<uint32_t>(w.count(), kMaxWantChunks));
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    auto* c = f.mutable_chunk();
    c->set_message_id(w.message_id());
    c->set_attachment(w.attachment());
    for (uint64_t i = w.first_chunk(); i < end; ++i) {
      const uint64_t len = SealedChunkLength(src->size, src->chunk_size, i);
      std::string* data = c->mutable_data();
      data->resize(len);
      const ssize_t n = ::pread(src->fd, data->data(), len,
                                static_cast<off_t>(SealedChunkOffset(i, src->chunk_size)));
      if (n != static_cast<ssize_t>(len)) {
        spdlog::error("cannot read chunk {} of attachment {} of {}: {}", i, w.attachment(),
                      w.message_id(), n < 0 ? std::strerror(errno) : "file too short");
        return;
      }
      c->set_index(i);
      if (!SendToPeer(peer, Lane::kBulk, FrameBytes(f))) return;
      attachment_bytes_sent += len;
      uint64_t& progress = pulled[{w.message_id(), peer.row.fingerprint}];
      progress = std::max(progress, src->before + std::min<uint64_t>(src->size, (i + 1) *
                                                                                  src->chunk_size));
    }
  }

  ChunkSource* SourceFor(const std::string& message_id, uint32_t index) {
    const auto key = std::make_pair(message_id, index);
    if (auto it = chunk_sources.find(key); it != chunk_sources.end()) return it->second.get();
    auto rows = store->ListAttachments(me->fingerprint(), message_id);
    if (!rows.ok() || index >= rows->size()) return nullptr;
    const std::string path =
        AttachmentPath(AttachmentDir(home.dir(), me->fingerprint(), message_id), index);
    auto src = std::make_unique<ChunkSource>();
    src->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) {
      spdlog::error("cannot open attachment {}: {}", path, std::strerror(errno));
      return nullptr;
    }
    (void)::posix_fadvise(src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    src->size = (*rows)[index].size;
    src->chunk_size = (*rows)[index].chunk_size;
    for (uint32_t i = 0; i < index; ++i) src->before += (*rows)[i].size;
    if (chunk_sources.size() >= 16) chunk_sources.erase(chunk_sources.begin());
    return chunk_sources.emplace(key, std::move(src)).first->second.get();
  }

  void Ack(const Outgoing& route, const std::string& id, const std::string& receipt) {
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_ack()->set_message_id(id);
    f.mutable_ack()->set_receipt(receipt);
    Outgoing o = route;
    o.bytes = FrameBytes(f);
    outgoing.push_back(std::move(o));
  }

  // The outbox entry an ack or refusal from `peer` answers; refused and
  // logged (as `what`) when there is none.
  std::optional<PendingDelivery> PendingFor(const Peer& peer, const std::string& id,
                                            const char* what) {
    if (!EnsureTx().ok()) return std::nullopt;
    auto pending = store->FindPending(id, peer.row.fingerprint);
    if (!pending.ok() || !pending->has_value()) {
      Refuse(peer, std::string(what) + " for unknown message " + id);
      return std::nullopt;
    }
    return std::move(**pending);
  }

  void HandleAck(const Peer& peer, const wire::Ack& ack) {
    const auto pending = PendingFor(peer, ack.message_id(), "receipt");
    if (!pending) return;
    const PendingDelivery& p = *pending;
    if (p.state == "delivered") return;  // a duplicate ack
    if (p.state == "failed") {
      Refuse(peer, "receipt for " + ack.message_id() + " arrived after the peer refused it");
      return;
    }
    auto receipt = WithAnyKey(peer.signing_keys, [&](const std::string& key) {
      return VerifyReceipt(ack.receipt(), key);
    });
    Status s = receipt.ok() ? CheckReceiptMatches(*receipt, ack.message_id(), me->fingerprint(),
                                                  peer.row.fingerprint, p.envelope_sha256,
                                                  p.inner_sha256)
                            : Status{receipt.error()};
    if (s.ok()) s = ReceiptNamesAttachments(*receipt, ack.message_id());
    if (!s.ok()) {
      Refuse(peer, "receipt for " + ack.message_id() + " rejected: " + s.error().message);
      return;
    }
    // The delivery mark and the receipt's audit log entry are one unit.
    Status m = store->Savepoint();
    if (m.ok()) m = store->MarkDelivered(p.seq, peer.row.fingerprint, ack.receipt(),
                                         clock.NowMicros());
    if (m.ok()) {
      auto index = LogAudit(wire::LOG_RECEIPT_RECEIVED, ack.message_id(), me->fingerprint(),
                            peer.row.fingerprint, Sha256(ack.receipt()));
      if (!index.ok()) m = index.error();
    }
    if (m.ok()) m = store->Release();
    if (!m.ok()) {
      store->RollbackToSavepoint();
      (void)audit->Reload();
      spdlog::error("{}", m.error().message);
      return;
    }
    if (auto m = store->MarkRequestDelivered(me->fingerprint(), ack.message_id(),
                                             peer.row.fingerprint, receipt->received_at());
        !m.ok()) {
      spdlog::error("{}", m.error().message);
    }
    outbox->Settled(peer.row.fingerprint, p.seq);
    pulled.erase({ack.message_id(), peer.row.fingerprint});
    next_schedule_ms = 0;  // a window slot is free
    last_error.erase(peer.row.fingerprint);
    spdlog::info("message {} delivered to {}", ack.message_id(), peer.row.node_id);
  }

  // A receipt must name every attachment we sent, as we signed it: it is the
  // recipient's word that each was stored and checked.
  Status ReceiptNamesAttachments(const wire::Receipt& receipt, const std::string& message_id) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->ListAttachments(me->fingerprint(), message_id));
    bool same = receipt.attachments_size() == static_cast<int>(rows.size());
    for (size_t i = 0; same && i < rows.size(); ++i) {
      const auto& a = receipt.attachments(static_cast<int>(i));
      same = a.sha256() == rows[i].sha256 && a.size() == rows[i].size;
    }
    if (same) return {};
    return MakeError(Code::kUnauthenticated, "it does not name the attachments as sent");
  }

  void HandleNack(const Peer& peer, const wire::Nack& nack) {
    const auto pending = PendingFor(peer, nack.message_id(), "refusal");
    if (!pending) return;
    const PendingDelivery& p = *pending;
    auto refusal = WithAnyKey(peer.signing_keys, [&](const std::string& key) {
      return VerifyRefusal(nack.refusal(), key);
    });
    if (!refusal.ok() || refusal->message_id() != nack.message_id() ||
        refusal->refuser() != peer.row.fingerprint ||
        refusal->envelope_sha256() != p.envelope_sha256) {
      Refuse(peer, "refusal for " + nack.message_id() + " does not verify");
      return;
    }
    if (p.state != "queued") return;
    next_schedule_ms = 0;
    if (clock.NowMicros() >= p.expires_at) {
      // Past its expiry a refusal says nothing about what the peer stored
      // earlier (a late retry after the peer pruned its dedup record).
      (void)store->MarkExpired(p.seq, peer.row.fingerprint,
                               "expired; the recipient refused a late retry: " + refusal->reason());
      outbox->Settled(peer.row.fingerprint, p.seq);
      return;
    }
    (void)store->MarkFailed(p.seq, peer.row.fingerprint, refusal->reason());
    outbox->Settled(peer.row.fingerprint, p.seq);
    pulled.erase({nack.message_id(), peer.row.fingerprint});
    last_error[peer.row.fingerprint] = refusal->reason();
    spdlog::warn("message {} refused by {}: {}", nack.message_id(), peer.row.node_id,
                 refusal->reason());
  }

  static MessageMeta MetaOf(const wire::OuterHeader& outer, const wire::InnerHeader& inner) {
    MessageMeta m;
    m.message_id = outer.message_id();
    m.sender = outer.sender();
    for (const auto& r : outer.recipients()) m.recipients += r;
    m.subject = inner.subject();
    m.kind = inner.kind();
    m.priority = outer.priority();
    m.handling = inner.handling();
    m.handling_note = inner.handling_note();
    m.case_id = inner.case_id();
    m.in_reply_to = inner.in_reply_to();
    m.created_at = outer.created_at();
    m.expires_at = outer.expires_at();
    return m;
  }

  // ------------------------------------------------------------ sockets
  void DrainRouter(size_t budget) {
    const int64_t deadline = MonotonicMicros() + cfg.turn_budget_us;
    for (size_t i = 0; i < budget && (i == 0 || MonotonicMicros() < deadline); ++i) {
      zmq::message_t rid, data;
      if (!router->recv(rid, zmq::recv_flags::dontwait)) return;
      if (!rid.more()) continue;
      (void)router->recv(data, zmq::recv_flags::none);
      bool extra = data.more();
      while (extra) {  // a frame must be exactly one part: discard the rest
        zmq::message_t junk;
        (void)router->recv(junk, zmq::recv_flags::none);
        extra = junk.more();
      }
      std::string user;
      try {
        user = data.gets("User-Id");
      } catch (const zmq::error_t&) {
      }
      const size_t space = user.find(' ');
      auto fp = ParseFingerprint(user.substr(0, space));
      const Peer* peer = fp.ok() ? ActivePeer(*fp) : nullptr;
      if (peer == nullptr || space == std::string::npos ||
          user.substr(space + 1) != ToHex(peer->row.transport_key)) {
        // ZAP admitted it earlier, but the roster changed since (a revoked
        // peer, or a transport key replaced by a newer card).
        const std::string key = space == std::string::npos ? "" : user.substr(space + 1);
        if (peer != nullptr && std::any_of(peer->earlier_transport.begin(),
                                           peer->earlier_transport.end(),
                                           [&](const std::string& k) { return ToHex(k) == key; })) {
          if (old_key_connections.size() > 1024) old_key_connections.clear();
          if (old_key_connections.insert(rid.to_string()).second) {  // once per connection
            spdlog::info("refused frames from {}: its connection was made with its earlier "
                         "transport key; it reconnects with its new one", peer->row.node_id);
          }
          continue;
        }
        spdlog::warn("refused frame: connection of {} is no longer admitted by the roster",
                     user.empty() ? "an unknown peer" : user.substr(0, space));
        continue;
      }
      NoteRouterConnection(zmq_msg_get(data.handle(), ZMQ_SRCFD), *peer);
      Outgoing route;
      route.via_router = true;
      route.routing_id = rid.to_string();
      HandleFrame(*peer, data, route);
      if (urgent_in_batch) return;  // commit and answer it now
    }
  }

  void DrainDealer(const DealerKey& key, Dealer& d, size_t budget) {
    const int64_t deadline = MonotonicMicros() + cfg.turn_budget_us;
    for (size_t i = 0; i < budget && (i == 0 || MonotonicMicros() < deadline); ++i) {
      zmq::message_t data;
      if (!d.socket.recv(data, zmq::recv_flags::dontwait)) return;
      const Peer* peer = ActivePeer(key.first);
      if (peer == nullptr) continue;
      Outgoing route;
      route.peer_fp = key.first;
      route.lane = key.second;
      HandleFrame(*peer, data, route);
      if (urgent_in_batch) return;
    }
  }

  Dealer* EnsureDealer(const Peer& peer, Lane lane) {
    auto it = dealers.find({peer.row.fingerprint, lane});
    if (it != dealers.end()) return it->second.get();
    // Both lanes connect together, so the urgent connection is up before the
    // first urgent message needs it.
    if (lane == Lane::kBulk && !dealers.count({peer.row.fingerprint, Lane::kUrgent})) {
      (void)EnsureDealer(peer, Lane::kUrgent);
    }
    const BoxKey& ours = DialKey(peer.row.fingerprint);
    auto s = ConnectDealer(ctx, ours.secret, ours.public_key, peer.row.transport_key,
                           peer.row.endpoint, topts, /*connect=*/false);
    if (!s.ok()) {
      last_error[peer.row.fingerprint] = s.error().message;
      return nullptr;
    }
    auto d = std::make_unique<Dealer>(Dealer{std::move(*s), peer.row.endpoint,
                                             peer.row.transport_key, ours.public_key, true,
                                             MonotonicMillis(), false, nullptr});
    // The monitor before the connection: a handshake it missed would leave
    // the DEALER "not connected" for good (no Hello, never closed as idle).
    auto monitor = ConnectionMonitor::Attach(ctx, d->socket);
    if (!monitor.ok()) {
      spdlog::error("{}", monitor.error().message);
      return nullptr;
    }
    d->monitor = std::move(*monitor);
    try {
      d->socket.connect(peer.row.endpoint);
    } catch (const zmq::error_t& e) {
      last_error[peer.row.fingerprint] = "cannot connect to " + peer.row.endpoint + ": " + e.what();
      return nullptr;  // `d` goes: its monitor first, then the socket
    }
    Dealer* raw = d.get();
    dealers[{peer.row.fingerprint, lane}] = std::move(d);
    return raw;
  }

  // Sends a frame to a peer over any authenticated connection between us
  // (SPEC 5): our own DEALER when it is connected, else the connection the
  // peer opened to our ROUTER (a peer behind an outbound-only firewall).
  // False when neither can take it now. A `background` frame (IsBackground)
  // uses a connection that is there, and opens none.
  bool SendToPeer(const Peer& peer, Lane lane, const std::string& bytes,
                  bool background = false) {
    if (!background) NoteWork(peer.row.fingerprint);
    if (TrySendOnDealer(peer, lane, bytes, background)) return true;
    // Urgent traffic whose own connection is not up yet takes the bulk one
    // rather than wait: it still goes out ahead of the normal queue.
    if (lane == Lane::kUrgent && TrySendOnDealer(peer, Lane::kBulk, bytes, background)) {
      return true;
    }
    if (!router.has_value()) return false;
    auto route = inbound_route.find({peer.row.fingerprint, lane});
    if (route == inbound_route.end()) route = inbound_route.find({peer.row.fingerprint, Other(lane)});
    if (route == inbound_route.end()) return false;
    try {
      // With ROUTER_MANDATORY a full queue is EAGAIN on the routing part:
      // then nothing may follow it (a lone body part would be discarded).
      if (!router->send(zmq::buffer(route->second.routing_id),
                        zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
        return false;
      }
      router->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      return true;
    } catch (const zmq::error_t&) {
      inbound_route.erase(route);  // EHOSTUNREACH: that connection is gone
      return false;
    }
  }

  bool Reachable(const Peer& peer) {
    const std::string& fp = peer.row.fingerprint;
    for (Lane lane : {Lane::kBulk, Lane::kUrgent}) {
      auto d = dealers.find({fp, lane});
      if (d != dealers.end() && d->second->connected) return true;
    }
    return inbound_route.count({fp, Lane::kBulk}) > 0 || inbound_route.count({fp, Lane::kUrgent}) > 0;
  }

  // Remembers the peer's inbound connection as the way back to it, in the
  // lane its Hello named (a connection not known as urgent is bulk).
  void LearnInboundRoute(const Peer& peer, const std::string& rid, const wire::Frame& frame) {
    const std::string& fp = peer.row.fingerprint;
    const Lane lane = frame.has_hello() ? (frame.hello().urgent() ? Lane::kUrgent : Lane::kBulk)
                                        : InboundLane(fp, rid);
    inbound_route[{fp, lane}] = {rid, peer.row.transport_key};
  }

  static Lane Other(Lane lane) { return lane == Lane::kUrgent ? Lane::kBulk : Lane::kUrgent; }

  // The lane of the peer's inbound connection `rid`, as its Hello said.
  Lane InboundLane(const std::string& fp, const std::string& rid) const {
    auto urgent = inbound_route.find({fp, Lane::kUrgent});
    return urgent != inbound_route.end() && urgent->second.routing_id == rid ? Lane::kUrgent
                                                                              : Lane::kBulk;
  }

  bool TrySendOnDealer(const Peer& peer, Lane lane, const std::string& bytes,
                       bool background = false) {
    const std::string& fp = peer.row.fingerprint;
    Dealer* dealer = nullptr;
    if (!background) {
      dealer = EnsureDealer(peer, lane);
    } else if (auto it = dealers.find({fp, lane}); it != dealers.end()) {
      dealer = it->second.get();
    }
    if (dealer == nullptr) return false;
    try {
      if (dealer->socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait).has_value()) {
        dealer->waiting = false;
        return true;
      }
    } catch (const zmq::error_t& e) {
      last_error[fp] = e.what();
    }
    const int64_t now_ms = MonotonicMillis();
    if (!dealer->waiting) {
      dealer->waiting = true;
      dealer->waiting_since_ms = now_ms;
    } else if (!dealer->connected && now_ms - dealer->waiting_since_ms > kDealerRenewMs) {
      // libzmq does not reconnect after a refused handshake (the peer did
      // not know us yet): start over with a fresh socket.
      if (!me->previous().empty()) {
        // Both lanes move to the next key together (DialKey).
        ++dial_attempt[fp];
        dealers.erase({fp, Other(lane)});
      }
      dealers.erase({fp, lane});
    }
    return false;
  }

  void NoteWork(const std::string& fp) { last_work_ms[fp] = MonotonicMillis(); }

  // Connections on demand: the DEALERs to a peer are closed when they are
  // up, no work went either way for transport.idle_close_s, nothing is in
  // flight to the peer and no attachment is arriving from it. The next
  // frame of work opens them again. One that is not up is kept: it holds
  // what was to be sent (a case entry to a member offline) until the peer
  // is back. The peer's connections to us are its own to close.
  void CloseIdleConnections(int64_t now_ms) {
    if (cfg.idle_close_ms <= 0 || cfg.connect_all) return;
    std::set<std::string> idle;
    for (const auto& [key, d] : dealers) {
      const std::string& fp = key.first;
      auto work = last_work_ms.find(fp);
      if (d->connected && (work == last_work_ms.end() || now_ms - work->second >= cfg.idle_close_ms)) {
        idle.insert(fp);
      }
    }
    for (const auto& fp : idle) {
      const bool busy = std::any_of(dealers.begin(), dealers.end(), [&](const auto& d) {
        return d.first.first == fp && !d.second->connected;
      });
      if (busy || outbox->InFlight(fp) > 0) continue;
      auto r = receiving.lower_bound({fp, std::string()});
      if (r != receiving.end() && r->first.first == fp) continue;
      dealers.erase({fp, Lane::kBulk});
      dealers.erase({fp, Lane::kUrgent});
      last_work_ms.erase(fp);
      spdlog::debug("closed the idle connection to {}", NameOf(fp));
    }
  }

  // Once a second, in the durable phase (an `expired` mark is shown to
  // users): expire deliveries past expiry plus the clock allowance, and
  // prune dedup records likewise; close idle connections.
  void Maintain() {
    const int64_t now_ms = MonotonicMillis();
    if (now_ms < next_expiry_ms) return;
    next_expiry_ms = now_ms + 1000;
    CloseIdleConnections(now_ms);
    for (const auto& [fp, peer] : peers) {
      if (!peer.revoked()) PushCard(peer, /*now=*/false);
    }
    if (!EnsureTx().ok()) return;
    auto n = outbox->Expire();
    if (n.ok() && *n > 0) {
      spdlog::warn("{} deliveries expired without a receipt", *n);
      (void)store->ExpireRequests();
    }
    WarnDeadlines();
    if (now_ms >= next_head_ms) {
      next_head_ms = now_ms + cfg.tree_head_interval_ms;
      (void)SignTreeHeadIfGrown();
      for (const auto& [fp, peer] : peers) {
        if (!peer.revoked() && IsConnected(fp, now_ms)) ExchangeHeads(peer);
      }
    }
    if (now_ms >= next_case_sync_ms) {
      next_case_sync_ms = now_ms + cfg.case_sync_interval_ms;
      for (const auto& [fp, peer] : peers) {
        if (!peer.revoked() && IsConnected(fp, now_ms)) SyncCasesWith(peer);
      }
    }
    auto pruned = store->PruneSeen(clock.NowMicros() - cfg.clock_allowance_us);
    if (pruned.ok() && *pruned > 0) spdlog::info("pruned {} dedup records", *pruned);
  }

  void ScheduleDeliveries() {
    const int64_t now_ms = MonotonicMillis();
    if (now_ms < next_schedule_ms) return;
    if (!EnsureTx().ok()) return;
    std::vector<std::string> candidates;
    for (const auto& [fp, peer] : peers) {
      // A peer that holds an older card of ours could not open or verify
      // what we seal now: its queue waits until it takes the current card
      // (pushed every few seconds, and at once when it connects).
      if (!peer.revoked() && HoldsOurCard(fp)) candidates.push_back(fp);
    }
    bool sent_any = false;
    auto due_peers = outbox->DuePeers(candidates);
    if (!due_peers.ok()) {
      spdlog::error("{}", due_peers.error().message);
      next_schedule_ms = now_ms + 1000;
      return;
    }
    for (const auto& fp : *due_peers) {
      const Peer* peer = ActivePeer(fp);
      if (peer == nullptr) continue;
      // With no connection up, one delivery per lane is tried (it opens or
      // renews the connection and takes the backoff); the rest are not even
      // read from the store until a connection event.
      auto batch = outbox->Take(fp, Reachable(*peer) ? 0 : 1);
      if (!batch.ok()) {
        spdlog::error("{}", batch.error().message);
        continue;
      }
      bool lane_down[2] = {false, false};
      for (const auto& t : *batch) {
        if (lane_down[static_cast<int>(t.lane)]) continue;
        wire::Frame f;
        f.set_protocol(kProtocolVersion);
        f.mutable_deliver()->set_envelope(t.due.envelope);
        f.mutable_deliver()->set_prev(t.prev);
        std::string bytes = FrameBytes(f);
        if (auto limit = peer_max_frame.find(fp);
            limit != peer_max_frame.end() && static_cast<int64_t>(bytes.size()) > limit->second) {
          // The peer's ZeroMQ would drop it without an answer, and every
          // later message of its priority would wait behind it: fail it now.
          const std::string why = "the message (" + std::to_string(bytes.size()) +
                                  " bytes) exceeds the recipient's frame limit (" +
                                  std::to_string(limit->second) + " bytes)";
          (void)store->MarkFailed(t.due.seq, fp, why);
          outbox->Settled(fp, t.due.seq);
          spdlog::warn("message {} to {} failed: {}", t.due.message_id, peer->row.node_id, why);
          continue;
        }
        const bool sent = SendToPeer(*peer, t.lane, bytes);
        sent_any |= sent;
        if (!sent) {
          lane_down[static_cast<int>(t.lane)] = true;  // no connection: stop this lane
          if (!last_error.count(fp)) last_error[fp] = "no connection to peer";
        }
        (void)outbox->Attempted(t, sent);
      }
    }
    auto wait = outbox->MillisUntilDue(1000);
    int64_t delay = wait.ok() ? *wait : 1000;
    // Due work that could not go out (full windows, a revoked or unreachable
    // peer) must not spin the loop: look again shortly. Receipts, refusals
    // and connection events reschedule at once.
    if (!sent_any) delay = std::max<int64_t>(delay, kIdleRescheduleMs);
    next_schedule_ms = now_ms + delay;
  }

  // Resends what is queued for a peer, from the start and in order; at most
  // once per retry interval, so Hold and Hello frames cannot storm.
  void ResendQueueTo(const std::string& fp, bool rate_limited = true) {
    int64_t& last = last_resend_ms[fp];
    const int64_t now_ms = MonotonicMillis();
    if (rate_limited && now_ms - last < limits::kRetryInitialMs) return;
    last = now_ms;
    if (EnsureTx().ok()) (void)outbox->ConnectionUp(fp);
    next_schedule_ms = 0;
  }

  // A peer whose connection came back gets its queue retried at once.
  void OnConnectionBack(const DealerKey& key) {
    const std::string& fp = key.first;
    spdlog::info("connection to {} is up ({} lane)", NameOf(fp), LaneName(key.second));
    last_error.erase(fp);
    next_schedule_ms = 0;
    ResendQueueTo(fp, /*rate_limited=*/false);  // a real reconnection: always
    // Tell the peer, so it can use this connection for what it holds for us.
    auto it = dealers.find(key);
    if (it == dealers.end()) return;
    wire::Frame f;
    f.set_protocol(kProtocolVersion);
    f.mutable_hello()->set_urgent(key.second == Lane::kUrgent);
    f.mutable_hello()->set_max_frame_bytes(static_cast<uint64_t>(cfg.max_frame_bytes));
    if (const Peer* p = ActivePeer(fp)) {
      f.mutable_hello()->set_known_card_sequence(p->row.card_sequence);
      SendRevocations(*p);
    }
    try {
      (void)it->second->socket.send(zmq::buffer(FrameBytes(f)), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
    }
  }

  // ------------------------------------------------------------ control
  void SendControlReply(const std::string& client, const control::ControlResponse& resp) {
    try {
      control->send(zmq::buffer(client), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      control->send(zmq::message_t(), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      control->send(zmq::buffer(resp.SerializeAsString()), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
      // The CLI went away.
    }
  }

  void DrainControl(size_t budget) {
    const int64_t deadline = MonotonicMicros() + cfg.turn_budget_us;
    for (size_t i = 0; i < budget && (i == 0 || MonotonicMicros() < deadline); ++i) {
      zmq::message_t client, empty, body;
      if (!control->recv(client, zmq::recv_flags::dontwait)) return;
      if (!client.more()) continue;
      (void)control->recv(empty, zmq::recv_flags::none);
      if (!empty.more()) continue;
      (void)control->recv(body, zmq::recv_flags::none);
      PendingControl pc;
      pc.client_id = client.to_string();
      pc.response.set_version(kControlVersion);
      control::ControlRequest req;
      if (!req.ParseFromArray(body.data(), static_cast<int>(body.size())) ||
          req.version() != kControlVersion) {
        SetError(&pc.response, MakeError(Code::kInvalidArgument,
                                         "control request is malformed or of another version",
                                         "use the rogatory CLI of the same version"));
      } else {
        HandleControl(req, &pc);
        if (req.has_reload_keys()) {  // the passphrase, in both copies
          WipeString(*req.mutable_reload_keys()->mutable_passphrase());
          sodium_memzero(body.data(), body.size());
        }
      }
      replies.push_back(std::move(pc));
    }
  }

  static void SetError(control::ControlResponse* r, const Error& e) {
    r->clear_body();
    auto* err = r->mutable_error();
    err->set_code(static_cast<uint32_t>(e.code));
    err->set_message(e.message);
    err->set_hint(e.hint);
  }

  // The answer to a request that queued a message: its id, sent only once
  // the turn's transaction is durable.
  static void Queued(const Result<std::string>& id, PendingControl* pc) {
    if (!id.ok()) {
      SetError(&pc->response, id.error());
      return;
    }
    pc->response.set_sent_id(*id);
    pc->needs_commit = true;
  }

  void HandleControl(const control::ControlRequest& req, PendingControl* pc) {
    control::ControlResponse* r = &pc->response;
    switch (req.body_case()) {
      case control::ControlRequest::kStatus: FillStatus(r->mutable_status()); break;
      case control::ControlRequest::kSend: Queued(Send(req.send()), pc); break;
      case control::ControlRequest::kInbox: {
        auto s = ListInbox(req.inbox().limit(), r->mutable_messages());
        if (!s.ok()) SetError(r, s.error());
        break;
      }
      case control::ControlRequest::kOutbox: {
        auto s = ListOutbox(req.outbox().limit(), r->mutable_messages());
        if (!s.ok()) SetError(r, s.error());
        break;
      }
      case control::ControlRequest::kShow: {
        auto s = Show(req.show().id(), r->mutable_message());
        if (!s.ok()) SetError(r, s.error());
        break;
      }
      case control::ControlRequest::kExportBundle: {
        auto b = Export(req.export_bundle());
        if (b.ok()) {
          r->set_bundle(*b);
          pc->needs_commit = true;  // it may have signed a tree head
        } else {
          SetError(r, b.error());
        }
        break;
      }
      case control::ControlRequest::kRequestUpdate:
        Queued(UpdateRequest(req.request_update()), pc);
        break;
      case control::ControlRequest::kRequests: {
        auto s = ListRequests(r->mutable_requests());
        if (!s.ok()) SetError(r, s.error());
        break;
      }
      case control::ControlRequest::kTreeHead: {
        auto head = SignTreeHeadIfGrown();
        if (head.ok()) {
          r->set_tree_head(head->signed_head);
          pc->needs_commit = true;
        } else {
          SetError(r, head.error());
        }
        break;
      }
      case control::ControlRequest::kPublishRevocation: {
        auto st = PublishRevocation(req.publish_revocation());
        if (st.ok()) {
          pc->needs_commit = true;
        } else {
          SetError(r, st.error());
        }
        break;
      }
      case control::ControlRequest::kReloadKeys: {
        auto seq = ReloadKeys(req.reload_keys());
        if (seq.ok()) {
          r->set_card_sequence(*seq);
          pc->needs_commit = true;
        } else {
          SetError(r, seq.error());
        }
        break;
      }
      case control::ControlRequest::kCaseCommand: {
        bool changed = false;
        auto st = CaseCommand(req.case_command(), r->mutable_case_result(), &changed);
        if (!st.ok()) {
          SetError(r, st.error());
          // A command that failed half-way may have left memory ahead of
          // the store (its savepoint was undone).
          if (req.case_command().op() != "log" && req.case_command().op() != "list") {
            (void)audit->Reload();
            (void)cases->Load();
          }
        }
        pc->needs_commit = changed;
        break;
      }
      case control::ControlRequest::kFetch: {
        auto s = Fetch(req.fetch(), r->mutable_fetch());
        if (!s.ok()) SetError(r, s.error());
        break;
      }
      default:
        SetError(r, MakeError(Code::kInvalidArgument, "unknown control request"));
    }
  }

  void FillAuditStatus(control::AuditStatus* a) {
    a->set_size(audit->size());
    if (auto h = store->LatestTreeHead(); h.ok() && h->has_value()) {
      a->set_tree_head_size(static_cast<uint64_t>((*h)->size));
      a->set_tree_head_at((*h)->at);
    }
    if (auto w = store->CountWitnesses(me->fingerprint()); w.ok()) {
      a->set_witnesses(static_cast<uint64_t>(*w));
    }
    if (auto h = store->LatestCosignedTreeHead(me->fingerprint(), 0); h.ok() && h->has_value()) {
      a->set_witnessed_size(static_cast<uint64_t>((*h)->size));
    }
    if (auto eqs = store->ListEquivocations(); eqs.ok()) {
      for (const auto& e : *eqs) {
        auto* out = a->add_equivocations();
        out->set_log(NameOf(e.log));
        out->set_fingerprint(FingerprintText(e.log));
        out->set_detected_at(e.detected_at);
        out->set_reason(e.reason);
      }
    }
  }

  void FillStatus(control::StatusResponse* s) {
    s->set_id(me->card().node_id());
    s->set_fingerprint(FingerprintText(me->fingerprint()));
    s->set_listen(cfg.listen);
    s->set_started_at(started_at);
    s->set_version(ROGATORY_VERSION);
    if (auto n = store->CountInbox(); n.ok()) s->set_inbox(static_cast<uint64_t>(*n));
    struct Depth {
      uint64_t by_priority[4] = {0, 0, 0, 0};
      uint64_t total = 0;
      int64_t oldest = 0;
    };
    std::map<std::string, Depth> depth;
    uint64_t total = 0;
    int64_t oldest = 0;
    if (auto q = store->QueueCounts(); q.ok()) {
      for (const auto& c : *q) {
        Depth& d = depth[c.recipient];
        d.by_priority[std::clamp(c.priority, 0, 3)] += static_cast<uint64_t>(c.count);
        d.total += static_cast<uint64_t>(c.count);
        if (d.oldest == 0 || c.oldest_created_at < d.oldest) d.oldest = c.oldest_created_at;
        if (oldest == 0 || c.oldest_created_at < oldest) oldest = c.oldest_created_at;
        total += static_cast<uint64_t>(c.count);
      }
    }
    s->set_outbox_queued(total);
    s->set_oldest_queued_at(oldest);
    s->set_now(clock.NowMicros());
    if (auto o = store->CountOverdue(s->now()); o.ok()) {
      s->set_requests_overdue_out(static_cast<uint64_t>(o->first));
      s->set_requests_overdue_in(static_cast<uint64_t>(o->second));
    }
    for (const auto& [key, r] : receiving) {
      auto* t = s->add_receiving();
      t->set_peer(NameOf(key.first));
      t->set_message_id(key.second);
      t->set_done_bytes(r.transfer->bytes_done());
      t->set_total_bytes(r.transfer->bytes_total());
    }
    s->set_attachment_bytes_sent(attachment_bytes_sent);
    s->set_attachment_bytes_received(attachment_bytes_received);
    FillAuditStatus(s->mutable_audit());
    s->set_handshakes_refused(handshakes_refused);
    uint64_t store_bytes = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      if (::stat((home.store() + suffix).c_str(), &st) == 0) {
        store_bytes += static_cast<uint64_t>(st.st_size);
      }
    }
    s->set_store_bytes(store_bytes);
    auto* v = s->mutable_versions();
    v->set_rogatory(ROGATORY_VERSION);
    v->set_protocol(1);
    v->set_schema(kSchemaVersion);
    int zmajor = 0, zminor = 0, zpatch = 0;
    zmq_version(&zmajor, &zminor, &zpatch);
    v->set_libzmq(std::to_string(zmajor) + "." + std::to_string(zminor) + "." +
                  std::to_string(zpatch));
    v->set_libsodium(sodium_version_string());
    v->set_sqlite(sqlite3_libversion());
    v->set_protobuf(google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION));
    const int64_t now_ms = MonotonicMillis();
    for (const auto& [fp, peer] : peers) {
      auto* ps = s->add_peers();
      const Depth& d = depth[fp];
      ps->set_id(peer.row.node_id);
      ps->set_fingerprint(peer.fp_text);
      ps->set_connected(IsConnected(fp, now_ms));
      for (Lane lane : {Lane::kBulk, Lane::kUrgent}) {
        auto d = dealers.find({fp, lane});
        if (d != dealers.end() && d->second->connected) ps->set_outbound(true);
      }
      ps->set_queued(d.total);
      ps->set_queued_urgent(d.by_priority[wire::PRIORITY_URGENT]);
      ps->set_queued_high(d.by_priority[wire::PRIORITY_HIGH]);
      ps->set_queued_normal(d.by_priority[wire::PRIORITY_NORMAL]);
      ps->set_oldest_queued_at(d.oldest);
      ps->set_in_flight(outbox->InFlight(fp));
      if (auto seen = last_seen_at.find(fp); seen != last_seen_at.end()) {
        ps->set_last_seen_at(seen->second);
      }
      if (auto e = last_error.find(fp); e != last_error.end()) ps->set_last_error(e->second);
      if (auto held = store->PeerHeads(fp); held.ok()) {
        for (const auto& h : *held) {
          if (!h.checked) continue;
          ps->set_log_size(static_cast<uint64_t>(h.size));
          ps->set_log_checked_at(h.at);
        }
      }
      if (auto c = store->LatestCosignedSize(me->fingerprint(), fp); c.ok()) {
        ps->set_witnessed_us(*c >= 0);
      }
    }
  }

  bool IsConnected(const std::string& fp, int64_t now_ms) {
    auto in = last_inbound_ms.find(fp);
    if (in != last_inbound_ms.end() && now_ms - in->second < cfg.heartbeat_timeout_ms) {
      return true;
    }
    for (Lane lane : {Lane::kBulk, Lane::kUrgent}) {
      auto d = dealers.find({fp, lane});
      if (d != dealers.end() && d->second->connected) return true;
    }
    return false;
  }

  // Queues a message. With `status` set (request update) the message is a
  // signed status update and the request moves on in the same unit.
  Result<std::string> Send(const control::SendRequest& req,
                           const std::function<Status(const std::string& id,
                                                      const std::string& env_sha)>& also = {}) {
    if (req.to().empty()) {
      return MakeError(Code::kInvalidArgument, "no recipient", "pass --to ID[,ID...]");
    }
    if (static_cast<int64_t>(req.body().size()) > cfg.max_body_bytes) {
      return MakeError(Code::kInvalidArgument,
                       "body is " + std::to_string(req.body().size()) + " bytes; the limit is " +
                           std::to_string(cfg.max_body_bytes),
                       "send large content as an attachment, or raise limits.max_body_bytes");
    }
    if (req.subject().size() > limits::kMaxSubjectBytes) {
      return MakeError(Code::kInvalidArgument, "subject is longer than 1024 bytes");
    }
    const int64_t now = clock.NowMicros();
    const int64_t expires_in = req.expires_in_us() > 0 ? req.expires_in_us() : cfg.default_expiry_us;
    if (expires_in > cfg.max_expiry_us) {
      return MakeError(Code::kInvalidArgument, "expiry is longer than the maximum of 365 days");
    }
    Draft d;
    if (!req.message_id().empty()) {
      ROG_RETURN_IF_ERROR(ValidateMessageId(req.message_id()));
      ROG_ASSIGN_OR_RETURN(auto existing, store->GetOutboxById(req.message_id()));
      if (existing.has_value()) {
        return MakeError(Code::kAlreadyExists, "message id " + req.message_id() + " is taken");
      }
      d.message_id = req.message_id();
    } else {
      d.message_id = NewMessageId(now);
    }
    d.created_at_us = now;
    d.expires_at_us = now + expires_in;
    d.priority = req.priority() == 0 ? wire::PRIORITY_NORMAL
                                     : static_cast<wire::Priority>(req.priority());
    OutboxRow row;
    std::set<std::string> seen;
    for (const auto& id : req.to()) {
      auto it = by_id.find(id);
      const Peer* peer = it != by_id.end() ? ActivePeer(it->second) : nullptr;
      if (peer == nullptr) {
        if (id == me->card().node_id()) {
          return MakeError(Code::kInvalidArgument, "cannot send a message to this node itself");
        }
        if (it != by_id.end()) {
          return MakeError(Code::kPermissionDenied, "recipient '" + id + "' is revoked",
                           "nothing can be sent to a revoked peer");
        }
        return MakeError(Code::kNotFound, "unknown recipient '" + id + "'",
                         "add its card with 'rogatory peer add CARD --fingerprint FP'");
      }
      if (!seen.insert(id).second) continue;
      d.recipients.push_back({peer->row.fingerprint, peer->row.encryption_key,
                              peer->shared.get()});
      RecipientRow rr;
      rr.fingerprint = peer->row.fingerprint;
      rr.node_id = peer->row.node_id;
      rr.next_attempt_at = now;
      row.recipients.push_back(std::move(rr));
    }
    d.inner.set_subject(req.subject());
    d.inner.set_kind(req.kind() == 0 ? wire::KIND_INFO : static_cast<wire::Kind>(req.kind()));
    d.inner.set_handling(static_cast<wire::Handling>(req.handling()));
    d.inner.set_handling_note(req.handling_note());
    d.inner.set_case_id(req.case_id());
    d.inner.set_in_reply_to(req.in_reply_to());
    d.body = req.body();
    ROG_ASSIGN_OR_RETURN(std::vector<AttachmentRow> attachments, TakeStaged(req, &d));
    std::string inner_sha;
    ROG_ASSIGN_OR_RETURN(std::string envelope, SealEnvelope(*me, d, &inner_sha));
    if (static_cast<int64_t>(envelope.size()) + 1024 > cfg.max_frame_bytes) {
      return MakeError(Code::kInvalidArgument,
                       "the sealed message is " + std::to_string(envelope.size()) +
                           " bytes, more than limits.max_frame_bytes allows");
    }
    ROG_ASSIGN_OR_RETURN(ParsedEnvelope env, ParseEnvelope(envelope));
    row.meta = MetaOf(env.outer, d.inner);
    row.envelope = std::move(envelope);
    row.envelope_sha256 = Sha256(row.envelope);
    row.inner_sha256 = std::move(inner_sha);
    mla::MlaRequest structured;
    const bool is_request = IsStructuredRequest(d.inner, d.body, &structured);
    if (is_request) ROG_RETURN_IF_ERROR(CheckOutgoingRequest(d, structured));
    if (!attachments.empty()) ROG_RETURN_IF_ERROR(MoveStaged(req, d.message_id));
    ROG_RETURN_IF_ERROR(EnsureTx());
    ROG_RETURN_IF_ERROR(store->Savepoint());
    Status s;
    if (auto ins = store->InsertOutbox(row); !ins.ok()) s = ins.error();
    if (s.ok() && !attachments.empty()) {
      s = store->InsertAttachments(me->fingerprint(), d.message_id, attachments);
    }
    if (s.ok() && is_request) s = RecordOutgoingRequest(d, row, structured);
    if (s.ok() && also) s = also(d.message_id, row.envelope_sha256);
    if (s.ok()) {
      auto index = LogAudit(wire::LOG_ENVELOPE_SENT, d.message_id, me->fingerprint(), "",
                            row.envelope_sha256);
      if (!index.ok()) s = index.error();
    }
    if (s.ok()) s = store->Release();
    if (!s.ok()) {
      store->RollbackToSavepoint();
      (void)audit->Reload();
      return s.error();
    }
    next_schedule_ms = 0;
    spdlog::info("queued message {} for {} recipient(s){}", d.message_id, d.recipients.size(),
                 attachments.empty() ? ""
                                     : " with " + std::to_string(attachments.size()) +
                                           " attachment(s)");
    return d.message_id;
  }

  // Checks the attachments the CLI staged and names them in the inner header.
  Result<std::vector<AttachmentRow>> TakeStaged(const control::SendRequest& req, Draft* d) {
    std::vector<AttachmentRow> rows;
    if (req.attachments().empty()) return rows;
    if (req.message_id().empty()) {
      return MakeError(Code::kInvalidArgument, "attachments need the message id they were sealed for");
    }
    if (req.attachments_size() > cfg.max_attachments) {
      return MakeError(Code::kInvalidArgument,
                       std::to_string(req.attachments_size()) + " attachments; the limit is " +
                           std::to_string(cfg.max_attachments),
                       "raise limits.max_attachments in node.toml, or send them in several messages");
    }
    for (const auto& a : req.attachments()) {
      const std::string& staged = a.staged_path();
      if (staged.empty() || staged.find('/') != std::string::npos || staged[0] == '.') {
        return MakeError(Code::kInvalidArgument,
                         "staged attachment must be a file name in the staging area");
      }
      if (!SafeAttachmentName(a.name())) {
        return MakeError(Code::kInvalidArgument,
                         "attachment name '" + a.name() + "' has control characters or a '/'",
                         "rename the file");
      }
      if (static_cast<int64_t>(a.size()) > cfg.max_attachment_bytes) {
        return MakeError(Code::kInvalidArgument,
                         a.name() + " is " + std::to_string(a.size()) +
                             " bytes; the limit is " + std::to_string(cfg.max_attachment_bytes),
                         "raise limits.max_attachment_bytes in node.toml");
      }
      ROG_RETURN_IF_ERROR(ValidateAttachmentRef(a.size(), a.sha256(), a.key(), a.chunk_size()));
      std::error_code ec;
      const auto staged_size = std::filesystem::file_size(home.staging() + "/" + staged, ec);
      if (ec || staged_size != SealedSize(a.size(), a.chunk_size())) {
        return MakeError(Code::kInvalidArgument, "staged attachment " + a.name() +
                                                     " is missing or of the wrong size");
      }
      auto* ref = d->inner.add_attachments();
      ref->set_name(a.name());
      ref->set_size(a.size());
      ref->set_sha256(a.sha256());
      ref->set_key(a.key());
      ref->set_chunk_size(a.chunk_size());
      rows.push_back({a.name(), a.size(), a.sha256(), a.chunk_size()});
    }
    return rows;
  }

  // Moves staged attachments under their message, durably.
  Status MoveStaged(const control::SendRequest& req, const std::string& message_id) {
    const std::string dir = AttachmentDir(home.dir(), me->fingerprint(), message_id);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return MakeError(Code::kUnavailable, "cannot create " + dir + ": " + ec.message());
    for (int i = 0; i < req.attachments_size(); ++i) {
      const std::string to = AttachmentPath(dir, static_cast<size_t>(i));
      const std::string from = home.staging() + "/" + req.attachments(i).staged_path();
      if (::rename(from.c_str(), to.c_str()) != 0) {
        return MakeError(Code::kUnavailable,
                         "cannot move staged attachment to " + to + ": " + std::strerror(errno));
      }
    }
    for (const std::string& d : {dir, std::filesystem::path(dir).parent_path().string(),
                                 home.attachments(), home.staging()}) {
      const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || ::fsync(fd) != 0) {
        if (fd >= 0) ::close(fd);
        return MakeError(Code::kUnavailable, "cannot sync " + d + ": " + std::strerror(errno));
      }
      ::close(fd);
    }
    return {};
  }

  void FillMeta(const MessageMeta& m, control::MessageInfo* info) {
    info->set_id(m.message_id);
    info->set_from(NameOf(m.sender));
    info->set_from_fingerprint(FingerprintText(m.sender));
    for (size_t i = 0; i + kFingerprintBytes <= m.recipients.size(); i += kFingerprintBytes) {
      info->add_to(NameOf(m.recipients.substr(i, kFingerprintBytes)));
    }
    info->set_subject(m.subject);
    info->set_kind(static_cast<uint32_t>(m.kind));
    info->set_priority(static_cast<uint32_t>(m.priority));
    info->set_handling(static_cast<uint32_t>(m.handling));
    info->set_handling_note(m.handling_note);
    info->set_created_at(m.created_at);
    info->set_expires_at(m.expires_at);
    info->set_in_reply_to(m.in_reply_to);
    info->set_case_id(m.case_id);
  }

  void FillInbox(const InboxRow& row, control::MessageInfo* info) {
    FillMeta(row.meta, info);
    info->set_direction("in");
    info->set_received_at(row.received_at);
    info->set_received_seq(static_cast<uint64_t>(row.received_seq));
  }

  void FillOutbox(OutboxRow row, control::MessageInfo* info) {
    row.meta.sender = me->fingerprint();
    FillMeta(row.meta, info);
    info->set_direction("out");
    bool all_delivered = true, any_failed = false, any_queued = false;
    for (const auto& r : row.recipients) {
      auto* rs = info->add_recipients();
      rs->set_id(r.node_id);
      rs->set_fingerprint(FingerprintText(r.fingerprint));
      rs->set_state(r.state);
      rs->set_attempts(static_cast<uint32_t>(r.attempts));
      if (r.state == "queued") rs->set_next_attempt_at(r.next_attempt_at);
      rs->set_delivered_at(r.delivered_at);
      rs->set_error(r.error);
      all_delivered &= r.state == "delivered";
      any_failed |= r.state == "failed";
      any_queued |= r.state == "queued";
    }
    info->set_state(all_delivered ? "delivered"
                    : any_queued  ? "queued"
                    : any_failed  ? "failed"
                                  : "expired");
  }

  Status ListInbox(uint32_t limit, control::MessageList* out) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->ListInbox(static_cast<int>(limit)));
    for (const auto& row : rows) FillInbox(row, out->add_items());
    return {};
  }

  Status ListOutbox(uint32_t limit, control::MessageList* out) {
    ROG_ASSIGN_OR_RETURN(auto rows, store->ListOutbox(static_cast<int>(limit)));
    for (auto& row : rows) FillOutbox(std::move(row), out->add_items());
    return {};
  }

  // Opens a stored envelope: as a recipient for inbox rows, as the sender
  // (through the first recipient's wrapped key) for outbox rows.
  Result<OpenedMessage> OpenStored(const std::string& envelope, bool outgoing_msg) {
    ROG_ASSIGN_OR_RETURN(ParsedEnvelope env, ParseEnvelope(envelope));
    if (outgoing_msg) {
      const std::string& first = env.outer.recipients(0);
      auto it = peers.find(first);
      if (it == peers.end()) {
        return MakeError(Code::kNotFound, "the first recipient's card is no longer in the roster");
      }
      return OpenWithAnyKey(it->second, env, first, me->signing_keys());
    }
    auto it = peers.find(env.outer.sender());
    if (it == peers.end()) {
      return MakeError(Code::kNotFound, "the sender's card is no longer in the roster");
    }
    ROG_RETURN_IF_ERROR(WithAnyKey(it->second.signing_keys, [&](const std::string& key) {
      return VerifyOuterSignature(env, key, it->second.row.fingerprint);
    }));
    return OpenWithAnyKey(it->second, env, me->fingerprint(), it->second.signing_keys);
  }

  struct Found {
    std::optional<InboxRow> in;
    std::optional<OutboxRow> out;
  };

  // `ref` is a message id, or FROM/ID naming the sender's node id (this
  // node's own id for a message it sent). Ids are unique per sender only, and
  // a peer chooses its own, so a bare id that matches several messages is
  // refused rather than guessed.
  Result<Found> FindMessage(const std::string& ref) {
    const size_t slash = ref.find('/');
    const std::string from = slash == std::string::npos ? "" : ref.substr(0, slash);
    const std::string id = slash == std::string::npos ? ref : ref.substr(slash + 1);
    const std::string& own = me->card().node_id();
    std::vector<InboxRow> in;
    if (from != own) {
      ROG_ASSIGN_OR_RETURN(auto rows, store->ListInboxById(id));
      for (auto& row : rows) {
        if (from.empty() || NameOf(row.meta.sender) == from) in.push_back(std::move(row));
      }
    }
    std::optional<OutboxRow> out;
    if (from.empty() || from == own) {
      ROG_ASSIGN_OR_RETURN(out, store->GetOutboxById(id));
    }
    const size_t matches = in.size() + (out.has_value() ? 1 : 0);
    if (matches == 0) {
      return MakeError(Code::kNotFound, "no message with id '" + ref + "'",
                       "list ids with 'rogatory inbox' or 'rogatory outbox'");
    }
    if (matches > 1) {
      std::string senders;
      for (const auto& row : in) senders += (senders.empty() ? "" : ", ") + NameOf(row.meta.sender);
      if (out.has_value()) senders += (senders.empty() ? "" : ", ") + own;
      return MakeError(Code::kInvalidArgument,
                       "message id '" + id + "' is used by more than one sender (" + senders + ")",
                       "name the one you mean as FROM/ID, for example " +
                           (in.empty() ? own : NameOf(in[0].meta.sender)) + "/" + id);
    }
    Found f;
    if (!in.empty()) f.in = std::move(in[0]);
    f.out = std::move(out);
    return f;
  }

  Status Show(const std::string& id, control::MessageInfo* info) {
    ROG_ASSIGN_OR_RETURN(Found f, FindMessage(id));
    const std::string& envelope = f.in ? f.in->envelope : f.out->envelope;
    if (f.in) {
      FillInbox(*f.in, info);
      auto* r = info->add_receipts();
      r->set_recipient(me->card().node_id());
      r->set_valid(VerifyReceipt(f.in->receipt, me->signing().public_key).ok());
      wire::SignedReceipt sr;
      wire::Receipt rc;
      if (sr.ParseFromString(f.in->receipt) && rc.ParseFromString(sr.receipt())) {
        r->set_received_at(rc.received_at());
        r->set_envelope_sha256(rc.envelope_sha256());
      }
    } else {
      for (const auto& rr : f.out->recipients) {
        if (rr.receipt.empty()) continue;
        auto* r = info->add_receipts();
        r->set_recipient(rr.node_id);
        auto it = peers.find(rr.fingerprint);
        auto v = it != peers.end() ? WithAnyKey(it->second.signing_keys,
                                                [&](const std::string& key) {
                                                  return VerifyReceipt(rr.receipt, key);
                                                })
                                   : Result<wire::Receipt>(MakeError(Code::kNotFound, ""));
        r->set_valid(v.ok());
        if (v.ok()) {
          r->set_received_at(v->received_at());
          r->set_envelope_sha256(v->envelope_sha256());
        }
      }
      FillOutbox(*f.out, info);
    }
    auto opened = OpenStored(envelope, f.out.has_value());
    info->set_signature_valid(opened.ok());
    if (opened.ok()) {
      info->set_body(opened->payload.body());
      uint64_t total = 0;
      for (const auto& a : opened->inner.attachments()) {
        auto* ai = info->add_attachments();
        ai->set_name(a.name());
        ai->set_size(a.size());
        ai->set_sha256(a.sha256());
        total += a.size();
      }
      info->set_attachment_bytes(total);
      for (auto& rs : *info->mutable_recipients()) {
        if (rs.state() == "delivered") {
          rs.set_transferred_bytes(total);
        } else if (auto fp = ParseFingerprint(rs.fingerprint()); fp.ok()) {
          auto it = pulled.find({info->id(), *fp});
          if (it != pulled.end()) rs.set_transferred_bytes(it->second);
        }
      }
    }
    return {};
  }

  // What `fetch` needs to decrypt attachment N itself (the CLI writes the
  // file; the daemon's loop never decrypts gigabytes).
  Status Fetch(const control::FetchRequest& req, control::FetchResponse* out) {
    ROG_ASSIGN_OR_RETURN(Found f, FindMessage(req.id()));
    const std::string& envelope = f.in ? f.in->envelope : f.out->envelope;
    const std::string sender = f.in ? f.in->meta.sender : me->fingerprint();
    const std::string& id = f.in ? f.in->meta.message_id : f.out->meta.message_id;
    ROG_ASSIGN_OR_RETURN(OpenedMessage opened, OpenStored(envelope, f.out.has_value()));
    const int n = opened.inner.attachments_size();
    if (req.attachment() >= static_cast<uint32_t>(n)) {
      return MakeError(Code::kNotFound,
                       "message " + req.id() + " has " + std::to_string(n) +
                           " attachment(s); there is no attachment " +
                           std::to_string(req.attachment()),
                       n > 0 ? "attachments are numbered from 0" : "");
    }
    const auto& a = opened.inner.attachments(static_cast<int>(req.attachment()));
    out->set_name(a.name());
    out->set_size(a.size());
    out->set_sha256(a.sha256());
    out->set_key(a.key());
    out->set_chunk_size(a.chunk_size());
    out->set_path(AttachmentPath(AttachmentDir(home.dir(), sender, id), req.attachment()));
    out->set_message_id(id);
    return {};
  }

  // The inclusion proof of a message's entry in our log (LOG_ENVELOPE_SENT
  // or _RECEIVED) up to the newest head a witness cosigned, with those
  // cosignatures; returns the witnesses. Without a witnessed head that
  // covers the entry, the current head is used and offered to the peers,
  // so a later export carries their cosignatures.
  Result<std::vector<std::string>> AddLogProof(const std::string& id, const std::string& envelope,
                                               bool sent, BundleParts* parts) {
    const std::string sha = Sha256(envelope);
    ROG_ASSIGN_OR_RETURN(auto entries, store->AuditEntriesFor(id));
    std::optional<std::pair<int64_t, std::string>> found;
    for (auto& [index, bytes] : entries) {
      wire::LogEntry e;
      if (e.ParseFromString(bytes) && e.sha256() == sha &&
          e.kind() == (sent ? wire::LOG_ENVELOPE_SENT : wire::LOG_ENVELOPE_RECEIVED)) {
        found.emplace(index, std::move(bytes));
      }
    }
    if (!found) {
      return MakeError(Code::kDataLoss, "message " + id + " has no entry in this node's audit log",
                       "run `rogatory audit verify` and check the daemon's log");
    }
    const auto index = static_cast<uint64_t>(found->first);
    ROG_ASSIGN_OR_RETURN(auto head,
                         store->LatestCosignedTreeHead(me->fingerprint(), found->first + 1));
    if (!head) {
      ROG_ASSIGN_OR_RETURN(TreeHeadRow latest, SignTreeHeadIfGrown());
      head = latest;
      const int64_t now_ms = MonotonicMillis();
      for (const auto& [fp, peer] : peers) {
        if (!peer.revoked() && IsConnected(fp, now_ms)) ExchangeHeads(peer);
      }
    }
    wire::LogProof lp;
    lp.set_entry(found->second);
    lp.set_index(index);
    ROG_ASSIGN_OR_RETURN(auto path, audit->InclusionProof(index, static_cast<uint64_t>(head->size)));
    for (auto& h : path) lp.add_path(std::move(h));
    lp.set_signed_tree_head(head->signed_head);
    std::vector<std::string> witnesses;
    ROG_ASSIGN_OR_RETURN(auto cosignatures, store->Cosignatures(me->fingerprint(), head->size));
    for (const auto& c : cosignatures) {
      auto p = peers.find(c.witness);
      if (p == peers.end() || p->second.revoked() ||
          !WithAnyKey(p->second.signing_keys, [&](const std::string& key) {
             return VerifyCosignature(c.signed_cosignature, key, head->signed_head);
           }).ok()) {
        continue;
      }
      lp.add_cosignatures(c.signed_cosignature);
      witnesses.push_back(c.witness);
    }
    parts->log_proofs.push_back(SerializeCanonical(lp));
    return witnesses;
  }

  Result<std::string> Export(const control::ExportRequest& req) {
    ROG_ASSIGN_OR_RETURN(Found f, FindMessage(req.id()));
    const std::string& envelope = f.in ? f.in->envelope : f.out->envelope;
    ROG_ASSIGN_OR_RETURN(OpenedMessage opened, OpenStored(envelope, f.out.has_value()));
    const auto handling = opened.inner.handling();
    if ((handling == wire::HANDLING_H1 || handling == wire::HANDLING_H2) &&
        req.permission_ref().empty()) {
      return MakeError(Code::kFailedPrecondition,
                       std::string("message is handling code ") +
                           (handling == wire::HANDLING_H1 ? "H1" : "H2") +
                           ": exporting it needs the sender's permission",
                       "pass --permission-ref TEXT naming that permission");
    }
    ROG_ASSIGN_OR_RETURN(ParsedEnvelope env, ParseEnvelope(envelope));
    BundleParts parts;
    parts.envelope = envelope;
    parts.content_key = &opened.content_key;
    parts.permission_ref = req.permission_ref();
    parts.exported_at_us = clock.NowMicros();
    parts.exporter = me->fingerprint();
    parts.exporter_key = &me->signing();
    std::set<std::string> signers{env.outer.sender()};
    for (const auto& r : env.outer.recipients()) signers.insert(r);
    for (const auto& fp : signers) {
      if (fp == me->fingerprint()) {
        parts.cards.push_back(me->signed_card());
      } else if (auto it = peers.find(fp); it != peers.end()) {
        parts.cards.push_back(it->second.row.card);
      }
    }
    ROG_ASSIGN_OR_RETURN(auto witnesses,
                         AddLogProof(req.id(), envelope, f.out.has_value(), &parts));
    for (const auto& fp : witnesses) {
      if (signers.insert(fp).second) {
        if (auto it = peers.find(fp); it != peers.end()) parts.cards.push_back(it->second.row.card);
      }
    }
    for (const auto& fp : signers) {
      ROG_ASSIGN_OR_RETURN(auto revs, store->Revocations(fp));
      for (auto& rv : revs) parts.revocations.push_back(std::move(rv));
    }
    if (f.in) {
      parts.receipts.push_back(f.in->receipt);
    } else {
      for (const auto& rr : f.out->recipients) {
        if (!rr.receipt.empty()) parts.receipts.push_back(rr.receipt);
      }
    }
    spdlog::info("exported message {}{}", req.id(),
                 req.permission_ref().empty() ? "" : " under permission " + req.permission_ref());
    return MakeBundle(parts);
  }

  // ------------------------------------------------------------ loop
  // At start: attachment files nothing refers to go. A sent message's
  // files whose outbox row never committed (the daemon stopped between the
  // move and the commit); a partial transfer older than any message can
  // live; staged files a CLI left behind a day ago. Received and sent
  // attachments of stored messages always stay.
  void SweepAttachments() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const auto now = fs::file_time_type::clock::now();
    const auto max_age = std::chrono::microseconds(cfg.max_expiry_us + cfg.clock_allowance_us);
    std::map<std::string, std::string> by_hex{{ToHex(me->fingerprint()), me->fingerprint()}};
    for (const auto& [fp, peer] : peers) by_hex[ToHex(fp)] = fp;
    int removed = 0;
    for (const auto& sender_dir : fs::directory_iterator(home.attachments(), ec)) {
      const std::string name = sender_dir.path().filename().string();
      const bool staging = sender_dir.path().string() == home.staging();
      for (const auto& entry : fs::directory_iterator(sender_dir.path(), ec)) {
        std::error_code e2;
        const auto age = now - fs::last_write_time(entry.path(), e2);
        bool stale = false;
        if (staging) {
          stale = age > std::chrono::hours(24);
        } else {
          auto fp = by_hex.find(name);
          auto rows = fp != by_hex.end()
                          ? store->ListAttachments(fp->second, entry.path().filename().string())
                          : Result<std::vector<AttachmentRow>>(std::vector<AttachmentRow>{});
          if (!rows.ok() || !rows->empty()) continue;  // stored: keep
          const bool own = fp != by_hex.end() && fp->second == me->fingerprint();
          stale = own || age > max_age;
        }
        if (stale && !e2) {
          fs::remove_all(entry.path(), e2);
          if (!e2) ++removed;
        }
      }
    }
    if (removed > 0) spdlog::info("removed {} unreferenced attachment file(s)", removed);
  }

  Status Loop() {
    started_at = clock.NowMicros();
    SweepAttachments();
    spdlog::info("node {} ({}) listening on {}; control socket {}", me->card().node_id(),
                 FingerprintText(me->fingerprint()), cfg.listen, home.control_socket());
    if (cfg.connect_all) {
      for (const auto& [fp, peer] : peers) {
        if (!peer.revoked()) EnsureDealer(peer, Lane::kBulk);
      }
    }
    NotifyReady();
    const size_t batch = static_cast<size_t>(cfg.commit_batch);
    for (;;) {
      if (fatal.has_value()) {
        CommitAndFlush();  // the reply saying why
        spdlog::error("{}", fatal->message);
        return *fatal;
      }
      std::vector<zmq::pollitem_t> items;
      items.push_back({nullptr, signal_fd, ZMQ_POLLIN, 0});
      items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({router->handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({control->handle(), 0, ZMQ_POLLIN, 0});
      items.push_back({router_monitor->socket().handle(), 0, ZMQ_POLLIN, 0});
      std::vector<DealerKey> dealer_fps;
      for (auto& [fp, d] : dealers) {
        items.push_back({d->socket.handle(), 0, ZMQ_POLLIN, 0});
        items.push_back({d->monitor->socket().handle(), 0, ZMQ_POLLIN, 0});
        dealer_fps.push_back(fp);
      }
      const int64_t wait = std::clamp<int64_t>(next_schedule_ms - MonotonicMillis(), 0, 250);
      try {
        zmq::poll(items.data(), items.size(), std::chrono::milliseconds(wait));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) return MakeError(Code::kInternal, std::string("poll: ") + e.what());
      }
      if (items[0].revents & ZMQ_POLLIN) {
        signalfd_siginfo si{};
        (void)::read(signal_fd, &si, sizeof si);
        if (si.ssi_signo == SIGHUP) {
          // Reload: re-read the roster now (it is also re-read on change).
          roster_version = -1;
          spdlog::info("received SIGHUP, reloading the roster");
        } else {
          spdlog::info("received signal {}, shutting down", si.ssi_signo);
          CommitAndFlush();
          return {};
        }
      }
      if (auto s = LoadRoster(); !s.ok()) spdlog::error("roster: {}", s.error().message);
      if (items[1].revents & ZMQ_POLLIN) {
        for (int i = 0; i < 64; ++i) {
          zmq::pollitem_t z{zap->socket().handle(), 0, ZMQ_POLLIN, 0};
          zmq::poll(&z, 1, std::chrono::milliseconds(0));
          if (!(z.revents & ZMQ_POLLIN)) break;
          zap->HandleRequest(
              [&](std::string_view key) -> std::optional<std::string> {
                auto it = by_transport.find(std::string(key));
                if (it == by_transport.end()) return std::nullopt;
                // "FINGERPRINT TRANSPORT-KEY-HEX": every frame is checked
                // against the peer's current key, not only the handshake.
                return FingerprintText(it->second) + " " + ToHex(key);
              },
              [&](const std::string& address, const std::string& why) {
                NoteRefusedConnection(address, why);
              });
        }
      }
      urgent_in_batch = false;
      if (items[4].revents & ZMQ_POLLIN) WatchRouterConnections();
      if (items[2].revents & ZMQ_POLLIN) DrainRouter(batch);
      for (size_t i = 0; i < dealer_fps.size(); ++i) {
        const auto& item = items[5 + 2 * i];
        const auto& mon = items[6 + 2 * i];
        auto it = dealers.find(dealer_fps[i]);
        if (it == dealers.end()) continue;
        if (mon.revents & ZMQ_POLLIN) {
          for (auto event : it->second->monitor->Drain()) {
            if (event.kind == ConnectionMonitor::Kind::kAccepted) continue;
            const bool up = event.kind == ConnectionMonitor::Kind::kUp;
            it->second->connected = up;
            if (up) {
              it->second->waiting = false;
              OnConnectionBack(dealer_fps[i]);
            }
          }
        }
        if (item.revents & ZMQ_POLLIN) DrainDealer(dealer_fps[i], *it->second, batch);
      }
      // New work last: receipts and deliveries already in hand go first.
      if (items[3].revents & ZMQ_POLLIN) DrainControl(batch);
      Maintain();
      CheckTransfers();
      CommitAndFlush();
      scheduling = true;
      ScheduleDeliveries();
      CommitAndFlush();
      scheduling = false;
    }
  }

  void NotifyReady() {
    const char* sock = std::getenv("NOTIFY_SOCKET");
    if (sock == nullptr || *sock == '\0') return;
    // sd_notify without linking libsystemd: one datagram to $NOTIFY_SOCKET.
    std::string path = sock;
    if (path[0] == '@') path[0] = '\0';
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
      ::close(fd);
      return;
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    const std::string msg = "READY=1\nSTATUS=serving\n";
    (void)::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size()));
    ::close(fd);
  }
};


// ---------------------------------------------------------------- Daemon

Daemon::Daemon(std::unique_ptr<DaemonImpl> impl) : impl_(std::move(impl)) {}
Daemon::~Daemon() = default;

Result<std::unique_ptr<Daemon>> Daemon::Create(const Home& home,
                                               std::optional<SecretBytes> passphrase) {
  ROG_RETURN_IF_ERROR(InitCrypto());
  ROG_RETURN_IF_ERROR(home.CheckExists());
  auto impl = std::make_unique<DaemonImpl>(home);
  ROG_ASSIGN_OR_RETURN(impl->cfg, LoadConfig(home.config()));
  {
    ROG_ASSIGN_OR_RETURN(Identity id, Identity::ReadKeystore(home.keystore(), passphrase));
    impl->me.emplace(std::move(id));
  }
  if (impl->cfg.node_id != impl->me->card().node_id()) {
    return MakeError(Code::kInvalidArgument,
                     home.config() + ": node.id '" + impl->cfg.node_id +
                         "' does not match the keystore's node id '" +
                         impl->me->card().node_id() + "'");
  }
  {
    ROG_ASSIGN_OR_RETURN(DaemonLock lock, DaemonLock::Acquire(home));
    impl->lock.emplace(std::move(lock));
  }
  ROG_ASSIGN_OR_RETURN(impl->store, Store::Open(home.store()));
  ROG_ASSIGN_OR_RETURN(impl->audit, AuditLog::Load(impl->store.get()));
  DaemonImpl* raw = impl.get();
  impl->cases = std::make_unique<CaseBook>(
      impl->store.get(), &*impl->me,
      [raw](const std::string& case_id, const std::string& author, const std::string& hash) {
        auto index = raw->LogAudit(wire::LOG_CASE_ENTRY, case_id, author, "", hash);
        return index.ok() ? Status{} : Status{index.error()};
      },
      [raw](const std::string& fp) { return raw->KnownKeysOf(fp); });
  ROG_RETURN_IF_ERROR(impl->cases->Load());
  ROG_ASSIGN_OR_RETURN(auto latest_head, impl->store->LatestTreeHead());
  if (latest_head) impl->last_head_size = latest_head->size;
  ROG_RETURN_IF_ERROR(impl->AdoptOwnCard());
  ROG_RETURN_IF_ERROR(impl->LoadRoster());
  impl->outbox.emplace(impl->store.get(), impl->cfg, &impl->clock);

  impl->topts.max_frame_bytes = impl->cfg.max_frame_bytes;
  impl->topts.heartbeat_ivl_ms = impl->cfg.heartbeat_ivl_ms;
  impl->topts.heartbeat_timeout_ms = impl->cfg.heartbeat_timeout_ms;
  impl->topts.handshake_timeout_ms = impl->cfg.handshake_timeout_ms;
  impl->topts.socks_proxy = impl->cfg.socks_proxy;
  // Two lanes' windows per peer connection, and some room for replies.
  impl->topts.receive_hwm = static_cast<int>(2 * impl->cfg.in_flight_per_peer + 64);
  ROG_ASSIGN_OR_RETURN(impl->zap, ZapHandler::Bind(impl->ctx));
  {
    ROG_ASSIGN_OR_RETURN(zmq::socket_t r, BindRouter(impl->ctx, impl->me->transport().secret,
                                                     impl->cfg.listen, impl->topts));
    impl->router.emplace(std::move(r));
    ROG_RETURN_IF_ERROR(impl->AttachRouterMonitor());
  }
  // The control socket: a ROUTER on ipc:// in the 0700 home, made 0600.
  try {
    ::unlink(home.control_socket().c_str());  // stale socket of a killed daemon
    zmq::socket_t c(impl->ctx, zmq::socket_type::router);
    c.set(zmq::sockopt::linger, 0);
    c.set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(limits::kMaxControlBytes));
    const mode_t old = ::umask(0177);
    try {
      c.bind(home.control_endpoint());
    } catch (...) {
      ::umask(old);
      throw;
    }
    ::umask(old);
    ::chmod(home.control_socket().c_str(), 0600);
    impl->control.emplace(std::move(c));
  } catch (const zmq::error_t& e) {
    return MakeError(Code::kUnavailable,
                     "cannot open the control socket " + home.control_socket() + ": " + e.what());
  }
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  impl->signal_fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (impl->signal_fd < 0) {
    return MakeError(Code::kInternal, "cannot create a signalfd");
  }
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Status Daemon::Run() { return impl_->Loop(); }

}  // namespace rogatory
