// XXH32 (xxHash, 32-bit variant, per its published specification): a fast
// non-cryptographic checksum for frames on the wire. It detects corruption;
// it does not authenticate.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tandem {

uint32_t Xxh32(const void* data, size_t len, uint32_t seed = 0);

}  // namespace tandem
