// `fast`: for clusters too big for the exact search (tens to hundreds of
// workers). Two searches, the better plan wins:
//  - bisection of the bottleneck between a proven lower bound and a feasible
//    value, each tested by the greedy search (the node that reaches furthest,
//    one choice per stage);
//  - the exact search restricted to neighbourhoods: a node and the workers
//    best linked to it (and the dispatcher's best-linked workers), a few
//    milliseconds each. Good plans keep consecutive stages on fast links, so
//    they live in such neighbourhoods.
// Reports the lower bound (planner.h), so the gap to the optimum is bounded.
#include <algorithm>
#include <chrono>
#include <numeric>

#include "common/plan/planner.h"

namespace tandem {
namespace {

constexpr int kPoolSize = 16;   // workers per neighbourhood
constexpr int kPools = 24;      // neighbourhoods searched
constexpr double kPoolDeadlineS = 0.02;

// Neighbourhoods: around the dispatcher, and around the workers whose best
// links are fastest.
std::vector<std::vector<int>> Neighbourhoods(const PlanProblem& p) {
  const int M = static_cast<int>(p.nodes.size());
  auto around = [&](int center, bool include_center) {
    std::vector<int> others;
    for (int u = 0; u < M; ++u)
      if (u != center) others.push_back(u);
    auto link = [&](int u) { return std::min(p.bandwidth[center][u], p.bandwidth[u][center]); };
    const int k = std::min<int>(include_center ? kPoolSize - 1 : kPoolSize, others.size());
    std::partial_sort(others.begin(), others.begin() + k, others.end(), [&](int a, int b) { return link(a) > link(b); });
    others.resize(k);
    if (include_center) others.push_back(center);
    return others;
  };
  std::vector<std::vector<int>> pools{around(p.dispatcher(), false)};
  std::vector<double> score(M, 0);
  for (int v = 0; v < M; ++v) {
    std::vector<double> links;
    for (int u = 0; u < M; ++u)
      if (u != v) links.push_back(std::min(p.bandwidth[v][u], p.bandwidth[u][v]));
    const int k = std::min<int>(kPoolSize - 1, links.size());
    std::partial_sort(links.begin(), links.begin() + k, links.end(), std::greater<double>());
    score[v] = std::accumulate(links.begin(), links.begin() + k, 0.0);
  }
  std::vector<int> order(M);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return score[a] > score[b]; });
  for (int i = 0; i < std::min(M, kPools - 1); ++i) pools.push_back(around(order[i], true));
  return pools;
}

class FastPlanner : public Planner {
 public:
  const char* name() const override { return "fast"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions&) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const auto never = std::chrono::steady_clock::time_point::max();
    const double lb = BottleneckLowerBound(p);
    // A bound of 0 (every term free) must still grow.
    double lo = lb, hi = lb > 0 ? lb : 1e-9;
    std::optional<Plan> best;
    for (int i = 0; i < 120 && !best; ++i) {
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
    // Exact plans inside neighbourhoods; map their nodes back.
    double best_value = Evaluate(p, *best).bottleneck_s;
    if (p.nodes.size() > static_cast<size_t>(kPoolSize)) {
      PlannerOptions po;
      po.deadline_s = kPoolDeadlineS;
      for (const auto& pool : Neighbourhoods(p)) {
        auto sub = MakeOptimalPlanner()->Solve(SubProblem(p, pool), po);
        if (!sub.ok() || sub->evaluation.bottleneck_s >= best_value) continue;
        Plan mapped = sub->plan;
        for (auto& st : mapped.stages) st.node = pool[st.node];
        best = mapped;
        best_value = sub->evaluation.bottleneck_s;
      }
    } else {
      PlannerOptions po;
      po.deadline_s = kPools * kPoolDeadlineS;
      auto all = MakeOptimalPlanner()->Solve(p, po);
      if (all.ok() && all->evaluation.bottleneck_s < best_value) best = all->plan;
    }
    return FinishPlan(name(), p, *best, false, lb, t0);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeFastPlanner() { return std::make_unique<FastPlanner>(); }

}  // namespace tandem
