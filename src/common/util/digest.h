// Content digests, from packaged libraries rather than copies of our own:
// SHA-256 (libsodium, already linked through libzmq) names models and stage
// archives; XXH32 (libxxhash, header-only) checksums tensor frames on the
// wire. XXH32 detects corruption; it does not authenticate.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tandem {

// The SHA-256 of `data` as 64 lowercase hex characters.
std::string Sha256Hex(const void* data, size_t len);
std::string Sha256Hex(const std::string& data);

// XXH32 of `data` with `seed`, as the xxHash specification defines it.
uint32_t Xxh32(const void* data, size_t len, uint32_t seed = 0);

}  // namespace tandem
