// `seifer`: SEIFER's published algorithm, as the comparison baseline.
//  1. Cut only where every path of the graph passes: cuts carried by a
//     single tensor (the profile marks how many tensors cross each cut).
//  2. Partition: among those cuts, the set that minimises the sum of bytes
//     transferred, with every partition's weights under one memory cap (the
//     smallest worker budget; SEIFER assumes identical nodes).
//  3. Placement: bandwidth classes — find the highest bandwidth threshold for
//     which the workers' link graph, keeping only links at or above it, has a
//     simple path of as many nodes as partitions; place the partitions along
//     it in order. Compute time and the dispatcher's links are ignored, as in
//     SEIFER; the plan is then evaluated on the full problem.
#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>

#include "common/plan/planner.h"

namespace tandem {
namespace {

constexpr long kPathSearchSteps = 200000;

// A simple path of k nodes using only links with bandwidth >= threshold
// (both directions as placed), by bounded depth-first search.
bool FindPath(const PlanProblem& p, int k, double threshold, std::vector<int>* path) {
  const int M = static_cast<int>(p.nodes.size());
  std::vector<char> used(M, 0);
  long steps = 0;
  std::function<bool(int)> extend = [&](int last) -> bool {
    if (static_cast<int>(path->size()) == k) return true;
    if (++steps > kPathSearchSteps) return false;
    for (int v = 0; v < M; ++v) {
      if (used[v] || p.bandwidth[last][v] < threshold) continue;
      used[v] = 1;
      path->push_back(v);
      if (extend(v)) return true;
      path->pop_back();
      used[v] = 0;
    }
    return false;
  };
  for (int start = 0; start < M; ++start) {
    path->assign(1, start);
    std::fill(used.begin(), used.end(), 0);
    used[start] = 1;
    if (extend(start)) return true;
    if (steps > kPathSearchSteps) break;
  }
  return false;
}

class SeiferPlanner : public Planner {
 public:
  const char* name() const override { return "seifer"; }

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions&) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    const int S = static_cast<int>(p.segments.size());
    const int M = static_cast<int>(p.nodes.size());
    uint64_t cap = std::numeric_limits<uint64_t>::max();
    for (const auto& n : p.nodes)
      if (n.memory_bytes > 0) cap = std::min(cap, n.memory_bytes);
    // Min-sum partition over single-tensor cuts: best[e] = least bytes moved
    // to cover segments [0, e) with partitions under the cap.
    const uint64_t kInf = std::numeric_limits<uint64_t>::max();
    std::vector<uint64_t> best(S + 1, kInf);
    std::vector<int> from(S + 1, -1), parts(S + 1, 0);
    best[0] = 0;
    for (int b = 0; b < S; ++b) {
      if (best[b] == kInf) continue;
      if (b > 0 && !p.single_tensor_cut(b)) continue;
      uint64_t params = 0;
      for (int e = b + 1; e <= S; ++e) {
        params += p.segments[e - 1].param_bytes;
        if (params > cap) break;
        if (e < S && !p.single_tensor_cut(e)) continue;
        const uint64_t moved = best[b] + (e < S ? p.segments[e - 1].out_bytes : 0);
        if (moved < best[e] || (moved == best[e] && parts[b] + 1 < parts[e])) {
          best[e] = moved;
          from[e] = b;
          parts[e] = parts[b] + 1;
        }
      }
    }
    if (best[S] == kInf)
      return Status::InvalidArgument("seifer found no partition at single-tensor cuts under the memory cap");
    std::vector<int> bounds{S};
    for (int e = S; e > 0; e = from[e]) bounds.push_back(from[e]);
    std::reverse(bounds.begin(), bounds.end());
    const int k = static_cast<int>(bounds.size()) - 1;
    if (k > M)
      return Status::InvalidArgument("seifer needs " + std::to_string(k) + " workers, the cluster has " +
                                     std::to_string(M));
    // Bandwidth classes: the highest threshold that still admits a k-path.
    std::vector<double> classes;
    for (int u = 0; u < M; ++u)
      for (int v = 0; v < M; ++v)
        if (u != v) classes.push_back(p.bandwidth[u][v]);
    std::sort(classes.begin(), classes.end());
    classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
    std::vector<int> path;
    if (k == 1) {
      path = {0};
      for (int v = 1; v < M; ++v)
        if (p.nodes[path[0]].memory_bytes != 0 &&
            (p.nodes[v].memory_bytes == 0 || p.nodes[v].memory_bytes > p.nodes[path[0]].memory_bytes))
          path = {v};  // the most memory; 0 is unlimited
    } else {
      int lo = 0, hi = static_cast<int>(classes.size()) - 1, found = -1;
      std::vector<int> candidate;
      while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        if (FindPath(p, k, classes[mid], &candidate)) {
          found = mid;
          path = candidate;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
      if (found < 0) return Status::InvalidArgument("seifer found no path of " + std::to_string(k) + " workers");
    }
    Plan plan;
    for (int i = 0; i < k; ++i) plan.stages.push_back(PlanStage{path[i], bounds[i], bounds[i + 1]});
    // SEIFER's cap counts weights only; with activations a stage may not fit.
    const PlanEvaluation ev = Evaluate(p, plan);
    if (!ev.feasible) return Status::InvalidArgument("seifer's plan does not fit: " + ev.problem);
    return FinishPlan(name(), p, plan, false, BottleneckLowerBound(p), t0);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeSeiferPlanner() { return std::make_unique<SeiferPlanner>(); }

}  // namespace tandem
