#include "common/util/files.h"

#include <catch2/catch.hpp>

#include "support.h"

namespace tandem {
namespace {

TEST_CASE("files: whole reads, atomic writes, directories and listings", "[files]") {
  test::TempDir dir;
  const std::string d = dir.path();
  REQUIRE(WriteFileAtomic(d + "/a.npy", "abc").ok());
  CHECK(ReadFile(d + "/a.npy").value() == "abc");
  CHECK(ReadFile(d + "/a.npy", 2).status().message().find("larger than the limit of 2 bytes") != std::string::npos);
  auto missing = ReadFile(d + "/none");
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(missing.status().message().find(d + "/none") == 0);
  CHECK(ReadFile(d).status().message().find("is a directory") != std::string::npos);

  REQUIRE(MakeDirs(d + "/x/y/z").ok());
  CHECK(MakeDirs(d + "/x/y").ok());  // exists: fine
  CHECK(MakeDirs(d + "/a.npy").message().find("exists and is not a directory") != std::string::npos);

  REQUIRE(WriteFileAtomic(d + "/c.npy", "").ok());
  REQUIRE(WriteFileAtomic(d + "/b.txt", "").ok());
  REQUIRE(MakeDirs(d + "/dir.npy").ok());  // a directory is not listed
  CHECK(ListFiles(d, ".npy").value() == std::vector<std::string>{"a.npy", "c.npy"});
  CHECK(ListFiles(d + "/none", ".npy").status().code() == Status::Code::kNotFound);
}

}  // namespace
}  // namespace tandem
