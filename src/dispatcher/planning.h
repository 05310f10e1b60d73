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

// What a worker said of itself in HELLO_ACK that planning uses; defaults:
// not known (a worker not reached, or an older one).
struct WorkerFacts {
  int queue_depth = 0;  // requests it buffers per queue; 0: the default depth
  int threads = 0;      // its compute threads
  double cpus = 0;      // CPUs it may use (affinity, cgroup quota)
  std::string host_id;  // device.h HostId
  int host_cores = 0;   // its host's online CPUs
  // The CPUs its compute can keep busy: the smaller of threads and cpus
  // (either alone where the other is not known); 0: not known.
  double BusyCpus() const;
};

// Segments from the profile; workers, speeds, memory and links from the
// cluster (memory_mb 0 means unlimited). A worker with its own profile gets
// that profile's segment times; it must be of the same model and input.
// Each worker's time per activation byte moved comes from its own profile,
// or the model profile's divided by its speed, when measured with `codec`
// (the hops' codec); otherwise it is not counted (a warning says so).
// `facts` (per worker, in cluster order; missing entries: not known):
//  - queue_depth sets how many activation copies each worker holds;
//  - a worker on the profiling host (same host_id) whose speed the cluster
//    does not give runs at BusyCpus / the profile's busy CPUs (compute
//    taken to scale with CPUs) instead of 1.0;
//  - workers on one host share its cores: where their BusyCpus add up to
//    more than host_cores, each is planned at host_cores / that sum of its
//    speed (its segments and moves take that much longer). Every reached
//    worker of the host counts, used by the plan or not.
Result<PlanProblem> BuildPlanProblem(const ModelProfile& profile, const ClusterConfig& cluster, const CodecSpec& codec,
                                     const std::vector<WorkerFacts>& facts = {});

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
