#include "common/net/codec.h"

#include <lz4.h>
#include <zfp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "common/util/digest.h"

namespace tandem {
namespace {

bool ZfpSupports(DType d) { return d == DType::kFloat32 || d == DType::kFloat64; }

Codec Effective(const CodecSpec& spec, DType dtype) {
  if (!spec.uses_zfp() || ZfpSupports(dtype)) return spec.codec;
  return spec.codec == Codec::kZfpLz4 ? Codec::kLz4 : Codec::kRaw;
}

// RAII for the zfp C objects.
struct ZfpHandles {
  zfp_field* field = nullptr;
  zfp_stream* stream = nullptr;
  bitstream* bits = nullptr;
  ~ZfpHandles() {
    if (bits) stream_close(bits);
    if (stream) zfp_stream_close(stream);
    if (field) zfp_field_free(field);
  }
};

// Sets up a zfp field over `data` (C order: the last dim varies fastest, so it
// is zfp's x). Ranks above 4 fold their leading dims into zfp's slowest one.
// Encoder and decoder derive the same field from the frame's shape.
Status OpenZfp(DType dtype, const std::vector<int64_t>& shape, void* data, ZfpMode mode, double param, ZfpHandles* h) {
  // Size-1 dims are dropped: zfp codes blocks of 4 along every dim, so a
  // dim of 1 would be three quarters padding (a batch of 1 is common).
  std::vector<size_t> d;
  for (int64_t v : shape)
    if (v != 1) d.push_back(static_cast<size_t>(v));
  if (d.empty()) d.push_back(1);
  while (d.size() > 4) {
    d[1] *= d[0];
    d.erase(d.begin());
  }
  const zfp_type type = dtype == DType::kFloat32 ? zfp_type_float : zfp_type_double;
  switch (d.size()) {
    case 1: h->field = zfp_field_1d(data, type, d[0]); break;
    case 2: h->field = zfp_field_2d(data, type, d[1], d[0]); break;
    case 3: h->field = zfp_field_3d(data, type, d[2], d[1], d[0]); break;
    default: h->field = zfp_field_4d(data, type, d[3], d[2], d[1], d[0]); break;
  }
  h->stream = zfp_stream_open(nullptr);
  if (!h->field || !h->stream) return Status::Internal("zfp: cannot allocate");
  switch (mode) {
    case ZfpMode::kReversible: zfp_stream_set_reversible(h->stream); break;
    case ZfpMode::kAccuracy: zfp_stream_set_accuracy(h->stream, param); break;
    case ZfpMode::kRate: zfp_stream_set_rate(h->stream, param, type, static_cast<uint>(d.size()), zfp_false); break;
    case ZfpMode::kPrecision: zfp_stream_set_precision(h->stream, static_cast<uint>(param)); break;
  }
  return Status::OK();
}

Status ZfpCompress(const HostTensor& t, ZfpMode mode, double param, std::string* out) {
  ZfpHandles h;
  TANDEM_RETURN_IF_ERROR(OpenZfp(t.dtype, t.shape, const_cast<uint8_t*>(t.data.data()), mode, param, &h));
  const size_t cap = zfp_stream_maximum_size(h.stream, h.field);
  out->assign(cap, '\0');
  h.bits = stream_open(&(*out)[0], cap);
  zfp_stream_set_bit_stream(h.stream, h.bits);
  zfp_stream_rewind(h.stream);
  const size_t n = zfp_compress(h.stream, h.field);
  if (n == 0) return Status::Internal("zfp: compression failed");
  out->resize(n);
  return Status::OK();
}

// Decompresses into t (dtype and shape set, data sized). The stream is copied
// into a buffer padded to zfp's maximum size for the field, so a corrupt
// stream cannot make zfp read past the end.
Status ZfpDecompress(const uint8_t* src, size_t n, ZfpMode mode, double param, HostTensor* t) {
  ZfpHandles h;
  TANDEM_RETURN_IF_ERROR(OpenZfp(t->dtype, t->shape, t->data.data(), mode, param, &h));
  const size_t cap = zfp_stream_maximum_size(h.stream, h.field);
  if (n > cap) return Status::Corruption("zfp stream is larger than the field allows");
  std::string buf(cap + 64, '\0');
  std::copy(src, src + n, buf.begin());
  h.bits = stream_open(&buf[0], buf.size());
  zfp_stream_set_bit_stream(h.stream, h.bits);
  zfp_stream_rewind(h.stream);
  if (zfp_decompress(h.stream, h.field) == 0) return Status::Corruption("zfp stream does not decode");
  return Status::OK();
}

size_t ZfpMaxSize(DType dtype, const std::vector<int64_t>& shape, ZfpMode mode, double param) {
  ZfpHandles h;
  if (!OpenZfp(dtype, shape, nullptr, mode, param, &h).ok()) return 0;
  return zfp_stream_maximum_size(h.stream, h.field);
}

Status Lz4Compress(const uint8_t* src, size_t n, std::string* out) {
  if (n > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return Status::InvalidArgument("tensor too large for lz4");
  const int cap = LZ4_compressBound(static_cast<int>(n));
  const size_t start = out->size();
  out->resize(start + static_cast<size_t>(cap));
  const int w = LZ4_compress_default(reinterpret_cast<const char*>(src), &(*out)[start], static_cast<int>(n), cap);
  if (w <= 0) return Status::Internal("lz4: compression failed");
  out->resize(start + static_cast<size_t>(w));
  return Status::OK();
}

Status Lz4Decompress(const uint8_t* src, size_t n, uint8_t* dst, size_t expect) {
  if (n > static_cast<size_t>(LZ4_MAX_INPUT_SIZE) || expect > static_cast<size_t>(LZ4_MAX_INPUT_SIZE))
    return Status::Corruption("lz4 block too large");
  const int r = LZ4_decompress_safe(reinterpret_cast<const char*>(src), reinterpret_cast<char*>(dst),
                                    static_cast<int>(n), static_cast<int>(expect));
  if (r < 0 || static_cast<size_t>(r) != expect)
    return Status::Corruption("lz4 block does not decode to the stated size");
  return Status::OK();
}

Status DecodePayload(Codec codec, ZfpMode mode, double param, const uint8_t* p, size_t n, HostTensor* t) {
  switch (codec) {
    case Codec::kRaw:
      if (n != t->data.size()) return Status::Corruption("raw payload size does not match the shape");
      std::copy(p, p + n, t->data.begin());
      return Status::OK();
    case Codec::kLz4: return Lz4Decompress(p, n, t->data.data(), t->data.size());
    case Codec::kZfp: return ZfpDecompress(p, n, mode, param, t);
    case Codec::kZfpLz4: {
      Reader r(p, n);
      uint64_t zfp_bytes;
      if (!r.U64(&zfp_bytes)) return Status::Corruption("zfp+lz4 payload truncated");
      if (zfp_bytes > ZfpMaxSize(t->dtype, t->shape, mode, param))
        return Status::Corruption("zfp+lz4 payload states an impossible zfp size");
      std::string zbuf(static_cast<size_t>(zfp_bytes), '\0');
      TANDEM_RETURN_IF_ERROR(
          Lz4Decompress(r.position(), r.remaining(), reinterpret_cast<uint8_t*>(&zbuf[0]), zbuf.size()));
      return ZfpDecompress(reinterpret_cast<const uint8_t*>(zbuf.data()), zbuf.size(), mode, param, t);
    }
  }
  return Status::Corruption("unknown codec");
}

double MaxAbsError(const HostTensor& a, const HostTensor& b) {
  double m = 0;
  const int64_t n = a.numel();
  if (a.dtype == DType::kFloat32) {
    for (int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::fabs(a.f32()[i] - b.f32()[i])));
  } else {
    auto x = reinterpret_cast<const double*>(a.data.data());
    auto y = reinterpret_cast<const double*>(b.data.data());
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  }
  return m;
}

bool AllFinite(const HostTensor& t) {
  const int64_t n = t.numel();
  if (t.dtype == DType::kFloat32) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(t.f32()[i])) return false;
  } else if (t.dtype == DType::kFloat64) {
    auto x = reinterpret_cast<const double*>(t.data.data());
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(x[i])) return false;
  }
  return true;
}

}  // namespace

std::string CodecSpec::ToString() const {
  std::string s;
  switch (codec) {
    case Codec::kRaw: return "raw";
    case Codec::kLz4: return "lz4";
    case Codec::kZfp: s = "zfp"; break;
    case Codec::kZfpLz4: s = "zfp+lz4"; break;
  }
  char buf[64];
  switch (zfp_mode) {
    case ZfpMode::kReversible: return s;
    case ZfpMode::kAccuracy: std::snprintf(buf, sizeof buf, ":accuracy=%g", zfp_param); break;
    case ZfpMode::kRate: std::snprintf(buf, sizeof buf, ":rate=%g", zfp_param); break;
    case ZfpMode::kPrecision: std::snprintf(buf, sizeof buf, ":precision=%g", zfp_param); break;
  }
  return s + buf;
}

Status ValidateCodec(const CodecSpec& s) {
  if (static_cast<uint8_t>(s.codec) > 3) return Status::InvalidArgument("unknown codec");
  if (!s.uses_zfp()) return Status::OK();
  const double p = s.zfp_param;
  switch (s.zfp_mode) {
    case ZfpMode::kReversible: return Status::OK();
    case ZfpMode::kAccuracy:
      if (std::isfinite(p) && p > 0) return Status::OK();
      return Status::InvalidArgument("zfp accuracy must be a positive tolerance, e.g. accuracy=0.001");
    case ZfpMode::kRate:
      if (p > 0 && p <= 64) return Status::OK();
      return Status::InvalidArgument("zfp rate must be in (0, 64] bits per value, e.g. rate=8");
    case ZfpMode::kPrecision:
      if (p >= 1 && p <= 64 && p == std::floor(p)) return Status::OK();
      return Status::InvalidArgument("zfp precision must be a whole number of bit planes in 1..64");
  }
  return Status::InvalidArgument("unknown zfp mode");
}

Result<CodecSpec> ParseCodec(const std::string& text) {
  CodecSpec s;
  const size_t colon = text.find(':');
  const std::string name = text.substr(0, colon);
  const std::string mode = colon == std::string::npos ? "" : text.substr(colon + 1);
  const std::string help = "codec '" + text +
                           "': expected raw, lz4, zfp or zfp+lz4, optionally with :reversible, "
                           ":accuracy=T, :rate=R or :precision=P after zfp";
  if (name == "raw")
    s.codec = Codec::kRaw;
  else if (name == "lz4")
    s.codec = Codec::kLz4;
  else if (name == "zfp")
    s.codec = Codec::kZfp;
  else if (name == "zfp+lz4")
    s.codec = Codec::kZfpLz4;
  else
    return Status::InvalidArgument(help);
  if (!mode.empty()) {
    if (!s.uses_zfp()) return Status::InvalidArgument(help);
    const size_t eq = mode.find('=');
    const std::string key = mode.substr(0, eq);
    if (key == "reversible" && eq == std::string::npos) {
      s.zfp_mode = ZfpMode::kReversible;
    } else if (eq != std::string::npos && (key == "accuracy" || key == "rate" || key == "precision")) {
      s.zfp_mode = key == "accuracy" ? ZfpMode::kAccuracy : key == "rate" ? ZfpMode::kRate : ZfpMode::kPrecision;
      const std::string value = mode.substr(eq + 1);
      char* end = nullptr;
      s.zfp_param = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') return Status::InvalidArgument(help);
    } else {
      return Status::InvalidArgument(help);
    }
  }
  TANDEM_RETURN_IF_ERROR(ValidateCodec(s).WithContext("codec '" + text + "'"));
  return s;
}

int CodecScratchCopies(const CodecSpec& spec) {
  const int lossy_check = spec.lossless() ? 0 : 1;
  switch (spec.codec) {
    case Codec::kRaw: return 1;                   // message | frame
    case Codec::kLz4: return 2;                   // message | frame, LZ4 output
    case Codec::kZfp: return 2 + lossy_check;     // message | frame, ZFP stream, check
    case Codec::kZfpLz4: return 3 + lossy_check;  // message, ZFP stream | frame, ZFP stream, LZ4 output, check
  }
  return 4;
}

Status EncodeTensor(const HostTensor& t, const CodecSpec& spec, std::string* out, EncodeStats* stats) {
  TANDEM_RETURN_IF_ERROR(ValidateCodec(spec));
  if (t.shape.size() > static_cast<size_t>(kMaxRank))
    return Status::InvalidArgument("tensor rank " + std::to_string(t.shape.size()) + " exceeds " +
                                   std::to_string(kMaxRank));
  TANDEM_ASSIGN_OR_RETURN(uint64_t expect_bytes, ShapeBytes(t.dtype, t.shape));
  if (expect_bytes != t.data.size()) return Status::InvalidArgument("tensor data size does not match its shape");
  const int64_t numel = t.numel();
  Codec codec = t.is_none() || numel == 0 ? Codec::kRaw : Effective(spec, t.dtype);
  // Lossy ZFP does not handle NaN or infinity; such tensors go raw (exact).
  if ((codec == Codec::kZfp || codec == Codec::kZfpLz4) && spec.zfp_mode != ZfpMode::kReversible && !AllFinite(t))
    codec = spec.codec == Codec::kZfpLz4 ? Codec::kLz4 : Codec::kRaw;

  // The payload is built apart only when a codec transforms the data; raw
  // data is checksummed and appended straight from the tensor.
  std::string payload;
  switch (codec) {
    case Codec::kRaw: break;
    case Codec::kLz4: TANDEM_RETURN_IF_ERROR(Lz4Compress(t.data.data(), t.data.size(), &payload)); break;
    case Codec::kZfp: TANDEM_RETURN_IF_ERROR(ZfpCompress(t, spec.zfp_mode, spec.zfp_param, &payload)); break;
    case Codec::kZfpLz4: {
      std::string z;
      TANDEM_RETURN_IF_ERROR(ZfpCompress(t, spec.zfp_mode, spec.zfp_param, &z));
      Writer(&payload).U64(z.size());
      TANDEM_RETURN_IF_ERROR(Lz4Compress(reinterpret_cast<const uint8_t*>(z.data()), z.size(), &payload));
      break;
    }
  }
  // Data that does not compress (random inputs, say) goes raw: smaller, and
  // exact. The frame records the codec actually used.
  if (codec != Codec::kRaw && payload.size() >= t.data.size()) {
    codec = Codec::kRaw;
    payload.clear();
  }
  const uint8_t* pdata = codec == Codec::kRaw ? t.data.data() : reinterpret_cast<const uint8_t*>(payload.data());
  const size_t plen = codec == Codec::kRaw ? t.data.size() : payload.size();
  const bool zfp = codec == Codec::kZfp || codec == Codec::kZfpLz4;
  double max_err = 0;
  if (zfp && spec.zfp_mode != ZfpMode::kReversible) {
    HostTensor back = HostTensor::Zeros(t.dtype, t.shape);
    TANDEM_RETURN_IF_ERROR(DecodePayload(codec, spec.zfp_mode, spec.zfp_param, pdata, plen, &back));
    max_err = MaxAbsError(t, back);
  }
  const size_t start = out->size();
  out->reserve(start + 64 + 8 * t.shape.size() + plen);
  Writer w(out);
  w.U8(kFrameVersion);
  w.U8(static_cast<uint8_t>(t.dtype));
  w.U8(static_cast<uint8_t>(codec));
  w.U8(static_cast<uint8_t>(zfp ? spec.zfp_mode : ZfpMode::kReversible));
  w.F64(zfp ? spec.zfp_param : 0.0);
  w.U8(static_cast<uint8_t>(t.shape.size()));
  for (int64_t d : t.shape) w.I64(d);
  w.U64(t.data.size());
  w.U64(plen);
  w.F64(max_err);
  w.U32(Xxh32(pdata, plen));
  w.Raw(pdata, plen);
  if (stats) {
    stats->raw_bytes += t.data.size();
    stats->frame_bytes += out->size() - start;
    stats->max_abs_error = std::max(stats->max_abs_error, max_err);
  }
  return Status::OK();
}

size_t MaxFrameBytes(const HostTensor& t) {
  // version, dtype, codec, mode (u8), parameter (f64), rank (u8), dims,
  // raw and payload bytes (u64), max error (f64), checksum (u32).
  return 4 + 8 + 1 + 8 * t.shape.size() + 8 + 8 + 8 + 4 + t.nbytes();
}

Result<HostTensor> DecodeTensor(Reader* in, const DecodeLimits& limits, DecodedInfo* info) {
  const size_t before = in->remaining();
  uint8_t version, dtype, codec, mode, rank;
  double param, max_err;
  uint64_t raw_bytes, payload_bytes;
  uint32_t checksum;
  in->U8(&version);
  in->U8(&dtype);
  in->U8(&codec);
  in->U8(&mode);
  in->F64(&param);
  in->U8(&rank);
  if (!in->ok()) return Status::Corruption("tensor frame truncated");
  if (version != kFrameVersion)
    return Status::VersionMismatch("tensor frame version " + std::to_string(version) + " (expected " +
                                   std::to_string(kFrameVersion) + ")");
  if (dtype > static_cast<uint8_t>(DType::kBFloat16)) return Status::Corruption("tensor frame has unknown dtype");
  if (codec > static_cast<uint8_t>(Codec::kZfpLz4)) return Status::Corruption("tensor frame has unknown codec");
  if (mode > static_cast<uint8_t>(ZfpMode::kPrecision)) return Status::Corruption("tensor frame has unknown zfp mode");
  if (rank > kMaxRank) return Status::Corruption("tensor frame rank " + std::to_string(rank) + " exceeds limit");
  HostTensor t;
  t.dtype = static_cast<DType>(dtype);
  for (int i = 0; i < rank; ++i) {
    int64_t d = 0;
    if (!in->I64(&d)) return Status::Corruption("tensor frame truncated in shape");
    if (d < 0 || d > (int64_t{1} << 40)) return Status::Corruption("tensor frame has an invalid dimension");
    t.shape.push_back(d);
  }
  in->U64(&raw_bytes);
  in->U64(&payload_bytes);
  in->F64(&max_err);
  in->U32(&checksum);
  if (!in->ok()) return Status::Corruption("tensor frame truncated");
  auto shape_bytes = ShapeBytes(t.dtype, t.shape);
  if (!shape_bytes.ok()) return Status::Corruption("tensor frame shape overflows");
  if (t.is_none() ? (raw_bytes != 0 || rank != 0) : shape_bytes.value() != raw_bytes)
    return Status::Corruption("tensor frame size does not match its shape");
  if (raw_bytes > limits.max_tensor_bytes)
    return Status::InvalidArgument("tensor of " + std::to_string(raw_bytes) + " bytes exceeds the limit of " +
                                   std::to_string(limits.max_tensor_bytes));
  // Every size below is a size_t: on a 32-bit device a frame's sizes must
  // leave room for the codec's own buffers (about three times the tensor).
  if (raw_bytes > std::numeric_limits<size_t>::max() / 4 || payload_bytes > std::numeric_limits<size_t>::max() / 4)
    return Status::InvalidArgument("tensor of " + std::to_string(raw_bytes) + " bytes is too large for this machine");
  const uint8_t* payload = nullptr;
  if (payload_bytes > in->remaining() || !in->Skip(static_cast<size_t>(payload_bytes), &payload))
    return Status::Corruption("tensor frame payload truncated");
  if (Xxh32(payload, static_cast<size_t>(payload_bytes)) != checksum)
    return Status::Corruption("tensor frame checksum mismatch");
  const Codec c = static_cast<Codec>(codec);
  if ((c == Codec::kZfp || c == Codec::kZfpLz4)) {
    if (!ZfpSupports(t.dtype)) return Status::Corruption("tensor frame uses zfp for a non-float dtype");
    CodecSpec check{c, static_cast<ZfpMode>(mode), param};
    if (!ValidateCodec(check).ok()) return Status::Corruption("tensor frame has invalid zfp parameters");
  }
  if (c == Codec::kRaw) {
    // One pass: the bytes as they are (no zero fill first).
    if (payload_bytes != raw_bytes) return Status::Corruption("raw payload size does not match the shape");
    t.data.assign(payload, payload + static_cast<size_t>(raw_bytes));
  } else {
    t.data.assign(static_cast<size_t>(raw_bytes), 0);
    if (!t.is_none() && raw_bytes > 0)
      TANDEM_RETURN_IF_ERROR(
          DecodePayload(c, static_cast<ZfpMode>(mode), param, payload, static_cast<size_t>(payload_bytes), &t));
  }
  if (info) {
    info->codec = c;
    info->max_abs_error = max_err;
    info->frame_bytes = before - in->remaining();
  }
  return t;
}

}  // namespace tandem
