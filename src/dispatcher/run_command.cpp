// `tandem-dispatcher run`: split, deploy to the workers, stream, report.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
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

// hop_raw_bytes[i]: uncompressed bytes leaving stage i (the cut after it, or the model's output).
void PrintReport(const StreamReport& r, const std::vector<WorkerClient*>& workers, const CodecSpec& first_codec,
                 const std::vector<CodecSpec>& hop_codecs, const std::vector<uint64_t>& hop_raw_bytes) {
  const int sent = r.completed + r.failed;
  std::printf("\nrequests     %d completed, %d failed in %.2f s: %.2f inferences/s\n", r.completed, r.failed,
              r.seconds, r.seconds > 0 ? r.completed / r.seconds : 0.0);
  std::printf("latency      p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", Percentile(r.latencies_s, 0.50) * 1e3,
              Percentile(r.latencies_s, 0.95) * 1e3, Percentile(r.latencies_s, 0.99) * 1e3);
  std::printf("\nhop                               bytes/request   raw bytes  codec               max error\n");
  const double per = sent > 0 ? 1.0 / sent : 0;
  char hop[128];
  std::snprintf(hop, sizeof hop, "dispatcher -> %s", workers[0]->entry().name.c_str());
  std::printf("%-33s %13s %11s  %-18s %9.2g\n", hop, FormatBytes(static_cast<uint64_t>(r.first_hop_bytes * per)).c_str(),
              FormatBytes(static_cast<uint64_t>(r.first_hop_raw_bytes * per)).c_str(), first_codec.ToString().c_str(),
              r.first_hop_max_error);
  for (size_t i = 0; i < r.stages.size(); ++i) {
    const auto& s = r.stages[i];
    std::snprintf(hop, sizeof hop, "%s -> %s", workers[i]->entry().name.c_str(),
                  i + 1 < workers.size() ? workers[i + 1]->entry().name.c_str() : "dispatcher");
    const uint64_t b = s.count ? s.bytes_out / s.count : 0;
    std::printf("%-33s %13s %11s  %-18s %9.2g\n", hop, FormatBytes(b).c_str(), FormatBytes(hop_raw_bytes[i]).c_str(),
                hop_codecs[i].ToString().c_str(), s.max_abs_error);
  }
  std::printf("\nstage  worker            compute ms   queue ms  decode ms  encode ms\n");
  for (size_t i = 0; i < r.stages.size(); ++i) {
    const auto& s = r.stages[i];
    const double n = s.count ? static_cast<double>(s.count) : 1.0;
    std::printf("%5zu  %-16s %11.2f %10.2f %10.2f %10.2f\n", i, workers[i]->entry().name.c_str(), s.compute_s / n * 1e3,
                s.queue_s / n * 1e3, s.decode_s / n * 1e3, s.encode_s / n * 1e3);
  }
  for (const auto& f : r.failures) std::printf("failed: %s\n", f.c_str());
}

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
  if (o.window < 1 || o.window > 4096) return Status::InvalidArgument("--window must be in 1..4096");
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

  // 2. The model and its cuts.
  TANDEM_ASSIGN_OR_RETURN(auto model, LoadModelWithThreads(o.model, shape, o.threads));
  std::vector<int> cuts;
  std::vector<std::string> worker_names;
  if (!o.plan.empty()) {
    if (o.stages > 0) return Status::InvalidArgument("give --stages or --plan, not both");
    TANDEM_ASSIGN_OR_RETURN(PlanFile plan, ReadPlan(o.plan, model->content_hash()));
    cuts = plan.cuts;
    worker_names = plan.workers;
  } else if (o.stages > 0) {
    if (o.stages > static_cast<int>(cluster.workers.size()))
      return Status::InvalidArgument("--stages " + std::to_string(o.stages) + " needs " + std::to_string(o.stages) +
                                     " workers; " + cluster.source + " lists " +
                                     std::to_string(cluster.workers.size()));
    TANDEM_ASSIGN_OR_RETURN(cuts, BalancedCuts(*model, o.stages, o.warmup, o.repeats));
  } else {
    // The planner chooses cuts and workers for the cluster.
    TANDEM_ASSIGN_OR_RETURN(auto planner, MakePlanner(o.algorithm));
    TANDEM_ASSIGN_OR_RETURN(ModelProfile profile, ProfileWithProgress(*model, o.warmup, o.repeats));
    TANDEM_ASSIGN_OR_RETURN(const PlanProblem problem, BuildPlanProblem(profile, cluster));
    auto planned = planner->Solve(problem, PlannerOptions());
    if (!planned.ok())
      return planned.status().WithContext("cannot place " + o.model + " on " + cluster.source);
    cuts = PlanCuts(profile, planned->plan);
    worker_names = PlanWorkers(cluster, planned->plan);
    std::fputs(FormatPlan(profile, cluster, planned.value()).c_str(), stdout);
    std::fflush(stdout);
  }
  TANDEM_ASSIGN_OR_RETURN(auto stages, BuildStages(*model, cuts));
  const size_t k = stages.size();
  std::vector<WorkerEntry> chosen;
  if (!worker_names.empty()) {
    for (const auto& n : worker_names) {
      auto it = std::find_if(cluster.workers.begin(), cluster.workers.end(), [&](const WorkerEntry& w) { return w.name == n; });
      if (it == cluster.workers.end())
        return Status::InvalidArgument(o.plan + ": workers: '" + n + "' is not in " + cluster.source);
      chosen.push_back(*it);
    }
  } else {
    if (k > cluster.workers.size())
      return Status::InvalidArgument(std::to_string(k) + " stages need " + std::to_string(k) + " workers; " +
                                     cluster.source + " lists " + std::to_string(cluster.workers.size()));
    chosen.assign(cluster.workers.begin(), cluster.workers.begin() + static_cast<std::ptrdiff_t>(k));
  }

  // 3. Connect.
  zmq::context_t ctx(1);
  std::vector<std::unique_ptr<WorkerClient>> clients;
  std::vector<WorkerClient*> workers;
  for (const auto& w : chosen) {
    clients.push_back(std::make_unique<WorkerClient>(ctx, w));
    TANDEM_RETURN_IF_ERROR(clients.back()->Hello(cluster.connect_timeout_s));
    workers.push_back(clients.back().get());
    TANDEM_LOG(kInfo) << "connected to " << w.name << " (" << clients.back()->hello().software << ", data "
                      << clients.back()->data_endpoint() << ")";
  }
  // One process listed twice (under two host names, say) would be handed two stages.
  for (size_t i = 0; i < workers.size(); ++i)
    for (size_t j = i + 1; j < workers.size(); ++j)
      if (workers[i]->hello().name == workers[j]->hello().name &&
          workers[i]->hello().data_port == workers[j]->hello().data_port)
        return Status::InvalidArgument("workers '" + chosen[i].name + "' and '" + chosen[j].name +
                                       "' are the same tandem-worker (" + workers[i]->hello().name + ", data port " +
                                       std::to_string(workers[i]->hello().data_port) + ")");
  Streamer streamer(ctx);
  TANDEM_RETURN_IF_ERROR(streamer.Bind(cluster.results_bind));
  std::string results_endpoint = cluster.results_advertise.empty() ? streamer.bound_endpoint() : cluster.results_advertise;
  if (results_endpoint.find("0.0.0.0") != std::string::npos)
    return Status::InvalidArgument(cluster.source + ": dispatcher.results_advertise: required when results_bind listens on 0.0.0.0");

  // 4. Deploy, last stage first so every next hop is ready.
  const uint32_t version = static_cast<uint32_t>(std::time(nullptr)) ^ (static_cast<uint32_t>(::getpid()) << 16);
  std::vector<CodecSpec> hop_codecs(k);
  for (size_t i = 0; i < k; ++i) hop_codecs[i] = codec_override ? *codec_override : cluster.HopCodec(chosen[i]);
  for (size_t ii = k; ii-- > 0;) {
    DeployBody d;
    d.model_id = model->content_hash();
    d.model_version = version;
    d.stage_index = static_cast<uint32_t>(ii);
    d.num_stages = static_cast<uint32_t>(k);
    d.next_hop = ii + 1 < k ? workers[ii + 1]->data_endpoint() : results_endpoint;
    d.codec = hop_codecs[ii];
    d.num_inputs = static_cast<uint32_t>(stages[ii]->num_inputs());
    uint64_t act = 0;
    if (ii > 0) act += model->FindCut(cuts[ii - 1])->bytes();
    else act += model->sample_input().nbytes();
    if (ii + 1 < k) act += model->FindCut(cuts[ii])->bytes();
    d.activation_bytes = act;
    TANDEM_ASSIGN_OR_RETURN(d.stage, stages[ii]->Serialize());
    d.stage_sha256 = Sha256Hex(d.stage);
    const uint64_t limit = workers[ii]->hello().max_message_bytes;
    if (limit > 0 && d.stage.size() + 64 * 1024 > limit)
      return Status::InvalidArgument("stage " + std::to_string(ii) + " is " + FormatBytes(d.stage.size()) +
                                     "; worker '" + chosen[ii].name + "' accepts deployments up to " +
                                     FormatBytes(limit) + " (its --max-message-mb)");
    TANDEM_ASSIGN_OR_RETURN(DeployAckBody ack, workers[ii]->Deploy(d, cluster.deploy_timeout_s));
    TANDEM_LOG(kInfo) << "deployed stage " << ii << " (" << FormatBytes(d.stage.size()) << ") to "
                      << chosen[ii].name << " in " << ack.load_seconds << " s";
  }

  // 5. Stream.
  StreamOptions so;
  so.window = o.window;
  so.codec = codec_override ? *codec_override : cluster.codec;
  so.result_timeout_s = cluster.result_timeout_s;
  so.model_version = version;
  so.num_stages = static_cast<uint32_t>(k);
  so.first_hop = workers[0]->data_endpoint();
  // A worker that stops answering (crashed, hung, unreachable) is named
  // within a few seconds instead of after the result timeout.
  so.health_check = [&]() -> Status {
    for (auto* w : workers) {
      auto st = w->GetStatus(std::min(2.0, cluster.connect_timeout_s));
      if (!st.ok()) return Status::Unavailable("worker '" + w->entry().name + "' (" + w->entry().endpoint +
                                               ") stopped answering");
    }
    return Status::OK();
  };
  Progress progress("requests");
  auto sink = [&](int i, const std::vector<HostTensor>& outs) -> Status {
    if (o.outputs.empty()) return Status::OK();
    return WriteOutputs(o.outputs, inputs->Name(i), outs);
  };
  std::printf("running %s in %zu stages on %zu workers, window %d, cuts", o.model.c_str(), k, k, o.window);
  for (int c : cuts) std::printf(" %d", c);
  std::printf("\n");
  std::fflush(stdout);
  TANDEM_ASSIGN_OR_RETURN(StreamReport rep, streamer.Run(*inputs, so, sink, stop,
                                                          [&](int d, int t) { progress.Update(d, t); }));
  std::vector<uint64_t> hop_raw(k);
  for (size_t i = 0; i < k; ++i) {
    if (i + 1 < k) {
      hop_raw[i] = model->FindCut(cuts[i])->bytes();
    } else {
      for (const auto& t : model->sample_output()) hop_raw[i] += t.nbytes();
    }
  }
  PrintReport(rep, workers, so.codec, hop_codecs, hop_raw);
  if (rep.interrupted)
    return Status::Unavailable("interrupted after " + std::to_string(rep.completed) + " of " +
                               std::to_string(inputs->count()) + " requests");
  if (rep.failed > 0)
    return Status::InvalidArgument(std::to_string(rep.failed) + " of " + std::to_string(inputs->count()) +
                                   " requests failed (listed above)");
  return Status::OK();
}

}  // namespace tandem
