// Failure detection: the dispatcher pings every worker of the cluster on a
// thread of its own and declares a worker failed when no answer has come for
// `timeout_s`. A worker process that crashed, hangs (SIGSTOP), or sits behind a
// cut link stops answering; a busy one does not, since its control thread never
// waits on compute. A worker that answers again is alive again; its PONG
// carries the process's instance id, so one that restarted (and lost its
// deployments) is told apart from one that only went quiet.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/net/zap.h"

namespace tandem {

struct HeartbeatOptions {
  // A worker silent this long is failed. Default 1 s.
  double timeout_s = 1.0;
  // A PING goes to every worker this often. Default: a quarter of the timeout.
  double interval_s = 0.25;
};

struct WorkerHealth {
  bool alive = true;            // answered within the timeout (at start: not silent for a whole timeout yet)
  bool answered = false;        // has answered at least once since the monitor started
  uint64_t instance = 0;        // from its latest PONG (0: none yet, or a minor-0 worker)
  uint32_t deployments = 0;     // stages it ran by its latest PONG
  double cpu_temp_c = -1;       // by its latest PONG (< 0: unknown)
  uint32_t throttle_flags = 0;  // by its latest PONG (ThrottleFlags, common/util/device.h)
  double silent_s = 0;          // since its latest PONG (or the start)
  std::chrono::steady_clock::time_point pong_at;  // when its latest PONG came (the start: none yet)
};

class HeartbeatMonitor {
 public:
  // `endpoints`: the workers' control endpoints, in cluster order. With
  // `keys`, the pings go over CurveZMQ to the workers' `server_keys` (same order).
  HeartbeatMonitor(zmq::context_t& ctx, std::vector<std::string> endpoints, HeartbeatOptions options,
                   LinkKeys keys = {}, std::vector<std::string> server_keys = {});
  ~HeartbeatMonitor();
  HeartbeatMonitor(const HeartbeatMonitor&) = delete;
  HeartbeatMonitor& operator=(const HeartbeatMonitor&) = delete;

  void Start();
  void Stop();
  // A worker added to the cluster (a re-read cluster config): pinged from
  // the next round on; its index is the number of workers before. Thread-safe.
  size_t Add(const std::string& endpoint, const std::string& server_key);
  std::vector<WorkerHealth> Snapshot() const;
  // Whether worker i is silent past the timeout now. Thread-safe.
  bool Failed(size_t i) const;
  const HeartbeatOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  void Loop();

  zmq::context_t& ctx_;
  const HeartbeatOptions options_;
  const LinkKeys keys_;
  mutable std::mutex mu_;
  std::vector<std::string> endpoints_;    // grows by Add
  std::vector<std::string> server_keys_;  // same order
  std::vector<Clock::time_point> last_;   // latest PONG, or the start
  std::vector<uint64_t> instance_;
  std::vector<uint32_t> deployments_;
  std::vector<std::pair<double, uint32_t>> device_;  // temperature, throttle flags
  std::vector<bool> answered_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tandem
