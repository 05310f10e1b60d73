// `tandem-dispatcher run`: split, deploy to the workers, stream, report.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <unistd.h>
#include <zmq.hpp>

#include "common/cluster_config.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/model/profile.h"
#include "common/model/split.h"
#include "common/progress.h"
#include "common/protocol.h"
#include "common/sha256.h"
#include "common/transport.h"
#include "dispatcher/commands.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/planning.h"
#include "dispatcher/stream.h"
#include "dispatcher/pipeline_manager.h"
#include "dispatcher/worker_client.h"

namespace tandem {
namespace {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * (v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }

// Results per second once the pipeline is full: the first arrivals (up to a
// quarter of them, at most `skip`) are left out.
double SteadyThroughput(const std::vector<double>& arrivals, size_t skip) {
  const size_t n = arrivals.size();
  skip = std::min(skip, n / 4);
  if (n < skip + 2 || arrivals[n - 1] <= arrivals[skip]) return 0;
  return static_cast<double>(n - 1 - skip) / (arrivals[n - 1] - arrivals[skip]);
}

// Median transfer time of hop h in ms; -1 when not measured.
double TransferMs(const StreamReport& r, size_t h) {
  if (h >= r.hop_transfer_s.size() || r.hop_transfer_s[h].empty()) return -1;
  return Median(r.hop_transfer_s[h]) * 1e3;
}

std::string FormatTransfer(double ms) {
  if (ms < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", ms);
  return b;
}

void PrintReport(const StreamReport& r, const PipelineDescription& d, const PipelineManager& manager) {
  const int sent = r.completed + r.failed;
  std::printf("\nrequests     %d completed, %d failed in %.2f s: %.2f inferences/s\n", r.completed, r.failed,
              r.seconds, r.seconds > 0 ? r.completed / r.seconds : 0.0);
  std::printf("latency      p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", Percentile(r.latencies_s, 0.50) * 1e3,
              Percentile(r.latencies_s, 0.95) * 1e3, Percentile(r.latencies_s, 0.99) * 1e3);
  if (manager.recoveries() > 0 || r.by_generation.size() > 1 || r.replayed > 0) {
    std::printf("recovery     %d recover%s, %d request(s) sent again, %d late or duplicate result(s) dropped\n",
                manager.recoveries(), manager.recoveries() == 1 ? "y" : "ies", r.replayed, r.duplicates);
    for (const auto& [g, n] : r.by_generation) std::printf("             model generation %d answered %d\n", g, n);
  }
  if (d.workers.empty()) return;
  std::printf("\nlast pipeline %d (model generation %d)\n", d.pipeline, d.generation);
  std::printf("hop                               bytes/request   raw bytes  codec               max error  transfer ms\n");
  const double per = sent > 0 ? 1.0 / sent : 0;
  char hop[128];
  std::snprintf(hop, sizeof hop, "dispatcher -> %s", d.workers[0].c_str());
  std::printf("%-33s %13s %11s  %-18s %9.2g  %11s\n", hop,
              FormatBytes(static_cast<uint64_t>(r.first_hop_bytes * per)).c_str(),
              FormatBytes(static_cast<uint64_t>(r.first_hop_raw_bytes * per)).c_str(), d.first_codec.ToString().c_str(),
              r.first_hop_max_error, FormatTransfer(TransferMs(r, 0)).c_str());
  const size_t k = std::min(r.stages.size(), d.workers.size());
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    std::snprintf(hop, sizeof hop, "%s -> %s", d.workers[i].c_str(),
                  i + 1 < d.workers.size() ? d.workers[i + 1].c_str() : "dispatcher");
    const uint64_t b = s.count ? s.bytes_out / s.count : 0;
    std::printf("%-33s %13s %11s  %-18s %9.2g  %11s\n", hop, FormatBytes(b).c_str(),
                FormatBytes(d.hop_raw_bytes[i]).c_str(), d.hop_codecs[i].ToString().c_str(), s.max_abs_error,
                FormatTransfer(TransferMs(r, i + 1)).c_str());
  }
  std::printf("\nstage  worker            compute ms   queue ms  decode ms  encode ms\n");
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    const double n = s.count ? static_cast<double>(s.count) : 1.0;
    std::printf("%5zu  %-16s %11.2f %10.2f %10.2f %10.2f\n", i, d.workers[i].c_str(), s.compute_s / n * 1e3,
                s.queue_s / n * 1e3, s.decode_s / n * 1e3, s.encode_s / n * 1e3);
  }
  if (!manager.events().empty()) {
    std::printf("\nevents\n");
    for (const auto& e : manager.events()) std::printf("  %s\n", e.c_str());
  }
  for (const auto& f : r.failures) std::printf("failed: %s\n", f.c_str());
  if (!r.hop_transfer_s.empty())
    std::printf("(transfer: median of the receiver's clock minus the sender's, per hop)\n");
}

// The run's figures as JSON (docs/formats.md, "Run report").
Status WriteReport(const std::string& path, const RunCommandOptions& o, const std::string& model_sha256,
                   const StreamReport& r, const PipelineDescription& d, const PipelineManager& manager,
                   const std::optional<PlanEvaluation>& predicted) {
  using nlohmann::json;
  const int sent = r.completed + r.failed;
  const double per = sent > 0 ? 1.0 / sent : 0;
  auto ms_stats = [](const std::vector<double>& v) -> json {
    if (v.empty()) return nullptr;
    double sum = 0;
    for (double x : v) sum += x;
    return json{{"p50", Percentile(v, 0.5) * 1e3}, {"p95", Percentile(v, 0.95) * 1e3},
                {"mean", sum / v.size() * 1e3}, {"samples", v.size()}};
  };
  json j;
  j["model"] = {{"path", o.model}, {"sha256", model_sha256}};
  j["window"] = o.window;
  j["requests"] = {{"completed", r.completed},
                   {"failed", r.failed},
                   {"seconds", r.seconds},
                   {"throughput_per_s", r.seconds > 0 ? r.completed / r.seconds : 0.0},
                   {"steady_throughput_per_s", SteadyThroughput(r.arrivals_s, o.window + d.workers.size())},
                   {"latency_ms", ms_stats(r.latencies_s)},
                   {"replayed", r.replayed},
                   {"recoveries", manager.recoveries()}};
  j["pipeline"] = {{"number", d.pipeline}, {"generation", d.generation}, {"workers", d.workers}, {"cuts", d.cuts}};
  if (predicted && predicted->feasible) {
    j["predicted"] = {{"bottleneck_s", predicted->bottleneck_s},   {"bottleneck", predicted->bottleneck},
                      {"throughput_per_s", predicted->throughput()}, {"latency_s", predicted->latency_s},
                      {"compute_s", predicted->compute_s},           {"transfer_s", predicted->transfer_s}};
  } else {
    j["predicted"] = nullptr;
  }
  json hops = json::array();
  const size_t k = std::min(r.stages.size(), d.workers.size());
  if (!d.workers.empty()) {
    hops.push_back({{"from", "dispatcher"},
                    {"to", d.workers[0]},
                    {"codec", d.first_codec.ToString()},
                    {"bytes_per_request", r.first_hop_bytes * per},
                    {"raw_bytes", r.first_hop_raw_bytes * per},
                    {"max_abs_error", r.first_hop_max_error},
                    {"transfer_ms", ms_stats(r.hop_transfer_s.empty() ? std::vector<double>() : r.hop_transfer_s[0])}});
  }
  json stages = json::array();
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    const double n = s.count ? static_cast<double>(s.count) : 1.0;
    hops.push_back({{"from", d.workers[i]},
                    {"to", i + 1 < d.workers.size() ? d.workers[i + 1] : "dispatcher"},
                    {"codec", d.hop_codecs[i].ToString()},
                    {"bytes_per_request", s.bytes_out / n},
                    {"raw_bytes", d.hop_raw_bytes[i]},
                    {"max_abs_error", s.max_abs_error},
                    {"transfer_ms", ms_stats(i + 1 < r.hop_transfer_s.size() ? r.hop_transfer_s[i + 1]
                                                                             : std::vector<double>())}});
    stages.push_back({{"worker", d.workers[i]},
                      {"requests", s.count},
                      {"compute_ms", s.compute_s / n * 1e3},
                      {"queue_ms", s.queue_s / n * 1e3},
                      {"decode_ms", s.decode_s / n * 1e3},
                      {"encode_ms", s.encode_s / n * 1e3}});
  }
  j["hops"] = hops;
  j["stages"] = stages;
  return WriteFileAtomic(path, j.dump(1) + "\n");
}

// One JSON line per request in DIR/results.jsonl: which model answered it.
class ResultLog {
 public:
  Status Open(const std::string& dir) {
    if (dir.empty()) return Status::OK();
    path_ = dir + "/results.jsonl";
    f_ = std::fopen(path_.c_str(), "w");
    if (!f_) return Status::IOError(path_ + ": cannot create: " + std::strerror(errno));
    return Status::OK();
  }
  ~ResultLog() {
    if (f_) std::fclose(f_);
  }
  Status Write(const Delivery& d, const std::string& name) {
    if (!f_) return Status::OK();
    nlohmann::json j{{"index", d.index},
                     {"input", name},
                     {"ok", d.ok},
                     {"model_generation", d.generation},
                     {"model_sha256", d.model_sha256},
                     {"pipeline", d.pipeline},
                     {"attempts", d.attempts},
                     {"received_unix_s", d.received_unix_s}};
    if (!d.ok) j["error"] = d.error;
    const std::string line = j.dump() + "\n";
    if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
      return Status::IOError(path_ + ": write failed: " + std::strerror(errno));
    return Status::OK();
  }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

}  // namespace

Status RunPipelineCommand(const RunCommandOptions& o, const std::atomic<bool>& stop) {
  // 1. Configuration and inputs: every problem found before anything is deployed.
  ClusterConfig cluster;
  if (o.cluster.empty()) {
    cluster = DefaultClusterConfig();
  } else {
    TANDEM_ASSIGN_OR_RETURN(cluster, LoadClusterConfig(o.cluster));
  }
  std::optional<CodecSpec> codec_override;
  if (!o.codec.empty()) {
    TANDEM_ASSIGN_OR_RETURN(CodecSpec c, ParseCodec(o.codec));
    codec_override = c;
  }
  const CodecSpec hop_codec = codec_override ? *codec_override : cluster.codec;
  if (o.window < 1 || o.window > 4096) return Status::InvalidArgument("--window must be in 1..4096");
  if (!(o.heartbeat_timeout_s >= 0.1)) return Status::InvalidArgument("--heartbeat-timeout must be at least 0.1 s");
  if (o.max_attempts < 1) return Status::InvalidArgument("--max-attempts must be at least 1");
  std::vector<int64_t> shape;
  if (!o.input_shape.empty()) {
    TANDEM_ASSIGN_OR_RETURN(shape, ParseShape(o.input_shape));
  }
  std::unique_ptr<InputSource> inputs;
  if (!o.inputs.empty() && o.synthetic > 0) return Status::InvalidArgument("give --inputs or --synthetic, not both");
  if (!o.inputs.empty()) {
    TANDEM_ASSIGN_OR_RETURN(auto dir, DirectoryInputs::Open(o.inputs, shape));
    shape = dir->shape();
    inputs = std::move(dir);
  } else if (o.synthetic > 0) {
    if (shape.empty()) return Status::InvalidArgument("--synthetic needs --input-shape");
    inputs = std::make_unique<SyntheticInputs>(o.synthetic, shape);
  } else {
    return Status::InvalidArgument("give --inputs DIR or --synthetic N");
  }
  if (!o.outputs.empty()) TANDEM_RETURN_IF_ERROR(MakeDirs(o.outputs));
  if (o.plan.empty() && o.stages > 0 && o.stages > static_cast<int>(cluster.workers.size()))
    return Status::InvalidArgument("--stages " + std::to_string(o.stages) + " needs " + std::to_string(o.stages) +
                                   " workers; " + cluster.source + " lists " + std::to_string(cluster.workers.size()));
  if (!o.plan.empty() && o.stages > 0) return Status::InvalidArgument("give --stages or --plan, not both");

  // 2. The model and its profile (the planner needs it at start and after a
  // failure).
  TANDEM_ASSIGN_OR_RETURN(std::shared_ptr<Model> model, LoadModelWithThreads(o.model, shape, o.threads));
  std::optional<PlanFile> plan_file;
  if (!o.plan.empty()) {
    TANDEM_ASSIGN_OR_RETURN(plan_file, ReadPlan(o.plan, model->content_hash()));
  }
  ModelProfile profile;
  if (!o.profile.empty()) {
    TANDEM_ASSIGN_OR_RETURN(profile, ReadProfile(o.profile));
    if (profile.model_hash != model->content_hash())
      return Status::InvalidArgument(o.profile + ": model.sha256: measured on another model (" + profile.model_hash +
                                     "; " + o.model + " is " + model->content_hash() + "); profile it again");
    if (profile.input_shape != model->input_shape())
      return Status::InvalidArgument(o.profile + ": input_shape: measured with " + ShapeToString(profile.input_shape) +
                                     ", the run's input is " + ShapeToString(model->input_shape()));
  } else {
    ProfileOptions po;
    po.warmup = o.warmup;
    po.repeats = o.repeats;
    TANDEM_ASSIGN_OR_RETURN(profile, ProfileWithProgress(*model, po, hop_codec));
  }
  const std::string model_sha256 = model->content_hash();

  // 3. Connect to the workers.
  zmq::context_t ctx(1);
  Streamer streamer(ctx);
  TANDEM_RETURN_IF_ERROR(streamer.Bind(cluster.results_bind));
  std::string results_endpoint = cluster.results_advertise.empty() ? streamer.bound_endpoint() : cluster.results_advertise;
  if (results_endpoint.find("0.0.0.0") != std::string::npos)
    return Status::InvalidArgument(cluster.source + ": dispatcher.results_advertise: required when results_bind listens on 0.0.0.0");
  ManagerOptions mo;
  mo.heartbeat_timeout_s = o.heartbeat_timeout_s;
  mo.algorithm = o.algorithm;
  mo.codec = codec_override;
  mo.watch_model = o.watch_model;
  mo.warmup = o.warmup;
  mo.repeats = o.repeats;
  TANDEM_RETURN_IF_ERROR(MakePlanner(o.algorithm).status());
  PipelineManager manager(ctx, cluster, mo);
  TANDEM_RETURN_IF_ERROR(manager.Connect());
  const std::vector<int> reachable = manager.Reachable();
  auto require = [&](int i) -> Status {
    if (std::find(reachable.begin(), reachable.end(), i) != reachable.end()) return Status::OK();
    return manager.hello_status(static_cast<size_t>(i));
  };

  // 4. The first plan: a plan file, balanced stages, or the planner's. The
  // planner's problem also gives the prediction for the report.
  const Result<PlanProblem> full = BuildPlanProblem(profile, cluster, hop_codec);
  Plan plan;
  if (plan_file) {
    std::vector<int> nodes;
    if (!plan_file->workers.empty()) {
      for (const auto& n : plan_file->workers) {
        auto it = std::find_if(cluster.workers.begin(), cluster.workers.end(), [&](const WorkerEntry& w) { return w.name == n; });
        if (it == cluster.workers.end())
          return Status::InvalidArgument(o.plan + ": workers: '" + n + "' is not in " + cluster.source);
        nodes.push_back(static_cast<int>(it - cluster.workers.begin()));
      }
    } else {
      const size_t k = plan_file->cuts.size() + 1;
      if (k > cluster.workers.size())
        return Status::InvalidArgument(std::to_string(k) + " stages need " + std::to_string(k) + " workers; " +
                                       cluster.source + " lists " + std::to_string(cluster.workers.size()));
      for (size_t i = 0; i < k; ++i) nodes.push_back(static_cast<int>(i));
    }
    for (int n : nodes) TANDEM_RETURN_IF_ERROR(require(n));
    auto from_file = PlanFromCuts(profile, plan_file->cuts, nodes);
    if (!from_file.ok()) return from_file.status().WithContext(o.plan);
    plan = from_file.value();
  } else if (o.stages > 0) {
    TANDEM_ASSIGN_OR_RETURN(std::vector<int> cuts, BalancedCuts(profile, o.stages));
    std::vector<int> nodes;
    for (int i = 0; i < o.stages; ++i) {
      TANDEM_RETURN_IF_ERROR(require(i));
      nodes.push_back(i);
    }
    TANDEM_ASSIGN_OR_RETURN(plan, PlanFromCuts(profile, cuts, nodes));
  } else {
    TANDEM_ASSIGN_OR_RETURN(auto planner, MakePlanner(o.algorithm));
    if (!full.ok()) return full.status();
    const PlanProblem problem = SubProblem(full.value(), reachable);
    auto planned = planner->Solve(problem, PlannerOptions());
    if (!planned.ok())
      return planned.status().WithContext("cannot place " + o.model + " on " + cluster.source);
    ClusterConfig shown = cluster;
    shown.workers.clear();
    for (int i : reachable) shown.workers.push_back(cluster.workers[i]);
    std::fputs(FormatPlan(profile, shown, planned.value()).c_str(), stdout);
    std::fflush(stdout);
    plan = planned->plan;
    for (auto& s : plan.stages) s.node = reachable[s.node];
  }

  // What the planner's model predicts for this plan (for the report).
  std::optional<PlanEvaluation> predicted;
  if (full.ok()) predicted = Evaluate(full.value(), plan);

  // 5. Deploy, then stream; the manager keeps a pipeline up.
  TANDEM_RETURN_IF_ERROR(manager.Start(model, profile, plan, results_endpoint));
  model.reset();
  StreamOptions so;
  so.window = o.window;
  so.result_timeout_s = cluster.result_timeout_s;
  so.max_attempts = o.max_attempts;
  ResultLog log;
  TANDEM_RETURN_IF_ERROR(log.Open(o.outputs));
  Progress progress("requests");
  auto sink = [&](const Delivery& d) -> Status {
    if (!o.outputs.empty() && d.ok) TANDEM_RETURN_IF_ERROR(WriteOutputs(o.outputs, inputs->Name(d.index), d.outputs));
    return log.Write(d, inputs->Name(d.index));
  };
  const PipelineDescription first = manager.Describe();
  std::printf("running %s in %zu stages on %zu workers, window %d, cuts", o.model.c_str(), first.workers.size(),
              first.workers.size(), o.window);
  for (int c : first.cuts) std::printf(" %d", c);
  std::printf("\n");
  std::fflush(stdout);
  auto rep = streamer.Run(*inputs, manager, so, sink, stop, [&](int d, int t) { progress.Update(d, t); });
  if (!rep.ok()) {
    manager.Shutdown();
    return rep.status();
  }
  PrintReport(rep.value(), manager.Describe(), manager);
  Status reported;
  if (!o.report.empty())
    reported = WriteReport(o.report, o, model_sha256, rep.value(), manager.Describe(), manager, predicted);
  manager.Shutdown();
  TANDEM_RETURN_IF_ERROR(reported);
  if (rep->interrupted)
    return Status::Unavailable("interrupted: " + std::to_string(rep->unanswered) + " of " +
                               std::to_string(inputs->count()) + " requests have no result");
  if (rep->failed > 0)
    return Status::InvalidArgument(std::to_string(rep->failed) + " of " + std::to_string(inputs->count()) +
                                   " requests failed (listed above)");
  return Status::OK();
}

}  // namespace tandem
