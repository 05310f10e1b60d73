// `tandem-dispatcher plan`: choose cuts and placement for a cluster.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "common/util/log.h"
#include "dispatcher/command.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/plan_file.h"
#include "dispatcher/planning.h"

namespace tandem {
namespace {

struct PlanCommandOptions {
  std::string model;  // with input_shape: profile here first
  std::string input_shape;
  std::string profile;                   // or: a profile written by `profile --out`
  std::string cluster;                   // cluster config; empty: the embedded default
  std::string algorithm = "auto";        // PlannerNames()
  std::string objective = "throughput";  // or "latency" (optimal, fast and auto)
  double deadline_s = 2;                 // seconds the planner may take (PlannerOptions)
  bool json = false;                     // print the plan as JSON instead of a table
  std::string out;                       // write the plan file here
  int threads = 0;                       // LibTorch threads for profiling; 0: one per core
  ProfileRuns runs;
};

Status RunPlan(const PlanCommandOptions& o) {
  if (o.profile.empty() == o.model.empty())
    return Status::InvalidArgument("give --profile P.json, or --model M.pt with --input-shape");
  TANDEM_ASSIGN_OR_RETURN(auto planner, MakePlanner(o.algorithm));
  ClusterConfig cluster = DefaultClusterConfig();
  if (!o.cluster.empty()) {
    TANDEM_ASSIGN_OR_RETURN(cluster, LoadClusterConfig(o.cluster));
  }
  ModelProfile profile;
  if (!o.profile.empty()) {
    TANDEM_ASSIGN_OR_RETURN(profile, ReadProfile(o.profile));
  } else {
    if (o.input_shape.empty()) return Status::InvalidArgument("--model needs --input-shape");
    TANDEM_ASSIGN_OR_RETURN(auto model, LoadModel(ModelOptions{o.model, o.input_shape, o.threads}));
    TANDEM_ASSIGN_OR_RETURN(profile, ProfileWithProgress(*model, ProfileOptionsFor(o.runs), cluster.codec));
  }
  TANDEM_ASSIGN_OR_RETURN(const PlanProblem problem, BuildPlanProblem(profile, cluster, cluster.codec));
  PlannerOptions po;
  po.deadline_s = o.deadline_s;
  po.objective = o.objective == "latency" ? Objective::kLatency : Objective::kThroughput;
  auto result = planner->Solve(problem, po);
  if (!result.ok()) return result.status().WithContext("cannot place " + profile.model_path + " on " + cluster.source);
  const nlohmann::json j = PlanToJson(profile, cluster, result.value());
  if (o.json)
    std::printf("%s\n", j.dump(1).c_str());
  else
    std::fputs(FormatPlan(profile, cluster, result.value()).c_str(), stdout);
  if (!o.out.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteFileAtomic(o.out, j.dump(1) + "\n"));
    TANDEM_LOG(kInfo) << "wrote " << o.out;
  }
  return Status::OK();
}

}  // namespace

Subcommand AddPlanCommand(CLI::App& app) {
  auto o = std::make_shared<PlanCommandOptions>();
  CLI::App* cmd =
      app.add_subcommand("plan", "choose cuts and which worker runs each stage, for the most inferences per second");
  cmd->add_option("--model,-m", o->model, "TorchScript model file (profiled here first)");
  AddInputShapeFlag(cmd, &o->input_shape, "with --model: ");
  cmd->add_option("--profile,-p", o->profile, "or: a profile written by `profile --out`");
  cmd->add_option("--cluster,-c", o->cluster, "cluster config JSON (default: 3 local workers)");
  cmd->add_option("--algorithm,-a", o->algorithm, "auto, optimal, fast, seifer, greedy or random")
      ->capture_default_str()
      ->check(PlannerValidator());
  cmd->add_option("--objective", o->objective,
                  "throughput (the slowest stage or transfer) or latency (one request end to end; optimal, fast "
                  "and auto)")
      ->capture_default_str()
      ->check(CLI::IsMember({"throughput", "latency"}));
  cmd->add_option("--deadline,--time-budget", o->deadline_s,
                  "seconds the planner may take; optimal then returns its best plan and the proven gap, auto the "
                  "best of optimal's and fast's (0: optimal runs to the end)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_flag("--json", o->json, "print the plan as JSON");
  cmd->add_option("--out,-o", o->out, "write the plan file (for run --plan and split --plan)");
  cmd->add_option("--threads,-t", o->threads, "LibTorch threads for profiling (0: one per core)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  AddProfileRunFlags(cmd, &o->runs, "profiling: ");
  return {cmd, [o] { return RunPlan(*o); }};
}

}  // namespace tandem
