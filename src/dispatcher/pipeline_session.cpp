#include "dispatcher/pipeline_session.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/model/runtime.h"
#include "common/net/transport.h"
#include "common/util/device.h"
#include "common/util/log.h"
#include "common/util/signals.h"
#include "dispatcher/command.h"
#include "dispatcher/planning.h"

namespace tandem {
namespace {

// The profile the planner uses, at start and after a failure: --profile's
// (of this very model file and shape), or measured here.
Result<ModelProfile> SessionProfile(const PipelineOptions& o, const Model& model, const CodecSpec& hop_codec) {
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
Result<std::vector<int>> PlanFileWorkers(const PipelineOptions& o, const PlanFile& file, const ClusterConfig& cluster) {
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
Result<Plan> FirstPlan(const PipelineOptions& o, const std::optional<PlanFile>& file, const ModelProfile& profile,
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

}  // namespace

void AddPipelineFlags(CLI::App* cmd, PipelineOptions* o) {
  cmd->add_option("--model,-m", o->model, "TorchScript model file")->required();
  cmd->add_option("--cluster,-c", o->cluster,
                  "cluster config JSON (default: 3 local workers on tcp://127.0.0.1:5550, 5560, 5570)");
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
  cmd->add_flag("--watch-cluster", o->watch_cluster,
                "read the cluster config again when it changes (replace it with a rename) and on SIGHUP: workers "
                "added join, workers taken out are drained and released");
  cmd->add_option("--adapt", o->adapt,
                  "re-plan while running when measured stage and hop times say another plan is faster: on, off, "
                  "or auto (on for serve and for a run predicted to take 2 minutes or more; docs/adaptation.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "on", "off"}));
  cmd->add_option("--adapt-threshold", o->adapt_threshold,
                  "re-plan only when another plan's bottleneck (time per result) is predicted shorter by more "
                  "than this fraction (0.15: 15% shorter, +18% throughput)")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 0.9));
  cmd->add_option("--adapt-dwell", o->adapt_dwell_s, "seconds the gain must last before re-planning")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  AddProfileRunFlags(cmd, &o->runs, "profiling: ");
  cmd->add_option("--profile", o->profile,
                  "use this profile (from `profile --out`, of the same model file) instead of profiling here");
}

Result<ClusterConfig> LoadPipelineCluster(const PipelineOptions& o) {
  if (o.cluster.empty()) return DefaultClusterConfig();
  return LoadClusterConfig(o.cluster);
}

Status PipelineSession::Check(const PipelineOptions& o, const ClusterConfig& cluster) {
  const size_t workers = cluster.workers.size();
  if (o.stages > static_cast<int>(workers))
    return Status::InvalidArgument("--stages " + std::to_string(o.stages) + " needs " + std::to_string(o.stages) +
                                   " workers; " + cluster.source + " lists " + std::to_string(workers));
  return Status::OK();
}

Result<std::unique_ptr<PipelineSession>> PipelineSession::Open(const PipelineOptions& o, ClusterConfig cluster,
                                                               std::vector<InputSpec> specs) {
  std::unique_ptr<PipelineSession> s(new PipelineSession());
  s->o_ = o;
  s->cluster_ = std::move(cluster);
  if (!o.codec.empty()) s->codec_override_ = ParseCodec(o.codec).value();  // checked by the flag
  s->hop_codec_ = s->codec_override_ ? *s->codec_override_ : s->cluster_.codec;
  TANDEM_RETURN_IF_ERROR(Check(o, s->cluster_));
  TANDEM_ASSIGN_OR_RETURN(s->model_, LoadModelWithThreads(o.model, specs, o.threads));
  s->specs_ = s->model_->inputs();
  s->output_names_ = s->model_->output_names();
  s->input_names_ = s->model_->input_names();
  s->sample_output_ = s->model_->sample_output();
  s->model_sha256_ = s->model_->content_hash();
  if (!o.plan.empty()) {
    TANDEM_ASSIGN_OR_RETURN(s->plan_file_, ReadPlanFile(o.plan, s->model_sha256_));
  }
  // Profiled here once the workers said how many threads they run (Deploy),
  // unless a profile file or --threads says otherwise.
  if (!o.profile.empty() || o.threads > 0) {
    TANDEM_ASSIGN_OR_RETURN(s->profile_, SessionProfile(o, *s->model_, s->hop_codec_));
    s->profiled_ = true;
  }
  return s;
}

PipelineSession::~PipelineSession() { Shutdown(); }

Status PipelineSession::Deploy() {
  // With keys, only the cluster's workers may send results (before the
  // results socket binds: without a handler libzmq lets everyone in).
  if (cluster_.keys) {
    result_keys_->keys = cluster_.WorkerKeys();
    zap_ = std::make_unique<ZapAuthenticator>(
        ctx_, [allowed = result_keys_](const std::string& domain, const std::string& key) {
          std::lock_guard<std::mutex> lock(allowed->mu);
          const auto& keys = allowed->keys;
          const bool worker = domain == kResultsDomain && std::find(keys.begin(), keys.end(), key) != keys.end();
          return worker ? ResultsUserId(key) : std::string();
        });
    TANDEM_RETURN_IF_ERROR(zap_->Start());
  }
  streamer_ = std::make_unique<Streamer>(ctx_, cluster_.keys);
  TANDEM_RETURN_IF_ERROR(streamer_->Bind(cluster_.results_bind));
  const std::string advertised =
      cluster_.results_advertise.empty() ? streamer_->bound_endpoint() : cluster_.results_advertise;
  if (advertised.find("0.0.0.0") != std::string::npos)
    return Status::InvalidArgument(cluster_.source +
                                   ": dispatcher.results_advertise: required when results_bind listens on 0.0.0.0");
  auto resolved = ResolveTcpEndpoint(advertised);  // workers connect to numeric endpoints only
  if (!resolved.ok()) return resolved.status().WithContext(cluster_.source + ": dispatcher.results_advertise");
  ManagerOptions mo;
  mo.heartbeat_timeout_s = o_.heartbeat_timeout_s;
  mo.algorithm = o_.algorithm;
  mo.codec = codec_override_;
  mo.watch_model = o_.watch_model;
  mo.warmup = o_.runs.warmup;
  mo.repeats = o_.runs.repeats;
  mo.adapt.enabled = o_.adapt == "on";
  mo.adapt.threshold = o_.adapt_threshold;
  mo.adapt.dwell_s = o_.adapt_dwell_s;
  mo.cluster_file = o_.cluster;
  mo.watch_cluster = o_.watch_cluster;
  // (With the embedded default SIGHUP reads nothing, and says so, rather than killing a daemon.)
  if (o_.watch_cluster || o_.sighup_reloads_cluster) mo.reload = &InstallReloadSignal();
  mo.on_worker_keys = [allowed = result_keys_](const std::vector<std::string>& keys) {
    std::lock_guard<std::mutex> lock(allowed->mu);
    allowed->keys = keys;
  };
  manager_ = std::make_unique<PipelineManager>(ctx_, cluster_, mo);
  TANDEM_RETURN_IF_ERROR(manager_->Connect());
  if (!profiled_) {
    // Speed 1.0 means this machine with the threads the workers here run:
    // profile with theirs when they agree.
    const std::string here = HostId();
    std::set<int> threads;
    for (const WorkerFacts& f : manager_->Facts())
      if (!here.empty() && f.host_id == here && f.threads > 0) threads.insert(f.threads);
    if (threads.size() == 1) {
      SetComputeThreads(*threads.begin());
      TANDEM_LOG(kInfo) << "profiling with " << *threads.begin()
                        << " thread(s), as the workers on this host run (--threads to choose)";
    }
    TANDEM_ASSIGN_OR_RETURN(profile_, SessionProfile(o_, *model_, hop_codec_));
    profiled_ = true;
  }

  // The planner's problem also gives the prediction for the report.
  const Result<PlanProblem> full = BuildPlanProblem(profile_, cluster_, hop_codec_, manager_->Facts());
  TANDEM_ASSIGN_OR_RETURN(const Plan plan, FirstPlan(o_, plan_file_, profile_, cluster_, full, *manager_));
  if (full.ok()) predicted_ = Evaluate(full.value(), plan);
  TANDEM_RETURN_IF_ERROR(manager_->Start(model_, profile_, plan, resolved.value()));
  model_.reset();
  return Status::OK();
}

namespace {

// The manager, with a call after each of its turns.
class TurnObserver : public Director {
 public:
  TurnObserver(Director& inner, const std::function<void()>& each_turn) : inner_(inner), each_turn_(each_turn) {}
  Status Tick(const std::map<uint32_t, size_t>& in_flight) override {
    Status st = inner_.Tick(in_flight);
    each_turn_();
    return st;
  }
  const Route* route() const override { return inner_.route(); }
  bool Live(uint32_t version) const override { return inner_.Live(version); }
  bool AcceptingNew() const override { return inner_.AcceptingNew(); }
  void Observe(uint32_t version, const std::vector<StageTiming>& timings, const RequestClock& clock) override {
    inner_.Observe(version, timings, clock);
  }

 private:
  Director& inner_;
  const std::function<void()>& each_turn_;
};

}  // namespace

Result<StreamReport> PipelineSession::Stream(InputSource& inputs, const ResultSink& sink, const std::atomic<bool>& stop,
                                             const std::function<void(int, int)>& progress, bool keep_samples,
                                             const std::function<void()>& each_turn) {
  if (!manager_) return Status::Internal("PipelineSession::Stream before Deploy");
  manager_->SetStreamRequests(inputs.open() ? -1 : inputs.count());
  if (o_.adapt == "auto") {
    const double rate = predicted_ && predicted_->feasible ? predicted_->throughput() : 0;
    const double seconds = rate > 0 ? static_cast<double>(inputs.count()) / rate : 0;
    const bool on = inputs.open() || seconds >= kLongStreamS;
    manager_->EnableAdaptation(on);
    char buf[160];
    if (inputs.open())
      std::snprintf(buf, sizeof buf, "a stream without a known end");
    else if (rate > 0)
      std::snprintf(buf, sizeof buf, "%lld requests at the predicted %.2f/s take about %.0f s; on from %.0f s",
                    static_cast<long long>(inputs.count()), rate, seconds, kLongStreamS);
    else
      std::snprintf(buf, sizeof buf, "no predicted rate for this plan");
    TANDEM_LOG(kInfo) << "adaptation " << (on ? "on" : "off") << " (--adapt auto: " << buf << ")";
  }
  StreamOptions so;
  so.window = o_.window;
  so.result_timeout_s = cluster_.result_timeout_s;
  so.max_attempts = o_.max_attempts;
  so.keep_samples = keep_samples;
  if (!each_turn) return streamer_->Run(inputs, *manager_, so, sink, stop, progress);
  TurnObserver observed(*manager_, each_turn);
  return streamer_->Run(inputs, observed, so, sink, stop, progress);
}

void PipelineSession::Shutdown() {
  if (shut_down_ || !manager_) return;
  shut_down_ = true;
  manager_->Shutdown();
}

RunFacts PipelineSession::Facts() const {
  RunFacts facts;
  facts.model_path = o_.model;
  facts.model_sha256 = model_sha256_;
  facts.window = o_.window;
  facts.predicted = predicted_;
  if (manager_) {
    facts.pipeline = manager_->Describe();
    facts.recoveries = manager_->recoveries();
    facts.events = manager_->events();
  }
  return facts;
}

}  // namespace tandem
