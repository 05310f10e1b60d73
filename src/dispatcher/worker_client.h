// The dispatcher's control connection to one worker (a DEALER socket):
// synchronous request/reply calls with timeouts. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <zmq.hpp>

#include "common/cluster_config.h"
#include "common/protocol.h"
#include "common/status.h"

namespace tandem {

class WorkerClient {
 public:
  WorkerClient(zmq::context_t& ctx, WorkerEntry entry);

  const WorkerEntry& entry() const { return entry_; }
  // The worker's data endpoint: its control host with the data port from HELLO.
  const std::string& data_endpoint() const { return data_endpoint_; }
  const HelloAckBody& hello() const { return hello_; }

  // Connects and says HELLO. Errors say who did not answer and where.
  Status Hello(double timeout_s);
  Result<DeployAckBody> Deploy(const DeployBody& d, double timeout_s);
  Result<StatusBody> GetStatus(double timeout_s);
  Status Undeploy(double timeout_s);

 private:
  // Sends one request and waits for the reply with the same id; an ERROR
  // reply becomes its Status.
  Result<std::string> Call(MessageType type, const std::string& body, MessageType expect, double timeout_s);
  std::string Who() const;

  zmq::context_t& ctx_;
  WorkerEntry entry_;
  std::unique_ptr<zmq::socket_t> socket_;
  uint64_t next_id_ = 1;
  std::string data_endpoint_;
  HelloAckBody hello_;
};

}  // namespace tandem
