// `fast`: for clusters too big for the exact search (tens to hundreds of
// workers). Bisects the bottleneck between a proven lower bound and a
// feasible value, testing each with the greedy search (the node that reaches
// furthest, one choice per stage). Reports the lower bound, so its gap to
// the optimum is bounded.
#include <chrono>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class FastPlanner : public Planner {
 public:
  const char* name() const override { return "fast"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions&) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const auto never = std::chrono::steady_clock::time_point::max();
    const double lb = BottleneckLowerBound(p);
    double lo = lb, hi = lb;
    std::optional<Plan> best;
    for (int i = 0; i < 80 && !best; ++i) {
      TANDEM_ASSIGN_OR_RETURN(best, FindPlanWithin(p, hi, false, never));
      if (!best) {
        lo = hi;
        hi *= 2;
      }
    }
    if (!best) return Status::InvalidArgument("the fast search found no placement that fits the workers' memory");
    hi = Evaluate(p, *best).bottleneck_s;
    for (int i = 0; i < 30 && hi - lo > 1e-4 * hi; ++i) {
      const double mid = 0.5 * (lo + hi);
      TANDEM_ASSIGN_OR_RETURN(auto plan, FindPlanWithin(p, mid, false, never));
      if (plan) {
        best = plan;
        hi = Evaluate(p, *plan).bottleneck_s;
      } else {
        lo = mid;
      }
    }
    PlanResult r;
    r.algorithm = name();
    r.plan = *best;
    r.evaluation = Evaluate(p, r.plan);
    if (!r.evaluation.feasible) return Status::Internal("fast produced an invalid plan: " + r.evaluation.problem);
    r.lower_bound_s = lb;
    r.solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeFastPlanner() { return std::make_unique<FastPlanner>(); }

}  // namespace tandem
