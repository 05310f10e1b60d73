#include "common/sha256.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

TEST_CASE("SHA-256 matches the FIPS 180-4 examples", "[sha256]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(Sha256Hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 streaming equals one shot", "[sha256]") {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 31);
  for (size_t chunk : {1, 3, 63, 64, 65, 999}) {
    Sha256 s;
    for (size_t p = 0; p < data.size(); p += chunk) s.Update(data.data() + p, std::min(chunk, data.size() - p));
    CHECK(s.FinishHex() == Sha256Hex(data));
  }
}

}  // namespace
}  // namespace tandem
