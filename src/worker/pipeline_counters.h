// What the worker's data path counts, read by the control thread (STATUS).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace tandem {

// Counters shared with the control thread. Thread-safe.
struct PipelineCounters {
  std::atomic<uint64_t> received{0}, computed{0}, sent{0}, failed{0}, dropped{0}, bytes_in{0}, bytes_out{0};
  // Data messages from a peer not authorized to send them (not in dropped).
  std::atomic<uint64_t> refused{0};

  void RecordTimes(double compute_s, double queue_s);
  // Means over the most recent requests.
  void RecentMeans(double* compute_s, double* queue_s) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> recent_;  // ring of (compute, queue)
  size_t next_ = 0;
};

}  // namespace tandem
