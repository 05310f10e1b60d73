#include "common/net/activation.h"

#include <algorithm>
#include <chrono>

#include "common/net/protocol.h"

namespace tandem {
namespace {

Status Truncated(const char* what) { return Status::Corruption(std::string(what) + " is truncated or malformed"); }

// A timing record before the minor-2 times: u16 + 4 x u32 + u64 + f64.
constexpr size_t kTimingRecordBytes = 2 + 4 * 4 + 8 + 8;
constexpr size_t kTimingTimesBytes = 16;

void EncodeTimings(const std::vector<StageTiming>& timings, std::string* out) {
  Writer w(out);
  w.U32(static_cast<uint32_t>(timings.size()));
  for (const auto& t : timings) {
    w.U16(t.stage);
    w.U32(t.queue_us);
    w.U32(t.decode_us);
    w.U32(t.compute_us);
    w.U32(t.encode_us);
    w.U64(t.bytes_out);
    w.F64(t.max_abs_error);
  }
  for (const auto& t : timings) {  // minor 2
    w.U64(t.recv_unix_us);
    w.U64(t.send_unix_us);
  }
}

Result<std::vector<StageTiming>> DecodeTimings(Reader& r) {
  uint32_t n = 0;
  r.U32(&n);
  if (!r.ok() || n > kMaxTimings) return Truncated("ACTIVATION timings");
  std::vector<StageTiming> timings(n);
  for (auto& t : timings) {
    r.U16(&t.stage);
    r.U32(&t.queue_us);
    r.U32(&t.decode_us);
    r.U32(&t.compute_us);
    r.U32(&t.encode_us);
    r.U64(&t.bytes_out);
    r.F64(&t.max_abs_error);
  }
  if (!r.ok()) return Truncated("ACTIVATION timings");
  if (r.remaining() != 0) {  // minor 2: times
    for (auto& t : timings) {
      r.U64(&t.recv_unix_us);
      r.U64(&t.send_unix_us);
    }
    if (!r.ok()) return Truncated("ACTIVATION timing times");
  }
  if (r.remaining() != 0) return Status::Corruption("ACTIVATION has trailing bytes after its timings");
  return timings;
}

}  // namespace

Result<std::string> EncodeActivation(uint64_t id, const ActivationHeader& header,
                                     const std::vector<HostTensor>& tensors, const CodecSpec& codec,
                                     const std::vector<StageTiming>& timings, StageTiming* own, EncodeStats* stats) {
  if (tensors.empty() || tensors.size() > kMaxTensorsPerMessage)
    return Status::InvalidArgument("an activation carries 1.." + std::to_string(kMaxTensorsPerMessage) +
                                   " tensors, not " + std::to_string(tensors.size()));
  const auto t0 = std::chrono::steady_clock::now();
  const size_t records = timings.size() + (own ? 1 : 0);
  size_t room = 12 + 4 + records * (kTimingRecordBytes + kTimingTimesBytes);
  for (const auto& t : tensors) room += MaxFrameBytes(t);
  std::string msg = StartMessage();
  msg.reserve(msg.size() + room);
  Writer w(&msg);
  w.U32(header.model_version);
  w.U32(header.stage);
  w.U32(static_cast<uint32_t>(tensors.size()));
  const size_t frames_start = msg.size();
  EncodeStats mine;
  for (const auto& t : tensors) TANDEM_RETURN_IF_ERROR(EncodeTensor(t, codec, &msg, &mine));
  if (stats) {
    stats->raw_bytes += mine.raw_bytes;
    stats->frame_bytes += mine.frame_bytes;
    stats->max_abs_error = std::max(stats->max_abs_error, mine.max_abs_error);
  }
  if (own && timings.size() < kMaxTimings) {
    own->bytes_out = msg.size() - frames_start;
    own->max_abs_error = mine.max_abs_error;
    own->encode_us = TimingMicros(std::chrono::steady_clock::now() - t0);
    std::vector<StageTiming> all = timings;
    all.push_back(*own);
    EncodeTimings(all, &msg);
  } else {
    EncodeTimings(timings, &msg);
  }
  FinishMessage(MessageType::kActivation, id, &msg);
  return msg;
}

Result<ActivationHeader> DecodeActivationHeader(Reader& r) {
  ActivationHeader h;
  r.U32(&h.model_version);
  r.U32(&h.stage);
  r.U32(&h.num_tensors);
  if (!r.ok() || h.num_tensors == 0 || h.num_tensors > kMaxTensorsPerMessage) return Truncated("ACTIVATION body");
  return h;
}

Result<ActivationPayload> DecodeActivationPayload(Reader& r, const ActivationHeader& header, uint64_t max_bytes) {
  ActivationPayload p;
  p.tensors.reserve(header.num_tensors);
  DecodeLimits limits;
  uint64_t budget = max_bytes;
  for (uint32_t i = 0; i < header.num_tensors; ++i) {
    limits.max_tensor_bytes = budget;
    TANDEM_ASSIGN_OR_RETURN(HostTensor t, DecodeTensor(&r, limits));
    budget -= t.nbytes();
    p.tensors.push_back(std::move(t));
  }
  TANDEM_ASSIGN_OR_RETURN(p.timings, DecodeTimings(r));
  return p;
}

void SetLastSendTime(void* message, size_t size, uint64_t unix_us) {
  if (size < kHeaderSize + 8) return;
  uint8_t* p = static_cast<uint8_t*>(message) + size - 8;
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(unix_us >> (8 * i));
}

uint64_t UnixMicros() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

uint32_t TimingMicros(std::chrono::steady_clock::duration d) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(us, 0, UINT32_MAX));
}

}  // namespace tandem
