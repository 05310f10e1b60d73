// `fast`: a good plan in about a second at most, for any cluster size.
//  - bisection of the bottleneck between a proven lower bound and a feasible
//    value, each tested by the greedy search (the node that reaches furthest,
//    one choice per stage);
//  - where the exact search's table fits (about 21 workers), that search
//    from the greedy plan, for 45% of the time: its best plan so far when
//    the time runs out;
//  - else the exact search restricted to neighbourhoods: a node and the 15
//    workers best linked to it (and the dispatcher's best-linked workers),
//    an equal share of that time each. Good plans keep consecutive stages on
//    fast links, so they live in such neighbourhoods.
// The best plan is then polished by local search: move a cut (anywhere
// between its neighbours), move a stage to
// an unused worker, swap two stages' workers, or split the slowest stage onto
// an unused worker, while the bottleneck drops.
// Reports the lower bound (planner.h), so the gap to the optimum is bounded.
// With the latency objective: the exact latency search on the whole cluster
// (small ones) or within neighbourhoods and among the fastest workers, then
// the same local search on the latency (SolveLatency).
#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>

#include "common/plan/planner.h"
#include "common/plan/subset_search.h"

namespace tandem {
namespace {

constexpr int kPoolSize = 16;  // workers per neighbourhood
constexpr int kPools = 24;     // neighbourhoods searched
// When each step ends, as a share of the time fast takes at most
// (PlannerOptions::deadline_s, at most kMaxSeconds) counted from its start:
// the exact searches, the local search, the bound.
constexpr double kMaxSeconds = 0.95;
constexpr double kSearchEnd = 0.6;
constexpr double kPolishEnd = 0.8;
constexpr double kBoundEnd = 1.0;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

// The plan's bottleneck and latency, or infinity when it breaks memory or
// uses a worker twice (Evaluate without the words).
// Compared on the objective first (both scores use the same one), the other
// term breaks ties.
struct Score {
  double bottleneck = 0;
  double latency = 0;
  bool latency_first = false;
  bool operator<(const Score& o) const {
    const double a = latency_first ? latency : bottleneck, b = latency_first ? o.latency : o.bottleneck;
    if (a < b * (1 - 1e-12)) return true;
    if (b < a * (1 - 1e-12)) return false;
    const double c = latency_first ? bottleneck : latency, d = latency_first ? o.bottleneck : o.latency;
    return c < d * (1 - 1e-12);
  }
};

Score ScorePlan(const PlanProblem& p, const Plan& plan, std::vector<char>* used, bool latency_first) {
  const double inf = std::numeric_limits<double>::infinity();
  std::fill(used->begin(), used->end(), 0);
  Score sc;
  sc.latency_first = latency_first;
  int prev = p.dispatcher();
  for (const auto& st : plan.stages) {
    if (st.end <= st.begin || (*used)[st.node]) return {inf, inf, latency_first};
    (*used)[st.node] = 1;
    const auto& node = p.nodes[st.node];
    if (node.memory_bytes > 0 && StageMemory(p, st.node, st.begin, st.end) > node.memory_bytes)
      return {inf, inf, latency_first};
    const double t = p.Transfer(prev, st.node, p.InBytes(st.begin));
    double c = 0;
    for (int s = st.begin; s < st.end; ++s) c += p.SegmentTime(st.node, s);
    c += p.MoveTime(st.node, st.begin, st.end);
    sc.bottleneck = std::max({sc.bottleneck, t, c});
    sc.latency += t + c;
    prev = st.node;
  }
  const double back = p.Transfer(prev, p.dispatcher(), p.segments.back().out_bytes);
  sc.bottleneck = std::max(sc.bottleneck, back);
  sc.latency += back;
  return sc;
}

// Local search from `plan` until no move lowers the score (the bottleneck,
// or with `latency_first` the latency) or the deadline.
Plan Polish(const PlanProblem& p, Plan plan, bool latency_first, std::chrono::steady_clock::time_point deadline) {
  const int M = static_cast<int>(p.nodes.size());
  std::vector<char> used(M);
  Score best = ScorePlan(p, plan, &used, latency_first);
  auto try_plan = [&](const Plan& cand) {
    Score sc = ScorePlan(p, cand, &used, latency_first);
    if (!(sc < best)) return false;
    best = sc;
    plan = cand;
    return true;
  };
  for (bool improved = true; improved && std::chrono::steady_clock::now() < deadline;) {
    improved = false;
    const int K = static_cast<int>(plan.stages.size());
    ScorePlan(p, plan, &used, latency_first);
    const std::vector<char> taken = used;
    // Move the cut between stages k and k + 1 anywhere between their ends.
    for (int k = 0; k + 1 < K && !improved; ++k)
      for (int cut = plan.stages[k].begin + 1; cut < plan.stages[k + 1].end && !improved; ++cut) {
        if (cut == plan.stages[k].end) continue;
        Plan cand = plan;
        cand.stages[k].end = cut;
        cand.stages[k + 1].begin = cut;
        improved = try_plan(cand);
      }
    // Move a stage to an unused worker.
    for (int k = 0; k < K && !improved; ++k)
      for (int u = 0; u < M && !improved; ++u) {
        if (taken[u]) continue;
        Plan cand = plan;
        cand.stages[k].node = u;
        improved = try_plan(cand);
      }
    // Swap two stages' workers.
    for (int a = 0; a < K && !improved; ++a)
      for (int b = a + 1; b < K && !improved; ++b) {
        Plan cand = plan;
        std::swap(cand.stages[a].node, cand.stages[b].node);
        improved = try_plan(cand);
      }
    // Split a stage in two, the second half on an unused worker.
    for (int k = 0; k < K && !improved && std::chrono::steady_clock::now() < deadline; ++k)
      for (int cut = plan.stages[k].begin + 1; cut < plan.stages[k].end && !improved; ++cut) {
        for (int u = 0; u < M && !improved; ++u) {
          if (taken[u]) continue;
          Plan cand = plan;
          PlanStage second{u, cut, plan.stages[k].end};
          cand.stages[k].end = cut;
          cand.stages.insert(cand.stages.begin() + k + 1, second);
          improved = try_plan(cand);
        }
      }
  }
  return plan;
}

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
    std::partial_sort(others.begin(), others.begin() + k, others.end(),
                      [&](int a, int b) { return link(a) > link(b); });
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

  Result<PlanResult> Solve(const PlanProblem& p, const PlannerOptions& o) override {
    const auto t0 = std::chrono::steady_clock::now();
    TANDEM_RETURN_IF_ERROR(CheckCapacity(p));
    if (o.objective == Objective::kLatency) return SolveLatency(p, o, t0);
    const double lb = BottleneckLowerBound(p);
    TANDEM_ASSIGN_OR_RETURN(std::optional<Plan> best, GreedyBisection(p, lb));
    if (!best) return Status::InvalidArgument("the fast search found no placement that fits the workers' memory");
    const double budget = o.deadline_s > 0 ? std::min(o.deadline_s, kMaxSeconds) : kMaxSeconds;
    auto until = [&](double share) { return t0 + Seconds(share * budget); };
    auto left = [&](double share) {
      return std::max(1e-3, std::chrono::duration<double>(until(share) - std::chrono::steady_clock::now()).count());
    };
    double best_value = Evaluate(p, *best).bottleneck_s;
    if (SubsetSearch::Supported(p)) {
      // Small enough for the exact search: its best plan within the share.
      PlannerOptions po;
      po.deadline_s = left(kSearchEnd);
      po.start = &*best;
      auto all = MakeOptimalPlanner()->Solve(p, po);
      if (all.ok() && all->evaluation.bottleneck_s < best_value) best = all->plan;
    } else {
      // Exact plans inside neighbourhoods; map their nodes back.
      PlannerOptions po;
      const auto pools = Neighbourhoods(p);
      for (size_t i = 0; i < pools.size(); ++i) {
        const auto& pool = pools[i];
        po.deadline_s = left(kSearchEnd) / static_cast<double>(pools.size() - i);  // an equal share of what is left
        auto sub = MakeOptimalPlanner()->Solve(SubProblem(p, pool), po);
        if (!sub.ok() || sub->evaluation.bottleneck_s >= best_value) continue;
        Plan mapped = sub->plan;
        for (auto& st : mapped.stages) st.node = pool[st.node];
        best = mapped;
        best_value = sub->evaluation.bottleneck_s;
      }
    }
    best = Polish(p, *best, false, until(kPolishEnd));
    // The bound, tightened with the real links.
    const double tight = LinkRelaxedBound(p, lb, Evaluate(p, *best).bottleneck_s, until(kBoundEnd));
    return FinishPlan(name(), p, *best, false, std::max(lb, tight), t0);
  }

 private:
  // The least latency: the exact search (FindLeastLatencyPlan) on the whole
  // cluster when it is small, else inside the neighbourhoods and among the
  // fastest workers (a latency-optimal plan has few stages, on fast workers
  // with fast links), or the throughput plan if its latency is lower, then
  // local search on the latency.
  Result<PlanResult> SolveLatency(const PlanProblem& p, const PlannerOptions& o,
                                  std::chrono::steady_clock::time_point t0) {
    const double budget = o.deadline_s > 0 ? std::min(o.deadline_s, kMaxSeconds) : kMaxSeconds;
    const int M = static_cast<int>(p.nodes.size());
    std::vector<std::vector<int>> pools;
    double deadline_s = kSearchEnd * budget / 2;
    if (M <= kPoolSize) {
      std::vector<int> all(M);
      std::iota(all.begin(), all.end(), 0);
      pools.push_back(all);
    } else {
      deadline_s = kSearchEnd * budget / 2 / kPools;
      // Fastest first: the least total time over every segment.
      std::vector<double> total(M, 0);
      for (int v = 0; v < M; ++v)
        for (size_t s = 0; s < p.segments.size(); ++s) total[v] += p.SegmentTime(v, static_cast<int>(s));
      std::vector<int> order(M);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int a, int b) { return total[a] < total[b]; });
      order.resize(kPoolSize);
      pools.push_back(order);
      for (auto& pool : Neighbourhoods(p)) pools.push_back(std::move(pool));
    }
    std::optional<Plan> best;
    double best_latency = std::numeric_limits<double>::infinity();
    for (const auto& pool : pools) {
      const PlanProblem sub = SubProblem(p, pool);
      auto found = FindLeastLatencyPlan(sub, std::chrono::steady_clock::now() + Seconds(deadline_s));
      if (!found.ok() || !found.value()) continue;  // out of time, or nothing fits this pool
      Plan mapped = *found.value();
      for (auto& st : mapped.stages) st.node = pool[st.node];
      const double latency = Evaluate(p, mapped).latency_s;
      if (latency < best_latency) best = mapped, best_latency = latency;
    }
    // The throughput plan is a candidate too (and the fallback when no
    // search finished).
    PlannerOptions throughput_options = o;
    throughput_options.objective = Objective::kThroughput;
    throughput_options.deadline_s = 0.5 * budget;
    TANDEM_ASSIGN_OR_RETURN(PlanResult throughput, Solve(p, throughput_options));
    if (!best || throughput.evaluation.latency_s < best_latency) best = throughput.plan;
    best = Polish(p, *best, true, std::chrono::steady_clock::now() + Seconds((kPolishEnd - kSearchEnd) * budget));
    TANDEM_ASSIGN_OR_RETURN(PlanResult r, FinishPlan(name(), p, *best, false, LatencyLowerBound(p), t0));
    r.objective = Objective::kLatency;
    return r;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeFastPlanner() { return std::make_unique<FastPlanner>(); }

}  // namespace tandem
