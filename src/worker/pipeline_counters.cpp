#include "worker/pipeline_counters.h"

namespace tandem {
namespace {
constexpr size_t kRecentWindow = 32;
}  // namespace

void PipelineCounters::RecordTimes(double compute_s, double queue_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (recent_.size() < kRecentWindow) {
    recent_.emplace_back(compute_s, queue_s);
  } else {
    recent_[next_] = {compute_s, queue_s};
    next_ = (next_ + 1) % kRecentWindow;
  }
}

void PipelineCounters::RecentMeans(double* compute_s, double* queue_s) const {
  std::lock_guard<std::mutex> lock(mu_);
  double c = 0, q = 0;
  for (const auto& r : recent_) c += r.first, q += r.second;
  const double n = recent_.empty() ? 1 : static_cast<double>(recent_.size());
  *compute_s = c / n;
  *queue_s = q / n;
}

}  // namespace tandem
