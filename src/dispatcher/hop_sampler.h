// Each hop's transfer time, from the clocks in a result's timings trailer.
//
// A request passes hops 0..S of an S-stage pipeline: hop 0 from the
// dispatcher into stage 0, hop k from stage k-1 into stage k, hop S from the
// last stage back to the dispatcher. The sender stamps when its socket took
// the message, the receiver when it took the message off its socket; the
// difference is the transfer, when the two clocks agree (one host, or hosts
// kept in step by NTP: a constant offset cancels in a drift, a jump shows
// as one).
//
// What is kept is the hop's service time, not its latency: a message does
// not start to cross a link before the one ahead of it on that link has
// arrived (one connection, in order), so its time counts from the later of
// its own send and the previous arrival. And a transfer a busy receiver held
// up is not counted: a receiver takes a message off its socket only when its
// queue has room, so a request that then waited in that queue for compute
// (queue_us above a tenth of the stage's compute, and 1 ms) may have waited
// in the link too. What remains is what the link itself took.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/net/activation.h"

namespace tandem {

// When the dispatcher sent a request (and its frame's bytes) and received
// its result, on the dispatcher's clock (µs since the Unix epoch; 0: unknown).
struct RequestClock {
  uint64_t sent_unix_us = 0;
  uint64_t sent_bytes = 0;
  uint64_t received_unix_us = 0;
};

struct HopSample {
  size_t hop = 0;      // 0: dispatcher -> stage 0; stages: last stage -> dispatcher
  uint64_t bytes = 0;  // the frame that crossed it
  double seconds = 0;  // its service time (> 0)
};

// One per pipeline; results must be given in the order they arrived.
class HopSampler {
 public:
  explicit HopSampler(size_t stages) : last_arrival_us_(stages + 1, 0) {}
  // The samples of one result: one per hop whose clocks are known and
  // agree (positive time), and whose receiver was not holding it up. A
  // trailer that does not hold every stage in order gives none.
  std::vector<HopSample> Take(const std::vector<StageTiming>& timings, const RequestClock& clock);

 private:
  std::vector<uint64_t> last_arrival_us_;  // per hop
};

}  // namespace tandem
