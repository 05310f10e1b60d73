#include "common/util/digest.h"

#include <sodium.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tandem {

std::string Sha256Hex(const void* data, size_t len) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  // crypto_hash_sha256 needs no sodium_init(): it uses no random numbers
  // and picks no CPU-specific code.
  crypto_hash_sha256(digest, static_cast<const unsigned char*>(data), len);
  static const char kHex[] = "0123456789abcdef";
  std::string out(2 * sizeof digest, '\0');
  for (size_t i = 0; i < sizeof digest; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

std::string Sha256Hex(const std::string& data) { return Sha256Hex(data.data(), data.size()); }

uint32_t Xxh32(const void* data, size_t len, uint32_t seed) { return XXH32(data, len, seed); }

}  // namespace tandem
