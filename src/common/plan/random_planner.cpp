// `random`: a random number of stages, random cuts, random distinct workers;
// the first of up to 10000 draws that fits memory. A floor for comparisons.
#include <algorithm>
#include <chrono>
#include <random>

#include "common/plan/planner.h"

namespace tandem {
namespace {

class RandomPlanner : public Planner {
 public:
  const char* name() const override { return "random"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions& o) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const int S = static_cast<int>(p.segments.size());
    const int M = static_cast<int>(p.nodes.size());
    std::mt19937_64 rng(o.seed);
    std::vector<int> nodes(M), cuts(S > 1 ? S - 1 : 0);
    for (int i = 0; i < M; ++i) nodes[i] = i;
    for (int i = 0; i + 1 < S; ++i) cuts[i] = i + 1;
    for (int attempt = 0; attempt < 10000; ++attempt) {
      const int k = 1 + static_cast<int>(rng() % static_cast<uint64_t>(std::min(M, S)));
      std::shuffle(nodes.begin(), nodes.end(), rng);
      std::shuffle(cuts.begin(), cuts.end(), rng);
      std::vector<int> bounds(cuts.begin(), cuts.begin() + (k - 1));
      std::sort(bounds.begin(), bounds.end());
      bounds.insert(bounds.begin(), 0);
      bounds.push_back(S);
      Plan plan;
      for (int i = 0; i < k; ++i) plan.stages.push_back(PlanStage{nodes[i], bounds[i], bounds[i + 1]});
      if (!Evaluate(p, plan).feasible) continue;
      return FinishPlan(name(), p, plan, false, BottleneckLowerBound(p), t0);
    }
    return Status::InvalidArgument("random found no plan that fits the workers' memory in 10000 draws");
  }
};

}  // namespace

std::unique_ptr<Planner> MakeRandomPlanner() { return std::make_unique<RandomPlanner>(); }

}  // namespace tandem
