// What `serve` exposes at GET /metrics, in the Prometheus text format
// (version 0.0.4): requests answered by status code, their latency as a
// histogram, requests in flight and queued, per stage of the serving
// pipeline its compute, queue, decode and encode time and its requests, per
// hop the bytes sent and the transfer time, each worker up or down,
// recoveries, the model generation, and the planner's predicted throughput
// beside the measured one. And what the status page (GET /) shows, as JSON:
// the stages with their load and the bottleneck, live throughput and
// latency, and recent events (failures, recoveries, updates).
//
// Thread-safe: the HTTP threads count requests, the Streamer's thread counts
// results and pipeline changes, /metrics reads.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
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
  // Something a person should see on the status page ("worker w1
  // failed"); the latest kMaxEvents are kept.
  void AddEvent(const std::string& text);
  // The exposition, with `queued` requests waiting now.
  std::string Render(int queued) const;
  // The status page's data (JSON): {"model", "ready", "stages": [{"stage",
  // "worker", "requests", "compute_ms" and "codec_ms" (decode + encode) per
  // request and "load" (the share of the time the stage computed) over the
  // last window of 5 s or more, "transfer_ms" (to the next stage),
  // "bottleneck" (the longest compute or transfer)}], "workers": {name: up}, "throughput_per_s",
  // "predicted_per_s", "latency_ms": {"p50", "p99"} (of the last
  // kLatencyWindow answers), "queued", "in_flight", "answered", "failed",
  // "generation", "recoveries", "events": [{"unix_s", "text"}] newest last}.
  std::string StatusJson(int queued, const std::string& model, bool ready) const;

  static constexpr size_t kMaxEvents = 50;
  static constexpr size_t kLatencyWindow = 1000;

  // Upper bounds of the latency buckets (seconds).
  static constexpr std::array<double, 12> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

 private:
  void AddEventLocked(double unix_s, const std::string& text);
  static double UnixSeconds();

  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
  std::array<uint64_t, kBuckets.size()> buckets_{};
  uint64_t latency_count_ = 0;
  double latency_sum_ = 0;
  int in_flight_ = 0;
  std::vector<StageStats> stages_;  // of the pipeline serving now
  // Per stage, the sums of a window of the measured rate (5 s or more):
  // compute and decode + encode seconds, requests.
  struct Window {
    std::vector<double> compute_s, codec_s;
    std::vector<uint64_t> requests;
    double seconds = 0;  // its length, once closed
    void Reset(size_t stages) {
      compute_s.assign(stages, 0.0);
      codec_s.assign(stages, 0.0);
      requests.assign(stages, 0);
      seconds = 0;
    }
  };
  Window window_, last_window_;
  std::vector<double> transfer_s_;   // per hop from stage s to s + 1: transfer seconds, summed
  std::vector<uint64_t> transfers_;  // and their count
  std::deque<double> recent_latency_s_;
  std::deque<std::pair<double, std::string>> events_;  // (Unix seconds, text)
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
