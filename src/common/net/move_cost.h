// What a node spends, besides its compute, to move activations: for each
// request a stage decodes the input it received and encodes the output it
// sends, and the socket copies both through the kernel. On a small device
// that CPU time is comparable to a segment's compute, and it comes out of
// the same CPU share, so the planner adds it to each stage's compute
// (PlanNode::move_s_per_byte).
//
// Measured on this machine over loopback, as a worker does it: the tensors
// copied out of the model, an ACTIVATION message of them encoded with a
// codec, pushed over a ZeroMQ TCP connection, received, decoded and copied
// into the model's input, in rounds. A round is one
// send and one receive of the tensors' bytes, so half of its time per raw
// byte is the time per byte received or sent. Measure where the segment
// times are measured (the same CPU share and threads) so the two add up.
#pragma once

#include <cstdint>
#include <vector>

#include "common/net/codec.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

struct MoveCostOptions {
  CodecSpec codec;  // the hops' codec; default zfp+lz4 (the default codec)
  // Rounds are timed until they add up to this many seconds (and at least
  // `min_rounds` of them), after one untimed round. Default 0.2 s.
  double min_time_s = 0.2;
  int min_rounds = 3;  // default 3
};

struct MoveCost {
  double s_per_byte = 0;      // mean time per raw byte received or sent
  uint64_t sample_bytes = 0;  // raw bytes of the tensors measured
  int rounds = 0;             // timed rounds
};

// Errors: no tensors or no bytes to move, a codec error, a socket that could
// not be set up on loopback.
Result<MoveCost> MeasureMoveCost(const std::vector<HostTensor>& tensors, const MoveCostOptions& options);

}  // namespace tandem
