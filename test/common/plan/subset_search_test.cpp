#include "common/plan/subset_search.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <random>

#include "common/plan/planner.h"
#include "hard_problem.h"

namespace tandem {
namespace {

const auto kFar = std::chrono::steady_clock::now() + std::chrono::hours(1);

// The subset search and the depth-first search are both exact: at any
// limit they agree on whether a plan exists, and each plan they give is
// within the limit.
TEST_CASE("the subset search agrees with the depth-first search at every limit", "[plan]") {
  std::mt19937 rng(31);
  int feasible = 0, infeasible = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const int M = 2 + static_cast<int>(rng() % 9), S = 3 + static_cast<int>(rng() % 30);
    PlanProblem p = HardProblem(rng, M, S);
    if (trial % 4 == 0)
      for (auto& n : p.nodes) n.move_s_per_byte = 2e-9;
    if (!CheckCapacity(p).ok()) continue;
    REQUIRE(SubsetSearch::Supported(p));
    SubsetSearch dp(p);
    const std::vector<double> cands = BottleneckCandidates(p, std::numeric_limits<double>::infinity());
    for (int k = 0; k < 12; ++k) {
      const double limit = cands[rng() % cands.size()];
      INFO("trial " << trial << " M=" << M << " S=" << S << " limit " << limit);
      auto a = dp.Within(limit, kFar);
      auto b = FindPlanWithin(p, limit, true, kFar);
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      REQUIRE(a->has_value() == b->has_value());
      if (!a->has_value()) {
        ++infeasible;
        continue;
      }
      ++feasible;
      const PlanEvaluation e = Evaluate(p, **a);
      CHECK(e.feasible);
      CHECK(e.bottleneck_s <= limit * (1 + 1e-9));
    }
  }
  CHECK(feasible > 50);
  CHECK(infeasible > 50);
}

TEST_CASE("the subset search stops at its deadline", "[plan]") {
  std::mt19937 rng(5);
  PlanProblem p = HardProblem(rng, 16, 60);
  REQUIRE(CheckCapacity(p).ok());
  SubsetSearch dp(p);
  // A loose limit keeps most sets open: far more than one deadline check.
  auto r = dp.Within(1e9, std::chrono::steady_clock::now() - std::chrono::seconds(1));
  if (r.ok()) {
    CHECK(r->has_value());  // a plan turned up before the first check
  } else {
    CHECK(r.status().code() == Status::Code::kTimeout);
  }
}

TEST_CASE("the subset search sizes its table and refuses what does not fit", "[plan]") {
  CHECK(SubsetSearch::TableBytes(1, 10) == 8);
  CHECK(SubsetSearch::TableBytes(16, 120) == 16ull * 32768 * 2 * 8);
  CHECK(SubsetSearch::TableBytes(20, 120) <= SubsetSearch::kMaxTableBytes);
  CHECK(SubsetSearch::TableBytes(24, 120) > SubsetSearch::kMaxTableBytes);
  std::mt19937 rng(1);
  CHECK(SubsetSearch::Supported(HardProblem(rng, 20, 120)));
  CHECK_FALSE(SubsetSearch::Supported(HardProblem(rng, 24, 20)));
}

}  // namespace
}  // namespace tandem
