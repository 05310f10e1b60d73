// `greedy`: the joint partition/placement nearest-neighbour baseline SEIFER
// compared against. From the dispatcher, repeatedly take the unused worker
// with the fastest link from the previous endpoint and give it the longest
// run of segments that fits its memory. Ignores compute time.
#include <chrono>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class GreedyPlanner : public Planner {
 public:
  const char* name() const override { return "greedy"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions&) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const int S = static_cast<int>(p.segments.size());
    const int M = static_cast<int>(p.nodes.size());
    std::vector<char> used(M, 0);
    Plan plan;
    int prev = p.dispatcher(), e = 0;
    while (e < S) {
      int best = -1, best_end = -1;
      double best_bw = -1;
      for (int v = 0; v < M; ++v) {
        if (used[v] || p.bandwidth[prev][v] <= best_bw) continue;
        int end = -1;
        for (int x = e + 1; x <= S; ++x) {
          const uint64_t budget = p.nodes[v].memory_bytes;
          if (budget == 0 || StageMemory(p, v, e, x) <= budget)
            end = x;
          else if (x > e + 1 && budget > 0) {
            uint64_t params = 0;
            for (int y = e; y < x; ++y) params += p.segments[y].param_bytes;
            if (params > budget) break;
          }
        }
        if (end < 0) continue;
        best = v;
        best_end = end;
        best_bw = p.bandwidth[prev][v];
      }
      if (best < 0)
        return Status::InvalidArgument("greedy found no unused worker that fits segment " + std::to_string(e));
      used[best] = 1;
      plan.stages.push_back(PlanStage{best, e, best_end});
      prev = best;
      e = best_end;
    }
    return FinishPlan(name(), p, plan, false, BottleneckLowerBound(p), t0);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeGreedyPlanner() { return std::make_unique<GreedyPlanner>(); }

}  // namespace tandem
