// From a model profile and a cluster config to a plan: the problem the
// planners solve, the plan file, and the cuts and workers `run` uses.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/config/cluster_config.h"
#include "common/model/profile.h"
#include "common/plan/planner.h"
#include "common/util/status.h"

namespace tandem {

// The planner's segments from a profile.
std::vector<PlanSegment> PlanSegments(const ModelProfile& profile);

// Segments from the profile; workers, speeds, memory and links from the
// cluster (memory_mb 0 means unlimited). A worker with its own profile gets
// that profile's segment times; it must be of the same model and input.
// Each worker's time per activation byte moved comes from its own profile,
// or the model profile's divided by its speed, when measured with `codec`
// (the hops' codec); otherwise it is not counted (a warning says so).
// `queue_depths` (per worker, as HELLO_ACK reported them; missing or 0: the
// default depth) set how many activation copies each worker holds.
Result<PlanProblem> BuildPlanProblem(const ModelProfile& profile, const ClusterConfig& cluster, const CodecSpec& codec,
                                     const std::vector<int>& queue_depths = {});

// The plan whose stages end at `cuts` (node positions, ascending) and run on
// `nodes` (worker indices, one per stage). Errors: a position that is not a
// valid cut of the profiled model.
Result<Plan> PlanFromCuts(const ModelProfile& profile, const std::vector<int>& cuts, const std::vector<int>& nodes);

// The cut positions between a plan's stages, and the worker names in order.
std::vector<int> PlanCuts(const ModelProfile& profile, const Plan& plan);
std::vector<std::string> PlanWorkers(const ClusterConfig& cluster, const Plan& plan);
// The node positions [first, end) a stage of a plan runs.
std::pair<int, int> StageNodes(const ModelProfile& profile, const PlanStage& stage);

// A readable table of the plan.
std::string FormatPlan(const ModelProfile& profile, const ClusterConfig& cluster, const PlanResult& result);

}  // namespace tandem
