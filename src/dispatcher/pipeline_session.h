// What `run` and `serve` share: the flags that say which model runs on
// which cluster and how, and a session that checks them, profiles the model,
// connects to the workers, plans, deploys, and streams requests from an
// InputSource through the pipeline it keeps up (recoveries and model updates
// included).
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/config/cluster_config.h"
#include "common/model/model.h"
#include "common/model/profile.h"
#include "common/net/zap.h"
#include "dispatcher/input_source.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/pipeline_manager.h"
#include "dispatcher/plan_file.h"
#include "dispatcher/run_report.h"
#include "dispatcher/streamer.h"

namespace tandem {

struct PipelineOptions {
  std::string model;                    // TorchScript file (required)
  std::string cluster;                  // cluster config; empty: the embedded default (3 local workers)
  int stages = 0;                       // balanced stages on the first K workers; 0: the planner chooses
  std::string plan;                     // or: a plan file (cuts, optional worker names)
  std::string algorithm = "auto";       // the planner, when neither --stages nor --plan is given
  double plan_deadline_s = 2;           // seconds that planner may take (PlannerOptions::deadline_s)
  std::string codec;                    // every hop's codec; empty: the cluster config's
  int window = 8;                       // requests in flight at most
  double heartbeat_timeout_s = 1.0;     // a worker silent this long is failed; the pipeline is re-planned
  int max_attempts = 4;                 // sends of one request before it fails
  bool watch_model = false;             // deploy a new version when the model file changes
  bool watch_cluster = false;           // read the cluster file again when it changes, and on SIGHUP
  bool sighup_reloads_cluster = false;  // SIGHUP reads the cluster file again (serve: always)
  int threads = 0;                      // LibTorch threads for profiling here; 0: one per core
  ProfileRuns runs;                     // profiling, as in `profile`
  std::string profile;                  // a profile of this model file instead of profiling here
  // Re-plan as measured costs drift: "on", "off", or "auto" (the default):
  // on for a stream without a known end (serve) or one that the first plan
  // is predicted to take kLongStreamS or longer on, off otherwise (nothing
  // moves in a plan's first 30 s, and a shorter run gains little from a
  // migration; docs/adaptation.md).
  std::string adapt = "auto";
  double adapt_threshold = 0.15;  // AdaptOptions
  double adapt_dwell_s = 10;
};

// `--adapt auto` turns adaptation on for a stream predicted to take this
// long or longer.
constexpr double kLongStreamS = 120;

// --model, --cluster, --stages, --plan, --algorithm, --plan-deadline,
// --codec, --window, --threads, --heartbeat-timeout, --max-attempts,
// --watch-model, --watch-cluster, --warmup, --repeats, --profile, --adapt,
// --adapt-threshold and --adapt-dwell.
void AddPipelineFlags(CLI::App* cmd, PipelineOptions* options);

// The cluster config a command runs on: --cluster's file, else the embedded
// default (3 local workers).
Result<ClusterConfig> LoadPipelineCluster(const PipelineOptions& options);

// One model on one cluster, from the first check to the last undeploy. Not
// thread-safe: one thread calls its methods in order (Open, Deploy, Stream,
// then Shutdown, which the destructor also does).
class PipelineSession {
 public:
  // Checks the options against `cluster`, loads the model for `specs` (one
  // per forward argument) and reads --profile, or profiles it with
  // --threads; without either, Deploy profiles once the workers said their
  // threads. Nothing is deployed yet. Errors name the file and field.
  // What Open checks before it loads anything: the options against the
  // cluster (enough workers for --stages).
  static Status Check(const PipelineOptions& options, const ClusterConfig& cluster);
  static Result<std::unique_ptr<PipelineSession>> Open(const PipelineOptions& options, ClusterConfig cluster,
                                                       std::vector<InputSpec> specs);
  ~PipelineSession();
  PipelineSession(const PipelineSession&) = delete;
  PipelineSession& operator=(const PipelineSession&) = delete;

  // Connects to the workers, makes the first plan (the planner's is printed
  // on stdout) and deploys it; the model is dropped from memory afterwards
  // (the manager reloads a new version itself).
  Status Deploy();
  // Streams `inputs` until they end or `stop` is set, handing each result to
  // `sink` in input order. `progress` (optional) gets (delivered, count);
  // `each_turn` (optional) is called on every turn of the Streamer's loop
  // (about 20 times a second, on its thread) after the manager's.
  Result<StreamReport> Stream(InputSource& inputs, const ResultSink& sink, const std::atomic<bool>& stop,
                              const std::function<void(int, int)>& progress, bool keep_samples = true,
                              const std::function<void()>& each_turn = nullptr);
  // Undeploys everything this session deployed (best effort).
  void Shutdown();

  // What the report says besides the stream's figures (after Stream).
  RunFacts Facts() const;
  // The model's input specs, output names (Model::output_names) and a
  // sample output (dtypes and shapes), kept from Open.
  const std::vector<InputSpec>& inputs() const { return specs_; }
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }
  const std::vector<HostTensor>& sample_output() const { return sample_output_; }
  const std::string& model_sha256() const { return model_sha256_; }
  // The pipeline that serves now; valid after Deploy, from the Stream thread.
  PipelineDescription Describe() const { return manager_->Describe(); }
  const PipelineManager& manager() const { return *manager_; }
  const ClusterConfig& cluster() const { return cluster_; }

 private:
  PipelineSession() = default;

  PipelineOptions o_;
  ClusterConfig cluster_;
  std::optional<CodecSpec> codec_override_;  // --codec
  CodecSpec hop_codec_;                      // every hop's: --codec, else the cluster's
  std::vector<InputSpec> specs_;
  std::vector<std::string> output_names_;
  std::vector<HostTensor> sample_output_;
  std::vector<std::string> input_names_;
  std::string model_sha256_;
  std::shared_ptr<Model> model_;  // until Deploy
  std::optional<PlanFile> plan_file_;
  ModelProfile profile_;
  bool profiled_ = false;  // profile_ holds the profile
  std::optional<PlanEvaluation> predicted_;

  zmq::context_t ctx_{1};
  std::unique_ptr<ZapAuthenticator> zap_;
  // The workers that may push results (the ZAP policy's; a cluster reload changes them).
  struct AllowedKeys {
    std::mutex mu;
    std::vector<std::string> keys;
  };
  std::shared_ptr<AllowedKeys> result_keys_ = std::make_shared<AllowedKeys>();
  std::unique_ptr<Streamer> streamer_;
  std::unique_ptr<PipelineManager> manager_;
  bool shut_down_ = false;
};

}  // namespace tandem
