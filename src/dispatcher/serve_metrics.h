// What `serve` exposes at GET /metrics, in the Prometheus text format
// (version 0.0.4): requests answered by status code, their latency as a
// histogram, requests in flight and queued, per stage of the serving
// pipeline its compute, queue, decode and encode time and its requests, per
// hop the bytes sent, each worker up or down, recoveries, the model
// generation, and the planner's predicted throughput beside the measured one.
//
// Thread-safe: the HTTP threads count requests, the Streamer's thread counts
// results and pipeline changes, /metrics reads.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "dispatcher/streamer.h"

namespace tandem {

class ServeMetrics {
 public:
  // An answered HTTP inference request: its status and seconds from arrival.
  void ObserveRequest(int status, double seconds);
  void RequestStarted();
  void RequestEnded();
  // A result handed over by the Streamer (its stages' timings).
  void ObserveDelivery(const Delivery& delivery);
  // The pipeline serving now: workers per stage, every worker of the cluster
  // and whether it is admitted, recoveries and generation so far.
  void SetPipeline(const std::vector<std::string>& stage_workers, const std::map<std::string, bool>& workers_up,
                   int recoveries, int generation);
  // The planner's throughput for the first plan (requests/s; 0: none).
  void SetPredictedThroughput(double per_s);
  // The exposition, with `queued` requests waiting now.
  std::string Render(int queued) const;

  // Upper bounds of the latency buckets (seconds).
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
  std::array<uint64_t, kBuckets.size()> buckets_{};
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  int in_flight_ = 0;
  std::vector<StageStats> stages_;  // of the pipeline serving now
  std::vector<std::string> stage_workers_;
  std::map<std::string, bool> workers_up_;
  int recoveries_ = 0, generation_ = 1;
  double predicted_per_s_ = 0;
  uint64_t completed_ = 0;
  std::chrono::steady_clock::time_point rate_since_ = std::chrono::steady_clock::now();
  uint64_t rate_count_ = 0;  // results since rate_since_
  double measured_per_s_ = 0;
};

}  // namespace tandem
