// `tandem-dispatcher plan`: choose cuts and placement for a cluster.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/log.h"
#include "common/tensor.h"
#include "dispatcher/commands.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/planning.h"

namespace tandem {

Status RunPlanCommand(const PlanCommandOptions& o) {
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
    TANDEM_ASSIGN_OR_RETURN(auto shape, ParseShape(o.input_shape));
    TANDEM_ASSIGN_OR_RETURN(auto model, LoadModelWithThreads(o.model, shape, o.threads));
    ProfileOptions po;
    po.warmup = o.warmup;
    po.repeats = o.repeats;
    TANDEM_ASSIGN_OR_RETURN(profile, ProfileWithProgress(*model, po, cluster.codec));
  }
  TANDEM_ASSIGN_OR_RETURN(const PlanProblem problem, BuildPlanProblem(profile, cluster, cluster.codec));
  PlannerOptions po;
  po.time_budget_s = o.time_budget_s;
  if (o.objective == "latency") po.objective = Objective::kLatency;
  else if (o.objective != "throughput")
    return Status::InvalidArgument("--objective '" + o.objective + "': expected throughput or latency");
  auto result = planner->Solve(problem, po);
  if (!result.ok()) return result.status().WithContext("cannot place " + profile.model_path + " on " + cluster.source);
  const nlohmann::json j = PlanToJson(profile, cluster, result.value());
  if (o.json) std::printf("%s\n", j.dump(1).c_str());
  else std::fputs(FormatPlan(profile, cluster, result.value()).c_str(), stdout);
  if (!o.out.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteFileAtomic(o.out, j.dump(1) + "\n"));
    TANDEM_LOG(kInfo) << "wrote " << o.out;
  }
  return Status::OK();
}

}  // namespace tandem
