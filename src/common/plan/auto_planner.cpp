// `auto` (the default): `fast` first (at most half the deadline), then the
// exact search for the rest of the deadline, starting from fast's plan.
// When the exact search proves its optimum that is the answer; otherwise the
// best of its plan, fast's and the `greedy` and `seifer` baselines, so it is
// never worse than any of them, with the best lower bound any of them
// proved.
#include <algorithm>
#include <chrono>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class AutoPlanner : public Planner {
 public:
  const char* name() const override { return "auto"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions& o) override {
    const auto t0 = std::chrono::steady_clock::now();
    auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const bool latency = o.objective == Objective::kLatency;
    auto value = [&](const PlanResult& x) { return latency ? x.evaluation.latency_s : x.evaluation.bottleneck_s; };
    std::optional<PlanResult> best;
    double lb = latency ? LatencyLowerBound(p) : BottleneckLowerBound(p);
    Status last_error;
    auto consider = [&](Result<PlanResult> r) {
      if (!r.ok()) {
        last_error = r.status();
        return;
      }
      if (r->objective == o.objective) lb = std::max(lb, r->lower_bound_s);
      if (!best || value(r.value()) < value(*best)) best = std::move(r).value();
    };
    PlannerOptions fast_options = o;
    if (o.deadline_s > 0) fast_options.deadline_s = 0.5 * o.deadline_s;
    auto fast = MakeFastPlanner()->Solve(p, fast_options);
    std::optional<Plan> fast_plan;
    if (fast.ok()) fast_plan = fast->plan;
    consider(std::move(fast));
    const double left = o.deadline_s - elapsed();
    if (p.nodes.size() <= 40 && (o.deadline_s <= 0 || left > 0)) {
      PlannerOptions exact = o;
      // A twentieth of the deadline stays for the baselines.
      exact.deadline_s = o.deadline_s > 0 ? std::max(1e-3, left - 0.05 * o.deadline_s) : 0;
      exact.start = fast_plan ? &*fast_plan : nullptr;
      auto r = MakeOptimalPlanner()->Solve(p, exact);
      if (r.ok() && r->exact) {
        r->algorithm = "auto (optimal)";
        r->solve_s = elapsed();
        return r;
      }
      // Out of time or beyond what the exact search handles: compare.
      if (!r.ok() && r.status().code() != Status::Code::kTimeout && r.status().code() != Status::Code::kUnsupported)
        return r.status();
      consider(std::move(r));
    }
    consider(MakeGreedyPlanner()->Solve(p, o));
    consider(MakeSeiferPlanner()->Solve(p, o));
    if (!best) return last_error;
    best->algorithm = "auto (" + best->algorithm + ")";
    best->lower_bound_s = std::min(lb, value(*best));
    best->objective = o.objective;
    best->exact = false;
    best->solve_s = elapsed();
    return *best;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeAutoPlanner() { return std::make_unique<AutoPlanner>(); }

}  // namespace tandem
