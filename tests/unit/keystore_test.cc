#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "tests/unit/test_util.h"

namespace rogatory {
namespace {

class KeystoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("rogatory-ks-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
    path = dir + "/keys.bin";
  }
  void TearDown() override { std::filesystem::remove_all(dir); }
  std::string dir, path;
};

TEST_F(KeystoreTest, FileIsMode0600AndRoundTrips) {
  Identity id = test::NewIdentity("fr-pnat");
  ASSERT_TRUE(id.WriteKeystore(path, std::nullopt).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = Identity::ReadKeystore(path, std::nullopt);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->fingerprint(), id.fingerprint());
  EXPECT_EQ(back->encryption().public_key, id.encryption().public_key);
  EXPECT_EQ(back->transport().public_key, id.transport().public_key);
  EXPECT_EQ(back->signed_card(), id.signed_card());
}

TEST_F(KeystoreTest, NeverOverwritten) {
  Identity id = test::NewIdentity("fr-pnat");
  ASSERT_TRUE(id.WriteKeystore(path, std::nullopt).ok());
  auto again = id.WriteKeystore(path, std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Code::kAlreadyExists);
}

TEST_F(KeystoreTest, GroupReadableIsRefused) {
  Identity id = test::NewIdentity("fr-pnat");
  ASSERT_TRUE(id.WriteKeystore(path, std::nullopt).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  auto r = Identity::ReadKeystore(path, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
}

TEST_F(KeystoreTest, PassphraseProtectsTheSecrets) {
  Identity id = test::NewIdentity("fr-pnat");
  ASSERT_TRUE(id.WriteKeystore(path, SecretBytes::From("correct horse")).ok());
  auto ok = Identity::ReadKeystore(path, SecretBytes::From("correct horse"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->fingerprint(), id.fingerprint());
  auto wrong = Identity::ReadKeystore(path, SecretBytes::From("battery staple"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Code::kUnauthenticated);
  auto none = Identity::ReadKeystore(path, std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Code::kFailedPrecondition);
  // The public card is readable without the passphrase.
  auto card = Identity::ReadCard(path);
  ASSERT_TRUE(card.ok());
  EXPECT_EQ(*card, id.signed_card());
}

TEST_F(KeystoreTest, CorruptFileIsDataLoss) {
  {
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("not a keystore", f);
    std::fclose(f);
  }
  ::chmod(path.c_str(), 0600);
  auto r = Identity::ReadKeystore(path, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDataLoss);
}

}  // namespace
}  // namespace rogatory
