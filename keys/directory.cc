#include "keys/directory.h"

#include <set>

#include "keys/armor.h"
#include "keys/fingerprint.h"
#include "keys/labels.h"
#include "keys/strict_parse.h"

namespace rogatory {

std::string SignDirectory(const wire::Directory& directory, const SigningKey& key) {
  wire::SignedDirectory sd;
  sd.set_directory(SerializeCanonical(directory));
  sd.set_signature(Sign(key, labels::kDirectory, sd.directory()));
  return SerializeCanonical(sd);
}

Result<VerifiedDirectory> VerifyDirectory(std::string_view signed_directory) {
  wire::SignedDirectory sd;
  ROG_RETURN_IF_ERROR(ParseStrict(signed_directory, &sd, "directory"));
  VerifiedDirectory out;
  ROG_RETURN_IF_ERROR(ParseStrict(sd.directory(), &out.directory, "directory body"));
  const wire::Directory& d = out.directory;
  if (d.version() != 1) {
    return MakeError(Code::kInvalidArgument,
                     "directory has version " + std::to_string(d.version()) + ", not 1");
  }
  if (static_cast<size_t>(d.entries_size()) > kMaxDirectoryEntries ||
      static_cast<size_t>(d.removals_size()) > kMaxDirectoryEntries ||
      static_cast<size_t>(d.revocations_size()) > kMaxDirectoryEntries) {
    return MakeError(Code::kInvalidArgument,
                     "directory lists, removes or revokes more than " +
                         std::to_string(kMaxDirectoryEntries) + " nodes");
  }
  if (d.sequence() == 0) {
    return MakeError(Code::kInvalidArgument, "directory has sequence 0 (they start at 1)");
  }
  auto authority = VerifyCard(d.authority_card());
  if (!authority.ok()) {
    return MakeError(authority.error().code,
                     "directory authority's card is not valid: " + authority.error().message);
  }
  out.authority = std::move(*authority);
  if (!Verify(out.authority.card.signing_key(), labels::kDirectory, sd.directory(),
              sd.signature())) {
    return MakeError(Code::kUnauthenticated, "directory is not signed by the identity key of " +
                                                 out.authority.card.node_id() +
                                                 ", whose card it carries");
  }
  std::set<std::string> fingerprints, ids;
  out.cards.reserve(static_cast<size_t>(d.entries_size()));
  for (int i = 0; i < d.entries_size(); ++i) {
    const auto& e = d.entries(i);
    auto card = VerifyCard(e.card());
    if (!card.ok()) {
      return MakeError(card.error().code, "directory entry " + std::to_string(i + 1) +
                                              " has an invalid card: " + card.error().message);
    }
    if (card->fingerprint != e.fingerprint()) {
      return MakeError(Code::kUnauthenticated,
                       "directory entry " + std::to_string(i + 1) + " (" + card->card.node_id() +
                           ") names a fingerprint its card does not have");
    }
    if (!fingerprints.insert(card->fingerprint).second || !ids.insert(card->card.node_id()).second) {
      return MakeError(Code::kInvalidArgument,
                       "directory lists " + card->card.node_id() + " more than once");
    }
    out.cards.push_back(std::move(*card));
  }
  std::set<std::string> removed;
  for (const auto& r : d.removals()) {
    if (r.fingerprint().size() != kFingerprintBytes) {
      return MakeError(Code::kInvalidArgument, "directory removal names a malformed fingerprint");
    }
    if (fingerprints.count(r.fingerprint())) {
      return MakeError(Code::kInvalidArgument, "directory both lists and removes " +
                                                   FingerprintText(r.fingerprint()));
    }
    if (!removed.insert(r.fingerprint()).second) {
      return MakeError(Code::kInvalidArgument,
                       "directory removes " + FingerprintText(r.fingerprint()) + " twice");
    }
  }
  // Self-revocations are checked against their node's card when applied;
  // here only their form, so a verified directory carries no junk.
  for (const auto& bytes : d.revocations()) {
    wire::SignedRevocation sr;
    wire::Revocation r;
    ROG_RETURN_IF_ERROR(ParseStrict(bytes, &sr, "directory revocation"));
    ROG_RETURN_IF_ERROR(ParseStrict(sr.revocation(), &r, "directory revocation body"));
    if (r.node().size() != kFingerprintBytes) {
      return MakeError(Code::kInvalidArgument, "directory revocation names a malformed node");
    }
  }
  out.signed_bytes = std::string(signed_directory);
  return out;
}

Result<VerifiedDirectory> VerifyArmoredDirectory(std::string_view text) {
  ROG_ASSIGN_OR_RETURN(std::string bytes, Dearmor(kDirectoryArmorType, text));
  return VerifyDirectory(bytes);
}

}  // namespace rogatory
