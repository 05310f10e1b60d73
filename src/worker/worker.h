// tandem-worker: serves pipeline stages.
//
// The control thread (Run) answers the dispatcher on a ROUTER socket: HELLO,
// DEPLOY (load a stage, replacing the running ones or beside them for a
// model update, without a restart; or reuse a stage it already holds), STATUS,
// PING (the dispatcher's heartbeat, answered with this process's instance id),
// UNDEPLOY (one version or all), PROBE (answered at once: link measurement)
// and MEASURE_LINKS (probe the peers named, when no stage runs). The data path: a DataReceiver routes each
// message by model version to that deployment's StagePipeline.
// Malformed or oversized messages are refused and counted; the worker keeps
// serving.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "common/net/handshake_monitor.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/util/device.h"
#include "common/util/log.h"
#include "common/util/status.h"
#include "worker/access.h"
#include "worker/data_receiver.h"
#include "worker/link_measurement.h"
#include "worker/options.h"
#include "worker/stage_pipeline.h"
#include "worker/stage_upload.h"

namespace tandem {

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();

  // Binds the control and data sockets. Errors name the endpoint.
  Status Start();
  // Serves until `stop` becomes true (checked every 100 ms), then stops the
  // pipeline and closes the sockets. When `reload` becomes true (SIGHUP) it
  // reads its authorized keys again and clears it.
  void Run(const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr);

  const std::string& control_endpoint() const { return control_endpoint_; }
  const std::string& data_endpoint() const { return data_endpoint_; }

 private:
  // One message on the control socket: checked (frames, header, who may
  // send it), handled, answered.
  void ServeControlMessage();
  // KEY_REQUEST on the announce socket: answered with the public key.
  void AnswerKeyRequest();
  // Counts a refused message and logs it at a bounded rate.
  void Refuse(const std::string& what);
  // The memory budget in bytes (0: none).
  uint64_t BudgetBytes() const { return options_.memory_mb > 0 ? static_cast<uint64_t>(options_.memory_mb) << 20 : 0; }
  std::string Handle(const Header& h, Reader& body);
  // A DEPLOY's next hop is a numeric tcp:// endpoint, and with keys both hop
  // keys are ones a trusted dispatcher named (itself, or peers of its HELLO).
  Status CheckHops(const DeployBody& d) const;
  // The data socket takes the previous hops of the deployments running now.
  void UpdateDataSenders();
  // DEPLOY: checks, then loads the stage on a thread (the reply is sent by
  // FinishLoading), or reuses a stage it holds and replies at once. Returns
  // the reply, or "" when it comes later.
  std::string HandleDeploy(uint64_t id, Reader& body);
  // DEPLOY_CHUNK: a piece of the upload_ in progress; when the last is in,
  // the stage loads. Pieces of no upload (one refused, or dropped) are
  // dropped. Returns a reply only when the upload fails.
  std::string HandleDeployChunk(uint64_t id, Reader& body);
  // Ends the upload in progress (superseded, undeployed, its sender gone):
  // its DEPLOY is answered with `why`.
  void DropUpload(const Status& why);
  // Checks and loads a stage archive on a thread; FinishLoading replies.
  // Returns "" once the thread runs, or the DEPLOY_ACK error when none could
  // be started.
  std::string StartLoading(uint64_t id, std::string identity, DeployBody body, zmq::message_t message, uint64_t need,
                           std::chrono::steady_clock::time_point t0);
  struct Loading;
  static void LoadStage(Loading* l);  // the loading thread's work
  void FinishLoading();
  // Starts the stage's pipeline (CompleteDeploy); any failure, an exception
  // included (out of file descriptors or memory), is the DEPLOY_ACK's error.
  std::string StartDeployment(uint64_t id, DeployBody d, const std::shared_ptr<SharedStage>& stage, uint64_t need,
                              std::chrono::steady_clock::time_point t0, bool loaded);
  std::string CompleteDeploy(uint64_t id, DeployBody d, const std::shared_ptr<SharedStage>& stage, uint64_t need,
                             std::chrono::steady_clock::time_point t0, bool loaded);
  std::string DeployReply(uint64_t id, const Status& st, uint64_t params, std::chrono::steady_clock::time_point t0);
  std::string HandleStatus(uint64_t id);
  std::string HandleUndeploy(uint64_t id, Reader& body);
  std::string HandleProbe(uint64_t id, Reader& body);
  // Starts probing the peers on a thread (LinkMeasurement) and answers when
  // done (FinishMeasuring); refused while a stage runs or loads.
  std::string HandleMeasureLinks(uint64_t id, Reader& body);
  void FinishMeasuring();
  // The deployment of `version`, or null.
  std::shared_ptr<StagePipeline> Find(uint32_t version);
  // A loaded stage with this SHA-256 (deployed now or recently), or null.
  std::shared_ptr<SharedStage> FindStage(const std::string& sha256);
  // Stops and removes deployments (all but `keep`, or only `version`);
  // keeps their stages for reuse.
  void Retire(const std::function<bool(const Deployment&)>& which);
  std::string Error(uint64_t id, const Status& st);

  WorkerOptions options_;
  WorkerAccess access_;
  zmq::context_t ctx_;
  std::unique_ptr<ZapAuthenticator> zap_;    // with keys; before any socket binds
  const std::atomic<bool>* stop_ = nullptr;  // Run's flag
  std::unique_ptr<zmq::socket_t> control_;
  std::unique_ptr<zmq::socket_t> data_;
  std::unique_ptr<zmq::socket_t> announce_;       // with keys: KEY_REQUEST answered, plain
  std::unique_ptr<HandshakeMonitor> handshakes_;  // of control_ and data_
  std::string control_endpoint_, data_endpoint_;
  uint16_t data_port_ = 0;
  std::unique_ptr<DataReceiver> receiver_;
  std::mutex mu_;                                                   // guards deployments_ (the receive thread reads it)
  std::map<uint32_t, std::shared_ptr<StagePipeline>> deployments_;  // by model version
  // Stages of retired deployments, newest last, for a redeployment that
  // reuses one (recovery after another worker failed). Bounded.
  std::vector<std::shared_ptr<SharedStage>> retired_;
  uint64_t instance_ = 0;
  DeviceMonitor device_;                  // temperature and throttling, read for each PONG and STATUS (control thread)
  const std::string host_id_ = HostId();  // for HELLO_ACK: workers of one host share its cores
  // A stage being checked and loaded off the control thread.
  struct Loading {
    uint64_t id = 0;
    std::string identity;    // the dispatcher's ROUTER identity, for the reply
    DeployBody body;         // its stage_view points into `message`
    zmq::message_t message;  // the DEPLOY as received, until the stage is copied out
    uint64_t need = 0;
    std::chrono::steady_clock::time_point t0;
    std::thread thread;
    std::atomic<bool> done{false};
    bool discard = false;  // an UNDEPLOY of its version came while it loaded
    Result<std::unique_ptr<Stage>> loaded = Status::Internal("not loaded");
  };
  // Threads joining retired pipelines, with their "finished" flags.
  std::vector<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> reapers_;
  void JoinReapers(bool all);
  std::unique_ptr<Loading> loading_;
  std::unique_ptr<StageUpload> upload_;         // a stage archive arriving in pieces
  std::string current_identity_;                // of the request being handled
  zmq::message_t* current_message_ = nullptr;   // its frame (HandleDeploy may keep it)
  std::unique_ptr<LinkMeasurement> measuring_;  // MEASURE_LINKS in progress
  uint64_t measure_id_ = 0;
  std::string measure_identity_;
  // Refusals are logged at a bounded rate per kind (what was refused and
  // why, not from where), so that one noisy peer does not hide the others.
  KindLogLimiter refuse_log_;
  PipelineCounters counters_;
  std::string last_error_;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace tandem
