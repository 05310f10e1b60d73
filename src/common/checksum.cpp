#include "common/checksum.h"

#include <cstring>

namespace tandem {
namespace {
constexpr uint32_t kP1 = 2654435761u, kP2 = 2246822519u, kP3 = 3266489917u, kP4 = 668265263u, kP5 = 374761393u;

inline uint32_t Rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
inline uint32_t Read32(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
inline uint32_t Round(uint32_t acc, uint32_t lane) { return Rotl(acc + lane * kP2, 13) * kP1; }
}  // namespace

uint32_t Xxh32(const void* data, size_t len, uint32_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  const uint8_t* end = p + len;
  uint32_t h;
  if (len >= 16) {
    uint32_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    const uint8_t* limit = end - 16;
    do {
      v1 = Round(v1, Read32(p));
      v2 = Round(v2, Read32(p + 4));
      v3 = Round(v3, Read32(p + 8));
      v4 = Round(v4, Read32(p + 12));
      p += 16;
    } while (p <= limit);
    h = Rotl(v1, 1) + Rotl(v2, 7) + Rotl(v3, 12) + Rotl(v4, 18);
  } else {
    h = seed + kP5;
  }
  h += static_cast<uint32_t>(len);
  for (; p + 4 <= end; p += 4) h = Rotl(h + Read32(p) * kP3, 17) * kP4;
  for (; p < end; ++p) h = Rotl(h + (*p) * kP5, 11) * kP1;
  h ^= h >> 15;
  h *= kP2;
  h ^= h >> 13;
  h *= kP3;
  h ^= h >> 16;
  return h;
}

}  // namespace tandem
