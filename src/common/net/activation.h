// The ACTIVATION message: one request's tensors on their way along the
// pipeline (dispatcher -> stage 0 -> ... -> dispatcher). This file is its
// only encoder and decoder; the dispatcher, the worker, the move-cost
// measurement and the hop benchmark all go through it.
//
// Body layout (after the protocol header, protocol.h), little-endian:
//
//   u32 model_version   u32 stage (the stage it is addressed to)
//   u32 tensor count (1..kMaxTensorsPerMessage)
//   that many tensor frames (codec.h)
//   timings trailer:
//     u32 record count (<= kMaxTimings)
//     per record: u16 stage, u32 queue_us, u32 decode_us, u32 compute_us,
//                 u32 encode_us, u64 bytes_out, f64 max_abs_error
//     (minor 2) per record: u64 recv_unix_us, u64 send_unix_us
//
// The trailer comes last so that a stage appends its own record after
// encoding its outputs, and the last record's send time is the message's
// last 8 bytes (SetLastSendTime). A trailer without the times (a 1.1 peer)
// decodes with zero times.
//
// Thread safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/net/codec.h"
#include "common/net/wire_coding.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

constexpr uint32_t kMaxTimings = 256;  // one record per stage a request has passed

// What one stage spent on one request; appended by every stage it passes.
struct StageTiming {
  uint16_t stage = 0;
  uint32_t queue_us = 0;  // decoded, waiting for compute
  uint32_t decode_us = 0;
  uint32_t compute_us = 0;
  uint32_t encode_us = 0;
  uint64_t bytes_out = 0;    // frame bytes this stage sent on
  double max_abs_error = 0;  // largest error its lossy codec introduced (0: lossless)
  // Wall-clock times (µs since the Unix epoch; 0: unknown, e.g. a 1.1 peer):
  // when the stage took the request off its socket, and when the socket
  // accepted its output. The next hop's receive time minus this send time is
  // the transfer time of that hop, when the two clocks agree.
  uint64_t recv_unix_us = 0;
  uint64_t send_unix_us = 0;
};

// The fixed part at the start of the body: enough to route a message before
// its tensors are decoded.
struct ActivationHeader {
  uint32_t model_version = 0;
  uint32_t stage = 0;        // the stage index this message is addressed to
  uint32_t num_tensors = 0;  // on encoding: filled in from the tensors
};

// Encodes a whole ACTIVATION message (protocol header included) for request
// `id`: `tensors` in frames of `codec`, then the trailer holding `timings`
// and, when `own` is not null, the sending stage's own record last (its
// encode_us, bytes_out and max_abs_error are filled in here; it is left out
// when the trailer already holds kMaxTimings records). The message is built
// in one buffer reserved up front: frames are never copied. `stats`
// (optional) accumulates the codec's figures. Errors: no tensors or more than
// kMaxTensorsPerMessage, a codec error.
Result<std::string> EncodeActivation(uint64_t id, const ActivationHeader& header,
                                     const std::vector<HostTensor>& tensors, const CodecSpec& codec,
                                     const std::vector<StageTiming>& timings, StageTiming* own = nullptr,
                                     EncodeStats* stats = nullptr);

// Decoding is in two steps so that a receiver routes (and may drop) a
// message before it decodes megabytes of tensors. `body` reads the message
// after its protocol header.
//
// Step 1: the header. Errors: kCorruption (truncated, no tensors or too many).
Result<ActivationHeader> DecodeActivationHeader(Reader& body);

struct ActivationPayload {
  std::vector<HostTensor> tensors;   // header.num_tensors of them
  std::vector<StageTiming> timings;  // one per stage passed
};
// Step 2: the tensors and the trailer, which must end the body. The decoded
// tensors together hold at most `max_bytes` (a bound on the whole message, so
// frames that inflate cannot add up past it). Errors: kCorruption,
// kInvalidArgument (over the bound).
Result<ActivationPayload> DecodeActivationPayload(Reader& body, const ActivationHeader& header, uint64_t max_bytes);

// Overwrites the send time of the last timing record of a whole encoded
// ACTIVATION message whose trailer has at least one record and its times: a
// sender stamps the moment its socket takes the message.
void SetLastSendTime(void* message, size_t size, uint64_t unix_us);
// Now, in µs since the Unix epoch (the clock of StageTiming's times).
uint64_t UnixMicros();
// A duration as StageTiming's µs fields hold it (clamped to 32 bits).
uint32_t TimingMicros(std::chrono::steady_clock::duration d);

}  // namespace tandem
