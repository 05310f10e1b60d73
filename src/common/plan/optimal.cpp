// `optimal`: exact. With the latency objective, branch and bound for the
// least end-to-end latency (FindLeastLatencyPlan). Otherwise: the bottleneck of any plan is one of finitely many values
// (a stage's compute on a node, a transfer on a link); binary search over
// them, asking an exhaustive memoised search whether a plan within the value
// exists. Feasibility is monotone in the value, so the first value that
// admits a plan is the optimum.
#include <chrono>
#include <limits>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class OptimalPlanner : public Planner {
 public:
  const char* name() const override { return "optimal"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions& o) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const auto deadline = o.deadline_s > 0 ? t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                      std::chrono::duration<double>(o.deadline_s))
                                           : std::chrono::steady_clock::time_point::max();
    if (o.objective == Objective::kLatency) {
      TANDEM_ASSIGN_OR_RETURN(auto plan, FindLeastLatencyPlan(p, deadline));
      if (!plan)
        return Status::InvalidArgument(
            "no placement fits: the workers' memory cannot hold the model in stages of "
            "contiguous segments, one stage per worker");
      TANDEM_ASSIGN_OR_RETURN(PlanResult r, FinishPlan(name(), p, *plan, true, 0, t0));
      r.objective = Objective::kLatency;
      r.lower_bound_s = r.evaluation.latency_s;  // exact: its own bound
      return r;
    }
    const double lb = BottleneckLowerBound(p);
    std::vector<double> cands = BottleneckCandidates(p, std::numeric_limits<double>::infinity());
    size_t lo = 0, hi = cands.size();  // answer in [lo, hi); hi = none found yet
    while (lo < cands.size() && cands[lo] < lb * (1 - 1e-12)) ++lo;
    std::optional<Plan> best;
    // Find any feasible value first, growing geometrically from the bound.
    size_t probe = lo, step = 1;
    while (probe < cands.size()) {
      TANDEM_ASSIGN_OR_RETURN(auto plan, FindPlanWithin(p, cands[probe], true, deadline));
      if (plan) {
        best = plan;
        hi = probe;
        break;
      }
      lo = probe + 1;
      probe = std::min(cands.size() - 1, probe + step);
      if (probe < lo) break;
      step *= 2;
    }
    if (!best)
      return Status::InvalidArgument(
          "no placement fits: the workers' memory cannot hold the model in stages of "
          "contiguous segments, one stage per worker");
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      TANDEM_ASSIGN_OR_RETURN(auto plan, FindPlanWithin(p, cands[mid], true, deadline));
      if (plan) {
        best = plan;
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    // Optimal: the bottleneck is its own lower bound.
    return FinishPlan(name(), p, *best, true, Evaluate(p, *best).bottleneck_s, t0);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeOptimalPlanner() { return std::make_unique<OptimalPlanner>(); }

}  // namespace tandem
