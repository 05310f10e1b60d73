// The tensor codec: how activations are serialized for the wire.
//
// Codecs (numbers are wire values; do not renumber):
//   raw      (0) the bytes as they are
//   lz4      (1) LZ4 block compression: lossless
//   zfp      (2) ZFP: reversible (lossless), or lossy fixed-accuracy (absolute
//                error tolerance), fixed-rate (bits per value) or
//                fixed-precision (bit planes)
//   zfp+lz4  (3) ZFP, then LZ4 over ZFP's stream (the default, as in DEFER)
// ZFP handles float32 and float64 tensors; other dtypes fall back to raw (for
// zfp) or lz4 (for zfp+lz4). A tensor that a codec would not make smaller
// (random data, say) is sent raw. The frame records the codec actually used.
//
// A frame describes itself (all integers little-endian):
//   u8  frame version (1)       u8  dtype (DType)
//   u8  codec used              u8  zfp mode (ZfpMode)
//   f64 zfp parameter           u8  rank (<= kMaxRank)
//   i64 dims[rank]              u64 raw bytes (numel * dtype size)
//   u64 payload bytes           f64 max |decoded - original| (0 if lossless)
//   u32 XXH32 of the payload    payload
// A zfp+lz4 payload is u64 zfp-stream bytes, then the LZ4 block.
//
// Lossless modes round-trip bit for bit. Lossy modes decode the frame once
// while encoding and record the largest absolute error in the frame.
#pragma once

#include <cstdint>
#include <string>

#include "common/net/wire_coding.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

enum class Codec : uint8_t { kRaw = 0, kLz4 = 1, kZfp = 2, kZfpLz4 = 3 };
enum class ZfpMode : uint8_t { kReversible = 0, kAccuracy = 1, kRate = 2, kPrecision = 3 };

constexpr uint8_t kFrameVersion = 1;
constexpr int kMaxRank = 8;

struct CodecSpec {
  Codec codec = Codec::kZfpLz4;
  ZfpMode zfp_mode = ZfpMode::kReversible;
  // kAccuracy: absolute tolerance (> 0); kRate: bits per value (0 < r <= 64);
  // kPrecision: bit planes (1..64); unused for kReversible.
  double zfp_param = 0;

  bool uses_zfp() const { return codec == Codec::kZfp || codec == Codec::kZfpLz4; }
  bool lossless() const { return !uses_zfp() || zfp_mode == ZfpMode::kReversible; }
  // The text ParseCodec reads: "raw", "lz4", "zfp+lz4", "zfp:accuracy=0.001", ...
  std::string ToString() const;
};

// Parses raw | lz4 | zfp[:MODE] | zfp+lz4[:MODE] with MODE one of
// reversible, accuracy=T, rate=R, precision=P.
Result<CodecSpec> ParseCodec(const std::string& text);
Status ValidateCodec(const CodecSpec& spec);

// Buffers beside the tensors themselves, in tensor sizes, that a worker's
// codec work takes at most with `spec`: decoding one request's input (the
// received message, and ZFP's stream for zfp+lz4) while encoding another's
// output (the frame, LZ4's or ZFP's output, ZFP's stream and LZ4's for
// zfp+lz4, a lossy mode's check decode). The two run on different threads;
// the larger counts: raw 1, lz4 2, zfp 2 (lossy 3), zfp+lz4 3 (lossy 4).
int CodecScratchCopies(const CodecSpec& spec);

struct EncodeStats {
  uint64_t raw_bytes = 0;
  uint64_t frame_bytes = 0;
  double max_abs_error = 0;
};

// The most bytes EncodeTensor appends for `tensor` with any codec (a codec
// never sends more than the raw bytes): reserve it to append frames without
// copying earlier ones.
size_t MaxFrameBytes(const HostTensor& tensor);

// Appends one frame for `tensor` to `out`. kNone tensors are encoded as a
// frame of dtype none with no payload.
Status EncodeTensor(const HostTensor& tensor, const CodecSpec& spec, std::string* out, EncodeStats* stats = nullptr);

struct DecodeLimits {
  uint64_t max_tensor_bytes = 1ull << 30;  // largest decoded tensor accepted
};

struct DecodedInfo {
  Codec codec = Codec::kRaw;
  double max_abs_error = 0;
  uint64_t frame_bytes = 0;
};

// Decodes one frame from `in`. Corrupt, truncated or oversized frames give
// kCorruption / kInvalidArgument errors; nothing is allocated beyond limits.
Result<HostTensor> DecodeTensor(Reader* in, const DecodeLimits& limits, DecodedInfo* info = nullptr);

}  // namespace tandem
