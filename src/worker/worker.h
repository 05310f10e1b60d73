// tandem-worker: serves one stage of a pipeline at a time.
//
// The control thread (Run) answers the dispatcher on a ROUTER socket: HELLO,
// DEPLOY (load a stage, possibly replacing the running one, without a
// restart), STATUS, PING, UNDEPLOY. The data path runs in a StagePipeline.
// Malformed or oversized messages are refused and counted; the worker keeps
// serving.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/protocol.h"
#include "common/status.h"
#include "worker/options.h"
#include "worker/stage_pipeline.h"

namespace tandem {

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();

  // Binds the control and data sockets. Errors name the endpoint.
  Status Start();
  // Serves until `stop` becomes true (checked every 100 ms), then stops the
  // pipeline and closes the sockets.
  void Run(const std::atomic<bool>& stop);

  const std::string& control_endpoint() const { return control_endpoint_; }
  const std::string& data_endpoint() const { return data_endpoint_; }

 private:
  std::string Handle(const Header& h, Reader& body);
  std::string HandleDeploy(uint64_t id, Reader& body);
  std::string HandleStatus(uint64_t id);
  std::string Error(uint64_t id, const Status& st);

  WorkerOptions options_;
  zmq::context_t ctx_;
  std::unique_ptr<zmq::socket_t> control_;
  std::unique_ptr<zmq::socket_t> data_;
  std::string control_endpoint_, data_endpoint_;
  uint16_t data_port_ = 0;
  std::unique_ptr<StagePipeline> pipeline_;
  PipelineCounters counters_;
  std::string last_error_;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace tandem
