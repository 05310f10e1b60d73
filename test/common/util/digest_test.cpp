#include "common/util/digest.h"

#include <catch2/catch.hpp>
#include <vector>

namespace tandem {
namespace {

// Known answers published with the algorithms, not computed by the code
// under test.

TEST_CASE("SHA-256 matches the FIPS 180-4 examples", "[digest]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Sha256Hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("XXH32 matches xxHash's published sanity vectors", "[digest]") {
  // xxHash's own sanity check: a 101-byte buffer of the top bytes of
  // successive squares of PRIME32 (the reference's sanityBuffer), with seed
  // 0 and seed PRIME32.
  constexpr uint32_t kPrime = 2654435761u;
  std::vector<uint8_t> buffer(101);
  uint32_t gen = kPrime;
  for (auto& b : buffer) {
    b = static_cast<uint8_t>(gen >> 24);
    gen *= gen;
  }
  CHECK(buffer[0] == 0x9e);
  CHECK(Xxh32(nullptr, 0, 0) == 0x02CC5D05u);
  CHECK(Xxh32(nullptr, 0, kPrime) == 0x36B78AE7u);
  CHECK(Xxh32(buffer.data(), 1, 0) == 0xB85CBEE5u);
  CHECK(Xxh32(buffer.data(), 1, kPrime) == 0xD5845D64u);
  CHECK(Xxh32(buffer.data(), 14, 0) == 0xE5AA0AB4u);
  CHECK(Xxh32(buffer.data(), 14, kPrime) == 0x4481951Du);
  CHECK(Xxh32(buffer.data(), 101, 0) == 0x1F1AA412u);
  CHECK(Xxh32(buffer.data(), 101, kPrime) == 0x498EC8E2u);
  // Short strings, as published by other implementations' test suites.
  CHECK(Xxh32("a", 1, 0) == 0x550D7456u);
  CHECK(Xxh32("abc", 3, 0) == 0x32D153FFu);
}

}  // namespace
}  // namespace tandem
