// `optimal`: exact. With the latency objective, branch and bound for the
// least end-to-end latency (FindLeastLatencyPlan). Otherwise: the bottleneck
// of any plan is one of finitely many values (a stage's compute on a node, a
// transfer on a link). Binary search over those between a proven lower
// bound and the bottleneck of a plan the greedy bisection finds, asking an
// exact feasibility test whether a plan within the value exists: the
// dynamic programme over worker subsets (subset_search.h) where its table
// fits, else the memoised depth-first search (FindPlanWithin). Feasibility
// is monotone in the value, so the first value that admits a plan is the
// optimum. A feasible test returns a plan whose own bottleneck may be below
// the value tested; the search continues below that.
//
// `PlannerOptions::start` (e.g. `fast`'s plan) may replace the greedy
// plan as the first upper bound.
//
// Past the deadline it returns the best plan found, not exact, with the
// proven lower bound (the least value not shown infeasible); a Timeout
// error only when it has no plan at all.
#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>

#include "common/plan/planner.h"
#include "common/plan/subset_search.h"

namespace tandem {
namespace {

constexpr std::chrono::milliseconds kProbe{5};

const char kNoPlacement[] =
    "no placement fits: the workers' memory cannot hold the model in stages of contiguous segments, one stage per "
    "worker";

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
      if (!plan) return Status::InvalidArgument(kNoPlacement);
      TANDEM_ASSIGN_OR_RETURN(PlanResult r, FinishPlan(name(), p, *plan, true, 0, t0));
      r.objective = Objective::kLatency;
      r.lower_bound_s = r.evaluation.latency_s;  // exact: its own bound
      return r;
    }
    if (!SubsetSearch::Supported(p) && p.nodes.size() > 40)
      return Status::Unsupported("the exact search handles at most 40 workers");
    double lb = BottleneckLowerBound(p);
    TANDEM_ASSIGN_OR_RETURN(std::optional<Plan> best, GreedyBisection(p, lb));
    const double inf = std::numeric_limits<double>::infinity();
    double best_value = best ? Evaluate(p, *best).bottleneck_s : inf;
    if (o.start) {
      const PlanEvaluation given = Evaluate(p, *o.start);
      if (given.feasible && given.bottleneck_s < best_value) best = *o.start, best_value = given.bottleneck_s;
    }
    if (best) lb = std::max(lb, LinkRelaxedBound(p, lb, best_value, deadline));
    // The subset search visits sets in numeric order: the workers of the
    // plan in hand first (then the fastest) make plans like it turn up
    // early in the tests that succeed. Plans map back through `order`.
    std::vector<int> order;
    if (best)
      for (const auto& st : best->stages) order.push_back(st.node);
    std::vector<int> rest;
    for (int v = 0; v < static_cast<int>(p.nodes.size()); ++v)
      if (std::find(order.begin(), order.end(), v) == order.end()) rest.push_back(v);
    std::stable_sort(rest.begin(), rest.end(), [&](int a, int b) { return p.nodes[a].speed > p.nodes[b].speed; });
    order.insert(order.end(), rest.begin(), rest.end());
    const PlanProblem permuted = SubProblem(p, order);
    std::unique_ptr<SubsetSearch> dp;
    if (SubsetSearch::Supported(p)) dp = std::make_unique<SubsetSearch>(permuted);
    auto within = [&](double limit) -> Result<std::optional<Plan>> {
      if (!dp) return FindPlanWithin(p, limit, true, deadline);
      // The depth-first search first, for a few milliseconds: at limits well
      // above the optimum it finds a plan at once, where the subset search
      // would visit many sets before its first complete one.
      auto quick = FindPlanWithin(p, limit, true, std::min(deadline, std::chrono::steady_clock::now() + kProbe));
      if (quick.ok() || quick.status().code() != Status::Code::kTimeout) return quick;
      TANDEM_ASSIGN_OR_RETURN(std::optional<Plan> found, dp->Within(limit, deadline));
      if (found)
        for (auto& st : found->stages) st.node = order[st.node];
      return found;
    };
    const std::vector<double> cands = BottleneckCandidates(p, best_value * (1 + 1e-9));
    // The first candidate not below `value` (up to rounding: a plan's
    // evaluated bottleneck sums its terms in another order).
    auto index_of = [&](double value) {
      return static_cast<size_t>(std::lower_bound(cands.begin(), cands.end(), value * (1 - 1e-12)) - cands.begin());
    };
    size_t lo = index_of(lb);  // every candidate below lo is infeasible
    size_t hi = best ? std::min(index_of(best_value), cands.size() - 1) : cands.size();  // best_value <= cands[hi]
    auto finish = [&](bool exact) {
      const double bound = exact ? Evaluate(p, *best).bottleneck_s : std::max(lb, lo < cands.size() ? cands[lo] : lb);
      return FinishPlan(name(), p, *best, exact, bound, t0);
    };
    if (!best) {
      // The greedy search found nothing: does any plan exist?
      auto any = within(cands.empty() ? inf : cands.back());
      if (!any.ok()) return any.status();
      if (!*any) return Status::InvalidArgument(kNoPlacement);
      best = *any;
      best_value = Evaluate(p, *best).bottleneck_s;
      hi = std::min(index_of(best_value), cands.size() - 1);
    }
    // Where to split: tests that find no plan (below the optimum) and tests
    // that do can cost very different times (on geometric clusters the
    // first are cheap, pruning cuts most sets, and the second slow when far
    // above the optimum; on clusters where every plan needs every worker
    // both are slow). Splitting at the share t_none / (t_none + t_found) of
    // the range, between a fifth and a half, keeps the expected cost low;
    // a quarter until both kinds were timed.
    double t_none = 0, t_found = 0;
    while (lo < hi) {
      const double share = t_none > 0 && t_found > 0 ? std::clamp(t_none / (t_none + t_found), 0.2, 0.5) : 0.25;
      const size_t mid = lo + static_cast<size_t>(static_cast<double>(hi - lo) * share);
      const auto started = std::chrono::steady_clock::now();
      auto plan = within(cands[mid]);
      const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (!plan.ok()) {
        if (plan.status().code() == Status::Code::kTimeout) return finish(false);
        return plan.status();
      }
      if (*plan) {
        t_found = took;
        best = *plan;
        hi = std::min(mid, index_of(Evaluate(p, *best).bottleneck_s));
      } else {
        t_none = took;
        lo = mid + 1;
      }
    }
    return finish(true);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeOptimalPlanner() { return std::make_unique<OptimalPlanner>(); }

}  // namespace tandem
