// Random placement problems of the hard kind (tests only): mixed speeds,
// each worker's memory a quarter to four fifths of the model's weights, and
// links whose transfers take about as long as a worker's share of compute.
#pragma once

#include <random>

#include "common/plan/problem.h"

namespace tandem {

inline PlanProblem HardProblem(std::mt19937& rng, int nodes, int segments) {
  std::uniform_real_distribution<double> u(0, 1);
  PlanProblem p;
  uint64_t weights = 0;
  double work = 0;
  for (int s = 0; s < segments; ++s) {
    PlanSegment seg;
    seg.compute_s = 0.002 + 0.02 * u(rng);
    seg.param_bytes = u(rng) < 0.3 ? 0 : static_cast<uint64_t>(1e6 + 2e7 * u(rng));
    seg.out_bytes = static_cast<uint64_t>(1e4 + 2e6 * u(rng));
    weights += seg.param_bytes;
    work += seg.compute_s;
    p.segments.push_back(seg);
  }
  p.input_bytes = 600000;
  double speeds = 0;
  for (int n = 0; n < nodes; ++n) {
    PlanNode node;
    node.name = "n" + std::to_string(n);
    node.speed = 0.5 + 1.5 * u(rng);
    node.memory_bytes = static_cast<uint64_t>((0.25 + 0.55 * u(rng)) * static_cast<double>(weights)) + (4 << 20);
    speeds += node.speed;
    p.nodes.push_back(node);
  }
  // 1 MB over a typical link ~ a worker's fair share of the compute.
  const double typical = 1e6 / (work / speeds);
  const int E = nodes + 1;
  p.bandwidth.assign(E, std::vector<double>(E, 0));
  p.latency.assign(E, std::vector<double>(E, 0));
  for (int i = 0; i < E; ++i)
    for (int j = 0; j < E; ++j)
      if (i != j) {
        p.bandwidth[i][j] = typical * (0.2 + 2 * u(rng));
        p.latency[i][j] = 0.001 * u(rng);
      }
  return p;
}

}  // namespace tandem
