// The dispatcher's control connection to one worker (a DEALER socket):
// synchronous request/reply calls with timeouts. Not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <zmq.hpp>

#include "common/config/cluster_config.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/util/status.h"

namespace tandem {

class WorkerClient {
 public:
  // With `keys`, the links are CurveZMQ to the worker's pinned public key,
  // and HELLO names `peer_keys` (the cluster's workers).
  WorkerClient(zmq::context_t& ctx, WorkerEntry entry, LinkKeys keys = {}, std::vector<std::string> peer_keys = {});

  const WorkerEntry& entry() const { return entry_; }
  // The workers the next HELLO names (the cluster changed).
  void SetPeerKeys(std::vector<std::string> peer_keys) { peer_keys_ = std::move(peer_keys); }
  // The worker's data endpoint: its control host with the data port from
  // HELLO, looked up (numeric).
  const std::string& data_endpoint() const { return data_endpoint_; }
  // Its control endpoint, looked up (numeric): what a worker may be told.
  const std::string& control_endpoint() const { return control_endpoint_; }
  const HelloAckBody& hello() const { return hello_; }

  // Connects (a fresh socket: anything queued for the worker before is
  // dropped) and says HELLO. Errors say who did not answer and where.
  Status Hello(double timeout_s);
  // Deploys `d` with its stage `archive` (empty: reuse the stage with its
  // SHA-256 the worker holds), sent in DEPLOY_CHUNK pieces after the DEPLOY.
  Result<DeployAckBody> Deploy(const DeployBody& d, std::string_view archive, double timeout_s);
  // Deploy in two halves, so deployments to several workers load at once.
  // Other calls may come between the halves: a reply to a deploy not
  // finished yet is kept for it. A HELLO between them (a new socket) makes
  // the deploy fail (Unavailable).
  Result<uint64_t> StartDeploy(const DeployBody& d, std::string_view archive);
  Result<DeployAckBody> FinishDeploy(uint64_t call, uint32_t stage_index, double timeout_s);
  // The second half without waiting: the answer if it came, else nullopt
  // (call again later).
  Result<std::optional<DeployAckBody>> PollDeploy(uint64_t call, uint32_t stage_index);
  // A deploy given up: its answer, if any comes, is dropped.
  void Forget(uint64_t call) {
    unfinished_.erase(call);
    kept_.erase(call);
  }
  // Stops one deployment (`model_version`), or every one (0).
  Status Undeploy(double timeout_s, uint32_t model_version = 0);
  // Asks the worker to probe its links to `m.peers` (MEASURE_LINKS).
  Result<LinksReportBody> MeasureLinks(const MeasureLinksBody& m, double timeout_s);

  // Calls waiting for a reply give up (Unavailable) as soon as this returns
  // true: the heartbeat monitor has declared the worker failed.
  void SetGiveUp(std::function<bool()> give_up) { give_up_ = std::move(give_up); }
  std::string Who() const;

 private:
  // Sends one request; returns its id.
  Result<uint64_t> Send(MessageType type, const std::string& body);
  // Waits for the reply to request `id`; an ERROR reply becomes its Status.
  Result<std::string> Await(uint64_t id, MessageType type, MessageType expect, double timeout_s);
  Result<std::string> Call(MessageType type, const std::string& body, MessageType expect, double timeout_s);
  // One reply read while waiting for call `id`: its body if it answers `id`
  // (an ERROR becomes its Status), nullopt if it answers another call.
  Result<std::optional<std::string>> Take(const zmq::message_t& reply, uint64_t id, MessageType type,
                                          MessageType expect);
  Result<DeployAckBody> DeployAck(const std::string& body, uint32_t stage_index) const;
  // After a silent HELLO with keys: whether the worker has another key than
  // the pinned one (asked on its key announce socket), or refused ours.
  Status WhyNoHandshake(const Status& silent);

  zmq::context_t& ctx_;
  WorkerEntry entry_;
  LinkKeys keys_;
  std::vector<std::string> peer_keys_;
  std::unique_ptr<zmq::socket_t> socket_;
  uint64_t next_id_ = 1;
  std::set<uint64_t> unfinished_;         // deploys started, not finished
  std::map<uint64_t, std::string> kept_;  // their replies, read by another call
  std::string data_endpoint_, control_endpoint_;
  HelloAckBody hello_;
  std::function<bool()> give_up_;
};

}  // namespace tandem
