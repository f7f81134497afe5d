// Every limit, in one place. The protocol maxima here bound what any parser
// accepts; the node's defaults can be lowered (or raised up to the maxima)
// in node.toml, see node/config.h and docs/operator-guide.md.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rogatory::limits {

// Largest node-to-node frame (ZMQ_MAXMSGSIZE on every socket).
inline constexpr int64_t kDefaultMaxFrameBytes = 16 << 20;
// Recipients of one message.
inline constexpr size_t kMaxRecipients = 64;
// Message ids: letters, digits, '-' and '_', not starting with '-'.
inline constexpr size_t kMaxMessageIdLength = 64;
// Subject line.
inline constexpr size_t kMaxSubjectBytes = 1024;
// Body of one message (attachments travel separately).
inline constexpr size_t kDefaultMaxBodyBytes = 8 << 20;
// Attachments of one message, and the size of one attachment.
inline constexpr int64_t kDefaultMaxAttachments = 64;
inline constexpr int64_t kDefaultMaxAttachmentBytes = int64_t{64} << 30;
// Messages whose attachments one peer may be sending us at the same time.
inline constexpr int64_t kDefaultTransfersPerPeer = 2;
// Chunks of an attachment requested ahead (flow control window).
inline constexpr int64_t kDefaultChunkWindow = 8;
// Control-socket request size.
inline constexpr int64_t kMaxControlBytes = 32 << 20;
// Deliveries sent to one peer and not yet acknowledged.
inline constexpr size_t kDefaultInFlightPerPeer = 256;
// Frames handled in one store transaction (group commit).
inline constexpr size_t kDefaultCommitBatch = 256;
// Time a daemon loop turn spends reading frames before it commits.
inline constexpr int64_t kDefaultTurnBudgetUs = 4000;
// Expiry: default and maximum (SPEC section 5).
inline constexpr int64_t kDefaultExpirySeconds = 30LL * 24 * 3600;
inline constexpr int64_t kMaxExpirySeconds = 365LL * 24 * 3600;
// Clock allowance for envelopes dated in the receiver's future.
inline constexpr int64_t kDefaultClockAllowanceSeconds = 300;
// Retry backoff cap.
inline constexpr int64_t kDefaultRetryCapMs = 10'000;
inline constexpr int64_t kRetryInitialMs = 500;

// Cases (SPEC 8): the text of one entry, one serialized entry, entries
// waiting for what they depend on (per known case; per case not known yet;
// in all), entries one anti-entropy round serves and one frame carries, and
// the bytes of one such frame.
inline constexpr size_t kMaxCaseTextBytes = 64 << 10;
inline constexpr size_t kMaxCaseEntryBytes = 256 << 10;
inline constexpr int64_t kMaxCasePending = 20000;
inline constexpr int64_t kMaxUnknownCasePending = 1000;
inline constexpr int64_t kMaxAllCasePending = 100000;
inline constexpr int kCaseSyncBudget = 512;
inline constexpr int kCaseEntriesPerFrame = 64;
inline constexpr size_t kCaseFrameBytes = 1 << 20;
// Lamport counters stay far from overflow.
inline constexpr uint64_t kMaxCaseLamport = uint64_t{1} << 62;
// ...and never jump further ahead of the highest counter a node has seen.
inline constexpr uint64_t kMaxCaseLamportJump = uint64_t{1} << 32;

}  // namespace rogatory::limits
