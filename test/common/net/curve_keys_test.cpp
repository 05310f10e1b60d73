#include "common/net/curve_keys.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

TEST_CASE("key pairs: written 0600/0644, read back, never overwritten", "[keys]") {
  test::TempDir dir;
  const std::string secret = dir.path() + "/w.key", pub = dir.path() + "/w.key.pub";
  auto made = EnsureCurveKeyFiles(secret, pub, /*if_missing=*/false);
  REQUIRE(made.ok());
  CHECK(IsCurveKey(made->public_key));
  CHECK(IsCurveKey(made->secret_key));
  CHECK(made->public_key != made->secret_key);
  CHECK(ModeOf(secret) == 0600);
  CHECK(ModeOf(pub) == 0644);
  auto read = ReadSecretKey(secret);
  REQUIRE(read.ok());
  CHECK(read->public_key == made->public_key);  // derived from the secret
  CHECK(ReadPublicKey(pub).value() == made->public_key);
  CHECK(ReadPublicKey(made->public_key).value() == made->public_key);
  // Never overwritten; --if-missing keeps it.
  CHECK(EnsureCurveKeyFiles(secret, pub, false).status().message().find("never overwritten") != std::string::npos);
  CHECK(EnsureCurveKeyFiles(secret, pub, true).value().public_key == made->public_key);
  // Fingerprints: stable, and differ between keys.
  const auto other = GenerateCurveKeyPair().value();
  CHECK(KeyFingerprint(made->public_key) == KeyFingerprint(made->public_key));
  CHECK(KeyFingerprint(made->public_key) != KeyFingerprint(other.public_key));
  CHECK(KeyFingerprint(made->public_key).rfind("SHA256:", 0) == 0);
  CHECK(KeyFingerprint(made->public_key).size() == 7 + 32);
}

TEST_CASE("a secret key readable by group or others is refused, as ssh does", "[keys]") {
  test::TempDir dir;
  const std::string secret = dir.path() + "/w.key";
  REQUIRE(EnsureCurveKeyFiles(secret, secret + ".pub", false).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    REQUIRE(::chmod(secret.c_str(), mode) == 0);
    auto r = ReadSecretKey(secret);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("readable by its owner only") != std::string::npos);
    CHECK(r.status().message().find(secret) == 0);
  }
  REQUIRE(::chmod(secret.c_str(), 0400) == 0);
  CHECK(ReadSecretKey(secret).ok());
  REQUIRE(WriteFileAtomic(dir.path() + "/junk", "not a key\n").ok());
  REQUIRE(::chmod((dir.path() + "/junk").c_str(), 0600) == 0);
  CHECK(ReadSecretKey(dir.path() + "/junk").status().message().find("does not hold a secret key") != std::string::npos);
}

TEST_CASE("authorized keys: one per line, comments and names allowed, bad lines named", "[keys]") {
  test::TempDir dir;
  const auto a = GenerateCurveKeyPair().value(), b = GenerateCurveKeyPair().value();
  const std::string path = dir.path() + "/authorized_keys";
  REQUIRE(WriteFileAtomic(path, "# dispatchers\n\n" + a.public_key + "  laptop\n  " + b.public_key + " # lab\n").ok());
  auto keys = ReadAuthorizedKeys(path);
  REQUIRE(keys.ok());
  CHECK(*keys == std::set<std::string>{a.public_key, b.public_key});
  REQUIRE(WriteFileAtomic(path, a.public_key + "\nnot-a-key\n").ok());
  CHECK(ReadAuthorizedKeys(path).status().message() == path + ": line 2: not a public key (40 characters of Z85)");
}

}  // namespace
}  // namespace tandem
