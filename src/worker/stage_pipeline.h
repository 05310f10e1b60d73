// The worker's data path. One DataReceiver reads the worker's data socket,
// decodes each message and hands it to the deployment its model version
// names; each deployment (a StagePipeline) computes and sends on its own
// threads. A worker may hold several deployments at once (a model update runs
// the new version beside the old one until the old one drains).
//
//   PULL --> [DataReceiver: decode, route by version] --q--> [compute] --q--> [encode, send] --> PUSH
//                                                      (one compute+send pair per deployment)
//
// Activations addressed to no deployment here, or to another stage, are
// dropped and counted. A request whose computation fails becomes a
// REQUEST_FAILED message that travels on to the dispatcher; the pipeline goes
// on.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "common/codec.h"
#include "common/model/model.h"
#include "common/protocol.h"
#include "common/queue.h"

namespace tandem {

// Counters shared with the control thread. Thread-safe.
struct PipelineCounters {
  std::atomic<uint64_t> received{0}, computed{0}, sent{0}, failed{0}, dropped{0}, bytes_in{0}, bytes_out{0};

  void RecordTimes(double compute_s, double queue_s);
  // Means over the most recent requests.
  void RecentMeans(double* compute_s, double* queue_s) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<double, double>> recent_;  // ring of (compute, queue)
  size_t next_ = 0;
};

struct Deployment {
  std::string model_id;
  uint32_t model_version = 0;
  uint32_t stage_index = 0;
  uint32_t num_stages = 1;
  uint32_t num_inputs = 1;
  std::string next_hop;
  CodecSpec codec;
  std::string stage_sha256;
  uint64_t memory_bytes = 0;  // what the deploy check counted for it
};

// A loaded stage that several deployments may share (a redeployment that
// reuses it): Run is serialised.
class SharedStage {
 public:
  SharedStage(std::unique_ptr<Stage> stage, uint64_t bytes, std::string sha256)
      : stage_(std::move(stage)), bytes_(bytes), sha256_(std::move(sha256)) {}
  Result<std::vector<HostTensor>> Run(const std::vector<HostTensor>& inputs) {
    std::lock_guard<std::mutex> lock(mu_);
    return stage_->Run(inputs);
  }
  int num_inputs() const { return stage_->num_inputs(); }
  uint64_t bytes() const { return bytes_; }  // size of its archive
  const std::string& sha256() const { return sha256_; }

 private:
  std::mutex mu_;
  std::unique_ptr<Stage> stage_;
  uint64_t bytes_;
  std::string sha256_;
};

// One request on its way through a stage.
struct WorkItem {
  uint64_t id = 0;
  std::vector<StageTiming> timings;  // from the stages before this one
  std::vector<HostTensor> tensors;
  bool failed = false;
  RequestFailedBody failure;
  std::chrono::steady_clock::time_point enqueued;
  StageTiming timing;
};

class StagePipeline {
 public:
  StagePipeline(zmq::context_t& ctx, std::shared_ptr<SharedStage> stage, Deployment d, PipelineCounters* counters,
                int queue_depth);
  ~StagePipeline();

  // Connects the outgoing socket and starts the compute and send threads.
  Status Start();
  // Stops the threads and closes the outgoing socket; requests in the queues
  // are dropped (the dispatcher replays what has no result). Idempotent.
  // Waits for a computation in progress to end.
  void Stop();
  // The part of Stop that does not wait: no new work is taken.
  void RequestStop();
  // Queues a decoded request for compute; false when the queue stayed full
  // for `wait` or the pipeline stopped (the caller keeps the item).
  bool Offer(std::unique_ptr<WorkItem>& item, std::chrono::milliseconds wait);
  bool stopped() const { return stop_; }
  const Deployment& deployment() const { return d_; }
  const std::shared_ptr<SharedStage>& stage() const { return stage_; }

 private:
  // Runs `loop` until stop; an exception (out of memory on a huge request,
  // say) drops the request in hand, is logged and counted, and the loop
  // starts again: a bad request never stops the worker.
  void Guarded(const char* what, void (StagePipeline::*loop)());
  void ComputeLoop();
  void SendLoop();

  zmq::context_t& ctx_;
  std::unique_ptr<zmq::socket_t> push_;
  std::shared_ptr<SharedStage> stage_;
  Deployment d_;
  PipelineCounters* counters_;
  BoundedQueue<std::unique_ptr<WorkItem>> to_compute_, to_send_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Reads the data socket on its own thread and routes every message to the
// deployment of its model version (`lookup`; null: none here, dropped).
class DataReceiver {
 public:
  using Lookup = std::function<std::shared_ptr<StagePipeline>(uint32_t model_version)>;
  // `pull` stays owned by the caller and must not be used by it between
  // Start() and Stop().
  DataReceiver(zmq::socket_t* pull, Lookup lookup, PipelineCounters* counters, uint64_t max_activation_bytes);
  ~DataReceiver();
  void Start();
  void Stop();

 private:
  void Loop();
  void HandleMessage(const zmq::message_t& msg);

  zmq::socket_t* pull_;
  Lookup lookup_;
  PipelineCounters* counters_;
  uint64_t max_activation_bytes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tandem
