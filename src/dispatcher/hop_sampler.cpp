#include "dispatcher/hop_sampler.h"

#include <algorithm>

namespace tandem {

std::vector<HopSample> HopSampler::Take(const std::vector<StageTiming>& t, const RequestClock& clock) {
  std::vector<HopSample> out;
  const size_t stages = last_arrival_us_.size() - 1;
  if (t.size() != stages) return out;
  for (size_t k = 0; k < stages; ++k)
    if (t[k].stage != k) return out;
  for (size_t hop = 0; hop <= stages; ++hop) {
    const uint64_t sent = hop == 0 ? clock.sent_unix_us : t[hop - 1].send_unix_us;
    const uint64_t arrived = hop == stages ? clock.received_unix_us : t[hop].recv_unix_us;
    const uint64_t bytes = hop == 0 ? clock.sent_bytes : t[hop - 1].bytes_out;
    if (sent == 0 || arrived == 0 || bytes == 0) continue;
    const uint64_t start = std::max(sent, last_arrival_us_[hop]);
    last_arrival_us_[hop] = std::max(last_arrival_us_[hop], arrived);
    if (arrived <= start) continue;  // clocks that disagree, or out of order
    if (hop < stages) {
      const StageTiming& to = t[hop];
      if (to.queue_us > std::max<uint64_t>(1000, to.compute_us / 10)) continue;  // the receiver held it up
    }
    out.push_back(HopSample{hop, bytes, static_cast<double>(arrived - start) * 1e-6});
  }
  return out;
}

}  // namespace tandem
