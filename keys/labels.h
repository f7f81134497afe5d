// Domain-separation labels. Every signature and keyed hash carries its own,
// with the format version in it. Changing one is a protocol change.
#pragma once

namespace rogatory::labels {

inline constexpr char kCard[] = "rogatory/card/v1";
inline constexpr char kCardRotation[] = "rogatory/card-rotation/v1";
inline constexpr char kRevocation[] = "rogatory/revocation/v1";
inline constexpr char kEnvelopeOuter[] = "rogatory/envelope-outer/v1";
inline constexpr char kEnvelopeInner[] = "rogatory/envelope-inner/v1";
inline constexpr char kKeyCommitment[] = "rogatory/key-commitment/v1";
inline constexpr char kReceipt[] = "rogatory/receipt/v1";
inline constexpr char kRefusal[] = "rogatory/refusal/v1";
inline constexpr char kNextKey[] = "rogatory/next-key/v1";
inline constexpr char kKeystore[] = "rogatory/keystore/v1";
inline constexpr char kTreeHead[] = "rogatory/tree-head/v1";
inline constexpr char kCosignature[] = "rogatory/cosignature/v1";
inline constexpr char kRestore[] = "rogatory/restore/v1";
inline constexpr char kCaseEntry[] = "rogatory/case-entry/v1";
inline constexpr char kAttachmentChunk[] = "rogatory/attachment-chunk/v1";
inline constexpr char kBundle[] = "rogatory/bundle/v1";
inline constexpr char kDirectory[] = "rogatory/directory/v1";

}  // namespace rogatory::labels
