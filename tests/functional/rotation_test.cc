// Key rotation (SPEC 9, docs/operations.md): real daemons rotate their keys
// with messages in flight, a peer that was offline catches up, and a forged
// rotation is refused.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/crypto.h"
#include "keys/fingerprint.h"
#include "keys/identity.h"
#include "tests/functional/harness.h"

namespace rogatory::test {
namespace {

// The card sequence `of` has for node `id` in its roster.
uint64_t PeerCardSequence(const Node& of, const std::string& id) {
  for (const auto& p : of.Json({"peer", "list", "--json"})) {
    if (p["id"] == id) return p["card_sequence"].get<uint64_t>();
  }
  return 0;
}

// Every message of `node`'s inbox or outbox shows a valid signature (and,
// for sent ones, valid receipts).
void ExpectAllVerify(const Node& node, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    auto m = node.Json({"show", id, "--json"});
    EXPECT_EQ(m["signature"]["valid"], true) << node.id() << " " << id << ": " << m.dump();
    for (const auto& r : m["receipts"]) {
      EXPECT_EQ(r["valid"], true) << node.id() << " " << id << ": " << m.dump();
    }
  }
}

TEST(RotationFunctionalTest, RotationWithMessagesInFlightLosesNothingAndAnOfflinePeerCatchesUp) {
  TempDir dir;
  Node a(dir.path(), "rotating");
  Node b(dir.path(), "online", "NL");
  Node c(dir.path(), "offline", "DE");
  TrustEachOther({&a, &b, &c});
  const std::string fingerprint = a.fingerprint();
  a.Start();
  b.Start();
  c.Start();
  std::vector<std::string> a_to_b, b_to_a, a_to_c, c_to_a;
  a_to_b.push_back(a.Send({"--to", "online", "--subject", "s", "--body", "first"}));
  a_to_c.push_back(a.Send({"--to", "offline", "--subject", "s", "--body", "first"}));
  ASSERT_TRUE(a.WaitOutboxState(a_to_b[0], "delivered"));
  ASSERT_TRUE(a.WaitOutboxState(a_to_c[0], "delivered"));

  // c goes offline and misses everything below. a queues messages for it,
  // sealed and signed with a's first keys.
  ASSERT_EQ(c.Stop(), 0);
  for (int i = 0; i < 3; ++i) {
    a_to_c.push_back(a.Send({"--to", "offline", "--subject", "before", "--body", std::to_string(i)}));
  }
  // a goes down; b queues messages sealed to a's first encryption key.
  ASSERT_EQ(a.Stop(), 0);
  for (int i = 0; i < 3; ++i) {
    b_to_a.push_back(b.Send({"--to", "rotating", "--subject", "before", "--body", std::to_string(i)}));
  }

  // Rotation 1, daemon stopped: a new identity key too (the one committed).
  auto r = a.Cli({"keys", "rotate", "--identity", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rotated = nlohmann::json::parse(r.out);
  EXPECT_EQ(rotated["card_sequence"], 2);
  EXPECT_EQ(rotated["identity_key_rotated"], true);
  EXPECT_EQ(rotated["daemon_updated"], false);
  EXPECT_EQ(rotated["fingerprint"], fingerprint);  // the fingerprint names the first key
  EXPECT_EQ(a.Json({"id", "show", "--json"})["fingerprint"], fingerprint);

  a.Start();
  // Sealed with the new keys before b holds the new card: it waits for the
  // card to be taken instead of being refused. Likewise for c, offline.
  a_to_b.push_back(a.Send({"--to", "online", "--subject", "right after", "--body", "new keys"}));
  a_to_c.push_back(a.Send({"--to", "offline", "--subject", "right after", "--body", "new keys"}));
  // b takes the pushed card, updates its allowlist without a restart, and
  // what it queued for a arrives and opens with a's kept first key.
  EXPECT_TRUE(b.WaitLog("rotated its identity, encryption and transport keys: card sequence 1 -> 2"))
      << b.Log();
  for (const auto& id : b_to_a) EXPECT_TRUE(b.WaitOutboxState(id, "delivered")) << id << b.Log();
  EXPECT_TRUE(a.WaitLog("online now holds this node's card sequence 2")) << a.Log();
  EXPECT_EQ(PeerCardSequence(b, "rotating"), 2u);
  a_to_b.push_back(a.Send({"--to", "online", "--subject", "after", "--body", "new keys"}));
  b_to_a.push_back(b.Send({"--to", "rotating", "--subject", "after", "--body", "new keys"}));
  EXPECT_TRUE(a.WaitOutboxState(a_to_b.back(), "delivered")) << a.Log();
  EXPECT_TRUE(b.WaitOutboxState(b_to_a.back(), "delivered")) << b.Log();

  // Rotation 2, daemon running: it adopts the keys at once.
  r = a.Cli({"keys", "rotate", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  rotated = nlohmann::json::parse(r.out);
  EXPECT_EQ(rotated["card_sequence"], 3);
  EXPECT_EQ(rotated["daemon_updated"], true);
  a_to_b.push_back(a.Send({"--to", "online", "--subject", "right after", "--body", "newer keys"}));
  EXPECT_TRUE(b.WaitLog("rotated its encryption and transport keys: card sequence 2 -> 3"))
      << b.Log();
  EXPECT_TRUE(WaitFor([&] { return PeerCardSequence(b, "rotating") == 3u; }));
  a_to_b.push_back(a.Send({"--to", "online", "--subject", "after", "--body", "newer keys"}));
  b_to_a.push_back(b.Send({"--to", "rotating", "--subject", "after", "--body", "newer keys"}));
  EXPECT_TRUE(a.WaitOutboxState(a_to_b.back(), "delivered")) << a.Log();
  EXPECT_TRUE(b.WaitOutboxState(b_to_a.back(), "delivered")) << b.Log();

  // c comes back having missed both rotations: a dials it with the first
  // transport key, c takes card 3 (chained through 2), and a's queued
  // messages, signed before the rotations, arrive and verify.
  c.Start();
  EXPECT_TRUE(c.WaitLog("rotated its identity, encryption and transport keys: card sequence 1 -> 3"))
      << c.Log() << a.Log();
  for (const auto& id : a_to_c) EXPECT_TRUE(a.WaitOutboxState(id, "delivered")) << id << a.Log();
  c_to_a.push_back(c.Send({"--to", "rotating", "--subject", "back", "--body", "hello"}));
  EXPECT_TRUE(c.WaitOutboxState(c_to_a.back(), "delivered")) << c.Log();

  for (const auto& id : a_to_b) EXPECT_TRUE(a.WaitOutboxState(id, "delivered")) << id << a.Log();
  // Nothing lost, nothing twice.
  auto inbox_ids = [](const Node& n) {
    std::multiset<std::string> ids;
    for (const auto& m : n.Json({"inbox", "--json"})) ids.insert(m["id"].get<std::string>());
    return ids;
  };
  EXPECT_EQ(inbox_ids(b), std::multiset<std::string>(a_to_b.begin(), a_to_b.end()));
  std::multiset<std::string> to_a(b_to_a.begin(), b_to_a.end());
  to_a.insert(c_to_a.begin(), c_to_a.end());
  EXPECT_EQ(inbox_ids(a), to_a);
  EXPECT_EQ(inbox_ids(c), std::multiset<std::string>(a_to_c.begin(), a_to_c.end()));

  // Old and new messages verify, on every side, and so do their receipts.
  ExpectAllVerify(a, a_to_b);
  ExpectAllVerify(a, a_to_c);
  ExpectAllVerify(a, b_to_a);
  ExpectAllVerify(b, a_to_b);
  ExpectAllVerify(c, a_to_c);
  // A bundle of a message signed with the first identity key, exported
  // after the rotations, verifies offline against the fingerprint.
  const std::string bundle = dir.path() + "/before.bundle";
  r = b.Cli({"export", a_to_b[0], "-o", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = b.Cli({"verify", bundle, "--expect-fingerprint", fingerprint});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  // a's own audit log, its early heads signed with the first key, verifies.
  r = a.Cli({"audit", "verify"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(RotationFunctionalTest, AForgedRotationIsRefused) {
  ASSERT_TRUE(InitCrypto().ok());
  TempDir dir;
  Node a(dir.path(), "honest");
  Node b(dir.path(), "checker", "NL");
  a.Trust(b);
  b.Trust(a);
  const std::string a_card = ReadFileText(a.card_path());
  auto trusted = VerifyArmoredCard(a_card);
  ASSERT_TRUE(trusted.ok()) << trusted.error().message;

  // A thief without a's identity key: a higher card for "honest" chained to
  // a's card but signed by a key of its own.
  const SigningKey thief = SigningKey::FromSeed(SecretBytes::From(RandomBytes(32)));
  wire::Card forged = trusted->card;
  forged.set_sequence(2);
  forged.set_signing_key(thief.public_key);
  forged.set_transport_key(BoxKey::Generate().public_key);
  forged.set_encryption_key(BoxKey::Generate().public_key);
  const std::string path = dir.path() + "/forged.card";
  std::ofstream(path) << Armor(kCardArmorType,
                               SignRotatedCard(forged, thief, trusted->signed_bytes, thief));
  auto r = b.Cli({"peer", "add", path, "--fingerprint", a.fingerprint()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not signed by the identity key of the card it replaces"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(PeerCardSequence(b, "honest"), 1u);

  // A real, chained rotation of a's is taken by the same command.
  ASSERT_EQ(a.Cli({"keys", "rotate"}).exit_code, 0);
  std::ofstream(a.card_path()) << a.Cli({"id", "export"}).out;
  r = b.Cli({"peer", "add", a.card_path(), "--fingerprint", a.fingerprint()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(PeerCardSequence(b, "honest"), 2u);
}

// A node whose key was stolen revokes it itself (SPEC 9): peers online take
// it at once, a peer offline at the time takes it when it reconnects, and a
// bundle exported afterwards carries the revocation for `verify`.
TEST(RotationFunctionalTest, ASelfRevocationReachesEveryPeerAndBundlesCarryIt) {
  TempDir dir;
  Node a(dir.path(), "compromised");
  Node b(dir.path(), "partner", "NL");
  Node c(dir.path(), "away", "DE");
  TrustEachOther({&a, &b, &c});
  a.Start();
  b.Start();
  c.Start();
  const std::string before = a.Send({"--to", "partner", "--subject", "s", "--body", "before"});
  const std::string to_c = a.Send({"--to", "away", "--subject", "s", "--body", "before"});
  ASSERT_TRUE(a.WaitOutboxState(before, "delivered"));
  ASSERT_TRUE(a.WaitOutboxState(to_c, "delivered"));
  ASSERT_EQ(c.Stop(), 0);

  auto r = a.Cli({"keys", "revoke", "--reason", "laptop stolen"});
  EXPECT_EQ(r.exit_code, 2) << r.err;  // no terminal: it needs --yes
  r = a.Cli({"keys", "revoke", "--reason", "laptop stolen", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(b.WaitLog("compromised (" + a.fingerprint() +
                        ") revoked its own identity key (\"laptop stolen\")"))
      << b.Log() << a.Log();
  auto peers = b.Json({"peer", "list", "--json"});
  for (const auto& p : peers) {
    if (p["id"] == "compromised") {
      EXPECT_EQ(p["revoked"], true) << peers.dump();
    }
  }
  auto send = b.Cli({"send", "--to", "compromised", "--subject", "s", "--body", "x"});
  EXPECT_NE(send.err.find("recipient 'compromised' is revoked"), std::string::npos) << send.err;

  // The bundle of a message signed before the revocation carries it, and
  // verify says the key was revoked after the receipt bound the signature.
  const std::string bundle = dir.path() + "/before.bundle";
  r = b.Cli({"export", before, "-o", bundle});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = b.Cli({"verify", bundle, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  auto report = nlohmann::json::parse(r.out);
  bool checked = false;
  for (const auto& ch : report["checks"]) {
    if (ch["name"] == "sender_key_not_revoked") {
      checked = true;
      EXPECT_EQ(ch["ok"], true) << ch.dump();
      EXPECT_NE(ch["detail"].get<std::string>().find("laptop stolen"), std::string::npos);
    }
  }
  EXPECT_TRUE(checked) << r.out;

  // c was away: it takes the revocation when its connection to a is up.
  c.Start();
  EXPECT_TRUE(c.WaitLog("revoked its own identity key")) << c.Log() << a.Log();
  EXPECT_TRUE(WaitFor([&] {
    for (const auto& p : c.Json({"peer", "list", "--json"})) {
      if (p["id"] == "compromised") return p["revoked"] == true;
    }
    return false;
  }));
}

// Pre-rotation (SPEC 9): a thief who copied a node's current identity key
// issues a card with transport and encryption keys of its own, and a
// partner takes it (it chains). The owner rotates to the identity key its
// card committed to; the partner takes that card over the thief's, and the
// two nodes exchange messages again.
TEST(RotationFunctionalTest, TheOwnersRotationToTheCommittedKeyReplacesAThiefsCard) {
  ASSERT_TRUE(InitCrypto().ok());
  TempDir dir;
  Node a(dir.path(), "victim");
  Node b(dir.path(), "partner", "NL");
  a.Trust(b);
  b.Trust(a);
  auto stolen = Identity::ReadKeystore(a.home() + "/keys.bin", std::nullopt);
  ASSERT_TRUE(stolen.ok()) << stolen.error().message;
  wire::Card thief_card = stolen->card();
  thief_card.set_sequence(2);
  thief_card.set_encryption_key(BoxKey::Generate().public_key);
  thief_card.set_transport_key(BoxKey::Generate().public_key);
  const std::string thief_path = dir.path() + "/thief.card";
  std::ofstream(thief_path) << Armor(kCardArmorType,
                                     SignRotatedCard(thief_card, stolen->signing(),
                                                     stolen->signed_card(), stolen->signing()));
  auto r = b.Cli({"peer", "add", thief_path, "--fingerprint", a.fingerprint()});
  ASSERT_EQ(r.exit_code, 0) << r.err;  // it chains: the partner cannot tell
  EXPECT_EQ(PeerCardSequence(b, "victim"), 2u);

  a.Start();
  b.Start();
  r = a.Cli({"keys", "rotate", "--identity"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string card_path = dir.path() + "/victim-2.card";
  std::ofstream(card_path) << a.Cli({"id", "export"}).out;
  r = b.Cli({"peer", "add", card_path, "--fingerprint", a.fingerprint()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("moved to its pre-committed key"), std::string::npos) << r.out;
  // The thief cannot put its card back.
  r = b.Cli({"peer", "add", thief_path, "--fingerprint", a.fingerprint()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("does not chain to the card trusted for it"), std::string::npos) << r.err;

  const std::string to_b = a.Send({"--to", "partner", "--subject", "s", "--body", "recovered"});
  const std::string to_a = b.Send({"--to", "victim", "--subject", "s", "--body", "welcome back"});
  EXPECT_TRUE(a.WaitOutboxState(to_b, "delivered")) << a.Log() << b.Log();
  EXPECT_TRUE(b.WaitOutboxState(to_a, "delivered")) << a.Log() << b.Log();
}

}  // namespace
}  // namespace rogatory::test
