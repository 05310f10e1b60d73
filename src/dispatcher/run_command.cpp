// `tandem-dispatcher run`: plan, deploy to the workers, stream, report.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <optional>
#include <zmq.hpp>

#include "common/config/cluster_config.h"
#include "common/net/transport.h"
#include "common/net/zap.h"
#include "common/util/progress.h"
#include "common/util/signals.h"
#include "dispatcher/command.h"
#include "dispatcher/input_source.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/pipeline_manager.h"
#include "dispatcher/plan_file.h"
#include "dispatcher/planning.h"
#include "dispatcher/result_files.h"
#include "dispatcher/run_report.h"
#include "dispatcher/streamer.h"

namespace tandem {
namespace {

struct RunCommandOptions {
  std::string model;                 // TorchScript file (required)
  std::string cluster;               // cluster config; empty: the embedded default (3 local workers)
  std::string inputs;                // directory of .npy inputs
  int synthetic = 0;                 // or: this many random inputs of input_shape
  std::string input_shape;           // required with synthetic; checked against inputs otherwise
  std::string outputs;               // write outputs here (optional)
  int stages = 0;                    // balanced stages on the first K workers; 0: the planner chooses
  std::string plan;                  // or: a plan file (cuts, optional worker names)
  std::string algorithm = "auto";    // the planner, when neither --stages nor --plan is given
  double plan_deadline_s = 2;        // seconds that planner may take (PlannerOptions::deadline_s)
  std::string codec;                 // every hop's codec; empty: the cluster config's
  int window = 8;                    // requests in flight at most
  double heartbeat_timeout_s = 1.0;  // a worker silent this long is failed; the pipeline is re-planned
  int max_attempts = 4;              // sends of one request before it fails
  bool watch_model = false;          // deploy a new version when the model file changes
  int threads = 0;                   // LibTorch threads for profiling here; 0: one per core
  ProfileRuns runs;                  // profiling, as in `profile`
  std::string profile;               // a profile of this model file instead of profiling here
  std::string report;                // write the run's figures as JSON here (docs/formats.md)
};

// What is checked before anything is deployed.
struct RunSetup {
  ClusterConfig cluster;
  std::optional<CodecSpec> codec_override;  // --codec
  CodecSpec hop_codec;                      // every hop's: --codec, else the cluster's
  std::vector<InputSpec> specs;             // the model's inputs: --input-shape's, else the input files'
  std::unique_ptr<InputSource> inputs;
  ResultFiles results;
};

Status CheckRun(const RunCommandOptions& o, RunSetup* s) {
  if (o.cluster.empty()) {
    s->cluster = DefaultClusterConfig();
  } else {
    TANDEM_ASSIGN_OR_RETURN(s->cluster, LoadClusterConfig(o.cluster));
  }
  if (!o.codec.empty()) s->codec_override = ParseCodec(o.codec).value();  // checked by the flag
  s->hop_codec = s->codec_override ? *s->codec_override : s->cluster.codec;
  if (!o.input_shape.empty()) {
    auto specs = ParseInputSpecs(o.input_shape);
    if (!specs.ok()) return specs.status().WithContext("--input-shape");
    s->specs = std::move(specs).value();
  }
  if (!o.inputs.empty()) {
    // How many files make a request: the model's argument count.
    size_t arity = s->specs.size();
    if (arity == 0) {
      TANDEM_ASSIGN_OR_RETURN(auto names, Model::InputNames(o.model));
      arity = names.size();
    }
    TANDEM_ASSIGN_OR_RETURN(auto dir, DirectoryInputs::Open(o.inputs, s->specs, arity));
    s->specs = dir->specs();
    s->inputs = std::move(dir);
  } else if (o.synthetic > 0) {
    if (s->specs.empty()) return Status::InvalidArgument("--synthetic needs --input-shape");
    s->inputs = std::make_unique<SyntheticInputs>(o.synthetic, s->specs);
  } else {
    return Status::InvalidArgument("give --inputs DIR or --synthetic N");
  }
  const size_t workers = s->cluster.workers.size();
  if (o.stages > static_cast<int>(workers))
    return Status::InvalidArgument("--stages " + std::to_string(o.stages) + " needs " + std::to_string(o.stages) +
                                   " workers; " + s->cluster.source + " lists " + std::to_string(workers));
  return s->results.Open(o.outputs);
}

// The profile the planner uses, at start and after a failure: --profile's
// (of this very model file and shape), or measured here.
Result<ModelProfile> RunProfile(const RunCommandOptions& o, const Model& model, const CodecSpec& hop_codec) {
  if (o.profile.empty()) return ProfileWithProgress(model, ProfileOptionsFor(o.runs), hop_codec);
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ReadProfile(o.profile));
  if (profile.model_hash != model.content_hash())
    return Status::InvalidArgument(o.profile + ": model.sha256: measured on another model (" + profile.model_hash +
                                   "; " + o.model + " is " + model.content_hash() + "); profile it again");
  if (profile.inputs != model.inputs())
    return Status::InvalidArgument(o.profile + ": inputs: measured with " + InputSpecsToString(profile.inputs) +
                                   ", the run's inputs are " + InputSpecsToString(model.inputs()));
  return profile;
}

// The workers of a plan file's stages: the names it gives, else the first ones.
Result<std::vector<int>> PlanFileWorkers(const RunCommandOptions& o, const PlanFile& file,
                                         const ClusterConfig& cluster) {
  std::vector<int> nodes;
  if (file.workers.empty()) {
    const size_t k = file.cuts.size() + 1;
    if (k > cluster.workers.size())
      return Status::InvalidArgument(std::to_string(k) + " stages need " + std::to_string(k) + " workers; " +
                                     cluster.source + " lists " + std::to_string(cluster.workers.size()));
    for (size_t i = 0; i < k; ++i) nodes.push_back(static_cast<int>(i));
    return nodes;
  }
  for (const auto& n : file.workers) {
    auto it =
        std::find_if(cluster.workers.begin(), cluster.workers.end(), [&](const WorkerEntry& w) { return w.name == n; });
    if (it == cluster.workers.end())
      return Status::InvalidArgument(o.plan + ": workers: '" + n + "' is not in " + cluster.source);
    nodes.push_back(static_cast<int>(it - cluster.workers.begin()));
  }
  return nodes;
}

// The first plan: a plan file's, balanced stages, or the planner's (printed).
Result<Plan> FirstPlan(const RunCommandOptions& o, const std::optional<PlanFile>& file, const ModelProfile& profile,
                       const ClusterConfig& cluster, const Result<PlanProblem>& full, const PipelineManager& manager) {
  const std::vector<int> reachable = manager.Reachable();
  auto require = [&](const std::vector<int>& nodes) -> Status {
    for (int i : nodes)
      if (std::find(reachable.begin(), reachable.end(), i) == reachable.end())
        return manager.hello_status(static_cast<size_t>(i));
    return Status::OK();
  };
  if (file) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<int> nodes, PlanFileWorkers(o, *file, cluster));
    TANDEM_RETURN_IF_ERROR(require(nodes));
    auto plan = PlanFromCuts(profile, file->cuts, nodes);
    if (!plan.ok()) return plan.status().WithContext(o.plan);
    return plan;
  }
  if (o.stages > 0) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<int> cuts, BalancedCuts(profile, o.stages));
    std::vector<int> nodes;
    for (int i = 0; i < o.stages; ++i) nodes.push_back(i);
    TANDEM_RETURN_IF_ERROR(require(nodes));
    return PlanFromCuts(profile, cuts, nodes);
  }
  TANDEM_ASSIGN_OR_RETURN(auto planner, MakePlanner(o.algorithm));
  if (!full.ok()) return full.status();
  PlannerOptions po;
  po.deadline_s = o.plan_deadline_s;
  auto planned = planner->Solve(SubProblem(full.value(), reachable), po);
  if (!planned.ok()) return planned.status().WithContext("cannot place " + o.model + " on " + cluster.source);
  ClusterConfig shown = cluster;
  shown.workers.clear();
  for (int i : reachable) shown.workers.push_back(cluster.workers[i]);
  std::fputs(FormatPlan(profile, shown, planned.value()).c_str(), stdout);
  std::fflush(stdout);
  Plan plan = planned->plan;
  for (auto& s : plan.stages) s.node = reachable[s.node];
  return plan;
}

Status RunPipeline(const RunCommandOptions& o, const std::atomic<bool>& stop) {
  // 1. Configuration, inputs and the model: every problem found before
  // anything is deployed.
  RunSetup setup;
  TANDEM_RETURN_IF_ERROR(CheckRun(o, &setup));
  const ClusterConfig& cluster = setup.cluster;
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, LoadModelWithThreads(o.model, setup.specs, o.threads));
  std::optional<PlanFile> plan_file;
  if (!o.plan.empty()) {
    TANDEM_ASSIGN_OR_RETURN(plan_file, ReadPlanFile(o.plan, model->content_hash()));
  }
  TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, RunProfile(o, *model, setup.hop_codec));

  // 2. Connect to the workers.
  zmq::context_t ctx(1);
  // With keys, only the cluster's workers may send results (before the
  // results socket binds: without a handler libzmq lets everyone in).
  std::unique_ptr<ZapAuthenticator> zap;
  if (cluster.keys) {
    const std::vector<std::string> workers = cluster.WorkerKeys();
    zap = std::make_unique<ZapAuthenticator>(ctx, [workers](const std::string& domain, const std::string& key) {
      const bool worker = domain == kResultsDomain && std::find(workers.begin(), workers.end(), key) != workers.end();
      return worker ? ResultsUserId(key) : std::string();
    });
    TANDEM_RETURN_IF_ERROR(zap->Start());
  }
  Streamer streamer(ctx, cluster.keys);
  TANDEM_RETURN_IF_ERROR(streamer.Bind(cluster.results_bind));
  const std::string advertised =
      cluster.results_advertise.empty() ? streamer.bound_endpoint() : cluster.results_advertise;
  if (advertised.find("0.0.0.0") != std::string::npos)
    return Status::InvalidArgument(cluster.source +
                                   ": dispatcher.results_advertise: required when results_bind listens on 0.0.0.0");
  auto resolved = ResolveTcpEndpoint(advertised);  // workers connect to numeric endpoints only
  if (!resolved.ok()) return resolved.status().WithContext(cluster.source + ": dispatcher.results_advertise");
  const std::string results_endpoint = resolved.value();
  ManagerOptions mo;
  mo.heartbeat_timeout_s = o.heartbeat_timeout_s;
  mo.algorithm = o.algorithm;
  mo.codec = setup.codec_override;
  mo.watch_model = o.watch_model;
  mo.warmup = o.runs.warmup;
  mo.repeats = o.runs.repeats;
  PipelineManager manager(ctx, cluster, mo);
  TANDEM_RETURN_IF_ERROR(manager.Connect());

  // 3. The first plan; the planner's problem also gives the prediction for the report.
  const Result<PlanProblem> full = BuildPlanProblem(profile, cluster, setup.hop_codec, manager.QueueDepths());
  TANDEM_ASSIGN_OR_RETURN(const Plan plan, FirstPlan(o, plan_file, profile, cluster, full, manager));
  RunFacts facts;
  facts.model_path = o.model;
  facts.model_sha256 = model->content_hash();
  facts.window = o.window;
  if (full.ok()) facts.predicted = Evaluate(full.value(), plan);

  // 4. Deploy, then stream; the manager keeps a pipeline up.
  setup.results.SetOutputNames(model->output_names());
  TANDEM_RETURN_IF_ERROR(manager.Start(model, profile, plan, results_endpoint));
  model.reset();
  StreamOptions so;
  so.window = o.window;
  so.result_timeout_s = cluster.result_timeout_s;
  so.max_attempts = o.max_attempts;
  InputSource& inputs = *setup.inputs;
  auto sink = [&](const Delivery& d) { return setup.results.Write(d, inputs.Name(d.index)); };
  const PipelineDescription first = manager.Describe();
  std::printf("running %s in %zu stages on %zu workers, window %d, cuts", o.model.c_str(), first.workers.size(),
              first.workers.size(), o.window);
  for (int c : first.cuts) std::printf(" %d", c);
  std::printf("\n");
  std::fflush(stdout);
  Progress progress("requests");
  auto rep = streamer.Run(inputs, manager, so, sink, stop, [&](int d, int t) { progress.Update(d, t); });
  if (!rep.ok()) {
    manager.Shutdown();
    return rep.status();
  }
  facts.pipeline = manager.Describe();
  facts.recoveries = manager.recoveries();
  facts.events = manager.events();
  PrintRunReport(rep.value(), facts);
  const Status reported = o.report.empty() ? Status::OK() : WriteRunReport(o.report, rep.value(), facts);
  manager.Shutdown();
  TANDEM_RETURN_IF_ERROR(reported);
  if (rep->interrupted)
    return Status::Unavailable("interrupted: " + std::to_string(rep->unanswered) + " of " +
                               std::to_string(inputs.count()) + " requests have no result");
  if (rep->failed > 0)
    return Status::InvalidArgument(std::to_string(rep->failed) + " of " + std::to_string(inputs.count()) +
                                   " requests failed (listed above)");
  return Status::OK();
}

}  // namespace

Subcommand AddRunCommand(CLI::App& app) {
  auto o = std::make_shared<RunCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("run", "split the model, deploy the stages to the workers, stream inputs through, and report");
  cmd->add_option("--model,-m", o->model, "TorchScript model file")->required();
  cmd->add_option("--cluster,-c", o->cluster,
                  "cluster config JSON (default: 3 local workers on tcp://127.0.0.1:5550, 5560, 5570)");
  auto* inputs = cmd->add_option("--inputs,-i", o->inputs,
                                 "directory of .npy inputs: NAME.npy per request, or NAME.0.npy, NAME.1.npy, ... "
                                 "for a model with several inputs");
  auto* synthetic = cmd->add_option("--synthetic", o->synthetic, "stream N random requests of --input-shape")
                        ->check(CLI::Range(1, 100000000));
  inputs->excludes(synthetic);
  AddInputShapeFlag(cmd, &o->input_shape, "with --synthetic (else checked against the files): ");
  cmd->add_option("--outputs,-o", o->outputs, "write each result as .npy here, named after its input");
  auto* stages = cmd->add_option("--stages,-k", o->stages,
                                 "K stages balanced by compute on the first K workers (default: the planner decides)")
                     ->check(CLI::Range(1, 256));
  auto* plan = cmd->add_option("--plan", o->plan, "plan file: cuts and, optionally, worker names");
  stages->excludes(plan);
  cmd->add_option("--algorithm,-a", o->algorithm, "planner when neither --stages nor --plan is given")
      ->capture_default_str()
      ->check(PlannerValidator());
  cmd->add_option("--plan-deadline", o->plan_deadline_s,
                  "seconds the planner may take (optimal then gives its best plan and the proven gap; 0: no limit)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_option("--codec", o->codec,
                  "codec for every hop: zfp+lz4 (default), lz4, zfp, raw; lossy: zfp:accuracy=T, zfp:rate=R, "
                  "zfp:precision=P (also with zfp+lz4)")
      ->check(CodecValidator());
  cmd->add_option("--window,-w", o->window, "requests in flight at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--threads,-t", o->threads, "LibTorch threads for profiling here (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--heartbeat-timeout", o->heartbeat_timeout_s,
                  "declare a worker failed after this many seconds without a heartbeat answer, and re-plan")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--max-attempts", o->max_attempts,
                  "sends of one request (replays after failures included) before it fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--watch-model", o->watch_model,
                "deploy a new version of the model file when it changes (replace the file with a rename)");
  AddProfileRunFlags(cmd, &o->runs, "profiling: ");
  cmd->add_option("--profile", o->profile,
                  "use this profile (from `profile --out`, of the same model file) instead of profiling here");
  cmd->add_option("--report", o->report,
                  "write the run's figures as JSON here: throughput, latency, prediction, per hop and stage");
  // Stops cleanly on SIGINT/SIGTERM: it undeploys its stages and delivers
  // what it has.
  return {cmd, [o] { return RunPipeline(*o, InstallStopSignals()); }};
}

}  // namespace tandem
