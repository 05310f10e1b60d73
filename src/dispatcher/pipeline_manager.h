// The dispatcher's side of keeping a pipeline up: deploying it, watching the
// workers, replacing it when one fails, and switching to a new model version.
//
// Failure model (docs/failures.md). A worker is failed when it has not
// answered a heartbeat for `heartbeat_timeout_s` (a crash, a hang, a cut
// link look the same), or when it answers as a new process (a restart). Then
// every pipeline that uses it is dead: the manager plans again over the
// workers that are alive (keeping the old stages on their workers and only
// moving the lost ones when that is nearly as fast), deploys what changed, and
// the Streamer sends every request whose result has not come to the new
// pipeline. Results of dead pipelines are dropped. When the survivors cannot
// hold the model the manager says so and waits, keeping every request, until
// a worker comes back (it is re-admitted as soon as it answers) or the user
// stops it.
//
// Model update: with `watch_model`, a change of the model file (replace it
// with a rename) loads and profiles the new version on a thread, deploys it
// beside the running one, and sends new requests to it; the old pipeline
// finishes what it holds and is undeployed. If the workers cannot hold both,
// the old one drains first (no new requests meanwhile), then the new one is
// deployed. Each result says which model generation answered it.
//
// Cluster changes: the cluster config's file is read again on `reload`
// (SIGHUP) and, with `watch_cluster`, when it changes (cluster_reload.h).
// Workers added are said HELLO to and heartbeated; once they answer (or
// after the connect timeout) the manager plans over the cluster as it is
// now and deploys that plan beside the running one when it is predicted
// faster by more than the adaptation threshold. A worker taken out that runs
// a stage has it moved first (the surviving stages stay where they are, the
// new pipeline takes new requests, the old one drains); once no pipeline
// uses it, it is undeployed and released. A config that does not load
// changes nothing.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/config/cluster_config.h"
#include "common/model/model.h"
#include "common/model/profile.h"
#include "common/plan/planner.h"
#include "common/util/device.h"
#include "dispatcher/cluster_reload.h"
#include "dispatcher/director.h"
#include "dispatcher/heartbeat.h"
#include "dispatcher/live_model.h"
#include "dispatcher/planning.h"
#include "dispatcher/worker_client.h"

namespace tandem {

struct ManagerOptions {
  // A worker silent this long is failed. Default 1 s.
  double heartbeat_timeout_s = 1.0;
  // The planner used after a failure and for a model update.
  std::string algorithm = "auto";
  // Every hop's codec; empty: the cluster config's.
  std::optional<CodecSpec> codec;
  // After a failure, keep the surviving stages where they are (only the lost
  // ones move to spare workers) unless a fresh plan's bottleneck is smaller
  // by more than this fraction. Default 5%.
  double keep_margin = 0.05;
  // Watch the model file and deploy a new version when it changes.
  bool watch_model = false;
  int warmup = 3;  // profiling a new version
  int repeats = 10;
  // Re-planning as measured costs drift (live_model.h); its threshold also
  // decides whether a cluster change is worth a new plan.
  AdaptOptions adapt;
  // The cluster config's file; empty: the embedded default (never read again).
  std::string cluster_file;
  // Read it again when it changes (checked every second; replace it with a rename).
  bool watch_cluster = false;
  // Read it again when this becomes true (SIGHUP); the manager clears it.
  std::atomic<bool>* reload = nullptr;
  // Called with the public keys of the workers that may push results, each
  // time they change (the results socket's ZAP policy).
  std::function<void(const std::vector<std::string>&)> on_worker_keys;
};

// One model version the dispatcher serves.
struct ModelGeneration {
  int generation = 1;
  std::shared_ptr<Model> model;
  ModelProfile profile;
  PlanProblem problem;  // over every worker of the cluster
  struct Archive {
    std::string bytes, sha256;
    uint32_t num_inputs = 1;
  };
  std::map<std::pair<int, int>, std::shared_ptr<const Archive>> archives;  // by segment range
  std::mutex archives_mu;  // a deployment beside cuts its stages on a thread
};

// What the report prints about the pipeline that served last.
struct PipelineDescription {
  int pipeline = 0;
  int generation = 0;
  std::vector<std::string> workers;     // per stage
  std::vector<int> cuts;                // node positions
  std::vector<CodecSpec> hop_codecs;    // out of each stage
  std::vector<uint64_t> hop_raw_bytes;  // uncompressed bytes out of each stage
  CodecSpec first_codec;
};

class PipelineManager : public Director {
 public:
  PipelineManager(zmq::context_t& ctx, ClusterConfig cluster, ManagerOptions options);
  ~PipelineManager() override;

  // Says HELLO to every worker of the cluster and starts the heartbeats. A
  // worker that does not answer is left out (with a warning) until it does;
  // errors: none answers, or two entries are one process.
  Status Connect();
  // The workers admitted now (cluster indices): answered, not failed since,
  // and not taken out of the cluster config.
  std::vector<int> Reachable() const;
  // The cluster as it is now (reloads append workers; see Present).
  const ClusterConfig& cluster() const { return cluster_; }
  // Whether worker i is still in the cluster config.
  bool Present(size_t i) const { return i < workers_.size() && !workers_[i].removed; }
  // Why worker i was left out at Connect (OK if it answered).
  const Status& hello_status(size_t i) const { return workers_[i].hello; }
  // What each worker's HELLO_ACK said that planning uses (queue depth: its
  // memory per stage; threads, CPUs and host: its speed and its share of
  // the host), in cluster order. Workers taken out of the cluster, or with
  // `running` those it does not use, keep only their queue depth (idle, they
  // take no share of their host).
  std::vector<WorkerFacts> Facts(const Plan* running = nullptr) const;
  // Deploys `plan` (node indices into the cluster's workers) of `model` and
  // makes it the route. `results_endpoint`: where the last stage pushes.
  Status Start(std::shared_ptr<Model> model, ModelProfile profile, const Plan& plan,
               const std::string& results_endpoint);
  // Undeploys everything this run deployed (best effort, short timeouts).
  void Shutdown();

  Status Tick(const std::map<uint32_t, size_t>& in_flight) override;
  const Route* route() const override;
  bool Live(uint32_t version) const override;
  bool AcceptingNew() const override { return !draining_for_update_; }
  void Observe(uint32_t version, const std::vector<StageTiming>& timings, const RequestClock& clock) override;

  PipelineDescription Describe() const;
  // What happened, one line each ("12.3 s: worker 'w2' failed: ...").
  const std::vector<std::string>& events() const { return events_; }
  int recoveries() const { return recoveries_; }
  // Pipelines deployed because the live costs said so.
  int adaptations() const { return adaptations_; }
  // Turns re-planning on measured costs on or off (ManagerOptions::adapt.
  // enabled) before the stream starts.
  void EnableAdaptation(bool on) {
    options_.adapt.enabled = on;
    adapt_.emplace(options_.adapt);
  }
  // How many results the stream will want in all (< 0: no known end): a
  // migration must repay shipping its stages before the stream ends.
  void SetStreamRequests(int64_t requests) { stream_requests_ = requests; }

 private:
  struct Pipeline {
    Route route;
    std::shared_ptr<ModelGeneration> gen;
    Plan plan;  // nodes: cluster worker indices
    std::chrono::steady_clock::time_point deployed_at;
    std::vector<double> predicted_compute_s;  // per stage, as planned (segments and moves)
    double predicted_rate = 0;                // results/s, under the costs measured when it was made
    PipelineDescription description;
  };
  struct WorkerState {
    bool admitted = true;  // answered HELLO and not failed since
    uint64_t instance = 0;
    std::set<std::string> loaded;  // stage SHA-256s it holds
    std::chrono::steady_clock::time_point last_admit_try;
    Status hello;             // at Connect
    bool throttling = false;  // its latest PONG said so
    bool ever_admitted = false;
    bool removed = false;      // taken out of the cluster config: no new plan uses it
    bool released = false;     // ... and no pipeline does: undeployed, no longer watched
    bool peers_stale = false;  // its HELLO named fewer workers than a DEPLOY may (keys)
    bool duplicate_said = false;
  };

  void Event(const std::string& what);
  // A throttled CPU runs its stage slower than the plan assumed: warned once
  // when worker i starts throttling (at HELLO or by a PONG), an event when it stops.
  void NoteThrottling(size_t i, const DeviceHealth& device);
  // The stage's archive, cut and serialized once (thread-safe).
  static Result<std::shared_ptr<const ModelGeneration::Archive>> GetArchive(ModelGeneration& gen, const PlanStage& s);
  // The problem of model `generation` on `cluster` (a model update builds
  // it on a thread, from copies).
  static Result<PlanProblem> ProblemFor(const ModelProfile& profile, int generation,
                                        const std::vector<WorkerFacts>& facts, const ClusterConfig& cluster,
                                        const CodecSpec& codec);
  // Rebuilds the models' problems from every worker's latest HELLO_ACK
  // (queue depth: memory; threads, CPUs, host: speed and share); if that
  // fails, sets the activation copies alone.
  void RefreshFacts();
  // Every hop's codec: the override, else the cluster config's.
  const CodecSpec& HopCodec() const { return options_.codec ? *options_.codec : cluster_.codec; }
  // One stage of a pipeline being deployed.
  struct StageDeployment {
    int node = 0;     // cluster worker index
    DeployBody body;  // without the archive, which is attached only while sending
    std::shared_ptr<const ModelGeneration::Archive> archive;
    bool reused = false;  // the worker holds the archive already: not sent
    bool sent = false;
    bool answered = false;  // its worker answered (or failed, or timed out)
    bool acked = false;     // ... with success
    uint64_t call = 0;      // the DEPLOY's request id
    uint64_t instance = 0;  // the worker's process when it was sent
  };
  // A pipeline whose stages were sent and whose workers are loading them.
  struct PendingDeploy {
    std::shared_ptr<ModelGeneration> gen;
    Plan plan;
    uint32_t version = 0;
    std::vector<StageDeployment> stages;
    std::chrono::steady_clock::time_point started;
    Status error;  // the first stage that failed
  };
  // The DEPLOY of each stage of `plan` as wire model version `version`.
  // Errors: a stage over its worker's message limit.
  Result<std::vector<StageDeployment>> PrepareDeployments(ModelGeneration& gen, const Plan& plan, uint32_t version,
                                                          bool beside);
  // Sends a plan's stages to their workers, which load them at once (beside:
  // they keep their other deployments; else a deploy beside in progress is
  // abandoned first). On error nothing of it stays deployed.
  Result<PendingDeploy> StartDeployPlan(const std::shared_ptr<ModelGeneration>& gen, const Plan& plan, bool beside);
  // Without waiting: the pipeline once every worker has answered, nullopt
  // meanwhile (a worker that no longer holds a reused stage gets the
  // archive). On error (a refusal, a failed worker, timeouts.deploy_s)
  // nothing of it stays deployed.
  Result<std::optional<Pipeline>> PollDeployPlan(PendingDeploy& deploy);
  // Undeploys what was sent; with `wait`, also awaits (bounded) the answers
  // of the workers still loading, so that the next deployment is not refused.
  void AbandonDeploy(const PendingDeploy& deploy, bool wait = false);
  Pipeline MadePipeline(const PendingDeploy& deploy);
  // Both, waiting: for the first pipeline and after a failure, when nothing runs anyway.
  Result<Pipeline> DeployPlan(const std::shared_ptr<ModelGeneration>& gen, const Plan& plan, bool beside);
  // A pipeline deployed beside the running one while requests keep flowing
  // (adaptation, cluster change, model update): one at a time; `done` is
  // called from Tick with the result (not when it is cancelled).
  void StartBeside(const std::shared_ptr<ModelGeneration>& gen, const Plan& plan,
                   std::function<void(Result<Pipeline>)> done);
  void PollBeside();
  void CancelBeside();
  // The plan for `gen` over the admitted workers; `previous`: the plan of the
  // pipeline that died, whose surviving stages may stay.
  Result<Plan> Replan(const ModelGeneration& gen, const Plan* previous);
  void KillPipelinesUsing(size_t worker, const std::string& why);
  // A worker of a live pipeline whose heartbeat says it runs no stage (it
  // was undeployed behind the dispatcher's back) kills that pipeline, which
  // is then deployed again.
  void CheckDeploymentsHeld(const std::vector<WorkerHealth>& health);
  void Recover();
  void CheckModelFile();
  // Reads the cluster config again when asked or changed, and applies it.
  void CheckClusterFile();
  void ApplyClusterChange(ClusterChange change);
  // After a cluster change: moves stages off workers taken out, and deploys
  // a plan over the cluster as it is when it pays.
  void ReplanForCluster();
  // Undeploys and releases workers taken out that no pipeline uses.
  void ReleaseRemoved();
  // Says HELLO again to the workers whose peers are stale (bounded: one
  // that does not answer waits for the next turn).
  void TellPeers();
  // Admitted and still in the cluster config.
  bool Usable(size_t i) const { return workers_[i].admitted && !workers_[i].removed; }
  // Reachable() within `problem` (a problem covers every worker; never index
  // past one that, its rebuild having failed, does not).
  std::vector<int> ReachableIn(const PlanProblem& problem) const;
  // The keys a HELLO names (every worker not released) and those that may push results.
  std::vector<std::string> PeerKeys() const;
  void ApplyUpdate(const std::map<uint32_t, size_t>& in_flight);
  void UndeployQuietly(size_t worker, uint32_t version);
  // live_[*current_] is a new pipeline: the live costs start on its stages
  // (`adapted`: it replaces one because of their drift).
  void NewCurrent(bool adapted = false);
  // The plan (its model generation, each stage's predicted compute) the
  // live cost model measures.
  Plan costed_plan_;
  int costed_generation_ = 0;
  std::vector<double> costed_compute_s_;
  // Re-plans under the live costs when AdaptPolicy says it pays, and
  // deploys the new plan beside the running one.
  void Adapt();
  // Results per second over the `seconds` before now.
  double RecentRate(double seconds) const;

  zmq::context_t& ctx_;
  ClusterConfig cluster_;
  ManagerOptions options_;
  std::vector<std::unique_ptr<WorkerClient>> clients_;
  std::vector<WorkerState> workers_;
  std::unique_ptr<HeartbeatMonitor> monitor_;
  std::string results_endpoint_;
  uint32_t next_version_ = 0;
  int pipelines_made_ = 0;

  std::shared_ptr<ModelGeneration> gen_;  // the newest model
  std::vector<Pipeline> live_;            // pipelines whose results may still come
  std::optional<size_t> current_;         // index into live_: where new requests go
  std::optional<Plan> lost_plan_;         // the plan of the pipeline that died, for Replan
  std::chrono::steady_clock::time_point lost_at_;
  bool waiting_ = false;  // no pipeline; said so
  std::string last_wait_reason_;
  std::chrono::steady_clock::time_point last_recover_try_;
  size_t in_flight_total_ = 0;

  // Model update.
  std::shared_ptr<ModelGeneration> pending_;  // loaded, not deployed yet
  bool draining_for_update_ = false;          // the workers cannot hold both: old drains first
  std::future<Result<std::shared_ptr<ModelGeneration>>> loading_;
  std::pair<int64_t, int64_t> model_stamp_{0, 0}, seen_stamp_{0, 0};  // (mtime ns, size)
  std::chrono::steady_clock::time_point last_watch_;

  // Cluster changes.
  std::pair<int64_t, int64_t> cluster_stamp_{0, 0}, cluster_seen_stamp_{0, 0};
  std::chrono::steady_clock::time_point last_cluster_watch_;
  std::string reload_why_;       // a reload asked for and not done yet ("SIGHUP", ...)
  bool cluster_replan_ = false;  // a change waits for ReplanForCluster
  std::chrono::steady_clock::time_point cluster_changed_at_;
  std::vector<size_t> awaiting_;  // added workers the re-plan waits for (a while)
  std::chrono::steady_clock::time_point last_tell_peers_;

  struct BesideDeploy {
    std::shared_ptr<ModelGeneration> gen;
    Plan plan;
    std::future<Status> cutting;  // the stages' archives, on a thread; then:
    std::optional<PendingDeploy> deploy;
    std::function<void(Result<Pipeline>)> done;
  };
  std::optional<BesideDeploy> beside_;

  // Adaptation.
  LiveCostModel live_costs_{0};
  std::optional<HopSampler> hops_;  // of the current pipeline
  std::optional<AdaptPolicy> adapt_;
  std::chrono::steady_clock::time_point last_adapt_look_;
  std::deque<std::chrono::steady_clock::time_point> completions_;  // the last minute's results
  struct Migration {
    std::string what;  // "adaptation 2", "cluster change"
    double rate_before = 0;
    double window_s = 0;  // of rate_before
    std::chrono::steady_clock::time_point at;
    double predicted_speedup = 1;  // throughput after / before
  };
  std::optional<Migration> measuring_;  // a migration whose effect is not reported yet
  int adaptations_ = 0;
  int64_t stream_requests_ = -1;  // SetStreamRequests
  std::string last_keep_event_;   // Replan's, said once
  int64_t results_seen_ = 0;      // results Observe saw
  bool said_no_repay_ = false;    // the event below said once

  std::vector<std::string> events_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  int recoveries_ = 0;
  PipelineDescription described_;  // of the latest pipeline deployed
};

}  // namespace tandem
