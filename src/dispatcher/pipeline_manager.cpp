#include "dispatcher/pipeline_manager.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <random>
#include <thread>

#include "common/plan/worker_memory.h"
#include "common/util/device.h"
#include "common/util/digest.h"
#include "common/util/format.h"
#include "common/util/log.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/planning.h"

namespace tandem {

using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::pair<int64_t, int64_t> FileStamp(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return {0, 0};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec, static_cast<int64_t>(st.st_size)};
}

std::string Names(const ClusterConfig& c, const Plan& p) {
  std::string s;
  for (const auto& st : p.stages) s += (s.empty() ? "" : ", ") + c.workers[st.node].name;
  return s;
}

}  // namespace

PipelineManager::PipelineManager(zmq::context_t& ctx, ClusterConfig cluster, ManagerOptions options)
    : ctx_(ctx),
      cluster_(std::move(cluster)),
      options_(std::move(options)),
      live_costs_(cluster_.workers.size()),
      adapt_(AdaptPolicy(options_.adapt)) {
  // Versions differ between runs (and dispatchers), so a worker drops what an
  // earlier run left in flight; drawn at random, a version seen in STATUS
  // says nothing about the next run's.
  std::random_device rd;
  next_version_ = rd();
  if (next_version_ == 0) next_version_ = 1;
}

PipelineManager::~PipelineManager() {
  if (monitor_) monitor_->Stop();
  if (loading_.valid()) loading_.wait();
}

void PipelineManager::Event(const std::string& what) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s: ", Since(started_));
  events_.push_back(buf + what);
  TANDEM_LOG(kInfo) << what;
}

void PipelineManager::NoteThrottling(size_t i, const DeviceHealth& device) {
  WorkerState& w = workers_[i];
  if (device.throttled_now() == w.throttling) return;
  w.throttling = device.throttled_now();
  const std::string what = "worker '" + cluster_.workers[i].name + "'" +
                           (w.throttling ? " is throttling" : " stopped throttling") + " (" + DescribeHealth(device) +
                           ")" + (w.throttling ? ": its stage runs slower than planned" : "");
  if (w.throttling) TANDEM_LOG(kWarning) << what;
  Event(what);
}

Status PipelineManager::Connect() {
  workers_.assign(cluster_.workers.size(), WorkerState());
  Status first_error;
  size_t reached = 0;
  for (size_t i = 0; i < cluster_.workers.size(); ++i) {
    const auto& w = cluster_.workers[i];
    clients_.push_back(std::make_unique<WorkerClient>(ctx_, w, cluster_.keys, cluster_.WorkerKeys()));
    Status st = clients_.back()->Hello(cluster_.connect_timeout_s);
    if (!st.ok()) {
      // Not fatal: the heartbeat re-admits it when it answers.
      TANDEM_LOG(kWarning) << st.message();
      workers_[i].admitted = false;
      workers_[i].last_admit_try = Clock::now();
      workers_[i].hello = st;
      if (first_error.ok()) first_error = st;
      continue;
    }
    ++reached;
    workers_[i].ever_admitted = true;
    const HelloAckBody& ack = clients_.back()->hello();
    const DeviceHealth device{ack.cpu_temp_c, ack.throttle_flags};
    TANDEM_LOG(kInfo) << "connected to " << w.name << " (" << Printable(ack.software) << ", data "
                      << clients_.back()->data_endpoint()
                      << (DescribeHealth(device).empty() ? "" : ", " + DescribeHealth(device)) << ")";
    NoteThrottling(i, device);
  }
  if (reached == 0) return first_error;
  // One process listed twice (under two host names, say) would be handed two stages.
  for (size_t i = 0; i < clients_.size(); ++i)
    for (size_t j = i + 1; j < clients_.size(); ++j)
      if (workers_[i].admitted && workers_[j].admitted && clients_[i]->hello().name == clients_[j]->hello().name &&
          clients_[i]->hello().data_port == clients_[j]->hello().data_port)
        return Status::InvalidArgument("workers '" + cluster_.workers[i].name + "' and '" + cluster_.workers[j].name +
                                       "' are the same tandem-worker (" + Printable(clients_[i]->hello().name) +
                                       ", data port " + std::to_string(clients_[i]->hello().data_port) + ")");
  std::vector<std::string> endpoints;
  for (const auto& w : cluster_.workers) endpoints.push_back(w.endpoint);
  HeartbeatOptions ho;
  ho.timeout_s = options_.heartbeat_timeout_s;
  ho.interval_s = options_.heartbeat_timeout_s / 4;
  monitor_ = std::make_unique<HeartbeatMonitor>(ctx_, endpoints, ho, cluster_.keys, cluster_.WorkerKeys());
  monitor_->Start();
  for (size_t i = 0; i < clients_.size(); ++i) clients_[i]->SetGiveUp([this, i] { return monitor_->Failed(i); });
  return Status::OK();
}

std::vector<int> PipelineManager::Reachable() const {
  std::vector<int> out;
  for (size_t i = 0; i < workers_.size(); ++i)
    if (Usable(i)) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<int> PipelineManager::ReachableIn(const PlanProblem& problem) const {
  std::vector<int> out;
  for (int i : Reachable())
    if (static_cast<size_t>(i) < problem.nodes.size()) out.push_back(i);
  return out;
}

std::vector<std::string> PipelineManager::PeerKeys() const {
  std::vector<std::string> keys;
  for (size_t i = 0; i < cluster_.workers.size(); ++i)
    if (i >= workers_.size() || !workers_[i].released) keys.push_back(cluster_.workers[i].public_key);
  return keys;
}

std::vector<WorkerFacts> PipelineManager::Facts(const Plan* running) const {
  std::vector<WorkerFacts> facts;
  for (size_t i = 0; i < clients_.size(); ++i) {
    const HelloAckBody& h = clients_[i]->hello();
    WorkerFacts f;
    f.queue_depth = static_cast<int>(h.queue_depth);
    // Only busy workers take a share of their host's cores: every worker
    // still in the cluster may be, or those `running` uses.
    const bool busy = running ? std::any_of(running->stages.begin(), running->stages.end(),
                                            [&](const PlanStage& st) { return st.node == static_cast<int>(i); })
                              : !(i < workers_.size() && workers_[i].removed);
    if (busy) {
      f.threads = static_cast<int>(h.threads);
      f.cpus = h.cpus;
      f.host_id = h.host_id;
      f.host_cores = static_cast<int>(h.host_cores);
    }
    facts.push_back(f);
  }
  return facts;
}

Result<PlanProblem> PipelineManager::ProblemFor(const ModelProfile& profile, int generation,
                                                const std::vector<WorkerFacts>& facts, const ClusterConfig& cluster,
                                                const CodecSpec& codec) {
  if (generation == 1) return BuildPlanProblem(profile, cluster, codec, facts);
  // Profiles measured on the workers belong to the first model.
  ClusterConfig c = cluster;
  for (auto& w : c.workers) w.profile.clear();
  return BuildPlanProblem(profile, c, codec, facts);
}

void PipelineManager::RefreshFacts() {
  const std::vector<WorkerFacts> facts = Facts();
  for (const auto& gen : {gen_, pending_}) {
    if (!gen) continue;
    auto fresh = ProblemFor(gen->profile, gen->generation, facts, cluster_, HopCodec());
    if (fresh.ok()) {
      gen->problem = std::move(fresh).value();
      continue;
    }
    // At least the memory rule (what the workers' own checks count).
    for (size_t i = 0; i < facts.size() && i < gen->problem.nodes.size(); ++i) {
      const int depth = facts[i].queue_depth > 0 ? facts[i].queue_depth : kDefaultWorkerQueueDepth;
      gen->problem.nodes[i].activation_copies = WorkerActivationCopies(depth, CodecScratchCopies(HopCodec()));
    }
  }
}

Status PipelineManager::Start(std::shared_ptr<Model> model, ModelProfile profile, const Plan& plan,
                              const std::string& results_endpoint) {
  results_endpoint_ = results_endpoint;
  auto gen = std::make_shared<ModelGeneration>();
  gen->generation = 1;
  gen->model = std::move(model);
  gen->profile = std::move(profile);
  TANDEM_ASSIGN_OR_RETURN(gen->problem, ProblemFor(gen->profile, 1, Facts(), cluster_, HopCodec()));
  gen_ = gen;
  model_stamp_ = seen_stamp_ = FileStamp(gen->model->path());
  last_watch_ = last_cluster_watch_ = Clock::now();
  if (!options_.cluster_file.empty()) cluster_stamp_ = cluster_seen_stamp_ = FileStamp(options_.cluster_file);
  TANDEM_ASSIGN_OR_RETURN(Pipeline p, DeployPlan(gen, plan, /*beside=*/false));
  live_.push_back(std::move(p));
  current_ = 0;
  NewCurrent();
  return Status::OK();
}

void PipelineManager::Shutdown() {
  CancelBeside();
  for (const auto& p : live_)
    for (const auto& s : p.plan.stages) UndeployQuietly(s.node, p.route.version);
  if (monitor_) monitor_->Stop();
}

void PipelineManager::UndeployQuietly(size_t worker, uint32_t version) {
  if (!workers_[worker].admitted) return;
  Status st = clients_[worker]->Undeploy(1.0, version);
  if (!st.ok()) TANDEM_LOG(kDebug) << "undeploy: " << st.message();
}

Result<std::shared_ptr<const ModelGeneration::Archive>> PipelineManager::GetArchive(ModelGeneration& gen,
                                                                                    const PlanStage& s) {
  std::lock_guard<std::mutex> lock(gen.archives_mu);
  const auto key = std::make_pair(s.begin, s.end);
  auto it = gen.archives.find(key);
  if (it != gen.archives.end()) return it->second;
  const int begin = gen.profile.segments[s.begin].begin;
  const int end = gen.profile.segments[s.end - 1].end;
  TANDEM_ASSIGN_OR_RETURN(auto stage, gen.model->MakeStage(begin, end));
  auto a = std::make_shared<ModelGeneration::Archive>();
  TANDEM_ASSIGN_OR_RETURN(a->bytes, stage->Serialize());
  a->sha256 = Sha256Hex(a->bytes);
  a->num_inputs = static_cast<uint32_t>(stage->num_inputs());
  gen.archives[key] = a;
  return std::shared_ptr<const ModelGeneration::Archive>(a);
}

Result<std::vector<PipelineManager::StageDeployment>> PipelineManager::PrepareDeployments(ModelGeneration& gen,
                                                                                          const Plan& plan,
                                                                                          uint32_t version,
                                                                                          bool beside) {
  const size_t k = plan.stages.size();
  const auto& prof = gen.profile;
  std::vector<StageDeployment> out(k);
  for (size_t i = 0; i < k; ++i) {
    const auto& s = plan.stages[i];
    const WorkerEntry& w = cluster_.workers[s.node];
    StageDeployment& sd = out[i];
    sd.node = s.node;
    TANDEM_ASSIGN_OR_RETURN(sd.archive, GetArchive(gen, s));
    DeployBody& d = sd.body;
    d.model_id = prof.model_hash;
    d.model_version = version;
    d.stage_index = static_cast<uint32_t>(i);
    d.num_stages = static_cast<uint32_t>(k);
    d.next_hop = i + 1 < k ? clients_[plan.stages[i + 1].node]->data_endpoint() : results_endpoint_;
    d.codec = options_.codec ? *options_.codec : cluster_.HopCodec(w);
    d.num_inputs = sd.archive->num_inputs;
    d.activation_bytes = gen.problem.InBytes(s.begin) + (i + 1 < k ? prof.segments[s.end - 1].output_bytes : 0);
    d.stage_sha256 = sd.archive->sha256;
    d.beside = beside;
    if (cluster_.keys) {  // who may send to it, and whom it sends to
      d.prev_key = i == 0 ? cluster_.keys->public_key : cluster_.workers[plan.stages[i - 1].node].public_key;
      d.next_key = i + 1 < k ? cluster_.workers[plan.stages[i + 1].node].public_key : cluster_.keys->public_key;
    }
    sd.reused = workers_[s.node].loaded.count(d.stage_sha256) > 0;
  }
  return out;
}

Result<PipelineManager::PendingDeploy> PipelineManager::StartDeployPlan(const std::shared_ptr<ModelGeneration>& gen,
                                                                        const Plan& plan, bool beside) {
  if (!beside) CancelBeside();  // it replaces what the workers run
  PendingDeploy d;
  d.gen = gen;
  d.plan = plan;
  d.started = Clock::now();
  d.version = ++next_version_;
  TANDEM_ASSIGN_OR_RETURN(d.stages, PrepareDeployments(*gen, plan, d.version, beside));
  // Send every deployment, then collect the answers: the workers load at once.
  for (auto& sd : d.stages) {
    auto call = clients_[sd.node]->StartDeploy(sd.body, sd.reused ? std::string_view() : sd.archive->bytes);
    if (!call.ok()) {
      AbandonDeploy(d);
      return call.status();
    }
    sd.call = call.value();
    sd.sent = true;
    sd.instance = workers_[sd.node].instance;
  }
  return d;
}

void PipelineManager::AbandonDeploy(const PendingDeploy& d, bool wait) {
  // Every stage sent goes, including those still loading (the worker drops
  // a load whose version is undeployed, and answers its DEPLOY then).
  for (const auto& sd : d.stages)
    if (sd.sent) UndeployQuietly(sd.node, d.version);
  // A worker still loading refuses the next deployment: with `wait`, their
  // answers are awaited (bounded), as a deployment follows at once.
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(std::min(30.0, cluster_.deploy_timeout_s)));
  for (const auto& sd : d.stages) {
    if (!sd.sent || sd.answered) continue;
    while (wait && workers_[sd.node].admitted && Clock::now() < until) {
      auto ack = clients_[sd.node]->PollDeploy(sd.call, sd.body.stage_index);
      if (!ack.ok() || ack.value()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    clients_[sd.node]->Forget(sd.call);
  }
}

Result<std::optional<PipelineManager::Pipeline>> PipelineManager::PollDeployPlan(PendingDeploy& d) {
  bool all = true;
  for (auto& sd : d.stages) {
    if (sd.answered) continue;
    WorkerClient& client = *clients_[sd.node];
    auto ack = client.PollDeploy(sd.call, sd.body.stage_index);
    if (!ack.ok() && sd.reused && ack.status().code() == Status::Code::kNotFound) {
      // The worker no longer holds that stage: send it.
      sd.reused = false;
      auto call = client.StartDeploy(sd.body, sd.archive->bytes);
      if (call.ok()) {
        sd.call = call.value();
        all = false;
        continue;
      }
      ack = call.status();
    }
    if (ack.ok() && !ack.value() && Since(d.started) > cluster_.deploy_timeout_s) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", cluster_.deploy_timeout_s);
      ack = Status::Timeout(client.Who() + " did not answer DEPLOY within " + buf +
                            " s (timeouts.deploy_s); is tandem-worker running there and reachable?");
    }
    if (!ack.ok()) {
      sd.answered = true;
      client.Forget(sd.call);  // (a timeout: its answer may still come)
      if (d.error.ok()) d.error = ack.status();
      continue;
    }
    if (!ack.value()) {
      all = false;
      continue;
    }
    sd.answered = sd.acked = true;
    workers_[sd.node].loaded.insert(sd.body.stage_sha256);
    TANDEM_LOG(kInfo) << "deployed stage " << sd.body.stage_index << " (" << FormatBytes(sd.archive->bytes.size())
                      << (sd.reused ? ", already loaded" : "") << ") to " << cluster_.workers[sd.node].name << " in "
                      << ack.value()->load_seconds << " s";
  }
  // After a refusal the others are still awaited: a worker busy loading its
  // stage would refuse the next deployment.
  if (!all) return std::optional<Pipeline>();
  // A worker that failed, restarted or was taken out after it answered holds
  // nothing of this pipeline now.
  for (const auto& sd : d.stages)
    if (d.error.ok() && (!Usable(sd.node) || monitor_->Failed(sd.node) ||
                         (sd.instance != 0 && workers_[sd.node].instance != sd.instance)))
      d.error =
          Status::Unavailable("worker '" + cluster_.workers[sd.node].name + "' failed or left during the deployment");
  if (!d.error.ok()) {
    AbandonDeploy(d);
    return d.error;
  }
  return std::optional<Pipeline>(MadePipeline(d));
}

Result<PipelineManager::Pipeline> PipelineManager::DeployPlan(const std::shared_ptr<ModelGeneration>& gen,
                                                              const Plan& plan, bool beside) {
  TANDEM_ASSIGN_OR_RETURN(PendingDeploy d, StartDeployPlan(gen, plan, beside));
  while (true) {
    TANDEM_ASSIGN_OR_RETURN(std::optional<Pipeline> p, PollDeployPlan(d));
    if (p) return std::move(*p);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void PipelineManager::StartBeside(const std::shared_ptr<ModelGeneration>& gen, const Plan& plan,
                                  std::function<void(Result<Pipeline>)> done) {
  BesideDeploy b;
  b.gen = gen;
  b.plan = plan;
  b.done = std::move(done);
  // Cutting and serializing the stages takes a while (0.4 s for ResNet-50
  // here): on a thread, while requests go on.
  b.cutting = std::async(std::launch::async, [gen, plan]() -> Status {
    for (const auto& s : plan.stages) TANDEM_RETURN_IF_ERROR(GetArchive(*gen, s).status());
    return Status::OK();
  });
  beside_.emplace(std::move(b));
}

void PipelineManager::PollBeside() {
  if (!beside_) return;
  BesideDeploy& b = *beside_;
  auto finish = [this](Result<Pipeline> p) {
    auto done = std::move(beside_->done);
    beside_.reset();
    done(std::move(p));
  };
  if (!b.deploy) {
    if (b.cutting.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    Status cut = b.cutting.get();
    if (!cut.ok()) return finish(cut);
    // The workers may have changed meanwhile: the plan must still be theirs.
    for (const auto& s : b.plan.stages)
      if (!Usable(s.node))
        return finish(Status::Unavailable("worker '" + cluster_.workers[s.node].name + "' left before the deployment"));
    auto d = StartDeployPlan(b.gen, b.plan, /*beside=*/true);  // the archives are cut: sends at once
    if (!d.ok()) return finish(d.status());
    b.deploy = std::move(d).value();
  }
  auto p = PollDeployPlan(*b.deploy);
  if (p.ok() && !p.value()) return;
  if (!p.ok()) return finish(p.status());
  finish(std::move(*p.value()));
}

void PipelineManager::CancelBeside() {
  if (!beside_) return;
  if (beside_->cutting.valid()) beside_->cutting.wait();  // it uses the model
  if (beside_->deploy) AbandonDeploy(*beside_->deploy, /*wait=*/true);
  beside_.reset();
}

PipelineManager::Pipeline PipelineManager::MadePipeline(const PendingDeploy& deploy) {
  const auto& gen = deploy.gen;
  const Plan& plan = deploy.plan;
  const auto& stages = deploy.stages;
  const uint32_t version = deploy.version;
  const auto t0 = deploy.started;
  const auto& prof = gen->profile;
  Pipeline p;
  p.gen = gen;
  p.plan = plan;
  p.deployed_at = Clock::now();
  p.predicted_compute_s = Evaluate(gen->problem, plan).compute_s;
  const double corrected_s = Evaluate(live_costs_.Corrected(gen->problem), plan).bottleneck_s;
  p.predicted_rate = corrected_s > 0 ? 1 / corrected_s : 0;
  p.route.version = version;
  p.route.num_stages = static_cast<uint32_t>(stages.size());
  p.route.first_hop = clients_[plan.stages[0].node]->data_endpoint();
  p.route.first_hop_key = cluster_.workers[plan.stages[0].node].public_key;
  p.route.last_key = cluster_.workers[plan.stages.back().node].public_key;
  p.route.codec = HopCodec();
  p.route.pipeline = ++pipelines_made_;
  p.route.generation = gen->generation;
  p.route.model_sha256 = prof.model_hash;
  PipelineDescription d;
  d.pipeline = p.route.pipeline;
  d.generation = gen->generation;
  d.cuts = PlanCuts(prof, plan);
  d.first_codec = p.route.codec;
  for (size_t i = 0; i < stages.size(); ++i) {
    d.workers.push_back(cluster_.workers[plan.stages[i].node].name);
    d.hop_codecs.push_back(stages[i].body.codec);
    d.hop_raw_bytes.push_back(prof.segments[plan.stages[i].end - 1].output_bytes);
  }
  p.description = std::move(d);
  char buf[64];
  std::snprintf(buf, sizeof buf, " in %.2f s", Since(t0));
  std::string cuts;
  for (int c : p.description.cuts) cuts += " " + std::to_string(c);
  Event("pipeline " + std::to_string(p.route.pipeline) + " (model generation " + std::to_string(gen->generation) +
        ", " + std::to_string(stages.size()) + " stage(s) on " + Names(cluster_, plan) + ", cuts" +
        (cuts.empty() ? " none" : cuts) + ") deployed" + buf);
  return p;
}

Result<Plan> PipelineManager::Replan(const ModelGeneration& gen, const Plan* previous) {
  const std::vector<int> alive = ReachableIn(gen.problem);
  if (alive.empty()) return Status::Unavailable("no worker is alive");
  const PlanProblem sub = SubProblem(gen.problem, alive);
  TANDEM_ASSIGN_OR_RETURN(auto planner, MakePlanner(options_.algorithm));
  PlannerOptions po;
  po.deadline_s = 0.5;
  auto fresh = planner->Solve(sub, po);
  std::optional<Plan> best;
  double best_s = 0;
  if (fresh.ok()) {
    best = fresh->plan;
    for (auto& s : best->stages) s.node = alive[s.node];
    best_s = fresh->evaluation.bottleneck_s;
  }
  // The old stages where they are; each lost one on the spare worker that
  // keeps the bottleneck smallest.
  if (previous) {
    Plan keep = *previous;
    std::set<int> used;
    for (const auto& s : keep.stages)
      if (Usable(s.node)) used.insert(s.node);
    bool ok = true;
    for (auto& s : keep.stages) {
      if (Usable(s.node)) continue;
      int pick = -1;
      double pick_s = 0;
      for (int n : alive) {
        if (used.count(n)) continue;
        s.node = n;
        // Stages not placed yet still name their failed workers, which
        // were feasible there; the whole plan is checked again below.
        PlanEvaluation ev = Evaluate(gen.problem, keep);
        if (!ev.feasible) continue;
        const double cost = ev.bottleneck_s;
        if (pick < 0 || cost < pick_s) pick = n, pick_s = cost;
      }
      if (pick < 0) {
        ok = false;
        break;
      }
      s.node = pick;
      used.insert(pick);
    }
    if (ok) {
      PlanEvaluation ev = Evaluate(gen.problem, keep);
      if (ev.feasible && (!best || ev.bottleneck_s <= best_s * (1 + options_.keep_margin))) {
        best = keep;
        best_s = ev.bottleneck_s;
      } else if (ev.feasible && best_s > 0) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "a fresh plan predicts %.2f inferences/s, keeping the stages where they are %.2f/s (a "
                      "bottleneck more than %.0f%% longer): every stage is placed again",
                      1 / best_s, 1 / ev.bottleneck_s, 100 * options_.keep_margin);
        if (buf != last_keep_event_) Event(buf);  // Recover may try again every 2 s
        last_keep_event_ = buf;
      }
    }
  }
  if (!best) return fresh.status();
  return *best;
}

void PipelineManager::KillPipelinesUsing(size_t worker, const std::string& why) {
  if (beside_ && std::any_of(beside_->plan.stages.begin(), beside_->plan.stages.end(),
                             [&](const PlanStage& s) { return s.node == static_cast<int>(worker); }))
    CancelBeside();  // its caller tries again later (an update stays pending)
  for (size_t i = 0; i < live_.size();) {
    bool uses = false;
    for (const auto& s : live_[i].plan.stages) uses |= s.node == static_cast<int>(worker);
    if (!uses) {
      ++i;
      continue;
    }
    // Its stages on the workers still alive stop (they would block on the
    // lost one and hold memory).
    for (const auto& s : live_[i].plan.stages)
      if (s.node != static_cast<int>(worker)) UndeployQuietly(s.node, live_[i].route.version);
    if (current_ && *current_ == i) {
      lost_plan_ = live_[i].plan;
      lost_at_ = Clock::now();
      current_.reset();
      Event("pipeline " + std::to_string(live_[i].route.pipeline) + " is down: " + why + "; " +
            std::to_string(in_flight_total_) + " request(s) in flight will be sent again");
    } else if (current_ && *current_ > i) {
      --*current_;
    }
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void PipelineManager::Recover() {
  last_recover_try_ = Clock::now();
  auto gen = pending_ ? pending_ : gen_;
  auto plan = Replan(*gen, gen == gen_ && lost_plan_ ? &*lost_plan_ : nullptr);
  if (!plan.ok() && gen != gen_) {
    Event("model generation " + std::to_string(gen->generation) + " cannot be placed on the workers alive (" +
          plan.status().message() + "); recovering generation " + std::to_string(gen_->generation));
    pending_.reset();
    draining_for_update_ = false;
    gen = gen_;
    plan = Replan(*gen, lost_plan_ ? &*lost_plan_ : nullptr);
  }
  if (!plan.ok()) {
    const std::string why = plan.status().message();
    if (!waiting_ || why != last_wait_reason_) {
      size_t alive = 0;
      for (const auto& w : workers_) alive += w.admitted;
      Event("the " + std::to_string(alive) + " worker(s) alive cannot run the model: " + why + "; keeping " +
            std::to_string(in_flight_total_) + " request(s) until a worker comes back (Ctrl-C stops)");
    }
    waiting_ = true;
    last_wait_reason_ = why;
    return;
  }
  // Everything else stops: requests of the old pipelines are sent again.
  auto p = DeployPlan(gen, plan.value(), /*beside=*/false);
  if (!p.ok()) {
    if (!waiting_ || p.status().message() != last_wait_reason_)
      Event("cannot deploy the new pipeline: " + p.status().message() + "; will try again");
    waiting_ = true;
    last_wait_reason_ = p.status().message();
    return;
  }
  std::set<int> in_plan;
  for (const auto& s : plan->stages) in_plan.insert(s.node);
  for (size_t i = 0; i < workers_.size(); ++i)
    if (!in_plan.count(static_cast<int>(i)) && workers_[i].admitted) UndeployQuietly(i, 0);
  live_.clear();
  live_.push_back(std::move(p).value());
  current_ = 0;
  NewCurrent();
  gen_ = gen;
  pending_.reset();
  draining_for_update_ = false;
  waiting_ = false;
  lost_plan_.reset();
  ++recoveries_;
  adapt_->Migrated(Clock::now());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f s", Since(lost_at_));
  Event("recovered: pipeline " + std::to_string(live_[0].route.pipeline) + " serves " + buf +
        " after the failure was declared");
}

void PipelineManager::CheckModelFile() {
  if (!options_.watch_model || loading_.valid() || Since(last_watch_) < 1.0) return;
  last_watch_ = Clock::now();
  const std::string path = gen_->model->path();
  const auto stamp = FileStamp(path);
  // Load a changed file once it has stayed the same for one check (a copy in
  // progress; a rename is atomic).
  const bool stable = stamp == seen_stamp_;
  seen_stamp_ = stamp;
  if (stamp == model_stamp_ || !stable || stamp.second == 0) return;
  model_stamp_ = stamp;
  const int next = (pending_ ? pending_->generation : gen_->generation) + 1;
  const std::vector<InputSpec> shape = gen_->model->inputs();
  const ManagerOptions o = options_;
  Event("model file " + path + " changed: loading it as generation " + std::to_string(next));
  const CodecSpec codec = HopCodec();
  const std::vector<WorkerFacts> facts = Facts();  // read here: Tick may say HELLO meanwhile
  const ClusterConfig cluster = cluster_;          // and a reload may change it
  loading_ = std::async(std::launch::async,
                        [path, shape, o, codec, next, facts, cluster]() -> Result<std::shared_ptr<ModelGeneration>> {
                          auto gen = std::make_shared<ModelGeneration>();
                          gen->generation = next;
                          auto model = Model::Load(path, shape);
                          if (!model.ok()) return model.status();
                          gen->model = std::move(model).value();
                          ProfileOptions po;
                          po.warmup = o.warmup;
                          po.repeats = o.repeats;
                          TANDEM_ASSIGN_OR_RETURN(gen->profile, ProfileForPlanning(*gen->model, po, codec));
                          TANDEM_ASSIGN_OR_RETURN(gen->problem, ProblemFor(gen->profile, next, facts, cluster, codec));
                          return gen;
                        });
}

void PipelineManager::ApplyUpdate(const std::map<uint32_t, size_t>& in_flight) {
  if (loading_.valid() && loading_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    auto loaded = loading_.get();
    if (!loaded.ok()) {
      Event("model update failed: " + loaded.status().message() + "; still serving generation " +
            std::to_string(gen_->generation));
    } else if (loaded.value()->profile.model_hash == gen_->profile.model_hash) {
      Event("model file changed but its content is the one being served; nothing to do");
    } else {
      pending_ = loaded.value();
      RefreshFacts();  // workers re-admitted while it loaded
    }
  }
  if (!pending_ || !current_) return;  // without a pipeline, Recover deploys the pending model
  if (!draining_for_update_) {
    if (beside_) return;  // one beside deployment at a time (maybe this one)
    auto plan = Replan(*pending_, nullptr);
    if (!plan.ok()) {
      Event("cannot place model generation " + std::to_string(pending_->generation) + ": " + plan.status().message() +
            "; still serving generation " + std::to_string(gen_->generation));
      pending_.reset();
      return;
    }
    // Requests keep going to the running version while the new one loads.
    StartBeside(pending_, plan.value(), [this, gen = pending_](Result<Pipeline> p) {
      if (pending_ != gen || !current_) {  // replaced by a newer version meanwhile
        if (p.ok())
          for (const auto& s : p->plan.stages) UndeployQuietly(s.node, p->route.version);
        return;
      }
      if (p.ok()) {
        Event("model generation " + std::to_string(pending_->generation) + " (" +
              pending_->profile.model_hash.substr(0, 12) + ") serves new requests; generation " +
              std::to_string(gen_->generation) + " finishes what it holds");
        live_.push_back(std::move(p).value());
        current_ = live_.size() - 1;
        NewCurrent();
        gen_ = pending_;
        pending_.reset();
        adapt_->Migrated(Clock::now());
        return;
      }
      // Most likely the workers cannot hold both versions: let the old one
      // drain, then deploy the new one alone.
      Event("cannot deploy generation " + std::to_string(pending_->generation) + " beside the running one (" +
            p.status().message() + "); draining generation " + std::to_string(gen_->generation) + " first");
      draining_for_update_ = true;
    });
    return;
  }
  size_t total = 0;
  for (const auto& [v, c] : in_flight)
    if (Live(v)) total += c;  // others are being sent again to the current pipeline
  if (total > 0) return;
  auto plan = Replan(*pending_, nullptr);
  if (!plan.ok()) {
    Event("cannot place model generation " + std::to_string(pending_->generation) + ": " + plan.status().message() +
          "; still serving generation " + std::to_string(gen_->generation));
    pending_.reset();
    draining_for_update_ = false;
    return;
  }
  auto p = DeployPlan(pending_, plan.value(), /*beside=*/false);
  draining_for_update_ = false;
  if (!p.ok()) {
    // The attempt replaced the old stages on the workers it reached: deploy
    // the old version again (Recover, next turn). Nothing is in flight.
    Event("model update failed: " + p.status().message() + "; deploying generation " +
          std::to_string(gen_->generation) + " again");
    pending_.reset();
    for (const auto& old : live_)
      for (const auto& s : old.plan.stages) UndeployQuietly(s.node, old.route.version);
    if (current_) lost_plan_ = live_[*current_].plan;
    lost_at_ = Clock::now();
    live_.clear();
    current_.reset();
    waiting_ = false;
    return;
  }
  // The old pipeline was replaced on the workers the new one uses; it is
  // empty, so it goes everywhere.
  for (const auto& old : live_)
    for (const auto& s : old.plan.stages) UndeployQuietly(s.node, old.route.version);
  live_.clear();
  live_.push_back(std::move(p).value());
  current_ = 0;
  NewCurrent();
  adapt_->Migrated(Clock::now());
  gen_ = pending_;
  pending_.reset();
  Event("model generation " + std::to_string(gen_->generation) + " serves all requests");
}

Status PipelineManager::Tick(const std::map<uint32_t, size_t>& in_flight) {
  in_flight_total_ = 0;
  for (const auto& [v, c] : in_flight) in_flight_total_ += c;
  const auto health = monitor_->Snapshot();
  bool membership = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    WorkerState& w = workers_[i];
    if (w.released) continue;
    const WorkerHealth& h = health[i];
    const std::string who = "worker '" + cluster_.workers[i].name + "'";
    if (h.alive && h.answered) NoteThrottling(i, DeviceHealth{h.cpu_temp_c, h.throttle_flags});
    if (w.admitted && !h.alive) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f s", h.silent_s);
      Event(who + " failed: no heartbeat for " + buf);
      w.admitted = false;
      membership = true;
      KillPipelinesUsing(i, who + " failed");
    } else if (w.admitted && h.instance != 0 && w.instance != 0 && h.instance != w.instance) {
      Event(who + " restarted: its deployments are gone");
      w.admitted = false;
      w.loaded.clear();
      membership = true;
      KillPipelinesUsing(i, who + " restarted");
    } else if (!w.admitted && !w.removed && h.alive && h.answered && Since(w.last_admit_try) > 1.0) {
      w.last_admit_try = Clock::now();
      const double t = std::min(1.0, cluster_.connect_timeout_s);
      Status st = clients_[i]->Hello(t);
      // The same process under another entry still in use (a worker renamed
      // or re-addressed in the config): not until that one is released.
      for (size_t j = 0; st.ok() && j < workers_.size(); ++j)
        if (j != i && workers_[j].admitted && clients_[j]->hello().name == clients_[i]->hello().name &&
            clients_[j]->hello().data_port == clients_[i]->hello().data_port) {
          st = Status::InvalidArgument(who + " is the same tandem-worker as '" + cluster_.workers[j].name + "'");
          if (!w.duplicate_said) Event(st.message() + ": it waits until that one is released");
          w.duplicate_said = true;
        }
      if (st.ok()) st = clients_[i]->Undeploy(t, 0);  // whatever it still runs is stale
      if (st.ok()) {
        w.admitted = true;
        RefreshFacts();  // a restarted worker may run at another queue depth, threads or quota
        if (h.instance != w.instance) {
          w.loaded.clear();  // a new process holds nothing
          live_costs_.Reset(i);
        }
        w.instance = h.instance;
        membership = true;
        Event(who + (w.ever_admitted ? " is back; it will be used from the next plan on"
                                     : " answered; it joins the cluster"));
        // A worker new to this run (added to the config, or not reached at
        // the start) is worth a plan when it helps.
        if (!w.ever_admitted) cluster_replan_ = true;
        w.ever_admitted = true;
      }
    }
    if (w.admitted && w.instance == 0) w.instance = h.instance;
  }
  CheckDeploymentsHeld(health);
  PollBeside();
  if (!current_ && (membership || !waiting_ || Since(last_recover_try_) > 2.0)) Recover();
  CheckClusterFile();
  if (Since(last_tell_peers_) > 1.0) {
    last_tell_peers_ = Clock::now();
    TellPeers();
  }
  ReplanForCluster();
  CheckModelFile();
  ApplyUpdate(in_flight);
  Adapt();
  // Pipelines that no longer get requests go once empty.
  for (size_t i = 0; i < live_.size();) {
    if (current_ && *current_ == i) {
      ++i;
      continue;
    }
    auto it = in_flight.find(live_[i].route.version);
    if (it != in_flight.end() && it->second > 0) {
      ++i;
      continue;
    }
    if (draining_for_update_) {  // ApplyUpdate replaces it
      ++i;
      continue;
    }
    for (const auto& s : live_[i].plan.stages) UndeployQuietly(s.node, live_[i].route.version);
    Event("pipeline " + std::to_string(live_[i].route.pipeline) + " (generation " +
          std::to_string(live_[i].route.generation) + ") drained and undeployed");
    if (current_ && *current_ > i) --*current_;
    live_.erase(live_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  ReleaseRemoved();
  return Status::OK();
}

void PipelineManager::CheckClusterFile() {
  const bool asked = options_.reload && options_.reload->exchange(false);
  bool changed = false;
  if (options_.watch_cluster && !options_.cluster_file.empty() && Since(last_cluster_watch_) >= 1.0) {
    last_cluster_watch_ = Clock::now();
    // Read a changed file once it has stayed the same for one check.
    const auto stamp = FileStamp(options_.cluster_file);
    const bool stable = stamp == cluster_seen_stamp_;
    cluster_seen_stamp_ = stamp;
    if (stamp != cluster_stamp_ && stable && stamp.second != 0) {
      cluster_stamp_ = stamp;
      changed = true;
    }
  }
  if (asked || changed) reload_why_ = asked ? "SIGHUP" : "cluster config changed";
  // Not while a pipeline is deployed beside: the workers may be said HELLO
  // to again (new keys), which would cut its deployment short.
  if (reload_why_.empty() || beside_ || loading_.valid()) return;  // (a model loading plans on the old cluster)
  const std::string why = reload_why_;
  reload_why_.clear();
  if (options_.cluster_file.empty()) {
    Event(why + ": no cluster config file to read (the embedded default runs); nothing changes");
    return;
  }
  auto fresh = LoadClusterConfig(options_.cluster_file);
  if (!fresh.ok()) {
    TANDEM_LOG(kWarning) << fresh.status().message();
    Event(why + ": not applied, the running cluster stays: " + fresh.status().message());
    return;
  }
  std::vector<bool> present;
  for (const auto& w : workers_) present.push_back(!w.removed);
  auto change = MergeClusterConfig(cluster_, present, fresh.value());
  if (!change.ok()) {
    Event(why + ": not applied: " + change.status().message());
    return;
  }
  // The models must plan on it (a worker's profile file, say), or nothing changes.
  for (const auto& gen : {gen_, pending_}) {
    if (!gen) continue;
    auto problem = ProblemFor(gen->profile, gen->generation, Facts(), change->merged, HopCodec());
    if (!problem.ok()) {
      Event(why + ": not applied, the running cluster stays: " + problem.status().message());
      return;
    }
  }
  Event(why + ": read " + options_.cluster_file + " again: " + DescribeClusterChange(change.value()));
  ApplyClusterChange(std::move(change).value());
}

void PipelineManager::ApplyClusterChange(ClusterChange change) {
  cluster_ = std::move(change.merged);
  for (size_t i : change.added) {
    const WorkerEntry& w = cluster_.workers[i];
    clients_.push_back(std::make_unique<WorkerClient>(ctx_, w, cluster_.keys));
    WorkerState st;
    st.admitted = false;  // the heartbeat's first answer admits it (Tick)
    st.hello = Status::Unavailable("worker '" + w.name + "' has not answered yet");
    st.last_admit_try = Clock::now() - std::chrono::seconds(10);
    workers_.push_back(std::move(st));
    const size_t at = monitor_->Add(w.endpoint, w.public_key);
    clients_[at]->SetGiveUp([this, at] { return monitor_->Failed(at); });
    awaiting_.push_back(i);
  }
  for (size_t i : change.removed) {
    workers_[i].removed = true;
    if (!workers_[i].admitted) workers_[i].released = true;  // nothing runs there
  }
  live_costs_.Grow(cluster_.workers.size());
  // Workers check the hops a DEPLOY names against the keys their HELLO
  // named: the workers reached say HELLO again with the new ones.
  const std::vector<std::string> peers = PeerKeys();
  for (size_t i = 0; i < clients_.size(); ++i) {
    clients_[i]->SetPeerKeys(peers);
    if (cluster_.keys && !change.added.empty() && Usable(i)) workers_[i].peers_stale = true;
  }
  TellPeers();
  if (options_.on_worker_keys) options_.on_worker_keys(peers);
  RefreshFacts();  // speeds, memory, links: a plan on the cluster as it is now
  cluster_replan_ = true;
  cluster_changed_at_ = Clock::now();
}

void PipelineManager::TellPeers() {
  if (beside_) return;  // a HELLO would cut its deployment short
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i].peers_stale || !Usable(i)) continue;
    Status st = clients_[i]->Hello(std::min(1.0, cluster_.connect_timeout_s));
    if (st.ok()) {
      workers_[i].peers_stale = false;
      continue;
    }
    TANDEM_LOG(kWarning) << "telling " << cluster_.workers[i].name
                         << " of the new workers (will try again): " << st.message();
    return;  // one slow worker per turn
  }
}

void PipelineManager::ReplanForCluster() {
  if (!cluster_replan_ || !current_ || pending_ || draining_for_update_ || loading_.valid() || waiting_ || beside_)
    return;
  // Added workers get the connect timeout to answer before planning goes on without them.
  bool unanswered = false;
  for (size_t i : awaiting_) unanswered |= !workers_[i].admitted && !workers_[i].removed;
  for (size_t i = 0; i < workers_.size(); ++i) unanswered |= workers_[i].peers_stale && Usable(i);
  if (unanswered && Since(cluster_changed_at_) < cluster_.connect_timeout_s + 2) return;
  cluster_replan_ = false;
  awaiting_.clear();
  const Plan running = live_[*current_].plan;
  std::string leaving;
  for (const auto& s : running.stages)
    if (workers_[s.node].removed) leaving += (leaving.empty() ? "" : ", ") + cluster_.workers[s.node].name;
  // The running plan as it runs: the workers it leaves idle (the ones just
  // added among them) take no share of their host's cores from it.
  const auto as_running = ProblemFor(gen_->profile, gen_->generation, Facts(&running), cluster_, HopCodec());
  const PlanEvaluation now_ev = Evaluate(as_running.ok() ? as_running.value() : gen_->problem, running);
  auto plan = Replan(*gen_, leaving.empty() ? nullptr : &running);
  if (!plan.ok()) {
    if (leaving.empty()) {
      Event("cluster change: no plan over the workers now (" + plan.status().message() + "); the running one stays");
      return;
    }
    // The stages on the workers taken out cannot move beside it: as after a failure.
    for (const auto& s : running.stages)
      if (workers_[s.node].removed)
        KillPipelinesUsing(s.node,
                           "worker '" + cluster_.workers[s.node].name + "' was taken out of the cluster config");
    return;
  }
  const PlanEvaluation next_ev = Evaluate(gen_->problem, plan.value());
  char rates[160];
  std::snprintf(rates, sizeof rates, "predicted %.2f/s against %.2f/s now", 1 / next_ev.bottleneck_s,
                now_ev.feasible ? 1 / now_ev.bottleneck_s : 0.0);
  if (leaving.empty()) {
    const double gain = now_ev.feasible ? 1 - next_ev.bottleneck_s / now_ev.bottleneck_s : 1;
    if (gain <= options_.adapt.threshold) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " (below the %.0f%% threshold)", 100 * options_.adapt.threshold);
      Event(std::string("cluster change: the running plan stays; a new plan ") + rates + buf);
      return;
    }
  }
  // Before: the running pipeline's results, over at most 10 s (the deployment holds the stream up).
  const double before_s = std::max(1.0, std::min(10.0, Since(live_[*current_].deployed_at)));
  const double rate_before = RecentRate(before_s);
  const double speedup = now_ev.feasible ? now_ev.bottleneck_s / next_ev.bottleneck_s : 1.0;
  StartBeside(gen_, plan.value(),
              [this, leaving, running, rates = std::string(rates), before_s, rate_before, speedup](Result<Pipeline> p) {
                if (!p.ok()) {
                  if (leaving.empty()) {
                    Event("cluster change: cannot deploy the new plan beside the running one (" + p.status().message() +
                          "); the running one stays");
                    return;
                  }
                  Event("cluster change: cannot deploy a pipeline without " + leaving + " beside the running one (" +
                        p.status().message() + "); it stops and its requests are sent again");
                  for (const auto& s : running.stages)
                    if (workers_[s.node].removed)
                      KillPipelinesUsing(
                          s.node, "worker '" + cluster_.workers[s.node].name + "' was taken out of the cluster config");
                  return;
                }
                if (!current_) {  // a failure this turn stopped the running one: Recover plans anew
                  for (const auto& s : p->plan.stages) UndeployQuietly(s.node, p->route.version);
                  return;
                }
                Event("cluster change: pipeline " + std::to_string(p->route.pipeline) + " serves new requests (" +
                      rates + (leaving.empty() ? "" : "; without " + leaving) + "), the old one drains");
                measuring_ = Migration{"cluster change", rate_before, before_s, Clock::now(), speedup};
                live_.push_back(std::move(p).value());
                current_ = live_.size() - 1;
                NewCurrent();
                adapt_->Migrated(Clock::now());
              });
}

void PipelineManager::ReleaseRemoved() {
  bool any = false;
  for (size_t i = 0; i < workers_.size(); ++i) {
    WorkerState& w = workers_[i];
    if (!w.removed || w.released) continue;
    bool used = false;
    for (const auto& p : live_)
      for (const auto& s : p.plan.stages) used |= s.node == static_cast<int>(i);
    if (used) continue;
    UndeployQuietly(i, 0);
    w.admitted = false;
    w.released = true;
    w.loaded.clear();
    any = true;
    Event("worker '" + cluster_.workers[i].name + "' released: taken out of the cluster config, it runs nothing now");
  }
  if (any && options_.on_worker_keys) options_.on_worker_keys(PeerKeys());
}

void PipelineManager::NewCurrent(bool adapted) {
  described_ = live_[*current_].description;
  const Pipeline& p = live_[*current_];
  // A worker's estimate goes on where it runs the same stage of the same
  // model, predicted the same (a cluster change can change its host share).
  std::vector<size_t> workers, unchanged;
  for (size_t i = 0; i < p.plan.stages.size(); ++i) {
    const PlanStage& s = p.plan.stages[i];
    workers.push_back(static_cast<size_t>(s.node));
    if (p.gen->generation != costed_generation_ || i >= p.predicted_compute_s.size()) continue;
    for (size_t j = 0; j < costed_plan_.stages.size() && j < costed_compute_s_.size(); ++j) {
      const PlanStage& before = costed_plan_.stages[j];
      if (before == s &&
          std::abs(costed_compute_s_[j] - p.predicted_compute_s[i]) <= 1e-9 + 1e-6 * costed_compute_s_[j])
        unchanged.push_back(static_cast<size_t>(s.node));
    }
  }
  live_costs_.NewPlan(workers, adapted, unchanged);
  costed_plan_ = p.plan;
  costed_generation_ = p.gen->generation;
  costed_compute_s_ = p.predicted_compute_s;
  hops_.emplace(workers.size());
}

void PipelineManager::Observe(uint32_t version, const std::vector<StageTiming>& timings, const RequestClock& clock) {
  // The completion times measure what a migration gained (adaptation, cluster change).
  const auto now = Clock::now();
  ++results_seen_;
  completions_.push_back(now);
  while (!completions_.empty() &&
         (now - completions_.front() > std::chrono::seconds(60) || completions_.size() > 100000))
    completions_.pop_front();
  if (!options_.adapt.enabled) return;  // nothing reads the live costs
  // The live costs learn from the current pipeline only (the model's
  // estimates are of the stages it runs).
  if (!current_ || live_[*current_].route.version != version) return;
  const Pipeline& p = live_[*current_];
  for (const StageTiming& t : timings) {
    if (t.stage >= p.plan.stages.size() || t.stage >= p.predicted_compute_s.size()) continue;
    const double measured = (static_cast<double>(t.decode_us) + t.compute_us + t.encode_us) * 1e-6;
    live_costs_.Observe(static_cast<size_t>(p.plan.stages[t.stage].node), p.predicted_compute_s[t.stage], measured);
  }
  if (!hops_) return;
  const size_t stages = p.plan.stages.size();
  const auto endpoint = [&](size_t stage) {
    return stage < stages ? static_cast<size_t>(p.plan.stages[stage].node) : LiveCostModel::kDispatcher;
  };
  for (const HopSample& h : hops_->Take(timings, clock))
    live_costs_.ObserveLink(h.hop == 0 ? LiveCostModel::kDispatcher : endpoint(h.hop - 1), endpoint(h.hop), h.bytes,
                            h.seconds);
}

double PipelineManager::RecentRate(double seconds) const {
  const auto since = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  size_t n = 0;
  for (auto it = completions_.rbegin(); it != completions_.rend() && *it >= since; ++it) ++n;
  return static_cast<double>(n) / seconds;
}

void PipelineManager::Adapt() {
  const auto now = Clock::now();
  constexpr double kWindowS = 10;
  if (measuring_ && Since(measuring_->at) > kWindowS + 5) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  ": %.2f results/s in the %.0f s before, %.2f/s in the last %.0f s (predicted %+.0f%%)",
                  measuring_->rate_before, measuring_->window_s, RecentRate(kWindowS), kWindowS,
                  100 * (measuring_->predicted_speedup - 1));
    Event(measuring_->what + buf);
    measuring_.reset();
  }
  if (!options_.adapt.enabled) return;
  // The planner runs on this (the Streamer's) thread: every 2 s, briefly.
  if (Since(last_adapt_look_) < 2.0) return;
  last_adapt_look_ = now;
  // A look that cannot compare starts the dwell over.
  auto interrupted = [this] { adapt_->Interrupted(); };
  if (!current_ || pending_ || draining_for_update_ || waiting_ || loading_.valid() || beside_) return interrupted();
  const std::vector<int> alive = ReachableIn(gen_->problem);
  if (alive.empty()) return interrupted();
  const Plan& running = live_[*current_].plan;
  const PlanProblem corrected = live_costs_.Corrected(gen_->problem);
  const PlanEvaluation now_ev = Evaluate(corrected, running);
  if (!now_ev.feasible) return interrupted();
  const bool trusted = Since(live_[*current_].deployed_at) >= options_.adapt.SettleSeconds() &&
                       live_costs_.Settle(options_.adapt.min_samples);
  if (!trusted) return interrupted();
  auto planner = MakePlanner(options_.algorithm);
  if (!planner.ok()) return interrupted();
  PlannerOptions po;
  po.deadline_s = 0.2;
  auto best = planner.value()->Solve(SubProblem(corrected, alive), po);
  if (!best.ok()) return interrupted();
  Plan plan = best->plan;
  for (auto& s : plan.stages) s.node = alive[s.node];
  if (!adapt_->Due(now, now_ev.bottleneck_s, best->evaluation.bottleneck_s, trusted,
                   live_costs_.LargeChange(gen_->problem), RecentRate(kWindowS), live_[*current_].predicted_rate))
    return;
  const double ship_s = ShipSeconds(corrected, running, plan);
  const int64_t left = stream_requests_ < 0 ? -1 : std::max<int64_t>(0, stream_requests_ - results_seen_);
  if (!MigrationRepays(now_ev.bottleneck_s, best->evaluation.bottleneck_s, left, ship_s)) {
    if (!said_no_repay_) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "adapting: a new plan predicted at %.2f/s against %.2f/s now would not repay shipping its "
                    "stages (%.1f s) before the stream ends (%lld request(s) left); the running plan stays",
                    1 / best->evaluation.bottleneck_s, 1 / now_ev.bottleneck_s, ship_s, static_cast<long long>(left));
      Event(buf);
    }
    said_no_repay_ = true;
    return;
  }
  // What moved: the workers and links that drifted.
  std::string why;
  for (size_t w = 0; w < cluster_.workers.size(); ++w) {
    const double f = live_costs_.Drift(w);
    if (f > LiveCostModel::kKeepDrift) {  // what Corrected counts
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s%s %.2fx slower than its best on its stage", why.empty() ? "" : ", ",
                    cluster_.workers[w].name.c_str(), f);
      why += buf;
    }
  }
  const auto endpoint_name = [this](size_t i) {
    return i < cluster_.workers.size() ? cluster_.workers[i].name : std::string("the dispatcher");
  };
  for (const auto& l : live_costs_.SlowLinks(gen_->problem)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%slink %s -> %s %.1fx slower than planned (%.1fx the typical link)",
                  why.empty() ? "" : ", ", endpoint_name(l.from).c_str(), endpoint_name(l.to).c_str(), l.ratio,
                  l.relative);
    why += buf;
  }
  // Before: the running pipeline's results, over at most the window.
  const double before_s = std::max(1.0, std::min(kWindowS, Since(live_[*current_].deployed_at)));
  const double rate_before = RecentRate(before_s);
  const double gain = adapt_->gain();
  adapt_->Migrated(now);  // a failed attempt waits out the cool-down too
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "adapting: with the speeds measured the running pipeline makes %.2f/s, a new plan %.2f/s "
                "(+%.0f%%)",
                1 / now_ev.bottleneck_s, 1 / best->evaluation.bottleneck_s, 100 * (1 / (1 - gain) - 1));
  StartBeside(
      gen_, plan,
      [this, what = std::string(buf) + (why.empty() ? "" : " (" + why + ")"), rate_before, before_s,
       gain](Result<Pipeline> p) {
        if (!p.ok()) {
          Event("adapting: cannot deploy the re-planned pipeline beside the running one (" + p.status().message() +
                "); keeping it");
          return;
        }
        if (!current_) {  // a failure this turn stopped the running one: Recover plans anew
          for (const auto& s : p->plan.stages) UndeployQuietly(s.node, p->route.version);
          return;
        }
        Event(what + "; pipeline " + std::to_string(p->route.pipeline) + " serves new requests, the old one drains");
        live_.push_back(std::move(p).value());
        current_ = live_.size() - 1;
        NewCurrent(/*adapted=*/true);
        ++adaptations_;
        measuring_ = Migration{"adaptation " + std::to_string(adaptations_), rate_before, before_s, Clock::now(),
                               1 / (1 - gain)};
      });
}

void PipelineManager::CheckDeploymentsHeld(const std::vector<WorkerHealth>& health) {
  // A PONG this long after the deployment was answered was sent after it.
  const auto settled =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.heartbeat_timeout_s + 0.5));
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (!workers_[i].admitted) continue;
    // The live pipelines deployed on it before this PONG was sent: it must
    // run at least that many stages (it may run more: one being deployed).
    uint32_t expected = 0;
    for (const auto& p : live_) {
      const bool uses = std::any_of(p.plan.stages.begin(), p.plan.stages.end(),
                                    [&](const PlanStage& s) { return s.node == static_cast<int>(i); });
      if (uses && health[i].pong_at >= p.deployed_at + settled) ++expected;
    }
    if (health[i].deployments >= expected) continue;
    const std::string who = "worker '" + cluster_.workers[i].name + "'";
    Event(who + " runs " + std::to_string(health[i].deployments) + " of its " + std::to_string(expected) +
          " stage(s) (its heartbeat says so)");
    KillPipelinesUsing(i, who + " lost a stage");
  }
}

const Route* PipelineManager::route() const {
  if (!current_) return nullptr;
  return &live_[*current_].route;
}

bool PipelineManager::Live(uint32_t version) const {
  for (const auto& p : live_)
    if (p.route.version == version) return true;
  return false;
}

PipelineDescription PipelineManager::Describe() const { return described_; }

}  // namespace tandem
