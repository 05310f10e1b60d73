#include "common/model/partition.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>

namespace tandem {
namespace {

double MaxGroup(const std::vector<double>& c, const std::vector<int>& b) {
  std::vector<int> bounds{0};
  bounds.insert(bounds.end(), b.begin(), b.end());
  bounds.push_back(static_cast<int>(c.size()));
  double worst = 0;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    REQUIRE(bounds[i] < bounds[i + 1]);  // non-empty groups
    double s = 0;
    for (int j = bounds[i]; j < bounds[i + 1]; ++j) s += c[j];
    worst = std::max(worst, s);
  }
  return worst;
}

// Every way to choose k-1 boundaries out of n-1 positions.
double BruteForce(const std::vector<double>& c, int k) {
  const int n = static_cast<int>(c.size());
  std::vector<int> mask(n - 1, 0);
  std::fill(mask.begin(), mask.begin() + (k - 1), 1);
  double best = 1e300;
  std::sort(mask.begin(), mask.end());
  do {
    std::vector<int> b;
    for (int i = 0; i < n - 1; ++i)
      if (mask[i]) b.push_back(i + 1);
    best = std::min(best, MaxGroup(c, b));
  } while (std::next_permutation(mask.begin(), mask.end()));
  return best;
}

TEST_CASE("BalancedPartition is optimal on random instances", "[partition]") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> cost(0.0, 10.0);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 10);
    const int k = 1 + static_cast<int>(rng() % n);
    std::vector<double> c(n);
    for (auto& x : c) x = cost(rng);
    auto b = BalancedPartition(c, k);
    REQUIRE(b.ok());
    REQUIRE(b->size() == static_cast<size_t>(k - 1));
    CHECK(MaxGroup(c, b.value()) == Approx(BruteForce(c, k)));
  }
}

TEST_CASE("BalancedPartition refuses impossible requests", "[partition]") {
  CHECK_FALSE(BalancedPartition({1, 2, 3}, 0).ok());
  auto r = BalancedPartition({1, 2, 3}, 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("only 3 segment") != std::string::npos);
  CHECK(BalancedPartition({5, 1, 1, 1, 1, 1}, 2).value() == std::vector<int>{1});
}

}  // namespace
}  // namespace tandem
