// `auto` (the default): the exact search when it finishes within the time
// budget, else the best of `fast` and the `greedy` and `seifer` baselines, so
// it is never worse than either baseline.
#include <chrono>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class AutoPlanner : public Planner {
 public:
  const char* name() const override { return "auto"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions& o) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    PlannerOptions exact = o;
    exact.deadline_s = o.time_budget_s;
    std::optional<PlanResult> best;
    Status last_error;
    auto consider = [&](Result<PlanResult> r) {
      if (!r.ok()) {
        last_error = r.status();
        return;
      }
      auto value = [&](const PlanResult& x) {
        return o.objective == Objective::kLatency ? x.evaluation.latency_s : x.evaluation.bottleneck_s;
      };
      if (!best || value(r.value()) < value(*best)) best = std::move(r).value();
    };
    if (p.nodes.size() <= 40) {
      auto r = MakeOptimalPlanner()->Solve(p, exact);
      if (r.ok()) {
        r->algorithm = "auto (optimal)";
        r->solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return r;
      }
      // Out of time or beyond what the exact search handles: the heuristics.
      if (r.status().code() != Status::Code::kTimeout && r.status().code() != Status::Code::kUnsupported)
        return r.status();
    }
    const bool latency = o.objective == Objective::kLatency;
    double lb = latency ? LatencyLowerBound(p) : BottleneckLowerBound(p);
    auto fast = MakeFastPlanner()->Solve(p, o);
    if (fast.ok()) lb = fast->lower_bound_s;
    consider(std::move(fast));
    consider(MakeGreedyPlanner()->Solve(p, o));
    consider(MakeSeiferPlanner()->Solve(p, o));
    if (!best) return last_error;
    best->algorithm = "auto (" + best->algorithm + ")";
    best->lower_bound_s = lb;
    best->objective = o.objective;
    best->exact = false;
    best->solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return *best;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeAutoPlanner() { return std::make_unique<AutoPlanner>(); }

}  // namespace tandem
