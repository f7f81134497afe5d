// Signed directories (docs/protocol.md 26): the format and its checks
// (keys/directory.h), pinning an authority and importing its directories
// into a roster (node/directory.h), with a real store in a temporary
// directory.
#include "keys/directory.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "keys/armor.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"
#include "node/directory.h"
#include "node/store.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

constexpr int64_t kNow = 1'700'000'000'000'000;
constexpr int64_t kFrom = 2'000'000;
constexpr int64_t kUntil = 4'102'444'800LL * 1'000'000;

using Lines = std::vector<DirectoryImportReport::Line>;

Identity Rotate(const Identity& id, bool new_identity) {
  auto r = id.Rotated(new_identity, kFrom, kUntil);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

VerifiedCard Verified(const std::string& signed_card) {
  auto r = VerifyCard(signed_card);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

SigningKey RandomSigningKey() { return SigningKey::FromSeed(SecretBytes::From(RandomBytes(32))); }

// The successor of `id`'s card as a forger would write it: the same fields
// with the next sequence and fresh encryption and transport keys.
wire::Card NextCard(const Identity& id) {
  wire::Card c = id.card();
  c.set_sequence(id.card().sequence() + 1);
  c.set_encryption_key(BoxKey::Generate().public_key);
  c.set_transport_key(BoxKey::Generate().public_key);
  return c;
}

// A same-key successor of `id`'s card that `id`'s own key signs, but that
// is not the card `id` rotated to: a sibling of Rotate(id, false), as a
// thief of the current identity key could make.
std::string SiblingCard(const Identity& id) {
  return SignRotatedCard(NextCard(id), id.signing(), id.signed_card(), id.signing());
}

// A node whose card expired before kNow.
Identity ExpiredIdentity(const std::string& node_id) {
  EXPECT_TRUE(InitCrypto().ok());
  auto r = Identity::Generate(
      {node_id, "Authority " + node_id, "FR", {"tcp://127.0.0.1:7000"}, 1'000'000, kNow - 1});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

wire::DirectoryEntry* AddEntry(wire::Directory* d, const std::string& signed_card) {
  auto* e = d->add_entries();
  e->set_fingerprint(Verified(signed_card).fingerprint);
  e->set_card(signed_card);
  return e;
}

// Directory `sequence` of `authority` listing `cards` (serialized SignedCards).
wire::Directory MakeDirectory(const Identity& authority, uint64_t sequence,
                              const std::vector<std::string>& cards) {
  wire::Directory d;
  d.set_version(1);
  d.set_authority_card(authority.signed_card());
  d.set_sequence(sequence);
  d.set_issued_at(kNow);
  for (const auto& c : cards) AddEntry(&d, c);
  return d;
}

void AddRemoval(wire::Directory* d, const std::string& fingerprint, int64_t at,
                const std::string& reason = "") {
  auto* rm = d->add_removals();
  rm->set_fingerprint(fingerprint);
  rm->set_revoked_at(at);
  rm->set_reason(reason);
}

wire::Revocation RevocationOf(const Identity& id, int64_t at, const std::string& reason) {
  wire::Revocation r;
  r.set_version(1);
  r.set_node(id.fingerprint());
  r.set_signing_key(id.signing().public_key);
  r.set_card_sequence(id.card().sequence());
  r.set_revoked_at(at);
  r.set_reason(reason);
  return r;
}

// `id`'s own signed revocation of its identity key.
std::string Revoke(const Identity& id, int64_t at = kNow - 10, const std::string& reason = "") {
  return SignRevocation(RevocationOf(id, at, reason), id.signing());
}

// A SignedDirectory whose body is exactly `body`, signed by `key`.
std::string SignBody(const std::string& body, const SigningKey& key,
                     const char* label = labels::kDirectory) {
  wire::SignedDirectory sd;
  sd.set_directory(body);
  sd.set_signature(Sign(key, label, body));
  return SerializeCanonical(sd);
}

void ExpectRefused(const std::string& signed_directory, Code code) {
  auto r = VerifyDirectory(signed_directory);
  ASSERT_FALSE(r.ok()) << "a bad directory verified";
  EXPECT_EQ(r.error().code, code) << r.error().message;
}

std::vector<std::string> Ids(const Lines& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.node_id);
  return out;
}

// ---------------------------------------------------------------- format

TEST(DirectoryTest, ADirectorySignedByItsAuthorityVerifiesWithItsEntriesInOrder) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  const Identity b = test::NewIdentity("de-bka");
  const Identity c = test::NewIdentity("es-an");
  const Identity gone = test::NewIdentity("it-gone");
  wire::Directory d =
      MakeDirectory(authority, 7, {b.signed_card(), a.signed_card(), c.signed_card()});
  AddRemoval(&d, gone.fingerprint(), kNow - 5, "left the network");
  d.add_revocations(Revoke(gone));
  const std::string signed_dir = SignDirectory(d, authority.signing());

  auto r = VerifyDirectory(signed_dir);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->signed_bytes, signed_dir);
  EXPECT_EQ(r->authority.fingerprint, authority.fingerprint());
  EXPECT_EQ(r->authority.signed_bytes, authority.signed_card());
  EXPECT_EQ(r->authority.card.node_id(), "eu-directory");
  EXPECT_EQ(r->directory.sequence(), 7u);
  EXPECT_EQ(r->directory.issued_at(), kNow);
  ASSERT_EQ(r->cards.size(), 3u);
  const Identity* order[] = {&b, &a, &c};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r->cards[i].card.node_id(), order[i]->card().node_id()) << i;
    EXPECT_EQ(r->cards[i].fingerprint, order[i]->fingerprint()) << i;
    EXPECT_EQ(r->cards[i].signed_bytes, order[i]->signed_card()) << i;
  }
  ASSERT_EQ(r->directory.removals_size(), 1);
  EXPECT_EQ(r->directory.removals(0).fingerprint(), gone.fingerprint());
  EXPECT_EQ(r->directory.removals(0).reason(), "left the network");
  ASSERT_EQ(r->directory.revocations_size(), 1);

  // The armored form carries the same bytes.
  const std::string text = Armor(kDirectoryArmorType, signed_dir);
  auto armored = VerifyArmoredDirectory(text);
  ASSERT_TRUE(armored.ok()) << armored.error().message;
  EXPECT_EQ(armored->signed_bytes, signed_dir);
  ASSERT_EQ(armored->cards.size(), 3u);
  EXPECT_EQ(armored->cards[0].fingerprint, b.fingerprint());
  // ...and only under its own armor type.
  auto wrong_type = VerifyArmoredDirectory(Armor(kCardArmorType, signed_dir));
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().code, Code::kInvalidArgument);
}

TEST(DirectoryTest, AnEmptyDirectoryVerifies) {
  const Identity authority = test::NewIdentity("eu-directory");
  auto r = VerifyDirectory(SignDirectory(MakeDirectory(authority, 1, {}), authority.signing()));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->cards.empty());
}

TEST(DirectoryTest, ADirectoryOfARotatedAuthorityVerifiesWithItsNewKey) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity rotated = Rotate(authority, /*new_identity=*/true);
  const Identity a = test::NewIdentity("fr-pnat");
  auto r = VerifyDirectory(
      SignDirectory(MakeDirectory(rotated, 1, {a.signed_card()}), rotated.signing()));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->authority.fingerprint, authority.fingerprint());
  EXPECT_EQ(r->authority.card.sequence(), 2u);
  // The new card carries the old key in its chain, but the directory must be
  // signed by the key of the card it carries.
  ExpectRefused(SignDirectory(MakeDirectory(rotated, 1, {a.signed_card()}), authority.signing()),
                Code::kUnauthenticated);
}

TEST(DirectoryTest, SignatureByAnotherKeyIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity other = test::NewIdentity("de-bka");
  const Identity a = test::NewIdentity("fr-pnat");
  const wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  ExpectRefused(SignDirectory(d, RandomSigningKey()), Code::kUnauthenticated);
  // Another real node's key, over the authority's card.
  ExpectRefused(SignDirectory(d, other.signing()), Code::kUnauthenticated);
  // A listed node's key.
  ExpectRefused(SignDirectory(d, a.signing()), Code::kUnauthenticated);
  // The right key under another label (a card signature is no directory's).
  ExpectRefused(SignBody(SerializeCanonical(d), authority.signing(), labels::kCard),
                Code::kUnauthenticated);
  // No signature at all.
  wire::SignedDirectory sd;
  sd.set_directory(SerializeCanonical(d));
  ExpectRefused(SerializeCanonical(sd), Code::kUnauthenticated);
}

TEST(DirectoryTest, AnyFlippedByteOfTheSignedBodyOrSignatureIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  wire::Directory d = MakeDirectory(authority, 3, {a.signed_card()});
  AddRemoval(&d, std::string(kFingerprintBytes, 'x'), kNow, "r");
  const std::string body = SerializeCanonical(d);
  const std::string signature = Sign(authority.signing(), labels::kDirectory, body);
  auto with = [](const std::string& b, const std::string& s) {
    wire::SignedDirectory sd;
    sd.set_directory(b);
    sd.set_signature(s);
    return SerializeCanonical(sd);
  };
  ASSERT_TRUE(VerifyDirectory(with(body, signature)).ok());  // sanity
  for (size_t i = 0; i < body.size(); ++i) {
    std::string flipped = body;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(VerifyDirectory(with(flipped, signature)).ok()) << "body byte " << i;
  }
  for (size_t i = 0; i < signature.size(); ++i) {
    std::string flipped = signature;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x80);
    auto r = VerifyDirectory(with(body, flipped));
    ASSERT_FALSE(r.ok()) << "signature byte " << i;
    EXPECT_EQ(r.error().code, Code::kUnauthenticated);
  }
}

TEST(DirectoryTest, AnEntryNamingAnotherNodesFingerprintIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  const Identity b = test::NewIdentity("de-bka");
  wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  AddEntry(&d, b.signed_card())->set_fingerprint(a.fingerprint());
  ExpectRefused(SignDirectory(d, authority.signing()), Code::kUnauthenticated);
  // Alone, too (not caught as a duplicate).
  wire::Directory alone = MakeDirectory(authority, 1, {});
  AddEntry(&alone, b.signed_card())->set_fingerprint(a.fingerprint());
  ExpectRefused(SignDirectory(alone, authority.signing()), Code::kUnauthenticated);
  // The fingerprint of the card's current identity key, not its first one.
  const Identity b2 = Rotate(b, /*new_identity=*/true);
  wire::Directory current_key = MakeDirectory(authority, 1, {});
  AddEntry(&current_key, b2.signed_card())->set_fingerprint(FingerprintOf(b2.signing().public_key));
  ExpectRefused(SignDirectory(current_key, authority.signing()), Code::kUnauthenticated);
  // No fingerprint at all.
  wire::Directory empty_fp = MakeDirectory(authority, 1, {});
  AddEntry(&empty_fp, b.signed_card())->clear_fingerprint();
  ExpectRefused(SignDirectory(empty_fp, authority.signing()), Code::kUnauthenticated);
}

TEST(DirectoryTest, AnEntryWithAForgedOrInvalidCardIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  auto refused_with = [&](const std::string& card, const std::string& fp, Code code) {
    wire::Directory d = MakeDirectory(authority, 1, {});
    auto* e = d.add_entries();
    e->set_fingerprint(fp);
    e->set_card(card);
    ExpectRefused(SignDirectory(d, authority.signing()), code);
  };
  // A card edited after it was signed (another endpoint).
  wire::SignedCard sc;
  ASSERT_TRUE(sc.ParseFromString(a.signed_card()));
  wire::Card edited = a.card();
  edited.set_endpoints(0, "tcp://203.0.113.9:7000");
  sc.set_card(SerializeCanonical(edited));
  refused_with(SerializeCanonical(sc), a.fingerprint(), Code::kUnauthenticated);
  // A "rotation" of a's card signed throughout by a stranger.
  const SigningKey stranger = RandomSigningKey();
  wire::Card forged = NextCard(a);
  forged.set_signing_key(stranger.public_key);
  refused_with(SignRotatedCard(forged, stranger, a.signed_card(), stranger), a.fingerprint(),
               Code::kUnauthenticated);
  // A successor whose rotation signature is a stranger's.
  refused_with(SignRotatedCard(NextCard(a), a.signing(), a.signed_card(), stranger),
               a.fingerprint(), Code::kUnauthenticated);
  // Not a card at all.
  refused_with("not a card", a.fingerprint(), Code::kInvalidArgument);
  refused_with("", a.fingerprint(), Code::kInvalidArgument);
}

TEST(DirectoryTest, ANodeListedTwiceIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  const Identity b = test::NewIdentity("de-bka");
  // The same card twice.
  ExpectRefused(SignDirectory(MakeDirectory(authority, 1,
                                            {a.signed_card(), b.signed_card(), a.signed_card()}),
                              authority.signing()),
                Code::kInvalidArgument);
  // Two cards of one node (same fingerprint): its first and its rotation.
  const Identity a2 = Rotate(a, false);
  ExpectRefused(SignDirectory(MakeDirectory(authority, 1, {a.signed_card(), a2.signed_card()}),
                              authority.signing()),
                Code::kInvalidArgument);
  // One node id with two different identities (two fingerprints).
  const Identity impostor = test::NewIdentity("fr-pnat");
  ASSERT_NE(impostor.fingerprint(), a.fingerprint());
  ExpectRefused(
      SignDirectory(MakeDirectory(authority, 1, {a.signed_card(), impostor.signed_card()}),
                    authority.signing()),
      Code::kInvalidArgument);
}

TEST(DirectoryTest, ANodeBothListedAndRemovedIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  const Identity b = test::NewIdentity("de-bka");
  wire::Directory d = MakeDirectory(authority, 1, {a.signed_card(), b.signed_card()});
  AddRemoval(&d, b.fingerprint(), kNow);
  ExpectRefused(SignDirectory(d, authority.signing()), Code::kInvalidArgument);
}

TEST(DirectoryTest, ARemovalWithAMalformedFingerprintIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  for (size_t n : {size_t{0}, kFingerprintBytes - 1, kFingerprintBytes + 1}) {
    wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
    AddRemoval(&d, std::string(n, 'f'), kNow);
    ExpectRefused(SignDirectory(d, authority.signing()), Code::kInvalidArgument);
  }
  // Sanity: the same with 20 bytes verifies.
  wire::Directory ok = MakeDirectory(authority, 1, {a.signed_card()});
  AddRemoval(&ok, std::string(kFingerprintBytes, 'f'), kNow);
  EXPECT_TRUE(VerifyDirectory(SignDirectory(ok, authority.signing())).ok());
}

TEST(DirectoryTest, AnotherVersionIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  for (uint32_t v : {0u, 2u}) {
    wire::Directory d = MakeDirectory(authority, 1, {});
    d.set_version(v);
    ExpectRefused(SignDirectory(d, authority.signing()), Code::kInvalidArgument);
  }
}

TEST(DirectoryTest, NonCanonicalEncodingAndTrailingBytesAreRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  const std::string body = SerializeCanonical(MakeDirectory(authority, 5, {a.signed_card()}));
  ASSERT_TRUE(VerifyDirectory(SignBody(body, authority.signing())).ok());  // sanity

  // Bodies the authority did sign, but not in canonical form: a field
  // repeated (sequence 6 after sequence 5; a lax parser keeps the last),
  // an unknown field, a trailing byte.
  const std::string repeated_field = body + std::string("\x18\x06", 2);
  const std::string unknown_field = body + std::string("\x78\x01", 2);
  const std::string trailing_zero = body + std::string(1, '\0');
  for (const std::string* b : {&repeated_field, &unknown_field, &trailing_zero}) {
    ExpectRefused(SignBody(*b, authority.signing()), Code::kInvalidArgument);
  }

  const std::string signed_dir = SignBody(body, authority.signing());
  // Trailing bytes after the SignedDirectory.
  ExpectRefused(signed_dir + std::string(1, '\0'), Code::kInvalidArgument);
  ExpectRefused(signed_dir + std::string("\x78\x01", 2), Code::kInvalidArgument);
  // The signature field repeated (a lax parser keeps the last, valid one).
  wire::SignedDirectory sd;
  ASSERT_TRUE(sd.ParseFromString(signed_dir));
  std::string twice;
  {
    wire::SignedDirectory first;
    first.set_directory(sd.directory());
    first.set_signature(std::string(64, '\0'));
    wire::SignedDirectory second;
    second.set_signature(sd.signature());
    twice = SerializeCanonical(first) + SerializeCanonical(second);
  }
  ExpectRefused(twice, Code::kInvalidArgument);
  // Garbage.
  ExpectRefused("", Code::kInvalidArgument);
  ExpectRefused("\xff\xff\xff", Code::kInvalidArgument);
}

TEST(DirectoryTest, AForgedAuthorityCardIsRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  // The authority's card edited after signing (another name), the
  // directory correctly signed by the authority's key.
  wire::SignedCard sc;
  ASSERT_TRUE(sc.ParseFromString(authority.signed_card()));
  wire::Card edited = authority.card();
  edited.set_authority("Someone Else");
  sc.set_card(SerializeCanonical(edited));
  wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  d.set_authority_card(SerializeCanonical(sc));
  ExpectRefused(SignDirectory(d, authority.signing()), Code::kUnauthenticated);

  // A "rotated" authority card a stranger signed, and the directory signed
  // by the stranger.
  const SigningKey stranger = RandomSigningKey();
  wire::Card forged = NextCard(authority);
  forged.set_signing_key(stranger.public_key);
  wire::Directory d2 = MakeDirectory(authority, 1, {a.signed_card()});
  d2.set_authority_card(SignRotatedCard(forged, stranger, authority.signed_card(), stranger));
  ExpectRefused(SignDirectory(d2, stranger), Code::kUnauthenticated);

  // No authority card.
  wire::Directory d3 = MakeDirectory(authority, 1, {a.signed_card()});
  d3.clear_authority_card();
  EXPECT_FALSE(VerifyDirectory(SignDirectory(d3, authority.signing())).ok());
}

// ---------------------------------------------------------------- import

class DirectoryImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-directory-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto s = Store::Open(dir + "/store.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store = std::move(s).value();
  }
  void TearDown() override {
    store.reset();
    std::filesystem::remove_all(dir);
  }

  // A node whose revocations Snapshot() watches.
  Identity Node(const std::string& id) {
    Identity n = test::NewIdentity(id);
    watched.push_back(n.fingerprint());
    return n;
  }

  void Trust(const Identity& authority) {
    auto r = TrustDirectoryAuthority(*store, Verified(authority.signed_card()), kNow);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  void AddManual(const Identity& id) {
    auto s = store->AddPeer(PeerRowFromCard(Verified(id.signed_card()), "manual", kNow - 100));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }

  static VerifiedDirectory Signed(const wire::Directory& d, const Identity& authority) {
    auto r = VerifyDirectory(SignDirectory(d, authority.signing()));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return std::move(r).value();
  }

  Result<DirectoryImportReport> Import(const VerifiedDirectory& d, int64_t now = kNow) {
    return ImportDirectory(*store, d, own.fingerprint(), now);
  }

  // Imports, expecting success.
  DirectoryImportReport Imported(const wire::Directory& d, const Identity& authority) {
    auto r = Import(Signed(d, authority));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : DirectoryImportReport{};
  }

  void ExpectImportRefused(const wire::Directory& d, const Identity& authority, Code code) {
    const std::string before = Snapshot();
    auto r = Import(Signed(d, authority));
    ASSERT_FALSE(r.ok()) << "the import succeeded";
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_EQ(Snapshot(), before) << "a refused import changed the store";
    EXPECT_FALSE(store->in_transaction());
  }

  std::optional<PeerRow> Peer(const std::string& node_id) {
    auto peers = store->ListPeers();
    EXPECT_TRUE(peers.ok());
    if (!peers.ok()) return std::nullopt;
    for (auto& p : *peers) {
      if (p.node_id == node_id) return p;
    }
    return std::nullopt;
  }

  std::vector<std::string> RosterIds() {
    std::vector<std::string> out;
    auto peers = store->ListPeers();
    EXPECT_TRUE(peers.ok());
    if (peers.ok()) {
      for (const auto& p : *peers) out.push_back(p.node_id);
    }
    return out;
  }

  std::optional<DirectoryAuthorityRow> Authority(const std::string& fingerprint) {
    auto rows = store->DirectoryAuthorities();
    EXPECT_TRUE(rows.ok());
    if (!rows.ok()) return std::nullopt;
    for (auto& a : *rows) {
      if (a.fingerprint == fingerprint) return a;
    }
    return std::nullopt;
  }

  std::vector<std::string> RevocationsOf(const std::string& fingerprint) {
    auto r = store->Revocations(fingerprint);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<std::string>{};
  }

  // Everything an import may change: the roster, the pinned authorities
  // and what was imported from them, the watched nodes' revocations.
  std::string Snapshot() {
    std::string out;
    auto peers = store->ListPeers();
    EXPECT_TRUE(peers.ok());
    if (peers.ok()) {
      for (const auto& p : *peers) {
        out += "peer " + p.node_id + " " + ToHex(p.fingerprint) + " " + ToHex(Sha256(p.card)) +
               " " + std::to_string(p.card_sequence) + " " + ToHex(p.transport_key) + " " +
               p.source + " " + std::to_string(p.added_at) + " " +
               (p.revoked_at ? std::to_string(*p.revoked_at) : "-") + "\n";
      }
    }
    auto auths = store->DirectoryAuthorities();
    EXPECT_TRUE(auths.ok());
    if (auths.ok()) {
      for (const auto& a : *auths) {
        out += "authority " + ToHex(a.fingerprint) + " " + a.node_id + " " + ToHex(Sha256(a.card)) +
               " " + std::to_string(a.sequence) + " " + ToHex(a.directory_sha256) + "\n";
      }
    }
    for (const auto& fp : watched) {
      for (const auto& r : RevocationsOf(fp)) out += "revocation " + ToHex(Sha256(r)) + "\n";
    }
    return out;
  }

  std::string dir;
  std::unique_ptr<Store> store;
  std::vector<std::string> watched;
  const Identity own = test::NewIdentity("fr-own");
};

TEST_F(DirectoryImportTest, ADirectoryFromAnAuthorityNotTrustedIsRefused) {
  const Identity authority = Node("eu-directory");
  const Identity other = Node("un-directory");
  const Identity a = Node("fr-pnat");
  const wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  ExpectImportRefused(d, authority, Code::kFailedPrecondition);
  EXPECT_TRUE(RosterIds().empty());

  // Trusting another authority does not trust this one.
  Trust(other);
  ExpectImportRefused(d, authority, Code::kFailedPrecondition);
  // Nor does an authority with the same node id but another identity key.
  const Identity lookalike = Node("eu-directory");
  Trust(lookalike);
  ExpectImportRefused(d, authority, Code::kFailedPrecondition);
  EXPECT_TRUE(RosterIds().empty());
}

TEST_F(DirectoryImportTest, ATrustedAuthoritysCardsAreAddedWithItsSource) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  Trust(authority);
  const VerifiedDirectory vd =
      Signed(MakeDirectory(authority, 4, {a.signed_card(), b.signed_card()}), authority);
  auto r = Import(vd);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->authority, "eu-directory");
  EXPECT_EQ(r->fingerprint, authority.fingerprint());
  EXPECT_EQ(r->sequence, 4u);
  EXPECT_FALSE(r->already_imported);
  EXPECT_FALSE(r->authority_rotated);
  EXPECT_EQ(Ids(r->added), (std::vector<std::string>{"fr-pnat", "de-bka"}));
  ASSERT_EQ(r->added.size(), 2u);
  EXPECT_EQ(r->added[0].fingerprint, a.fingerprint());
  EXPECT_TRUE(r->updated.empty());
  EXPECT_TRUE(r->unchanged.empty());
  EXPECT_TRUE(r->kept.empty());
  EXPECT_TRUE(r->refused.empty());
  EXPECT_TRUE(r->revoked.empty());
  EXPECT_TRUE(r->unlisted.empty());

  const std::string source = DirectorySource(authority.fingerprint());
  for (const Identity* n : {&a, &b}) {
    auto p = Peer(n->card().node_id());
    ASSERT_TRUE(p.has_value()) << n->card().node_id();
    EXPECT_EQ(p->source, source);
    EXPECT_EQ(p->fingerprint, n->fingerprint());
    EXPECT_EQ(p->card, n->signed_card());
    EXPECT_EQ(p->card_sequence, 1u);
    EXPECT_EQ(p->transport_key, n->transport().public_key);
    EXPECT_FALSE(p->revoked_at.has_value());
  }
  // The import is recorded against the authority.
  auto row = Authority(authority.fingerprint());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->sequence, 4u);
  EXPECT_EQ(row->directory_sha256, Sha256(vd.signed_bytes));
  EXPECT_EQ(row->imported_at, std::optional<int64_t>(kNow));
  EXPECT_EQ(row->card, authority.signed_card());
}

TEST_F(DirectoryImportTest, ThisNodesOwnCardIsNotAdded) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  const auto r =
      Imported(MakeDirectory(authority, 1, {own.signed_card(), a.signed_card()}), authority);
  EXPECT_EQ(Ids(r.added), std::vector<std::string>{"fr-pnat"});
  for (const Lines* l : {&r.updated, &r.unchanged, &r.kept, &r.refused, &r.revoked, &r.unlisted}) {
    EXPECT_TRUE(l->empty());
  }
  EXPECT_EQ(RosterIds(), std::vector<std::string>{"fr-pnat"});
  EXPECT_FALSE(Peer("fr-own").has_value());
  // Nor its rotated card later, nor reported as unlisted when it goes.
  const auto r2 = Imported(
      MakeDirectory(authority, 2, {Rotate(own, false).signed_card(), a.signed_card()}), authority);
  EXPECT_TRUE(r2.added.empty());
  EXPECT_TRUE(r2.updated.empty());
  EXPECT_TRUE(r2.refused.empty());
  const auto r3 = Imported(MakeDirectory(authority, 3, {a.signed_card()}), authority);
  EXPECT_TRUE(r3.unlisted.empty());
  EXPECT_EQ(RosterIds(), std::vector<std::string>{"fr-pnat"});
}

TEST_F(DirectoryImportTest, AnExpiredCardIsRefusedAndReported) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity old = ExpiredIdentity("it-old");
  ASSERT_TRUE(VerifyCard(old.signed_card()).ok());  // valid, only expired
  Trust(authority);
  const auto r =
      Imported(MakeDirectory(authority, 1, {old.signed_card(), a.signed_card()}), authority);
  EXPECT_EQ(Ids(r.added), std::vector<std::string>{"fr-pnat"});
  ASSERT_EQ(r.refused.size(), 1u);
  EXPECT_EQ(r.refused[0].node_id, "it-old");
  EXPECT_EQ(r.refused[0].fingerprint, old.fingerprint());
  EXPECT_FALSE(r.refused[0].detail.empty());
  EXPECT_FALSE(Peer("it-old").has_value());
  // The same card imported at a time it was still valid is taken.
  auto earlier =
      Import(Signed(MakeDirectory(authority, 2, {old.signed_card()}), authority), kNow - 1'000'000);
  ASSERT_TRUE(earlier.ok()) << earlier.error().message;
  EXPECT_EQ(Ids(earlier->added), std::vector<std::string>{"it-old"});
}

TEST_F(DirectoryImportTest, AnOlderDirectoryIsRefusedAsARollback) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  Trust(authority);
  const wire::Directory d1 = MakeDirectory(authority, 1, {a.signed_card(), b.signed_card()});
  const wire::Directory d2 = MakeDirectory(authority, 2, {a.signed_card()});
  const VerifiedDirectory v1 = Signed(d1, authority);  // signed before d2 was imported
  (void)Imported(d2, authority);
  const std::string before = Snapshot();
  auto r = Import(v1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_FALSE(Peer("de-bka").has_value());
  EXPECT_EQ(Authority(authority.fingerprint())->sequence, 2u);
}

TEST_F(DirectoryImportTest, TheSameDirectoryAgainChangesNothing) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  const VerifiedDirectory v = Signed(MakeDirectory(authority, 2, {a.signed_card()}), authority);
  auto first = Import(v);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->already_imported);
  // Someone revokes the peer by hand meanwhile; the repeat must not touch it.
  ASSERT_TRUE(store->RevokePeer("fr-pnat", kNow + 1).ok());
  const std::string before = Snapshot();
  auto again = Import(v, kNow + 5);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(again->already_imported);
  EXPECT_EQ(again->sequence, 2u);
  for (const Lines* l : {&again->added, &again->updated, &again->unchanged, &again->kept,
                         &again->refused, &again->revoked, &again->unlisted}) {
    EXPECT_TRUE(l->empty());
  }
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(Authority(authority.fingerprint())->imported_at, std::optional<int64_t>(kNow));
}

TEST_F(DirectoryImportTest, AnotherDirectoryWithTheSameSequenceIsRefused) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 2, {a.signed_card()}), authority);
  ExpectImportRefused(MakeDirectory(authority, 2, {a.signed_card(), b.signed_card()}), authority,
                      Code::kFailedPrecondition);
  // Even when only the issue time differs.
  wire::Directory later = MakeDirectory(authority, 2, {a.signed_card()});
  later.set_issued_at(kNow + 1);
  ExpectImportRefused(later, authority, Code::kFailedPrecondition);
  EXPECT_FALSE(Peer("de-bka").has_value());
  // The next sequence is taken.
  const auto r =
      Imported(MakeDirectory(authority, 3, {a.signed_card(), b.signed_card()}), authority);
  EXPECT_EQ(Ids(r.added), std::vector<std::string>{"de-bka"});
}

TEST_F(DirectoryImportTest, AHandPinnedCardWinsOverTheDirectorysCard) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity a2 = Rotate(a, /*new_identity=*/true);
  Trust(authority);
  AddManual(a);
  const auto r = Imported(MakeDirectory(authority, 1, {a2.signed_card()}), authority);
  EXPECT_EQ(Ids(r.kept), std::vector<std::string>{"fr-pnat"});
  ASSERT_EQ(r.kept.size(), 1u);
  EXPECT_EQ(r.kept[0].fingerprint, a.fingerprint());
  EXPECT_TRUE(r.added.empty());
  EXPECT_TRUE(r.updated.empty());
  EXPECT_TRUE(r.refused.empty());
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->card_sequence, 1u);
  EXPECT_EQ(p->card, a.signed_card());
  EXPECT_EQ(p->source, "manual");
  EXPECT_FALSE(p->revoked_at.has_value());
  // The directory later stops listing it: a hand-pinned peer is not its to
  // report as unlisted.
  const auto r2 = Imported(MakeDirectory(authority, 2, {}), authority);
  EXPECT_TRUE(r2.unlisted.empty());
  EXPECT_EQ(Peer("fr-pnat")->source, "manual");
}

TEST_F(DirectoryImportTest, AnImpostorOfARosterNodeIdIsRefused) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  const Identity impostor_a = Node("fr-pnat");  // same node id, another key
  const Identity impostor_b = Node("de-bka");
  ASSERT_NE(impostor_a.fingerprint(), a.fingerprint());
  Trust(authority);
  AddManual(a);
  (void)Imported(MakeDirectory(authority, 1, {b.signed_card()}), authority);  // from a directory
  const std::string before = Snapshot();
  const auto r = Imported(
      MakeDirectory(authority, 2, {impostor_a.signed_card(), impostor_b.signed_card()}), authority);
  EXPECT_EQ(Ids(r.refused), (std::vector<std::string>{"fr-pnat", "de-bka"}));
  ASSERT_EQ(r.refused.size(), 2u);
  EXPECT_EQ(r.refused[0].fingerprint, impostor_a.fingerprint());
  EXPECT_EQ(r.refused[1].fingerprint, impostor_b.fingerprint());
  EXPECT_TRUE(r.added.empty());
  EXPECT_TRUE(r.updated.empty());
  auto pa = Peer("fr-pnat");
  auto pb = Peer("de-bka");
  ASSERT_TRUE(pa && pb);
  EXPECT_EQ(pa->fingerprint, a.fingerprint());
  EXPECT_EQ(pa->card, a.signed_card());
  EXPECT_EQ(pa->source, "manual");
  EXPECT_EQ(pb->fingerprint, b.fingerprint());
  EXPECT_EQ(pb->card, b.signed_card());
  EXPECT_FALSE(pa->revoked_at.has_value());
  EXPECT_FALSE(pb->revoked_at.has_value());
  // Only the authority's import record moved on; the roster is as it was.
  std::string roster_before = before.substr(0, before.find("authority "));
  std::string now = Snapshot();
  EXPECT_EQ(now.substr(0, now.find("authority ")), roster_before);
}

TEST_F(DirectoryImportTest, ADirectoryPeerIsUpdatedAlongItsChainOnly) {
  const Identity authority = Node("eu-directory");
  const Identity a1 = Node("fr-pnat");
  const Identity a2 = Rotate(a1, /*new_identity=*/true);
  Trust(authority);
  const std::string source = DirectorySource(authority.fingerprint());

  auto r1 = Imported(MakeDirectory(authority, 1, {a1.signed_card()}), authority);
  EXPECT_EQ(Ids(r1.added), std::vector<std::string>{"fr-pnat"});

  auto r2 = Imported(MakeDirectory(authority, 2, {a2.signed_card()}), authority);
  EXPECT_EQ(Ids(r2.updated), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r2.added.empty());
  EXPECT_TRUE(r2.refused.empty());
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->card_sequence, 2u);
  EXPECT_EQ(p->card, a2.signed_card());
  EXPECT_EQ(p->signing_key, a2.signing().public_key);
  EXPECT_EQ(p->transport_key, a2.transport().public_key);
  EXPECT_EQ(p->source, source);

  // The old card again: the roster holds a newer one.
  auto r3 = Imported(MakeDirectory(authority, 3, {a1.signed_card()}), authority);
  EXPECT_EQ(Ids(r3.unchanged), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r3.updated.empty());
  EXPECT_TRUE(r3.refused.empty());
  EXPECT_EQ(Peer("fr-pnat")->card, a2.signed_card());

  // The same card again.
  auto r4 = Imported(MakeDirectory(authority, 4, {a2.signed_card()}), authority);
  EXPECT_EQ(Ids(r4.unchanged), std::vector<std::string>{"fr-pnat"});
  EXPECT_EQ(Peer("fr-pnat")->card, a2.signed_card());
}

TEST_F(DirectoryImportTest, ASuccessorNotChainedToTheHeldCardIsRefused) {
  const Identity authority = Node("eu-directory");
  const Identity a1 = Node("fr-pnat");                    // K0
  const Identity a2 = Rotate(a1, /*new_identity=*/true);  // K1
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a1.signed_card()}), authority);
  (void)Imported(MakeDirectory(authority, 2, {a2.signed_card()}), authority);
  // A thief of the retired key K0 forks at sequence 2 and 3: a chain of its
  // own, with the node's fingerprint, that does not hold the card trusted.
  const std::string fork2 = SiblingCard(a1);
  wire::Card c3 = NextCard(a1);
  c3.set_sequence(3);
  const std::string fork3 = SignRotatedCard(c3, a1.signing(), fork2, a1.signing());
  ASSERT_EQ(Verified(fork3).fingerprint, a1.fingerprint());
  const std::string before = Snapshot();
  auto r = Imported(MakeDirectory(authority, 3, {fork3}), authority);
  EXPECT_EQ(Ids(r.refused), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r.updated.empty());
  EXPECT_TRUE(r.unchanged.empty());
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->card, a2.signed_card());
  EXPECT_EQ(p->card_sequence, 2u);
  EXPECT_FALSE(p->revoked_at.has_value());

  // A same-key sibling of the held card (same sequence, other keys).
  const Identity b1 = Node("de-bka");
  const Identity b2 = Rotate(b1, /*new_identity=*/false);
  (void)Imported(MakeDirectory(authority, 4, {a2.signed_card(), b2.signed_card()}), authority);
  auto rs = Imported(MakeDirectory(authority, 5, {a2.signed_card(), SiblingCard(b1)}), authority);
  EXPECT_EQ(Ids(rs.refused), std::vector<std::string>{"de-bka"});
  EXPECT_EQ(Peer("de-bka")->card, b2.signed_card());
}

TEST_F(DirectoryImportTest, TheOwnersRecoveryReplacesAThiefsCardsFromADirectory) {
  const Identity authority = Node("eu-directory");
  const Identity a1 = Node("fr-pnat");  // K0, commits to K1
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a1.signed_card()}), authority);
  // A thief of K0 issues same-key cards 2 and 3 with keys of its own; they
  // chain, so the directory update takes them.
  const std::string t2 = SiblingCard(a1);
  wire::Card c3 = NextCard(a1);
  c3.set_sequence(3);
  const std::string t3 = SignRotatedCard(c3, a1.signing(), t2, a1.signing());
  auto rt = Imported(MakeDirectory(authority, 2, {t3}), authority);
  ASSERT_EQ(Ids(rt.updated), std::vector<std::string>{"fr-pnat"});
  EXPECT_EQ(Peer("fr-pnat")->card_sequence, 3u);
  // The owner moves to the committed key K1 (sequence 2): it wins.
  const Identity owner = Rotate(a1, /*new_identity=*/true);
  auto ro = Imported(MakeDirectory(authority, 3, {owner.signed_card()}), authority);
  EXPECT_EQ(Ids(ro.updated), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(ro.refused.empty());
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->card, owner.signed_card());
  EXPECT_EQ(p->card_sequence, 2u);
  EXPECT_EQ(p->signing_key, owner.signing().public_key);
  // The thief's card back is refused.
  auto rb = Imported(MakeDirectory(authority, 4, {t3}), authority);
  EXPECT_EQ(Ids(rb.refused), std::vector<std::string>{"fr-pnat"});
  EXPECT_EQ(Peer("fr-pnat")->card, owner.signed_card());
}

TEST_F(DirectoryImportTest, ANodesOwnRevocationRevokesItEvenWhenPinnedByHand) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");  // hand-pinned
  const Identity b = Node("de-bka");   // from the directory
  const Identity c = Node("es-an");    // from the directory, stays
  Trust(authority);
  AddManual(a);
  (void)Imported(MakeDirectory(authority, 1, {b.signed_card(), c.signed_card()}), authority);
  const std::string rev_a = Revoke(a, kNow - 50, "key stolen");
  const std::string rev_b = Revoke(b, kNow - 40);
  wire::Directory d = MakeDirectory(authority, 2, {b.signed_card(), c.signed_card()});
  d.add_revocations(rev_a);
  d.add_revocations(rev_b);
  const auto r = Imported(d, authority);
  EXPECT_EQ(Ids(r.revoked), (std::vector<std::string>{"fr-pnat", "de-bka"}));
  auto pa = Peer("fr-pnat");
  auto pb = Peer("de-bka");
  auto pc = Peer("es-an");
  ASSERT_TRUE(pa && pb && pc);
  EXPECT_EQ(pa->revoked_at, std::optional<int64_t>(kNow - 50));
  EXPECT_EQ(pb->revoked_at, std::optional<int64_t>(kNow - 40));
  EXPECT_FALSE(pc->revoked_at.has_value());
  EXPECT_EQ(pa->source, "manual");  // revoked, not re-sourced
  EXPECT_EQ(RevocationsOf(a.fingerprint()), std::vector<std::string>{rev_a});
  EXPECT_EQ(RevocationsOf(b.fingerprint()), std::vector<std::string>{rev_b});
  EXPECT_TRUE(RevocationsOf(c.fingerprint()).empty());
}

TEST_F(DirectoryImportTest, ARevocationByTheRetiredKeyOfARotatedNodeRevokesIt) {
  const Identity authority = Node("eu-directory");
  const Identity a1 = Node("fr-pnat");
  const Identity a2 = Rotate(a1, /*new_identity=*/true);
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a2.signed_card()}), authority);
  // Signed by the key of card 1, checked against the chain the roster holds.
  wire::Directory d = MakeDirectory(authority, 2, {});
  d.add_revocations(Revoke(a1));
  const auto r = Imported(d, authority);
  EXPECT_EQ(Ids(r.revoked), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(Peer("fr-pnat")->revoked_at.has_value());
}

TEST_F(DirectoryImportTest, ARevocationThatDoesNotVerifyFailsTheWholeImport) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  const Identity fresh = Node("es-an");
  Trust(authority);
  AddManual(a);
  (void)Imported(MakeDirectory(authority, 1, {b.signed_card()}), authority);
  const SigningKey stranger = RandomSigningKey();
  // The directory also lists a new node and removes b: none of it may stay.
  auto with = [&](const std::string& revocation) {
    wire::Directory d = MakeDirectory(authority, 2, {fresh.signed_card()});
    AddRemoval(&d, b.fingerprint(), kNow);
    d.add_revocations(Revoke(fresh));  // a valid one first
    d.add_revocations(revocation);
    return d;
  };
  // Signed by a stranger, naming a's key.
  ExpectImportRefused(with(SignRevocation(RevocationOf(a, kNow, ""), stranger)), authority,
                      Code::kUnauthenticated);
  // Signed by a stranger naming the stranger's key.
  wire::Revocation r = RevocationOf(a, kNow, "");
  r.set_signing_key(stranger.public_key);
  ExpectImportRefused(with(SignRevocation(r, stranger)), authority, Code::kUnauthenticated);
  // Signed by another node's real key.
  ExpectImportRefused(with(SignRevocation(RevocationOf(a, kNow, ""), b.signing())), authority,
                      Code::kUnauthenticated);
  // a's revocation with one byte of the signed body changed (the reason).
  wire::SignedRevocation sr;
  ASSERT_TRUE(sr.ParseFromString(Revoke(a, kNow, "stolen")));
  std::string body = sr.revocation();
  body.back() = static_cast<char>(body.back() ^ 0x01);
  sr.set_revocation(body);
  ExpectImportRefused(with(SerializeCanonical(sr)), authority, Code::kUnauthenticated);
  // Not a revocation at all: the directory itself does not verify.
  {
    auto v = VerifyDirectory(SignDirectory(with("not a revocation"), authority.signing()));
    ASSERT_FALSE(v.ok());
    EXPECT_EQ(v.error().code, Code::kInvalidArgument) << v.error().message;
  }

  EXPECT_FALSE(Peer("es-an").has_value());
  EXPECT_FALSE(Peer("fr-pnat")->revoked_at.has_value());
  EXPECT_FALSE(Peer("de-bka")->revoked_at.has_value());
  EXPECT_TRUE(RevocationsOf(fresh.fingerprint()).empty());
  EXPECT_TRUE(RevocationsOf(a.fingerprint()).empty());
  EXPECT_EQ(Authority(authority.fingerprint())->sequence, 1u);
}

TEST_F(DirectoryImportTest, TheAuthorityRemovesOnlyThePeersItBrought) {
  const Identity authority = Node("eu-directory");
  const Identity other = Node("un-directory");
  const Identity a = Node("fr-pnat");  // hand-pinned
  const Identity b = Node("de-bka");   // from this authority
  const Identity c = Node("es-an");    // from another authority
  const Identity unknown = Node("it-gdf");
  Trust(authority);
  Trust(other);
  AddManual(a);
  (void)Imported(MakeDirectory(authority, 1, {b.signed_card()}), authority);
  (void)Imported(MakeDirectory(other, 1, {c.signed_card()}), other);
  ASSERT_EQ(Peer("es-an")->source, DirectorySource(other.fingerprint()));

  wire::Directory d = MakeDirectory(authority, 2, {});
  AddRemoval(&d, a.fingerprint(), kNow - 3, "r-a");
  AddRemoval(&d, b.fingerprint(), kNow - 2, "left");
  AddRemoval(&d, c.fingerprint(), kNow - 1, "r-c");
  AddRemoval(&d, unknown.fingerprint(), kNow, "r-x");
  const auto r = Imported(d, authority);
  EXPECT_EQ(Ids(r.revoked), std::vector<std::string>{"de-bka"});
  EXPECT_EQ(Ids(r.kept), (std::vector<std::string>{"fr-pnat", "es-an"}));
  EXPECT_TRUE(r.unlisted.empty());  // a removed peer is not also "unlisted"
  EXPECT_EQ(Peer("de-bka")->revoked_at, std::optional<int64_t>(kNow - 2));
  EXPECT_FALSE(Peer("fr-pnat")->revoked_at.has_value());
  EXPECT_FALSE(Peer("es-an")->revoked_at.has_value());
  EXPECT_FALSE(Peer("it-gdf").has_value());
  // A removal is no signed revocation: nothing is stored for it.
  EXPECT_TRUE(RevocationsOf(b.fingerprint()).empty());
}

TEST_F(DirectoryImportTest, APeerNoLongerListedIsReportedAndKept) {
  const Identity authority = Node("eu-directory");
  const Identity other = Node("un-directory");
  const Identity a = Node("fr-pnat");
  const Identity b = Node("de-bka");
  const Identity c = Node("es-an");  // from another authority
  Trust(authority);
  Trust(other);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card(), b.signed_card()}), authority);
  (void)Imported(MakeDirectory(other, 1, {c.signed_card()}), other);
  const auto r = Imported(MakeDirectory(authority, 2, {a.signed_card()}), authority);
  EXPECT_EQ(Ids(r.unlisted), std::vector<std::string>{"de-bka"});
  ASSERT_EQ(r.unlisted.size(), 1u);
  EXPECT_EQ(r.unlisted[0].fingerprint, b.fingerprint());
  EXPECT_TRUE(r.revoked.empty());
  auto pb = Peer("de-bka");
  ASSERT_TRUE(pb.has_value());
  EXPECT_FALSE(pb->revoked_at.has_value());
  EXPECT_EQ(pb->card, b.signed_card());
  EXPECT_FALSE(Peer("es-an")->revoked_at.has_value());
}

TEST_F(DirectoryImportTest, ARevokedPeerListedWithANewerCardStaysRevoked) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card()}), authority);
  ASSERT_TRUE(store->RevokePeer("fr-pnat", kNow + 1).ok());
  const auto r = Imported(MakeDirectory(authority, 2, {Rotate(a, true).signed_card()}), authority);
  EXPECT_EQ(Ids(r.kept), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r.updated.empty());
  EXPECT_TRUE(r.added.empty());
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->revoked_at, std::optional<int64_t>(kNow + 1));
  EXPECT_EQ(p->card, a.signed_card());
  EXPECT_EQ(p->card_sequence, 1u);
}

// Fails as of writing: node/directory.cc Apply() compares the held card
// with the listed one (`held.card == card.signed_bytes` -> `unchanged`)
// before it looks at `held.revoked_at`, so a revoked peer listed again with
// the card it was revoked with is reported "unchanged", not "kept" ("revoked
// here: a directory does not restore it"). The roster is right; the report
// misleads the operator into thinking the peer is live.
TEST_F(DirectoryImportTest, ARevokedPeerListedAgainWithTheSameCardIsReportedKept) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card()}), authority);
  wire::Directory d2 = MakeDirectory(authority, 2, {});
  AddRemoval(&d2, a.fingerprint(), kNow + 1, "left");
  const auto r2 = Imported(d2, authority);
  ASSERT_EQ(Ids(r2.revoked), std::vector<std::string>{"fr-pnat"});
  // The authority lists it again with the same card.
  const auto r3 = Imported(MakeDirectory(authority, 3, {a.signed_card()}), authority);
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->revoked_at, std::optional<int64_t>(kNow + 1));  // stays revoked
  EXPECT_EQ(Ids(r3.kept), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r3.unchanged.empty());
}

// Fails as of writing (import error kAlreadyExists): node/directory.cc
// Apply() decides on the removals from the roster as read before the
// revocations loop (`row->second->revoked_at`), so a peer just revoked by
// its own revocation is revoked a second time by the authority's removal
// and Store::RevokePeer's kAlreadyExists aborts the whole import. `rogatory
// directory build --remove FP` produces exactly this directory whenever the
// authority's home holds the removed node's revocation (node/cli/main.cc
// adds the revocations of listed AND removed nodes).
TEST_F(DirectoryImportTest, ASelfRevocationAndARemovalOfTheSamePeerBothApply) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card()}), authority);
  const std::string rev = Revoke(a, kNow - 7, "key stolen");
  wire::Directory d = MakeDirectory(authority, 2, {});
  AddRemoval(&d, a.fingerprint(), kNow, "compromised");
  d.add_revocations(rev);
  auto r = Import(Signed(d, authority));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Ids(r->revoked), std::vector<std::string>{"fr-pnat"});
  auto p = Peer("fr-pnat");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->revoked_at.has_value());
  EXPECT_EQ(RevocationsOf(a.fingerprint()), std::vector<std::string>{rev});
  EXPECT_EQ(Authority(authority.fingerprint())->sequence, 2u);
}

// Fails as of writing (import error kAlreadyExists): same cause as above;
// the second revocation of one node calls Store::RevokePeer again. The
// store keeps every distinct revocation of a node (primary key (node,
// signed)) and `directory build` copies them all into the directory.
TEST_F(DirectoryImportTest, TwoRevocationsOfOneNodeInOneDirectoryApply) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card()}), authority);
  wire::Directory d = MakeDirectory(authority, 2, {a.signed_card()});
  d.add_revocations(Revoke(a, kNow - 9, "first"));
  d.add_revocations(Revoke(a, kNow - 8, "second"));
  auto r = Import(Signed(d, authority));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Ids(r->revoked), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(Peer("fr-pnat")->revoked_at.has_value());
}

// Fails as of writing: node/directory.cc Apply() revokes only peers found
// in the roster as read before the entries were added (`row ==
// by_fp.end()` -> continue), so a node the directory lists for the first
// time together with its own revocation is added live, while its
// revocation is stored. "A node's own signed revocation applies to every
// peer" (node/directory.h).
TEST_F(DirectoryImportTest, ANewlyListedNodeCarryingItsOwnRevocationIsNotLeftLive) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  d.add_revocations(Revoke(a, kNow - 7, "key stolen"));
  auto r = Import(Signed(d, authority));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(RevocationsOf(a.fingerprint()).size(), 1u);
  auto p = Peer("fr-pnat");
  EXPECT_TRUE(!p.has_value() || p->revoked_at.has_value())
      << "the roster holds a node that revoked its own key as a live peer";
}

// Fails as of writing: the "unlisted" pass uses the roster as read before
// the revocations, so a directory peer that this very import revoked (its
// own revocation) is also reported as "no longer listed: kept".
TEST_F(DirectoryImportTest, APeerRevokedByThisImportIsNotAlsoReportedUnlisted) {
  const Identity authority = Node("eu-directory");
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {a.signed_card()}), authority);
  wire::Directory d = MakeDirectory(authority, 2, {});
  d.add_revocations(Revoke(a));
  const auto r = Imported(d, authority);
  EXPECT_EQ(Ids(r.revoked), std::vector<std::string>{"fr-pnat"});
  EXPECT_TRUE(r.unlisted.empty());
}

// ---------------------------------------------------------------- authorities

TEST_F(DirectoryImportTest, TrustingAnAuthorityIsNewOnlyOnce) {
  const Identity authority = Node("eu-directory");
  const VerifiedCard card = Verified(authority.signed_card());
  auto first = TrustDirectoryAuthority(*store, card, kNow);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_TRUE(*first);
  auto again = TrustDirectoryAuthority(*store, card, kNow + 1);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_FALSE(*again);
  auto rows = store->DirectoryAuthorities();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].fingerprint, authority.fingerprint());
  EXPECT_EQ((*rows)[0].node_id, "eu-directory");
  EXPECT_EQ((*rows)[0].card, authority.signed_card());
  EXPECT_EQ((*rows)[0].trusted_at, kNow);
  EXPECT_EQ((*rows)[0].sequence, 0u);
  EXPECT_FALSE((*rows)[0].imported_at.has_value());
  // Another authority is new.
  auto other = TrustDirectoryAuthority(*store, Verified(Node("un-directory").signed_card()), kNow);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(*other);
}

TEST_F(DirectoryImportTest, TrustingARotatedAuthorityCardReplacesThePinnedOne) {
  const Identity authority = Node("eu-directory");
  const Identity rotated = Rotate(authority, /*new_identity=*/true);
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 3, {}), authority);
  auto r = TrustDirectoryAuthority(*store, Verified(rotated.signed_card()), kNow + 5);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(*r);  // not new
  auto row = Authority(authority.fingerprint());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->card, rotated.signed_card());
  EXPECT_EQ(row->sequence, 3u);  // what was imported is kept
  EXPECT_EQ(row->trusted_at, kNow);
  // The older card does not take its place back.
  auto older = TrustDirectoryAuthority(*store, Verified(authority.signed_card()), kNow + 6);
  ASSERT_TRUE(older.ok()) << older.error().message;
  EXPECT_FALSE(*older);
  EXPECT_EQ(Authority(authority.fingerprint())->card, rotated.signed_card());
}

TEST_F(DirectoryImportTest, AForgedRotationOfAPinnedAuthorityIsRefused) {
  const Identity authority = Node("eu-directory");                    // K0
  const Identity rotated = Rotate(authority, /*new_identity=*/true);  // K1
  Trust(authority);
  ASSERT_TRUE(TrustDirectoryAuthority(*store, Verified(rotated.signed_card()), kNow).ok());
  // A thief of the retired key K0 forks the authority's chain.
  auto fork = TrustDirectoryAuthority(*store, Verified(SiblingCard(authority)), kNow);
  ASSERT_FALSE(fork.ok());
  EXPECT_EQ(fork.error().code, Code::kUnauthenticated) << fork.error().message;
  EXPECT_EQ(Authority(authority.fingerprint())->card, rotated.signed_card());

  // A same-key sibling of the pinned card (a thief of the current key that
  // did not rotate).
  const Identity other = Node("un-directory");
  const Identity other2 = Rotate(other, /*new_identity=*/false);
  Trust(other2);
  auto sibling = TrustDirectoryAuthority(*store, Verified(SiblingCard(other)), kNow);
  ASSERT_FALSE(sibling.ok());
  EXPECT_EQ(Authority(other.fingerprint())->card, other2.signed_card());
}

TEST_F(DirectoryImportTest, ADirectoryOfTheRotatedAuthorityUpdatesThePinnedCard) {
  const Identity authority = Node("eu-directory");
  const Identity rotated = Rotate(authority, /*new_identity=*/true);
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(authority, 1, {}), authority);
  auto r = Import(Signed(MakeDirectory(rotated, 2, {a.signed_card()}), rotated));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->authority_rotated);
  EXPECT_EQ(r->fingerprint, authority.fingerprint());
  EXPECT_EQ(Ids(r->added), std::vector<std::string>{"fr-pnat"});
  EXPECT_EQ(Peer("fr-pnat")->source, DirectorySource(authority.fingerprint()));
  auto row = Authority(authority.fingerprint());
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->card, rotated.signed_card());
  EXPECT_EQ(row->sequence, 2u);
  // The next directory with the same card: no rotation.
  auto r3 = Import(Signed(MakeDirectory(rotated, 3, {a.signed_card()}), rotated));
  ASSERT_TRUE(r3.ok()) << r3.error().message;
  EXPECT_FALSE(r3->authority_rotated);
}

TEST_F(DirectoryImportTest, ADirectoryCarryingAForkedAuthorityCardIsRefused) {
  const Identity authority = Node("eu-directory");                    // K0
  const Identity rotated = Rotate(authority, /*new_identity=*/true);  // K1
  const Identity a = Node("fr-pnat");
  Trust(authority);
  ASSERT_TRUE(TrustDirectoryAuthority(*store, Verified(rotated.signed_card()), kNow).ok());
  // A thief of K0 forks the authority's chain and signs a directory with it.
  const std::string fork_card = SiblingCard(authority);
  wire::Directory d = MakeDirectory(authority, 1, {a.signed_card()});
  d.set_authority_card(fork_card);
  auto v = VerifyDirectory(SignDirectory(d, authority.signing()));
  ASSERT_TRUE(v.ok()) << v.error().message;  // well-formed on its own
  ASSERT_EQ(v->authority.fingerprint, authority.fingerprint());
  const std::string before = Snapshot();
  auto r = Import(*v);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnauthenticated) << r.error().message;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_FALSE(Peer("fr-pnat").has_value());
}

// After the authority moved to a new identity key, a directory signed with
// its earlier card (a thief of the retired key, with a higher sequence) is
// refused, and nothing changes.
TEST_F(DirectoryImportTest, ADirectorySignedWithTheAuthoritysRetiredCardIsRefused) {
  const Identity authority = Node("eu-directory");
  const Identity rotated = Rotate(authority, /*new_identity=*/true);
  const Identity a = Node("fr-pnat");
  Trust(authority);
  (void)Imported(MakeDirectory(rotated, 1, {}), rotated);
  const std::string before = Snapshot();
  auto r = Import(Signed(MakeDirectory(authority, 2, {a.signed_card()}), authority));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnauthenticated) << r.error().message;
  EXPECT_NE(r.error().message.find("older than the pinned card"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(Snapshot(), before);
  EXPECT_FALSE(Peer("fr-pnat").has_value());
}

// ---------------------------------------------------------------- sources

// Bounds and form checked by VerifyDirectory (found by the directory
// fuzzer's helper): sequence 0, a node removed twice, a malformed
// self-revocation.
TEST(DirectoryTest, ASequenceZeroATwiceRemovedNodeAndAMalformedRevocationAreRefused) {
  const Identity authority = test::NewIdentity("eu-directory");
  const Identity a = test::NewIdentity("fr-pnat");
  auto base = [&] {
    wire::Directory d;
    d.set_version(1);
    d.set_authority_card(authority.signed_card());
    d.set_sequence(1);
    d.set_issued_at(kNow);
    return d;
  };
  auto refused = [&](const wire::Directory& d, const std::string& why) {
    auto v = VerifyDirectory(SignDirectory(d, authority.signing()));
    ASSERT_FALSE(v.ok()) << why;
    EXPECT_EQ(v.error().code, Code::kInvalidArgument) << v.error().message;
  };
  ASSERT_TRUE(VerifyDirectory(SignDirectory(base(), authority.signing())).ok());
  wire::Directory zero = base();
  zero.set_sequence(0);
  refused(zero, "sequence 0");
  wire::Directory twice = base();
  for (int i = 0; i < 2; ++i) {
    auto* rm = twice.add_removals();
    rm->set_fingerprint(a.fingerprint());
    rm->set_revoked_at(kNow);
  }
  refused(twice, "a node removed twice");
  wire::Directory junk = base();
  junk.add_revocations("garbage");
  refused(junk, "a malformed revocation");
}

TEST(DirectorySourceTest, TheSourceNamesTheAuthoritysFingerprint) {
  const Identity authority = test::NewIdentity("eu-directory");
  const std::string source = DirectorySource(authority.fingerprint());
  EXPECT_EQ(source, "directory:" + FingerprintText(authority.fingerprint()));
  EXPECT_EQ(DirectorySourceAuthority(source), authority.fingerprint());
  EXPECT_EQ(DirectorySourceAuthority("manual"), "");
  EXPECT_EQ(DirectorySourceAuthority(""), "");
  EXPECT_EQ(DirectorySourceAuthority("directory:"), "");
  EXPECT_EQ(DirectorySourceAuthority("directory:not-a-fingerprint"), "");
  EXPECT_EQ(DirectorySourceAuthority("x" + source), "");
}

}  // namespace
}  // namespace rogatory
