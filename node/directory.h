// Applying signed directories to a roster (docs/protocol.md 26): pinning a
// directory authority, and importing its directories. The rules:
// - a directory is imported only from an authority pinned by hand, and only
//   if its sequence is higher than the last one imported from it (the same
//   directory again changes nothing; an older one, or another directory
//   with the same sequence, is refused);
// - a card pinned by hand always wins: a directory never replaces, revokes
//   or re-sources a hand-pinned peer, and the report says so;
// - a card a directory brought is updated only along its card chain (the
//   rules of a pushed rotation, keys/card.h CheckCardUpdate);
// - a revoked peer stays revoked;
// - a node's own signed revocation applies to every peer (it is the node's
//   statement); the authority's removal of a node applies only to a peer the
//   roster holds from that authority.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keys/card.h"
#include "keys/directory.h"
#include "keys/result.h"
#include "node/store.h"

namespace rogatory {

// The `source` a peer brought by this authority's directories has.
std::string DirectorySource(const std::string& authority_fingerprint);
// The authority fingerprint (raw) of a directory source, or "" for "manual".
std::string DirectorySourceAuthority(const std::string& source);

// Pins `authority` (its card, checked by the caller against the fingerprint
// the operator was given). A newer card of a pinned authority must chain to
// the pinned one. Returns true if the authority was new.
Result<bool> TrustDirectoryAuthority(Store& store, const VerifiedCard& authority,
                                     int64_t now_us);

struct DirectoryImportReport {
  std::string authority;    // node id
  std::string fingerprint;  // raw
  uint64_t sequence = 0;
  bool already_imported = false;  // the same directory again: nothing changed
  bool authority_rotated = false; // the directory carried a newer authority card
  struct Line {
    std::string node_id;
    std::string fingerprint;  // raw
    std::string detail;
  };
  std::vector<Line> added;
  std::vector<Line> updated;    // a newer card along the chain
  std::vector<Line> unchanged;
  std::vector<Line> kept;       // hand-pinned, or revoked here: not changed
  std::vector<Line> refused;    // an entry that could not be taken, and why
  std::vector<Line> revoked;
  std::vector<Line> unlisted;   // from this authority earlier, no longer listed: kept
};

// Imports a verified directory into the roster, in one transaction.
// kFailedPrecondition when the authority is not pinned, or for a rollback.
// `own_fingerprint`: this node's, never added.
Result<DirectoryImportReport> ImportDirectory(Store& store, const VerifiedDirectory& directory,
                                              const std::string& own_fingerprint,
                                              int64_t now_us);

}  // namespace rogatory
