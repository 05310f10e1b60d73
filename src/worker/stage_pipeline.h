// The worker's data path for one deployed stage: three threads joined by
// bounded queues, so receiving+decoding, computing, and encoding+sending
// overlap and the stage runs at the pace of the slowest of the three.
//
//   PULL --> [receive, decode] --q--> [compute] --q--> [encode, send] --> PUSH
//
// Activations addressed to another model version or stage are dropped and
// counted. A request whose computation fails becomes a REQUEST_FAILED message
// that travels on to the dispatcher; the pipeline goes on.
#pragma once

#include <atomic>
#include <chrono>
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
};

class StagePipeline {
 public:
  // `pull` stays owned by the caller and must not be used by it between
  // Start() and Stop().
  StagePipeline(zmq::context_t& ctx, zmq::socket_t* pull, std::unique_ptr<Stage> stage, Deployment d,
                PipelineCounters* counters, int queue_depth, uint64_t max_activation_bytes);
  ~StagePipeline();

  Status Start();
  // Stops the threads and closes the outgoing socket; requests in the queues
  // are dropped (the dispatcher replays what has no result).
  void Stop();
  const Deployment& deployment() const { return d_; }

 private:
  struct Item;
  // Runs `loop` until stop; an exception (out of memory on a huge request,
  // say) drops the request in hand, is logged and counted, and the loop
  // starts again: a bad request never stops the worker.
  void Guarded(const char* what, void (StagePipeline::*loop)());
  void ReceiveLoop();
  void ComputeLoop();
  void SendLoop();

  zmq::context_t& ctx_;
  zmq::socket_t* pull_;
  std::unique_ptr<zmq::socket_t> push_;
  std::unique_ptr<Stage> stage_;
  Deployment d_;
  PipelineCounters* counters_;
  uint64_t max_activation_bytes_;
  BoundedQueue<std::unique_ptr<Item>> to_compute_, to_send_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace tandem
