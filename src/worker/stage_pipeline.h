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

#include "common/net/activation.h"
#include "common/net/codec.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/util/bounded_queue.h"
#include "worker/pipeline_counters.h"
#include "worker/shared_stage.h"

namespace tandem {

// How long the data path's threads wait at most before they look at their
// stop flags again.
constexpr std::chrono::milliseconds kDataPathTick{100};

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
  // One request's input plus output bytes as the DEPLOY declared them: the
  // most one incoming activation may decode to (0: the worker's own limit).
  uint64_t max_input_bytes = 0;
  std::string prev_key;  // who may send to this stage (with keys)
  std::string next_key;  // the next hop's public key (with keys)
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
  // With `keys`, the outgoing socket is a CurveZMQ client of d.next_key.
  StagePipeline(zmq::context_t& ctx, std::shared_ptr<SharedStage> stage, Deployment d, PipelineCounters* counters,
                int queue_depth, LinkKeys keys = {});
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
  LinkKeys keys_;
  PipelineCounters* counters_;
  BoundedQueue<std::unique_ptr<WorkItem>> to_compute_, to_send_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace tandem
