// Attachments: chunk sealing (with known-answer vectors computed
// independently, from HChaCha20 and RFC 8439 ChaCha20-Poly1305), the staged
// file layout, SealFile/OpenFile, and the receiving side's ChunkVerifier.
#include "keys/attachment.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "keys/crypto.h"

namespace rogatory {
namespace {

constexpr uint32_t kSmallChunk = 4096;

SecretBytes NewKey() {
  EXPECT_TRUE(InitCrypto().ok());  // sodium_malloc needs it; fixtures build keys first
  return SecretBytes::From(RandomBytes(kAttachmentKeyBytes));
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// ---- Chunks -------------------------------------------------------------------

class AttachmentChunkTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(InitCrypto().ok()); }
  std::string Seal(uint64_t index, bool last, std::string_view plaintext) {
    std::string sealed;
    SealChunk(key, "msg-1", index, last, plaintext, &sealed);
    return sealed;
  }
  SecretBytes key = NewKey();
};

TEST_F(AttachmentChunkTest, RoundTripsReusingTheBuffer) {
  std::string plain;
  for (size_t n : {size_t{0}, size_t{1}, size_t{kSmallChunk}, size_t{100}}) {
    const std::string data = RandomBytes(n);
    const std::string sealed = Seal(3, false, data);
    EXPECT_EQ(sealed.size(), n + kChunkTagBytes);
    ASSERT_TRUE(OpenChunk(key, "msg-1", 3, false, sealed, &plain));
    EXPECT_EQ(plain, data);
  }
}

// Vectors computed outside this code base: HChaCha20 written from
// draft-irtf-cfrg-xchacha-03 (checked against its A.3.1 vector) feeding
// pyca/cryptography's ChaCha20-Poly1305, with nonce and additional data laid
// out as keys/attachment.h says. Key = 00 01 .. 1f, message id "msg-kat".
TEST_F(AttachmentChunkTest, KnownAnswerVectors) {
  std::string key_bytes;
  for (int i = 0; i < 32; ++i) key_bytes.push_back(static_cast<char>(i));
  const SecretBytes k = SecretBytes::From(key_bytes);
  std::string sealed;
  SealChunk(k, "msg-kat", 0, false, "chain of custody", &sealed);
  EXPECT_EQ(ToHex(sealed), "f66eedae82a88a7f36ed0a4a98795a9323cdc8bbe944eb5c84b968d518247c91");
  SealChunk(k, "msg-kat", 7, true, "", &sealed);
  EXPECT_EQ(ToHex(sealed), "0ee5e89dbf4ca88213af77863a2d61e6");
  std::string plain;
  ASSERT_TRUE(OpenChunk(k, "msg-kat", 0, false,
                        FromHex("f66eedae82a88a7f36ed0a4a98795a9323cdc8bbe944eb5c84b968d518247c91"),
                        &plain));
  EXPECT_EQ(plain, "chain of custody");
}

TEST_F(AttachmentChunkTest, LastFlagIsBound) {
  std::string plain;
  EXPECT_FALSE(OpenChunk(key, "msg-1", 4, true, Seal(4, false, "data"), &plain));
  EXPECT_FALSE(OpenChunk(key, "msg-1", 4, false, Seal(4, true, "data"), &plain));
}

TEST_F(AttachmentChunkTest, IndexIsBound) {
  std::string plain;
  EXPECT_FALSE(OpenChunk(key, "msg-1", 5, false, Seal(4, false, "data"), &plain));
  EXPECT_FALSE(
      OpenChunk(key, "msg-1", 4 + (uint64_t{1} << 32), false, Seal(4, false, "data"), &plain));
}

TEST_F(AttachmentChunkTest, MessageIdIsBound) {
  std::string plain;
  EXPECT_FALSE(OpenChunk(key, "msg-2", 0, true, Seal(0, true, "data"), &plain));
  EXPECT_FALSE(OpenChunk(key, "msg-", 0, true, Seal(0, true, "data"), &plain));
}

TEST_F(AttachmentChunkTest, KeyIsBound) {
  std::string plain;
  EXPECT_FALSE(OpenChunk(NewKey(), "msg-1", 0, true, Seal(0, true, "data"), &plain));
  EXPECT_FALSE(
      OpenChunk(SecretBytes::From("short"), "msg-1", 0, true, Seal(0, true, "data"), &plain));
}

TEST_F(AttachmentChunkTest, EveryFlippedByteFails) {
  const std::string sealed = Seal(1, true, "evidence");
  std::string plain = "stale";
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(OpenChunk(key, "msg-1", 1, true, bad, &plain)) << "byte " << i;
    EXPECT_TRUE(plain.empty());
  }
  EXPECT_FALSE(OpenChunk(key, "msg-1", 1, true, sealed.substr(0, kChunkTagBytes - 1), &plain));
}

// ---- Layout -------------------------------------------------------------------

TEST(AttachmentLayoutTest, EmptyFileIsOneEmptyLastChunk) {
  EXPECT_EQ(ChunkCount(0, kSmallChunk), 1u);
  EXPECT_EQ(SealedSize(0, kSmallChunk), 16u);
  EXPECT_EQ(SealedChunkOffset(0, kSmallChunk), 0u);
  EXPECT_EQ(SealedChunkLength(0, kSmallChunk, 0), 16u);
  EXPECT_EQ(SealedChunkLength(0, kSmallChunk, 1), 0u);
}

TEST(AttachmentLayoutTest, OneByte) {
  EXPECT_EQ(ChunkCount(1, kSmallChunk), 1u);
  EXPECT_EQ(SealedSize(1, kSmallChunk), 17u);
  EXPECT_EQ(SealedChunkLength(1, kSmallChunk, 0), 17u);
}

TEST(AttachmentLayoutTest, ExactlyOneChunk) {
  EXPECT_EQ(ChunkCount(kSmallChunk, kSmallChunk), 1u);
  EXPECT_EQ(SealedSize(kSmallChunk, kSmallChunk), kSmallChunk + 16u);
  EXPECT_EQ(SealedChunkLength(kSmallChunk, kSmallChunk, 0), kSmallChunk + 16u);
  EXPECT_EQ(SealedChunkLength(kSmallChunk, kSmallChunk, 1), 0u);
}

TEST(AttachmentLayoutTest, OneChunkPlusOneByte) {
  const uint64_t size = kSmallChunk + 1;
  EXPECT_EQ(ChunkCount(size, kSmallChunk), 2u);
  EXPECT_EQ(SealedSize(size, kSmallChunk), kSmallChunk + 33u);
  EXPECT_EQ(SealedChunkOffset(1, kSmallChunk), kSmallChunk + 16u);
  EXPECT_EQ(SealedChunkLength(size, kSmallChunk, 0), kSmallChunk + 16u);
  EXPECT_EQ(SealedChunkLength(size, kSmallChunk, 1), 17u);
}

TEST(AttachmentLayoutTest, DefaultChunkSizeOffsets) {
  const uint64_t size = 5 * uint64_t{kDefaultChunkBytes};
  EXPECT_EQ(ChunkCount(size, kDefaultChunkBytes), 5u);
  EXPECT_EQ(SealedChunkOffset(4, kDefaultChunkBytes), 4 * (uint64_t{1} << 20) + 64);
  EXPECT_EQ(SealedSize(size, kDefaultChunkBytes), size + 80);
}

TEST(AttachmentLayoutTest, ValidateAttachmentRef) {
  const std::string h(32, 'h'), k(32, 'k');
  EXPECT_TRUE(ValidateAttachmentRef(0, h, k, kDefaultChunkBytes).ok());
  EXPECT_TRUE(ValidateAttachmentRef(1, h, k, kMinChunkBytes).ok());
  EXPECT_TRUE(ValidateAttachmentRef(1, h, k, kMaxChunkBytes).ok());
  for (const Status& s :
       {ValidateAttachmentRef(1, h.substr(1), k, kDefaultChunkBytes),
        ValidateAttachmentRef(1, h, k + "k", kDefaultChunkBytes), ValidateAttachmentRef(1, h, k, 0),
        ValidateAttachmentRef(1, h, k, kMinChunkBytes - 1),
        ValidateAttachmentRef(1, h, k, kMaxChunkBytes + 1),
        ValidateAttachmentRef(kMaxAttachmentBytes + 1, h, k, kDefaultChunkBytes)}) {
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  }
}

// ---- Files --------------------------------------------------------------------

class AttachmentFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitCrypto().ok());
    char tmpl[] = "/tmp/rogatory-attach-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    input = dir + "/evidence.bin";
    staged = dir + "/evidence.staged";
    output = dir + "/evidence.out";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  }
  static std::string Read(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }
  static bool Exists(const std::string& path) { return std::filesystem::exists(path); }
  static unsigned Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 0777;
  }
  // Writes `data` as the input and seals it to `staged`.
  SealedFile SealInput(const std::string& data, uint32_t chunk_bytes) {
    Write(input, data);
    auto sealed = SealFile(input, staged, key, "msg-1", chunk_bytes);
    EXPECT_TRUE(sealed.ok()) << sealed.error().message;
    return sealed.ok() ? *sealed : SealedFile{};
  }
  void ExpectRoundTrip(uint64_t size, uint32_t chunk_bytes) {
    SCOPED_TRACE("size " + std::to_string(size));
    std::filesystem::remove(staged);
    std::filesystem::remove(output);
    const std::string data = RandomBytes(size);
    Write(input, data);
    std::vector<uint64_t> seen;
    auto sealed =
        SealFile(input, staged, key, "msg-1", chunk_bytes, [&](uint64_t done, uint64_t total) {
          EXPECT_EQ(total, size);
          seen.push_back(done);
        });
    ASSERT_TRUE(sealed.ok()) << sealed.error().message;
    EXPECT_EQ(sealed->size, size);
    EXPECT_EQ(sealed->sha256, Sha256(data));
    EXPECT_EQ(std::filesystem::file_size(staged), SealedSize(size, chunk_bytes));
    EXPECT_EQ(Mode(staged), 0600u);
    ASSERT_EQ(seen.size(), ChunkCount(size, chunk_bytes));
    EXPECT_EQ(seen.back(), size);

    Status opened = OpenFile(staged, output, key, "msg-1", size, sealed->sha256, chunk_bytes);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    EXPECT_EQ(Mode(output), 0600u);
    EXPECT_TRUE(Read(output) == data);
  }
  // Flips one byte of the staged file at `offset`.
  void Corrupt(uint64_t offset) {
    std::string bytes = Read(staged);
    bytes[offset] ^= 0x40;
    Write(staged, bytes);
  }

  std::string dir, input, staged, output;
  SecretBytes key = NewKey();
};

TEST_F(AttachmentFileTest, RoundTripsEdgeSizes) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{kSmallChunk - 1}, uint64_t{kSmallChunk},
                        uint64_t{3 * kSmallChunk + 5}}) {
    ExpectRoundTrip(size, kSmallChunk);
  }
}

TEST_F(AttachmentFileTest, RoundTripsDefaultChunkSize) {
  ExpectRoundTrip(5 * uint64_t{kDefaultChunkBytes} + 12345, kDefaultChunkBytes);
}

// Resumability: every chunk of a staged file opens alone at its offset.
TEST_F(AttachmentFileTest, EveryStagedChunkOpensAlone) {
  const std::string data = RandomBytes(3 * kSmallChunk + 5);
  SealInput(data, kSmallChunk);
  const std::string bytes = Read(staged);
  const uint64_t count = ChunkCount(data.size(), kSmallChunk);
  std::string plain;
  for (uint64_t i = count; i-- > 0;) {
    const std::string chunk = bytes.substr(SealedChunkOffset(i, kSmallChunk),
                                           SealedChunkLength(data.size(), kSmallChunk, i));
    ASSERT_TRUE(OpenChunk(key, "msg-1", i, i + 1 == count, chunk, &plain)) << i;
    EXPECT_TRUE(plain == data.substr(i * kSmallChunk, kSmallChunk)) << i;
  }
}

TEST_F(AttachmentFileTest, RefusesAnExistingOutput) {
  Write(input, "evidence");
  Write(staged, "already here");
  auto sealed = SealFile(input, staged, key, "msg-1", kSmallChunk);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code, Code::kAlreadyExists);
  EXPECT_NE(sealed.error().message.find(staged), std::string::npos) << sealed.error().message;
  EXPECT_EQ(Read(staged), "already here");
}

TEST_F(AttachmentFileTest, MissingInputIsNamed) {
  auto sealed = SealFile(input, staged, key, "msg-1", kSmallChunk);
  ASSERT_FALSE(sealed.ok());
  EXPECT_EQ(sealed.error().code, Code::kNotFound);
  EXPECT_EQ(sealed.error().message, "cannot read " + input + ": No such file or directory");
  EXPECT_FALSE(Exists(staged));
}

TEST_F(AttachmentFileTest, RefusesABadKeyOrChunkSize) {
  Write(input, "evidence");
  auto bad_key = SealFile(input, staged, SecretBytes::From("short"), "msg-1", kSmallChunk);
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().code, Code::kInvalidArgument);
  auto bad_chunk = SealFile(input, staged, key, "msg-1", 100);
  ASSERT_FALSE(bad_chunk.ok());
  EXPECT_EQ(bad_chunk.error().code, Code::kInvalidArgument);
  EXPECT_FALSE(Exists(staged));
}

TEST_F(AttachmentFileTest, FlippedByteNamesTheChunkAndLeavesNoOutput) {
  const SealedFile sealed = SealInput(RandomBytes(3 * kSmallChunk + 5), kSmallChunk);
  Corrupt(SealedChunkOffset(2, kSmallChunk) + 10);
  Status s = OpenFile(staged, output, key, "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kDataLoss);
  EXPECT_EQ(s.error().message, "attachment chunk 2 failed authentication");
  EXPECT_FALSE(Exists(output));
}

TEST_F(AttachmentFileTest, WrongMessageIdFailsAtChunkZero) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  Status s = OpenFile(staged, output, key, "msg-2", sealed.size, sealed.sha256, kSmallChunk);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "attachment chunk 0 failed authentication");
  EXPECT_FALSE(Exists(output));
}

TEST_F(AttachmentFileTest, WrongHashIsDataLossAndLeavesNoOutput) {
  const SealedFile sealed = SealInput(RandomBytes(kSmallChunk + 1), kSmallChunk);
  const std::string wrong = Sha256("something else");
  Status s = OpenFile(staged, output, key, "msg-1", sealed.size, wrong, kSmallChunk);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kDataLoss);
  EXPECT_NE(s.error().message.find("SHA-256 mismatch"), std::string::npos);
  EXPECT_FALSE(Exists(output));
}

TEST_F(AttachmentFileTest, TruncatedOrExtendedStagedFileIsDataLoss) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  const std::string bytes = Read(staged);
  for (const std::string& variant : {bytes.substr(0, bytes.size() - 1), bytes + "x"}) {
    Write(staged, variant);
    Status s = OpenFile(staged, output, key, "msg-1", sealed.size, sealed.sha256, kSmallChunk);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Code::kDataLoss);
    EXPECT_FALSE(Exists(output));
  }
}

// A size that lies about the last chunk: the last flag no longer matches.
TEST_F(AttachmentFileTest, DroppedLastChunkFailsAuthentication) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  std::filesystem::resize_file(staged, SealedChunkOffset(1, kSmallChunk));
  Status s = OpenFile(staged, output, key, "msg-1", kSmallChunk, sealed.sha256, kSmallChunk);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "attachment chunk 0 failed authentication");
}

// ---- ChunkVerifier ------------------------------------------------------------

using AttachmentVerifierTest = AttachmentFileTest;

TEST_F(AttachmentVerifierTest, AcceptsAWholeFileChunkByChunk) {
  const std::string data = RandomBytes(3 * kSmallChunk + 5);
  const SealedFile sealed = SealInput(data, kSmallChunk);
  const std::string bytes = Read(staged);
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  ASSERT_EQ(v.chunk_count(), 4u);
  for (uint64_t i = 0; i < v.chunk_count(); ++i) {
    EXPECT_FALSE(v.done());
    ASSERT_EQ(v.next(), i);
    Status s = v.Accept(bytes.substr(SealedChunkOffset(i, kSmallChunk),
                                     SealedChunkLength(sealed.size, kSmallChunk, i)));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_TRUE(v.done());
  EXPECT_EQ(v.next(), 4u);
  Status again = v.Accept(bytes.substr(0, kSmallChunk + 16));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Code::kFailedPrecondition);
}

TEST_F(AttachmentVerifierTest, EmptyFileIsOneChunk) {
  const SealedFile sealed = SealInput("", kSmallChunk);
  ChunkVerifier v(key.Clone(), "msg-1", 0, sealed.sha256, kSmallChunk);
  ASSERT_TRUE(v.Accept(Read(staged)).ok());
  EXPECT_TRUE(v.done());
}

TEST_F(AttachmentVerifierTest, WrongFinalHashIsDataLoss) {
  const SealedFile sealed = SealInput(RandomBytes(kSmallChunk + 1), kSmallChunk);
  const std::string bytes = Read(staged);
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, Sha256("other"), kSmallChunk);
  ASSERT_TRUE(v.Accept(bytes.substr(0, kSmallChunk + 16)).ok());
  Status s = v.Accept(bytes.substr(kSmallChunk + 16));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kDataLoss);
  EXPECT_FALSE(v.done());
}

TEST_F(AttachmentVerifierTest, BadTagIsUnauthenticatedAndFinal) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  const std::string bytes = Read(staged);
  const std::string chunk0 = bytes.substr(0, kSmallChunk + 16);
  std::string bad = chunk0;
  bad.back() ^= 1;
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  Status s = v.Accept(bad);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kUnauthenticated);
  EXPECT_EQ(s.error().message, "attachment chunk 0 failed authentication");
  // Unusable afterwards, even with the good chunk.
  EXPECT_FALSE(v.Accept(chunk0).ok());
  EXPECT_EQ(v.next(), 0u);
}

TEST_F(AttachmentVerifierTest, WrongLengthIsInvalidArgument) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  Status s = v.Accept(Read(staged).substr(0, 100));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
}

TEST_F(AttachmentVerifierTest, InvalidReferenceIsRefused) {
  ChunkVerifier v(key.Clone(), "msg-1", 10, Sha256("x"), 0);
  Status s = v.Accept(std::string(26, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kInvalidArgument);
  auto r = v.ResumeFrom(staged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
}

TEST_F(AttachmentVerifierTest, ResumeFromMissingFileIsZero) {
  ChunkVerifier v(key.Clone(), "msg-1", 10, Sha256("x"), kSmallChunk);
  auto r = v.ResumeFrom(staged);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(v.next(), 0u);
}

TEST_F(AttachmentVerifierTest, ResumeFromFileCutMidChunkThenFinishes) {
  const SealedFile sealed = SealInput(RandomBytes(3 * kSmallChunk + 5), kSmallChunk);
  const std::string bytes = Read(staged);
  const uint64_t cut = SealedChunkOffset(2, kSmallChunk) + 100;
  std::filesystem::resize_file(staged, cut);

  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  auto r = v.ResumeFrom(staged);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 2u);
  EXPECT_EQ(v.next(), 2u);
  EXPECT_EQ(std::filesystem::file_size(staged), SealedChunkOffset(2, kSmallChunk));
  for (uint64_t i = 2; i < v.chunk_count(); ++i) {
    Status s = v.Accept(bytes.substr(SealedChunkOffset(i, kSmallChunk),
                                     SealedChunkLength(sealed.size, kSmallChunk, i)));
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  EXPECT_TRUE(v.done());
}

TEST_F(AttachmentVerifierTest, ResumeFromCorruptedChunkStopsThere) {
  const SealedFile sealed = SealInput(RandomBytes(3 * kSmallChunk + 5), kSmallChunk);
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{3}}) {
    SCOPED_TRACE("corrupted chunk " + std::to_string(k));
    std::filesystem::remove(staged);
    SealInput(Read(input), kSmallChunk);
    Corrupt(SealedChunkOffset(k, kSmallChunk) + 1);
    ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
    auto r = v.ResumeFrom(staged);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, k);
    EXPECT_EQ(std::filesystem::file_size(staged), SealedChunkOffset(k, kSmallChunk));
    EXPECT_FALSE(v.done());
  }
}

TEST_F(AttachmentVerifierTest, ResumeFromCompleteFileIsDoneAndDropsTrailingBytes) {
  const SealedFile sealed = SealInput(RandomBytes(3 * kSmallChunk + 5), kSmallChunk);
  Write(staged, Read(staged) + "trailing junk");
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  auto r = v.ResumeFrom(staged);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 4u);
  EXPECT_TRUE(v.done());
  EXPECT_EQ(std::filesystem::file_size(staged), SealedSize(sealed.size, kSmallChunk));
}

TEST_F(AttachmentVerifierTest, ResumeFromAuthenticFileWithWrongHashIsDataLoss) {
  const SealedFile sealed = SealInput(RandomBytes(kSmallChunk + 1), kSmallChunk);
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, Sha256("other"), kSmallChunk);
  auto r = v.ResumeFrom(staged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDataLoss);
}

TEST_F(AttachmentVerifierTest, ResumeFromUnreadablePathEndsTheVerifier) {
  ChunkVerifier v(key.Clone(), "msg-1", 10, Sha256("x"), kSmallChunk);
  auto r = v.ResumeFrom(dir);  // a directory
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(dir), std::string::npos) << r.error().message;
  EXPECT_FALSE(v.Accept(std::string(26, 'x')).ok());
}

TEST_F(AttachmentVerifierTest, ResumeOnlyOnAFreshVerifier) {
  const SealedFile sealed = SealInput(RandomBytes(2 * kSmallChunk), kSmallChunk);
  ChunkVerifier v(key.Clone(), "msg-1", sealed.size, sealed.sha256, kSmallChunk);
  ASSERT_TRUE(v.Accept(Read(staged).substr(0, kSmallChunk + 16)).ok());
  auto r = v.ResumeFrom(staged);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
}

}  // namespace
}  // namespace rogatory
