// Fuzz target: tensor frames (every codec: raw, LZ4, ZFP, ZFP+LZ4) one after
// another, each decoded within a 16 MiB bound.
#include <cstddef>
#include <cstdint>

#include "common/net/codec.h"

using namespace tandem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r(data, size);
  DecodeLimits limits;
  limits.max_tensor_bytes = 16 << 20;
  for (int i = 0; i < 4 && r.remaining() > 0; ++i)
    if (!DecodeTensor(&r, limits).ok()) break;
  return 0;
}
