#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "keys/armor.h"
#include "keys/bundle.h"
#include "keys/card.h"
#include "keys/fingerprint.h"
#include "keys/merkle.h"
#include "keys/receipt.h"
#include "keys/strict_parse.h"
#include "keys/tree_head.h"
#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

using test::NewIdentity;
using test::SimpleDraft;

// An audit log held in memory: leaf hashes straight from the entries.
class MemoryLog : public merkle::HashSource {
 public:
  explicit MemoryLog(std::vector<std::string> entries) : entries_(std::move(entries)) {}
  Result<std::string> Leaf(uint64_t index) override {
    if (index >= entries_.size()) return MakeError(Code::kNotFound, "no entry");
    return merkle::LeafHash(entries_[index]);
  }

 private:
  std::vector<std::string> entries_;
};

// The names of the failed checks, in order.
std::vector<std::string> Failed(const VerifyReport& r) {
  std::vector<std::string> out;
  for (const auto& c : r.checks) {
    if (!c.ok) out.push_back(c.name);
  }
  return out;
}

// The detail of the first check named `name` ("" if there is none).
std::string Detail(const VerifyReport& r, const std::string& name) {
  for (const auto& c : r.checks) {
    if (c.name == name) return c.detail;
  }
  return "";
}

constexpr int64_t kHeadAt = 1'700'000'002'000'000;
constexpr int64_t kWitnessedAt = 1'700'000'003'000'000;
constexpr int64_t kExportedAt = 1'700'000'001'000'000;  // 2023-11-14T22:13:21Z
const std::vector<std::string> kHeadFailed = {"tree_head", "inclusion_proof", "cosignatures"};

class BundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto bytes = SealEnvelope(a, SimpleDraft({&b}, "evidence"));
    ASSERT_TRUE(bytes.ok());
    envelope = *bytes;
    auto env = ParseEnvelope(envelope);
    auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                               a.encryption().public_key, a.signing().public_key);
    ASSERT_TRUE(opened.ok());
    key = opened->content_key.Clone();
    wire::Receipt r;
    r.set_version(1);
    r.set_message_id(env->outer.message_id());
    r.set_sender(a.fingerprint());
    r.set_recipient(b.fingerprint());
    r.set_envelope_sha256(Sha256(envelope));
    r.set_inner_sha256(opened->inner_signed_sha256);
    r.set_received_at(1'700'000'000'500'000);
    receipt = SignReceipt(r, b.signing());
    message_id = env->outer.message_id();
    sent_entry = Entry(wire::LOG_ENVELOPE_SENT, message_id, a.fingerprint(), "");
    sent_proof = Proof(a, sent_entry, kIndex, kSize, a);
    log_proof = WithCosignatures(sent_proof, {Cosignature(sent_proof, w)});
  }

  // The valid bundle: the envelope, its key, the cards of the sender, the
  // recipient and the witness, the recipient's receipt, and the envelope's
  // SENT entry in the sender's log under a head the witness countersigned,
  // exported and signed by the sender.
  BundleParts Parts() {
    BundleParts p;
    p.envelope = envelope;
    p.content_key = &key;
    p.cards = {a.signed_card(), b.signed_card(), w.signed_card()};
    p.receipts = {receipt};
    p.log_proofs = {log_proof};
    p.permission_ref = "EIO-2023-0117";
    p.exported_at_us = kExportedAt;
    p.exporter = a.fingerprint();
    p.exporter_key = &a.signing();
    return p;
  }

  // The decoded bytes of a bundle of Parts(), edited by `edit` as parsed,
  // then serialized canonically and armored again: what someone who changes
  // a field after export, keeping the exporter's signature, produces.
  std::string Edited(const std::function<void(wire::Bundle*)>& edit) {
    auto bytes = Dearmor(kBundleArmorType, MakeBundle(Parts()));
    EXPECT_TRUE(bytes.ok());
    wire::Bundle bundle;
    EXPECT_TRUE(ParseStrict(*bytes, &bundle, "bundle").ok());
    edit(&bundle);
    return Armor(kBundleArmorType, SerializeCanonical(bundle));
  }

  std::string Make(std::vector<std::string> receipts) {
    BundleParts p = Parts();
    p.receipts = std::move(receipts);
    return MakeBundle(p);
  }

  // A bundle of Parts() with `proofs` as its log proofs.
  VerifyReport VerifyWith(std::vector<std::string> proofs) {
    BundleParts p = Parts();
    p.log_proofs = std::move(proofs);
    return VerifyBundle(MakeBundle(p), "");
  }

  static std::string MakeEntry(wire::LogKind kind, const std::string& id,
                               const std::string& sender, const std::string& peer,
                               const std::string& sha256) {
    wire::LogEntry e;
    e.set_version(1);
    e.set_kind(kind);
    e.set_message_id(id);
    e.set_sender(sender);
    e.set_peer(peer);
    e.set_sha256(sha256);
    e.set_logged_at(1'700'000'000'100'000);
    return SerializeCanonical(e);
  }

  std::string Entry(wire::LogKind kind, const std::string& id, const std::string& sender,
                    const std::string& peer) {
    return MakeEntry(kind, id, sender, peer, Sha256(envelope));
  }

  // A LogProof of `entry` at `index` of a `size`-entry log of `owner` (the
  // other entries record other messages), its head signed by `signer`.
  static wire::LogProof Proof(const Identity& owner, const std::string& entry, uint64_t index,
                              uint64_t size, const Identity& signer) {
    std::vector<std::string> entries;
    for (uint64_t i = 0; i < size; ++i) {
      entries.push_back(i == index ? entry
                                   : MakeEntry(wire::LOG_ENVELOPE_SENT, "other-" + std::to_string(i),
                                               owner.fingerprint(), "", Sha256(std::to_string(i))));
    }
    MemoryLog log(entries);
    auto root = merkle::Root(log, size);
    auto path = merkle::InclusionProof(log, index, size);
    EXPECT_TRUE(root.ok() && path.ok());
    wire::TreeHead head;
    head.set_version(1);
    head.set_log(owner.fingerprint());
    head.set_size(size);
    head.set_root(*root);
    head.set_timestamp(kHeadAt);
    wire::LogProof lp;
    lp.set_entry(entry);
    lp.set_index(index);
    for (const auto& h : *path) lp.add_path(h);
    lp.set_signed_tree_head(SignTreeHead(head, signer.signing()));
    return lp;
  }

  // `witness`'s cosignature of the proof's head.
  static std::string Cosignature(const wire::LogProof& lp, const Identity& witness) {
    wire::TreeHead head;
    EXPECT_TRUE(ParseStrict(TreeHeadBytes(lp.signed_tree_head()), &head, "head").ok());
    return Cosign(lp.signed_tree_head(), head, witness.fingerprint(), witness.signing(),
                  kWitnessedAt);
  }

  static std::string WithCosignatures(wire::LogProof lp, const std::vector<std::string>& cs) {
    lp.clear_cosignatures();
    for (const auto& c : cs) lp.add_cosignatures(c);
    return SerializeCanonical(lp);
  }

  static constexpr uint64_t kIndex = 4;
  static constexpr uint64_t kSize = 7;

  Identity a = NewIdentity("sender-node");
  Identity b = NewIdentity("recipient-node");
  Identity c = NewIdentity("third-node");
  Identity w = NewIdentity("witness-node");
  std::string envelope;
  SecretBytes key;
  std::string receipt;
  std::string message_id;
  std::string sent_entry;     // the envelope's LOG_ENVELOPE_SENT entry
  wire::LogProof sent_proof;  // of sent_entry in a's log, no cosignature
  std::string log_proof;      // sent_proof with w's cosignature, serialized
};

TEST_F(BundleTest, ValidBundleVerifiesEveryCheck) {
  const VerifyReport r = VerifyBundle(Make({receipt}), FingerprintText(a.fingerprint()));
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.sender.id, "sender-node");
  EXPECT_EQ(r.sender.fingerprint, FingerprintText(a.fingerprint()));
  ASSERT_EQ(r.recipients.size(), 1u);
  EXPECT_EQ(r.recipients[0].id, "recipient-node");
  EXPECT_EQ(r.body_sha256_hex, ToHex(Sha256("evidence")));
  std::set<std::string> names;
  for (const auto& c : r.checks) {
    EXPECT_TRUE(c.ok) << c.name << ": " << c.detail;
    names.insert(c.name);
  }
  for (const char* n : {"outer_signature", "inner_signature", "receipt", "cards", "tree_head",
                        "inclusion_proof", "cosignatures", "export_signature"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
  EXPECT_EQ(r.exporter.id, "sender-node");
  EXPECT_EQ(r.exporter.fingerprint, FingerprintText(a.fingerprint()));
  EXPECT_EQ(r.permission_ref, "EIO-2023-0117");
  EXPECT_EQ(r.exported_at_us, kExportedAt);
  EXPECT_EQ(Detail(r, "export_signature"), "exported by sender-node (" +
                                               FingerprintText(a.fingerprint()) +
                                               ") at 2023-11-14T22:13:21Z");
  ASSERT_EQ(r.log_proofs.size(), 1u);
  const auto& lp = r.log_proofs[0];
  EXPECT_EQ(lp.kind, "sent");
  EXPECT_EQ(lp.log.id, "sender-node");
  EXPECT_EQ(lp.log.fingerprint, FingerprintText(a.fingerprint()));
  EXPECT_EQ(lp.index, kIndex);
  EXPECT_EQ(lp.tree_size, kSize);
  wire::TreeHead head;
  ASSERT_TRUE(ParseStrict(TreeHeadBytes(sent_proof.signed_tree_head()), &head, "head").ok());
  EXPECT_EQ(lp.root_hex, ToHex(head.root()));
  EXPECT_EQ(lp.tree_head_at_us, kHeadAt);
  ASSERT_EQ(lp.witnesses.size(), 1u);
  EXPECT_EQ(lp.witnesses[0].party.id, "witness-node");
  EXPECT_EQ(lp.witnesses[0].party.fingerprint, FingerprintText(w.fingerprint()));
  EXPECT_EQ(lp.witnesses[0].witnessed_at_us, kWitnessedAt);
  EXPECT_NE(Detail(r, "inclusion_proof").find("entry 4 of the 7-entry log of sender-node"),
            std::string::npos)
      << Detail(r, "inclusion_proof");
  EXPECT_NE(Detail(r, "cosignatures").find("witness-node"), std::string::npos);
}

TEST_F(BundleTest, AnyChangedCharacterFails) {
  const std::string text = Make({receipt});
  ASSERT_TRUE(VerifyBundle(text, "").valid);
  // Every seventh character of the armored text, changed to another base64
  // character (AnyChangedByteOfTheDecodedBundleFails covers every byte).
  for (size_t i = 0; i < text.size(); i += 7) {
    std::string t = text;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    if (t == text) continue;
    EXPECT_FALSE(VerifyBundle(t, "").valid) << "character " << i;
  }
}

TEST_F(BundleTest, ExpectedFingerprintMustMatch) {
  EXPECT_FALSE(VerifyBundle(Make({receipt}), FingerprintText(b.fingerprint())).valid);
}

TEST_F(BundleTest, ForgedReceiptsFail) {
  // Signed by someone who is not a recipient.
  wire::SignedReceipt sr;
  ASSERT_TRUE(sr.ParseFromString(receipt));
  wire::Receipt body;
  ASSERT_TRUE(body.ParseFromString(sr.receipt()));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(body, c.signing())}), "").valid);
  // Right signer, wrong envelope digest.
  wire::Receipt wrong = body;
  wrong.set_envelope_sha256(Sha256("another envelope"));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(wrong, b.signing())}), "").valid);
  // Right signer, wrong plaintext digest.
  wrong = body;
  wrong.set_inner_sha256(Sha256("another plaintext"));
  EXPECT_FALSE(VerifyBundle(Make({SignReceipt(wrong, b.signing())}), "").valid);
}

TEST_F(BundleTest, NonCanonicalBundleFails) {
  const std::string text = Make({receipt});
  auto bytes = Dearmor(kBundleArmorType, text);
  ASSERT_TRUE(bytes.ok());
  // Unsigned slack: an unknown field appended to the bundle.
  const std::string slack = Armor(kBundleArmorType, *bytes + std::string("\xf8\x07\x01", 3));
  const VerifyReport r = VerifyBundle(slack, "");
  EXPECT_FALSE(r.valid);
  // Missing the sender's card.
  BundleParts p;
  p.envelope = envelope;
  p.content_key = &key;
  p.cards = {b.signed_card()};
  p.exporter = a.fingerprint();
  p.exporter_key = &a.signing();
  EXPECT_FALSE(VerifyBundle(MakeBundle(p), "").valid);
  // Not a bundle at all.
  EXPECT_FALSE(VerifyBundle("hello", "").valid);
  EXPECT_FALSE(VerifyBundle(Armor(kCardArmorType, a.signed_card()), "").valid);
}

// Bundles exported before version 2 (no exporter signature, no log proof)
// keep verifying for the signatures and receipts they carry.
TEST_F(BundleTest, VersionOneBundlesStillVerifyButCannotCarryVersionTwoFields) {
  auto bytes = Dearmor(kBundleArmorType, MakeBundle(Parts()));
  ASSERT_TRUE(bytes.ok());
  wire::Bundle full;
  ASSERT_TRUE(full.ParseFromString(*bytes));
  EXPECT_EQ(full.version(), kBundleVersion);
  wire::Bundle old = full;
  old.set_version(1);
  old.clear_log_proofs();
  old.clear_exporter();
  old.clear_signature();
  const VerifyReport r = VerifyBundle(Armor(kBundleArmorType, SerializeCanonical(old)), "");
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_NE(Detail(r, "bundle_version").find("version 1"), std::string::npos);
  for (const auto& c : r.checks) {
    EXPECT_NE(c.name, "export_signature");
    EXPECT_NE(c.name, "inclusion_proof");
  }
  EXPECT_TRUE(r.log_proofs.empty());
  // Declaring version 1 does not let a bundle skip what it carries.
  wire::Bundle downgraded = full;
  downgraded.set_version(1);
  const VerifyReport d =
      VerifyBundle(Armor(kBundleArmorType, SerializeCanonical(downgraded)), "");
  EXPECT_FALSE(d.valid);
  EXPECT_EQ(Failed(d), std::vector<std::string>{"bundle_version"});
}

TEST_F(BundleTest, WrongContentKeyFails) {
  BundleParts p;
  p.envelope = envelope;
  SecretBytes wrong = SecretBytes::From(RandomBytes(32));
  p.content_key = &wrong;
  p.cards = {a.signed_card(), b.signed_card()};
  p.exporter = a.fingerprint();
  p.exporter_key = &a.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
}

// Every byte of the bundle as carried, each changed in one bit (bit i mod 8
// of byte i), after the armor: what the armor test above samples, here
// byte for byte. No byte is unsigned: permission_ref, exported_at and the
// exporter's own fields are covered by the exporter's signature.
TEST_F(BundleTest, AnyChangedByteOfTheDecodedBundleFails) {
  auto bytes = Dearmor(kBundleArmorType, MakeBundle(Parts()));
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(VerifyBundle(Armor(kBundleArmorType, *bytes), "").valid);
  std::vector<size_t> accepted;
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::string t = *bytes;
    t[i] = static_cast<char>(t[i] ^ (1 << (i % 8)));
    if (VerifyBundle(Armor(kBundleArmorType, t), "").valid) accepted.push_back(i);
  }
  EXPECT_TRUE(accepted.empty()) << accepted.size() << " changed byte(s) still verify, the first at "
                                << (accepted.empty() ? 0 : accepted.front()) << " of "
                                << bytes->size();
}

TEST_F(BundleTest, BundleExportedByARecipientVerifies) {
  BundleParts p = Parts();
  p.exporter = b.fingerprint();
  p.exporter_key = &b.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), FingerprintText(a.fingerprint()));
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(r.exporter.id, "recipient-node");
  EXPECT_EQ(r.exporter.fingerprint, FingerprintText(b.fingerprint()));
  EXPECT_EQ(Detail(r, "export_signature"), "exported by recipient-node (" +
                                               FingerprintText(b.fingerprint()) +
                                               ") at 2023-11-14T22:13:21Z");
}

TEST_F(BundleTest, PermissionRefEditedAfterExportFails) {
  const VerifyReport r =
      VerifyBundle(Edited([](wire::Bundle* x) { x->set_permission_ref("EIO-2023-0118"); }), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_NE(Detail(r, "export_signature").find("changed after export"), std::string::npos)
      << Detail(r, "export_signature");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].rfind("export_signature: ", 0), 0u) << r.errors[0];
}

TEST_F(BundleTest, PermissionRefAddedOrRemovedAfterExportFails) {
  BundleParts p = Parts();
  p.permission_ref.clear();
  auto bytes = Dearmor(kBundleArmorType, MakeBundle(p));
  ASSERT_TRUE(bytes.ok());
  wire::Bundle without;
  ASSERT_TRUE(ParseStrict(*bytes, &without, "bundle").ok());
  without.set_permission_ref("EIO-2023-0117");
  EXPECT_EQ(Failed(VerifyBundle(Armor(kBundleArmorType, SerializeCanonical(without)), "")),
            std::vector<std::string>{"export_signature"});
  const VerifyReport r =
      VerifyBundle(Edited([](wire::Bundle* x) { x->clear_permission_ref(); }), "");
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
}

TEST_F(BundleTest, ExportTimeEditedAfterExportFails) {
  for (int64_t at : std::vector<int64_t>{kExportedAt + 1, kExportedAt - 3'600'000'000, 0}) {
    const VerifyReport r =
        VerifyBundle(Edited([at](wire::Bundle* x) { x->set_exported_at(at); }), "");
    EXPECT_FALSE(r.valid) << at;
    EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"}) << at;
  }
}

TEST_F(BundleTest, ReceiptRemovedAfterExportFails) {
  // Without a receipt the bundle would otherwise be valid: what the
  // exporter chose to include is signed too.
  const VerifyReport r = VerifyBundle(Edited([](wire::Bundle* x) { x->clear_receipts(); }), "");
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_TRUE(r.receipts.empty());
}

TEST_F(BundleTest, ExporterSwappedForTheOtherPartyFails) {
  // Signed by a, then relabelled as exported by b (whose card is there).
  const VerifyReport r =
      VerifyBundle(Edited([this](wire::Bundle* x) { x->set_exporter(b.fingerprint()); }), "");
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_EQ(r.exporter.id, "recipient-node");
}

TEST_F(BundleTest, ExporterSignatureBySomeoneElseFails) {
  // Names a as exporter, signed by c.
  BundleParts p = Parts();
  p.exporter_key = &c.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_NE(Detail(r, "export_signature").find("does not verify"), std::string::npos)
      << Detail(r, "export_signature");
}

TEST_F(BundleTest, ExporterNeitherSenderNorRecipientFails) {
  // c signs correctly and its card is in the bundle, but c is no party to
  // the message.
  BundleParts p = Parts();
  p.cards.push_back(c.signed_card());
  p.exporter = c.fingerprint();
  p.exporter_key = &c.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_EQ(Detail(r, "export_signature"),
            "exporter third-node (" + FingerprintText(c.fingerprint()) +
                ") is neither the sender nor a recipient of the message");
}

TEST_F(BundleTest, ExporterWithoutCardFails) {
  // b exports, but leaves its own card out (and so its receipt, which
  // could not be checked without it either).
  BundleParts p = Parts();
  p.cards = {a.signed_card(), w.signed_card()};
  p.receipts.clear();
  p.exporter = b.fingerprint();
  p.exporter_key = &b.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_EQ(Detail(r, "export_signature"), "bundle lacks the card of exporter " +
                                               FingerprintText(b.fingerprint()) +
                                               ", so its signature cannot be checked");
}

TEST_F(BundleTest, UnsignedBundleFails) {
  BundleParts p = Parts();
  p.exporter_key = nullptr;
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"export_signature"});
  EXPECT_EQ(Detail(r, "export_signature"), "bundle is not signed by its exporter");
  // The same, with no exporter named at all.
  p.exporter.clear();
  const VerifyReport none = VerifyBundle(MakeBundle(p), "");
  EXPECT_EQ(Failed(none), std::vector<std::string>{"export_signature"});
  EXPECT_EQ(Detail(none, "export_signature"), "bundle names no exporter");
  EXPECT_TRUE(none.exporter.fingerprint.empty());
}

TEST_F(BundleTest, ExportSignatureFailureStopsNoOtherCheck) {
  // An unsigned bundle whose receipt is also forged: both are reported,
  // and every later check still runs.
  wire::SignedReceipt sr;
  ASSERT_TRUE(sr.ParseFromString(receipt));
  wire::Receipt body;
  ASSERT_TRUE(body.ParseFromString(sr.receipt()));
  BundleParts p = Parts();
  p.receipts = {SignReceipt(body, c.signing())};
  p.exporter_key = nullptr;
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_EQ(Failed(r), (std::vector<std::string>{"export_signature", "receipt"}));
  std::set<std::string> names;
  for (const auto& ch : r.checks) names.insert(ch.name);
  for (const char* n :
       {"outer_signature", "inner_signature", "tree_head", "inclusion_proof", "cosignatures"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

TEST_F(BundleTest, BundleWithoutLogProofFails) {
  const VerifyReport r = VerifyWith({});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  EXPECT_EQ(Detail(r, "inclusion_proof"), "bundle carries no audit-log proof");
  EXPECT_TRUE(r.log_proofs.empty());
}

TEST_F(BundleTest, LogProofWithWrongIndexFails) {
  for (uint64_t index : {uint64_t{0}, uint64_t{3}, uint64_t{5}, uint64_t{6}, kSize,
                         uint64_t{1} << 40}) {
    wire::LogProof lp = sent_proof;
    lp.set_index(index);
    const VerifyReport r = VerifyWith({WithCosignatures(lp, {Cosignature(lp, w)})});
    EXPECT_FALSE(r.valid) << index;
    EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"}) << index;
    EXPECT_TRUE(r.log_proofs.empty()) << index;
  }
}

TEST_F(BundleTest, LogProofWithWrongPathElementFails) {
  ASSERT_EQ(sent_proof.path_size(), 3);  // index 4 of 7: leaf 5, leaves [6, 7), leaves [0, 4)
  std::vector<wire::LogProof> bad;
  for (int i = 0; i < sent_proof.path_size(); ++i) {
    wire::LogProof lp = sent_proof;
    (*lp.mutable_path(i))[i] ^= 0x01;
    bad.push_back(lp);
    lp = sent_proof;
    lp.mutable_path()->DeleteSubrange(i, 1);
    bad.push_back(lp);
  }
  wire::LogProof longer = sent_proof;
  longer.add_path(sent_proof.path(0));
  bad.push_back(longer);
  wire::LogProof swapped = sent_proof;
  swapped.mutable_path()->SwapElements(0, 1);
  bad.push_back(swapped);
  for (const auto& lp : bad) {
    const VerifyReport r = VerifyWith({WithCosignatures(lp, {Cosignature(lp, w)})});
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  }
}

TEST_F(BundleTest, LogEntryForAnotherMessageFails) {
  // Each entry is really in the log, under a head the sender signed: only
  // what it records is wrong.
  const std::vector<std::pair<std::string, std::string>> entries = {
      {Entry(wire::LOG_ENVELOPE_SENT, "another-message", a.fingerprint(), ""), "another-message"},
      {MakeEntry(wire::LOG_ENVELOPE_SENT, message_id, a.fingerprint(), "", Sha256("another")),
       "another envelope"},
      {Entry(wire::LOG_ENVELOPE_SENT, message_id, c.fingerprint(), ""), "another node"},
      {Entry(wire::LOG_ENVELOPE_SENT, message_id, a.fingerprint(), b.fingerprint()),
       "another node"},
      {Entry(wire::LOG_RECEIPT_RECEIVED, message_id, a.fingerprint(), b.fingerprint()),
       "not an envelope sent or received"},
      {Entry(wire::LOG_ENVELOPE_RECEIVED, message_id, a.fingerprint(), a.fingerprint()),
       "not a recipient's"},
  };
  for (const auto& [entry, why] : entries) {
    const wire::LogProof lp = Proof(a, entry, kIndex, kSize, a);
    const VerifyReport r = VerifyWith({WithCosignatures(lp, {Cosignature(lp, w)})});
    EXPECT_FALSE(r.valid) << why;
    EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"}) << why;
    EXPECT_NE(Detail(r, "inclusion_proof").find(why), std::string::npos)
        << Detail(r, "inclusion_proof");
  }
}

TEST_F(BundleTest, LogEntryOfAnotherVersionFails) {
  wire::LogEntry e;
  ASSERT_TRUE(ParseStrict(sent_entry, &e, "entry").ok());
  e.set_version(2);
  const wire::LogProof lp = Proof(a, SerializeCanonical(e), kIndex, kSize, a);
  const VerifyReport r = VerifyWith({WithCosignatures(lp, {Cosignature(lp, w)})});
  EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  EXPECT_NE(Detail(r, "inclusion_proof").find("version 2"), std::string::npos);
}

TEST_F(BundleTest, TreeHeadSignedBySomeoneElseFails) {
  // The sender's log, the head signed by c.
  const wire::LogProof lp = Proof(a, sent_entry, kIndex, kSize, c);
  BundleParts p = Parts();
  p.cards.push_back(c.signed_card());
  p.log_proofs = {WithCosignatures(lp, {Cosignature(lp, w)})};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), kHeadFailed);
  EXPECT_NE(Detail(r, "tree_head").find("signature does not verify"), std::string::npos)
      << Detail(r, "tree_head");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].rfind("tree_head: ", 0), 0u) << r.errors[0];
  EXPECT_TRUE(r.log_proofs.empty());
}

TEST_F(BundleTest, SentEntryInAnotherNodesLogFails) {
  // c logs the envelope as sent, in its own log, under its own valid head.
  const wire::LogProof lp = Proof(c, sent_entry, kIndex, kSize, c);
  BundleParts p = Parts();
  p.cards.push_back(c.signed_card());
  p.log_proofs = {WithCosignatures(lp, {Cosignature(lp, w)})};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  EXPECT_NE(Detail(r, "inclusion_proof").find("not the sender's"), std::string::npos);
}

TEST_F(BundleTest, TreeHeadOfALogOwnerWithoutCardFails) {
  const std::string entry = Entry(wire::LOG_ENVELOPE_RECEIVED, message_id, a.fingerprint(),
                                  a.fingerprint());
  const wire::LogProof lp = Proof(b, entry, 2, 5, b);
  BundleParts p = Parts();
  p.cards = {a.signed_card(), w.signed_card()};
  p.receipts.clear();  // b's receipt cannot be checked without b's card either
  p.log_proofs = {WithCosignatures(lp, {Cosignature(lp, w)})};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), kHeadFailed);
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0], "tree_head: bundle lacks the card of log owner " +
                             FingerprintText(b.fingerprint()) +
                             ", so its tree head cannot be checked");
}

TEST_F(BundleTest, CosignatureByAWitnessWithoutCardFails) {
  BundleParts p = Parts();
  p.cards = {a.signed_card(), b.signed_card()};
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"cosignatures"});
  EXPECT_NE(Detail(r, "cosignatures").find("lacks the card of witness " +
                                           FingerprintText(w.fingerprint())),
            std::string::npos)
      << Detail(r, "cosignatures");
}

TEST_F(BundleTest, CosignatureOfADifferentTreeHeadFails) {
  // w countersigned another head of the same log: one entry more.
  const wire::LogProof other = Proof(a, sent_entry, kIndex, kSize + 1, a);
  const VerifyReport r = VerifyWith({WithCosignatures(sent_proof, {Cosignature(other, w)})});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"cosignatures"});
  EXPECT_NE(Detail(r, "cosignatures").find("different tree head"), std::string::npos)
      << Detail(r, "cosignatures");
}

TEST_F(BundleTest, CosignatureForgedOrMalformedFails) {
  // Claims w as witness, signed by c.
  wire::TreeHead head;
  ASSERT_TRUE(ParseStrict(TreeHeadBytes(sent_proof.signed_tree_head()), &head, "head").ok());
  const std::string forged =
      Cosign(sent_proof.signed_tree_head(), head, w.fingerprint(), c.signing(), kWitnessedAt);
  for (const std::string& bad : {forged, std::string("junk")}) {
    const VerifyReport r = VerifyWith({WithCosignatures(sent_proof, {bad})});
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(Failed(r), std::vector<std::string>{"cosignatures"});
  }
}

TEST_F(BundleTest, DuplicateWitnessFails) {
  wire::TreeHead head;
  ASSERT_TRUE(ParseStrict(TreeHeadBytes(sent_proof.signed_tree_head()), &head, "head").ok());
  const std::string first = Cosignature(sent_proof, w);
  const std::string later = Cosign(sent_proof.signed_tree_head(), head, w.fingerprint(),
                                   w.signing(), kWitnessedAt + 1);
  ASSERT_NE(first, later);
  for (const auto& twice : {std::vector<std::string>{first, first},
                            std::vector<std::string>{first, later}}) {
    const VerifyReport r = VerifyWith({WithCosignatures(sent_proof, twice)});
    EXPECT_FALSE(r.valid);
    EXPECT_EQ(Failed(r), std::vector<std::string>{"cosignatures"});
    EXPECT_NE(Detail(r, "cosignatures").find("twice"), std::string::npos)
        << Detail(r, "cosignatures");
  }
}

TEST_F(BundleTest, LogOwnerCannotWitnessItsOwnHead) {
  const VerifyReport r = VerifyWith({WithCosignatures(sent_proof, {Cosignature(sent_proof, a)})});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"cosignatures"});
  EXPECT_NE(Detail(r, "cosignatures").find("log owner"), std::string::npos);
}

TEST_F(BundleTest, TreeHeadWithoutCosignatureVerifies) {
  const VerifyReport r = VerifyWith({WithCosignatures(sent_proof, {})});
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  EXPECT_EQ(Detail(r, "cosignatures"), "no witness has countersigned this tree head yet");
  ASSERT_EQ(r.log_proofs.size(), 1u);
  EXPECT_TRUE(r.log_proofs[0].witnesses.empty());
}

TEST_F(BundleTest, ReceivedEntryInTheRecipientsLogVerifies) {
  const std::string entry = Entry(wire::LOG_ENVELOPE_RECEIVED, message_id, a.fingerprint(),
                                  a.fingerprint());
  const wire::LogProof lp = Proof(b, entry, 2, 5, b);
  BundleParts p = Parts();
  p.cards.push_back(c.signed_card());
  // Both logs, each countersigned by the other two nodes that are not its owner.
  p.log_proofs = {WithCosignatures(lp, {Cosignature(lp, w), Cosignature(lp, c)}), log_proof};
  const VerifyReport r = VerifyBundle(MakeBundle(p), FingerprintText(a.fingerprint()));
  EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_EQ(r.log_proofs.size(), 2u);
  const auto& got = r.log_proofs[0];
  EXPECT_EQ(got.kind, "received");
  EXPECT_EQ(got.log.id, "recipient-node");
  EXPECT_EQ(got.index, 2u);
  EXPECT_EQ(got.tree_size, 5u);
  ASSERT_EQ(got.witnesses.size(), 2u);
  EXPECT_EQ(got.witnesses[0].party.id, "witness-node");
  EXPECT_EQ(got.witnesses[1].party.id, "third-node");
  EXPECT_EQ(r.log_proofs[1].kind, "sent");
  EXPECT_NE(Detail(r, "inclusion_proof").find("which received it"), std::string::npos);
}

TEST_F(BundleTest, ReceivedEntryMustBeWhereTheRecipientsReceiptSaysItIs) {
  const std::string entry = Entry(wire::LOG_ENVELOPE_RECEIVED, message_id, a.fingerprint(),
                                  a.fingerprint());
  const wire::LogProof lp = Proof(b, entry, 2, 5, b);
  wire::SignedReceipt sr;
  ASSERT_TRUE(sr.ParseFromString(receipt));
  wire::Receipt body;
  ASSERT_TRUE(body.ParseFromString(sr.receipt()));
  for (uint64_t position : {3, 4}) {  // entry 2 is position 3, counted from 1
    body.set_audit_index(position);
    BundleParts p = Parts();
    p.receipts = {SignReceipt(body, b.signing())};
    p.log_proofs = {WithCosignatures(lp, {Cosignature(lp, w)}), log_proof};
    const VerifyReport r = VerifyBundle(MakeBundle(p), "");
    if (position == 3) {
      EXPECT_TRUE(r.valid) << (r.errors.empty() ? "" : r.errors[0]);
    } else {
      EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
    }
  }
}

TEST_F(BundleTest, ReceivedEntryFromAnotherSenderFails) {
  for (const auto& peer : {c.fingerprint(), std::string()}) {
    const std::string entry =
        Entry(wire::LOG_ENVELOPE_RECEIVED, message_id, a.fingerprint(), peer);
    const wire::LogProof lp = Proof(b, entry, 2, 5, b);
    const VerifyReport r = VerifyWith({WithCosignatures(lp, {Cosignature(lp, w)})});
    EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  }
}

TEST_F(BundleTest, OneBadLogProofAmongGoodOnesFails) {
  wire::LogProof lp = sent_proof;
  lp.set_index(kIndex + 1);
  const VerifyReport r = VerifyWith({log_proof, WithCosignatures(lp, {})});
  EXPECT_FALSE(r.valid);
  EXPECT_EQ(Failed(r), std::vector<std::string>{"inclusion_proof"});
  EXPECT_EQ(r.log_proofs.size(), 1u);  // only the good one is summarised
}

}  // namespace
}  // namespace rogatory

namespace rogatory {
namespace {

TEST(BundleValidityTest, MessageCreatedOutsideTheSenderCardValidityFails) {
  ASSERT_TRUE(InitCrypto().ok());
  auto expired = Identity::Generate({"old-node", "Old", "FR", {"tcp://127.0.0.1:7000"},
                                     1'000'000, 2'000'000});  // valid for one second in 1970
  ASSERT_TRUE(expired.ok());
  Identity b = test::NewIdentity("recipient-node");
  auto bytes = SealEnvelope(*expired, test::SimpleDraft({&b}, "late"));
  ASSERT_TRUE(bytes.ok());
  auto env = ParseEnvelope(*bytes);
  auto opened = OpenEnvelope(*env, b.encryption().secret, b.fingerprint(),
                             expired->encryption().public_key, expired->signing().public_key);
  ASSERT_TRUE(opened.ok());
  BundleParts p;
  p.envelope = *bytes;
  p.content_key = &opened->content_key;
  p.cards = {expired->signed_card(), b.signed_card()};
  p.exporter = b.fingerprint();
  p.exporter_key = &b.signing();
  const VerifyReport r = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(r.valid);
  bool found = false;
  for (const auto& c : r.checks) {
    if (c.name == "sender_card_validity") found = !c.ok;
  }
  EXPECT_TRUE(found);
}

// A revocation of the sender's key (SPEC 9) carried by the bundle: fine
// when it came after the receipt and the cosignature bound the signature,
// reported when it came before (the signature may be the thief's), and a
// revocation not signed by the sender's key fails.
TEST_F(BundleTest, ASenderKeyRevokedBeforeTheReceiptIsReported) {
  auto revoked_at = [&](int64_t at, const SigningKey& key) {
    wire::Revocation r;
    r.set_version(1);
    r.set_node(a.fingerprint());
    r.set_signing_key(key.public_key);
    r.set_card_sequence(1);
    r.set_revoked_at(at);
    r.set_reason("laptop stolen");
    return SignRevocation(r, key);
  };
  BundleParts p = Parts();
  // The receipt says 1'700'000'000'500'000; the cosignature is later.
  p.revocations = {revoked_at(1'700'000'000'600'000, a.signing())};
  VerifyReport after = VerifyBundle(MakeBundle(p), "");
  EXPECT_TRUE(after.valid) << (after.errors.empty() ? "" : after.errors[0]);
  EXPECT_NE(Detail(after, "sender_key_not_revoked").find("after a receipt or cosignature"),
            std::string::npos);

  p.revocations = {revoked_at(1'700'000'000'400'000, a.signing())};
  VerifyReport before = VerifyBundle(MakeBundle(p), "");
  EXPECT_FALSE(before.valid);
  EXPECT_EQ(Failed(before), std::vector<std::string>{"sender_key_not_revoked"});
  EXPECT_NE(Detail(before, "sender_key_not_revoked").find("laptop stolen"), std::string::npos);

  // Without any receipt or witnessed head, nothing bounds the signature.
  p.receipts.clear();
  p.log_proofs = {SerializeCanonical(sent_proof)};
  p.revocations = {revoked_at(1'700'000'000'600'000, a.signing())};
  VerifyReport unbound = VerifyBundle(MakeBundle(p), "");
  EXPECT_NE(Detail(unbound, "sender_key_not_revoked").find("no receipt or witnessed tree head"),
            std::string::npos);

  // Signed by someone else's key: refused as a revocation of the sender.
  p = Parts();
  p.revocations = {revoked_at(1'700'000'000'400'000, w.signing())};
  VerifyReport forged = VerifyBundle(MakeBundle(p), "");
  EXPECT_EQ(Failed(forged), std::vector<std::string>{"sender_key_not_revoked"});
  EXPECT_NE(Detail(forged, "sender_key_not_revoked").find("does not verify"), std::string::npos);
}

}  // namespace
}  // namespace rogatory
