// The memory a tandem-worker holds for one deployed stage: the one statement
// of that rule. The worker refuses a deployment over its budget by it
// (worker.cpp), and the planner places stages by it (PlanNode::activation_copies,
// set from each worker's queue depth, which HELLO_ACK reports).
//
// A worker keeps requests in two queues of `queue_depth` each (decoded and
// waiting for compute; computed and waiting to be sent), one computing and one
// being sent: 2 x depth + 2 copies of a request's activations (its input and
// its output) at most, beside the stage's weights; and its codec's scratch
// while it decodes one request and encodes another (CodecScratchCopies in
// net/codec.h: 1 for raw up to 4 for lossy zfp+lz4).
#pragma once

#include <cstdint>

namespace tandem {

// tandem-worker's --queue-depth when none is given (and what a worker that
// does not report its depth runs at).
constexpr int kDefaultWorkerQueueDepth = 2;

// Copies of one request's input and output activations a worker holds at
// once, its codec's scratch (`codec_scratch` copies) included.
constexpr int WorkerActivationCopies(int queue_depth, int codec_scratch) { return 2 * queue_depth + 2 + codec_scratch; }

// Bytes a worker counts for a stage: `weight_bytes` plus WorkerActivationCopies
// of `activation_bytes` (one request's input plus output bytes). Saturates
// at UINT64_MAX: sizes from a peer cannot wrap around a budget.
constexpr uint64_t WorkerStageMemory(uint64_t weight_bytes, uint64_t activation_bytes, int queue_depth,
                                     int codec_scratch) {
  uint64_t copies = 0, total = 0;
  const auto n = static_cast<uint64_t>(WorkerActivationCopies(queue_depth, codec_scratch));
  if (__builtin_mul_overflow(activation_bytes, n, &copies) || __builtin_add_overflow(weight_bytes, copies, &total))
    return UINT64_MAX;
  return total;
}

}  // namespace tandem
