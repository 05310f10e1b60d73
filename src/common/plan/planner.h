// Planners: algorithms that choose cuts and placement for a PlanProblem.
//
// Every algorithm implements Planner in a file of its own and has one line in
// the registry (planner.cpp). Plans are checked with Evaluate() before they
// are returned, so a planner cannot hand out a plan that breaks memory or
// uses a node twice.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/plan/problem.h"
#include "common/util/status.h"

namespace tandem {

enum class Objective {
  kThroughput,  // minimise the bottleneck (the default)
  kLatency,     // minimise one request's end-to-end time (optimal, fast and auto)
};

struct PlannerOptions {
  // What `optimal`, `fast` and `auto` minimise; `greedy`, `seifer` and
  // `random` ignore it.
  Objective objective = Objective::kThroughput;
  // Seconds the solve may take; 0: no limit. `optimal` stops here and
  // returns its best plan with the proven gap (not exact), or a Timeout
  // error when it has none yet (and always with the latency objective);
  // `auto` shares it between the exact search and `fast`; `fast` takes at
  // most min(this, about 1 s). The baselines ignore it.
  double deadline_s = 2.0;
  // `optimal`: a feasible plan to start from (its bottleneck caps the
  // search); ignored when it does not fit the problem. Not owned.
  const Plan* start = nullptr;
  // `random`: the seed.
  uint64_t seed = 1;
};

struct PlanResult {
  std::string algorithm;
  Plan plan;
  PlanEvaluation evaluation;
  bool exact = false;  // proven optimal
  // A proven lower bound on the optimum of `objective`: the least bottleneck,
  // or with Objective::kLatency the least latency.
  double lower_bound_s = 0;
  Objective objective = Objective::kThroughput;
  double solve_s = 0;
};

class Planner {
 public:
  virtual ~Planner() = default;
  virtual const char* name() const = 0;
  // Errors: infeasible problems (saying what does not fit and by how much),
  // or (exact search) a deadline passed.
  virtual Result<PlanResult> Solve(const PlanProblem& problem, const PlannerOptions& options) = 0;
};

// Evaluates the plan an algorithm found into its result, with the time
// since `started`. An infeasible plan here is a bug in that algorithm
// (Internal error).
Result<PlanResult> FinishPlan(const char* algorithm, const PlanProblem& p, Plan plan, bool exact, double lower_bound_s,
                              std::chrono::steady_clock::time_point started);

// The registry.
Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name);
std::vector<std::string> PlannerNames();

// Checks what every plan needs: each segment fits some worker, the weights fit
// the cluster. The error says what does not fit and by how much.
Status CheckCapacity(const PlanProblem& problem);

// A lower bound on any plan's bottleneck: every segment runs on some node,
// the input and output cross some dispatcher link, and all the work is shared
// by all the nodes at best.
double BottleneckLowerBound(const PlanProblem& problem);
// A lower bound on any plan's end-to-end latency: every segment on its
// fastest node, plus the best first and last hop.
double LatencyLowerBound(const PlanProblem& problem);
// The bound of a relaxation where stages may reuse nodes and every cut
// crosses the cluster's best link (at least `from`).
double RelaxedBound(const PlanProblem& problem, double from);
// A tighter bound for large clusters: the relaxation where stages may reuse
// nodes but every transfer crosses its real link. Bisection between `lo` (a
// bound) and `hi` (a feasible plan's bottleneck) until the deadline; returns
// the largest limit shown infeasible (at least `lo`).
double LinkRelaxedBound(const PlanProblem& problem, double lo, double hi,
                        std::chrono::steady_clock::time_point deadline);

// The exact plan with the least end-to-end latency (sum of every transfer
// and compute), by branch and bound over (workers used, last worker, next
// segment). Timeout error past `deadline`.
Result<std::optional<Plan>> FindLeastLatencyPlan(const PlanProblem& p, std::chrono::steady_clock::time_point deadline);

// The Timeout message of the exact searches (what to do about it included).
extern const char kExactSearchTimeout[];

// Per-algorithm factories (one file each).
std::unique_ptr<Planner> MakeOptimalPlanner();
std::unique_ptr<Planner> MakeGreedyPlanner();
std::unique_ptr<Planner> MakeRandomPlanner();
std::unique_ptr<Planner> MakeSeiferPlanner();
std::unique_ptr<Planner> MakeFastPlanner();
std::unique_ptr<Planner> MakeAutoPlanner();

// Shared by the exact and fast searches: is there a plan whose bottleneck is
// at most `limit`? Exhaustive (exact) or greedy (one choice per stage).
// Returns the plan found. `deadline` aborts the exhaustive search with a
// Timeout error.
Result<std::optional<Plan>> FindPlanWithin(const PlanProblem& p, double limit, bool exhaustive,
                                           std::chrono::steady_clock::time_point deadline);
// The ends e' (ascending) such that a stage over segments [e, e') on node v
// computes within `limit` (moving its activations included) and fits v's
// memory.
void StageEnds(const PlanProblem& p, int v, int e, double limit, std::vector<int>* ends);
// The greedy check (FindPlanWithin, not exhaustive) bisected between
// `lower_bound` and the first limit it passes: a good plan in O(log) greedy
// searches, or none when the greedy search finds no plan at any limit.
Result<std::optional<Plan>> GreedyBisection(const PlanProblem& p, double lower_bound);
// Every value a bottleneck can take (stage computes and transfers), sorted,
// no larger than `cap`.
std::vector<double> BottleneckCandidates(const PlanProblem& p, double cap);

}  // namespace tandem
