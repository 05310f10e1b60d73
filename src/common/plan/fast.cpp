// `fast`: a good plan in about a second at most, for any cluster size.
//  - bisection of the bottleneck between a proven lower bound and a feasible
//    value, each tested by the greedy search (the node that reaches furthest,
//    one choice per stage);
//  - where the exact search's table fits (about 21 workers): windows of the
//    greedy plan and one descent of its order (both below), then that
//    search from the result until 60% of the time (the optimum, reported as
//    its own bound, when it finishes; else its best plan so far);
//  - else the exact search restricted to neighbourhoods: a node and the 15
//    workers best linked to it (and the dispatcher's best-linked workers),
//    an equal share of 30% of the time each (good plans keep consecutive
//    stages on fast links, so they live in such neighbourhoods); then, to
//    40%, around the best plan: its workers and the unused workers best
//    linked to them (18 in all, or its own up to 20), searched exactly
//    from that plan while it improves; then, to 50%, for longer plans,
//    windows of 8 consecutive stages around the bottleneck, each re-planned
//    exactly with the unused workers best placed to join it
//    (ImproveWindows);
//  - then, to 80%, the order of the workers: each order cut at its best
//    (exact for a fixed order: reachability over (stage, cut), bisected),
//    local search by swapping two workers, moving one elsewhere in the
//    order or replacing one by an unused worker, with random kicks when
//    no move helps (ImproveOrder).
// The best plan is then polished by local search: move a cut (anywhere
// between its neighbours), move a stage to an unused worker, swap two
// stages' workers, or split the slowest stage onto an unused worker, while
// the bottleneck drops.
// Reports the lower bound (planner.h), so the gap to the optimum is bounded.
// With the latency objective: the exact latency search on the whole cluster
// (small ones) or within neighbourhoods and among the fastest workers, then
// the same local search on the latency (SolveLatency).
#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>
#include <random>

#include "common/plan/planner.h"
#include "common/plan/subset_search.h"

namespace tandem {
namespace {

constexpr int kPoolSize = 16;  // workers per neighbourhood
constexpr int kPools = 24;     // neighbourhoods searched
// Workers around the best plan (its own first; at most kPlanPoolMax of its
// own, a subset search table of 168 MB at 120 segments).
constexpr int kPlanPoolSize = 18;
constexpr int kPlanPoolMax = 20;
// Windows of consecutive stages re-planned exactly (ImproveWindows).
constexpr int kWindowStages = 8;
constexpr double kWindowDeadlineS = 0.03;
// When each step ends, as a share of the time fast takes at most
// (PlannerOptions::deadline_s, at most kMaxSeconds) counted from its start:
// the exact searches, the local search, the bound.
constexpr double kMaxSeconds = 0.85;
constexpr double kPoolsEnd = 0.3;    // neighbourhoods (windows where the table fits),
constexpr double kAroundEnd = 0.4;   // then around the best plan (one descent of its order),
constexpr double kWindowsEnd = 0.5;  // then windows of it;
constexpr double kSearchEnd = 0.6;   // (or the exact search where it fits;)
constexpr double kOrderEnd = 0.8;    // then its order,
constexpr double kPolishEnd = 0.88;
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

// Adds to `pool`, up to `size` workers in all, those not `taken` with the
// best link to or from any of the pool (the slower direction of each pair),
// weighted by speed.
void AddBestPlaced(const PlanProblem& p, const std::vector<char>& taken, size_t size, std::vector<int>* pool) {
  std::vector<std::pair<double, int>> others;
  for (int u = 0; u < static_cast<int>(p.nodes.size()); ++u) {
    if (taken[u]) continue;
    double link = 0;
    for (int v : *pool) link = std::max(link, std::min(p.bandwidth[u][v], p.bandwidth[v][u]));
    others.emplace_back(link * p.nodes[u].speed, u);
  }
  const size_t k = std::min(others.size(), size > pool->size() ? size - pool->size() : 0);
  std::partial_sort(others.begin(), others.begin() + k, others.end(), std::greater<>());
  for (size_t i = 0; i < k; ++i) pool->push_back(others[i].second);
}

// The workers of `plan` and, up to kPlanPoolSize, the unused workers with
// the best links to and from them (weighted by speed). False when the plan
// alone has more than kPlanPoolMax workers.
bool AroundPlan(const PlanProblem& p, const Plan& plan, std::vector<int>* pool) {
  const int M = static_cast<int>(p.nodes.size());
  std::vector<char> in(M, 0);
  pool->clear();
  for (const auto& st : plan.stages) pool->push_back(st.node), in[st.node] = 1;
  if (static_cast<int>(pool->size()) > kPlanPoolMax) return false;
  if (static_cast<int>(pool->size()) >= kPlanPoolSize) return true;
  AddBestPlaced(p, in, kPlanPoolSize, pool);
  return true;
}

// A window of consecutive stages of `plan` as a problem of its own: its
// segments, its workers and `extra` others, and as the "dispatcher" the
// worker before it (input) and the one after it (output), either of which
// may be the real dispatcher. `current` gets the window's stages in the
// window's terms.
PlanProblem WindowProblem(const PlanProblem& p, const Plan& plan, int a, int b, const std::vector<int>& pool,
                          Plan* current) {
  const int D = p.dispatcher();
  const int K = static_cast<int>(plan.stages.size());
  const int before = a == 0 ? D : plan.stages[a - 1].node;
  const int after = b == K ? D : plan.stages[b].node;
  const int first = plan.stages[a].begin, last = plan.stages[b - 1].end;
  PlanProblem w;
  w.segments.assign(p.segments.begin() + first, p.segments.begin() + last);
  w.input_bytes = p.InBytes(first);
  const int n = static_cast<int>(pool.size());
  for (int v : pool) w.nodes.push_back(p.nodes[v]);
  w.bandwidth.assign(n + 1, std::vector<double>(n + 1, 1));
  w.latency.assign(n + 1, std::vector<double>(n + 1, 0));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (i == j) continue;
      w.bandwidth[i][j] = p.bandwidth[pool[i]][pool[j]];
      w.latency[i][j] = p.latency[pool[i]][pool[j]];
    }
    w.bandwidth[n][i] = p.bandwidth[before][pool[i]];
    w.latency[n][i] = p.latency[before][pool[i]];
    w.bandwidth[i][n] = p.bandwidth[pool[i]][after];
    w.latency[i][n] = p.latency[pool[i]][after];
  }
  if (!p.segment_time.empty())
    for (int v : pool) w.segment_time.emplace_back(p.segment_time[v].begin() + first, p.segment_time[v].begin() + last);
  current->stages.clear();
  for (int k = a; k < b; ++k)
    current->stages.push_back(PlanStage{k - a, plan.stages[k].begin - first, plan.stages[k].end - first});
  return w;
}

// For plans longer than an exact pool: a window of up to kWindowStages
// consecutive stages around the largest term not yet tried is re-planned
// exactly (its own workers and the unused ones best placed to join, up to
// kPoolSize), between the fixed workers around it; a window whose largest
// term drops is spliced in. Until no window improves or the deadline.
Plan ImproveWindows(const PlanProblem& p, Plan plan, std::chrono::steady_clock::time_point deadline) {
  const int M = static_cast<int>(p.nodes.size());
  std::vector<char> tried;
  while (std::chrono::steady_clock::now() < deadline) {
    const PlanEvaluation ev = Evaluate(p, plan);
    if (!ev.feasible) break;
    const int K = static_cast<int>(plan.stages.size());
    tried.resize(K, 0);
    int centre = -1;
    double worst = -1;
    for (int k = 0; k < K; ++k) {
      const double term = std::max({ev.compute_s[k], ev.transfer_s[k], ev.transfer_s[k + 1]});
      if (!tried[k] && term > worst) centre = k, worst = term;
    }
    if (centre < 0 || worst < ev.bottleneck_s * (1 - 1e-9)) break;  // every window at the bottleneck tried
    tried[centre] = 1;
    const int b = std::min(K, std::max(centre - kWindowStages / 2, 0) + kWindowStages);
    const int a = std::max(0, b - kWindowStages);
    std::vector<char> used(M, 0);
    for (const auto& st : plan.stages) used[st.node] = 1;
    std::vector<int> pool;
    for (int k = a; k < b; ++k) pool.push_back(plan.stages[k].node);
    AddBestPlaced(p, used, kPoolSize, &pool);
    Plan current;
    const PlanProblem w = WindowProblem(p, plan, a, b, pool, &current);
    const double before = Evaluate(w, current).bottleneck_s;
    PlannerOptions po;
    po.deadline_s =
        std::min(kWindowDeadlineS, std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count());
    if (po.deadline_s <= 0) break;
    po.start = &current;
    auto r = MakeOptimalPlanner()->Solve(w, po);
    if (!r.ok() || r->evaluation.bottleneck_s >= before * (1 - 1e-9)) continue;
    Plan next;
    next.stages.assign(plan.stages.begin(), plan.stages.begin() + a);
    for (const auto& st : r->plan.stages)
      next.stages.push_back(PlanStage{pool[st.node], st.begin + plan.stages[a].begin, st.end + plan.stages[a].begin});
    next.stages.insert(next.stages.end(), plan.stages.begin() + b, plan.stages.end());
    if (!Evaluate(p, next).feasible) continue;
    plan = next;
    tried.assign(plan.stages.size(), 0);
  }
  return plan;
}

// Stage k on order[k], every worker of `order` used once: the cuts that
// keep every term within `limit`, by reachability over (stage, cut), or
// false. O(K S^2).
bool CutsWithin(const PlanProblem& p, const std::vector<int>& order, double limit, Plan* plan) {
  const int S = static_cast<int>(p.segments.size());
  const int K = static_cast<int>(order.size());
  const int D = p.dispatcher();
  if (K == 0 || K > S || p.Transfer(D, order[0], p.input_bytes) > limit) return false;
  // from[k][e]: the start of stage k - 1 when stages 0..k-1 cover [0, e); -1: unreached.
  std::vector<std::vector<int>> from(K + 1, std::vector<int>(S + 1, -1));
  from[0][0] = 0;
  std::vector<int> ends;
  for (int k = 0; k < K; ++k) {
    const int v = order[k];
    for (int b = k; b < S; ++b) {
      if (from[k][b] < 0) continue;
      StageEnds(p, v, b, limit, &ends);
      for (int e : ends) {
        if (S - e < K - 1 - k) break;  // the stages left need a segment each
        if (k + 1 < K ? e == S || p.Transfer(v, order[k + 1], p.InBytes(e)) > limit
                      : e != S || p.Transfer(v, D, p.segments[S - 1].out_bytes) > limit)
          continue;
        if (from[k + 1][e] < 0) from[k + 1][e] = b;
      }
    }
  }
  if (from[K][S] < 0) return false;
  plan->stages.assign(K, PlanStage{});
  for (int k = K, e = S; k > 0; --k) {
    const int b = from[k][e];
    plan->stages[k - 1] = PlanStage{order[k - 1], b, e};
    e = b;
  }
  return true;
}

// The least bottleneck for a fixed worker order (CutsWithin, bisected on
// the value down from `plan`'s, which must follow `order`).
Plan BestCuts(const PlanProblem& p, const std::vector<int>& order, Plan plan) {
  double hi = Evaluate(p, plan).bottleneck_s, lo = 0;
  Plan found;
  for (int i = 0; i < 40 && hi - lo > 1e-7 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (CutsWithin(p, order, mid, &found)) {
      plan = found;
      hi = Evaluate(p, plan).bottleneck_s;
    } else {
      lo = mid;
    }
  }
  return plan;
}

// Local search on the order of the workers, each order cut at its best:
// swap two stages' workers, move one stage's worker elsewhere in the order,
// or give a stage to an unused worker; the first move that admits a plan
// below the current bottleneck is taken, until none does or the deadline.
Plan DescendOrder(const PlanProblem& p, Plan plan, std::chrono::steady_clock::time_point deadline) {
  const int M = static_cast<int>(p.nodes.size());
  std::vector<int> order;
  for (const auto& st : plan.stages) order.push_back(st.node);
  plan = BestCuts(p, order, plan);
  Plan found;
  for (bool improved = true; improved;) {
    improved = false;
    const double target = Evaluate(p, plan).bottleneck_s * (1 - 1e-9);
    const int K = static_cast<int>(order.size());
    std::vector<char> used(M, 0);
    for (int v : order) used[v] = 1;
    auto attempt = [&](const std::vector<int>& cand) {
      if (improved || std::chrono::steady_clock::now() > deadline) return;
      if (!CutsWithin(p, cand, target, &found)) return;
      order = cand;
      plan = BestCuts(p, order, found);
      improved = true;
    };
    for (int i = 0; i < K && !improved; ++i)
      for (int j = i + 1; j < K && !improved; ++j) {
        std::vector<int> cand = order;
        std::swap(cand[i], cand[j]);
        attempt(cand);
      }
    for (int i = 0; i < K && !improved; ++i)
      for (int j = 0; j < K && !improved; ++j) {
        if (j == i || j == i + 1) continue;
        std::vector<int> cand = order;
        const int v = cand[i];
        cand.erase(cand.begin() + i);
        cand.insert(cand.begin() + (j > i ? j - 1 : j), v);
        attempt(cand);
      }
    for (int i = 0; i < K && !improved; ++i)
      for (int u = 0; u < M && !improved; ++u) {
        if (used[u]) continue;
        std::vector<int> cand = order;
        cand[i] = u;
        attempt(cand);
      }
  }
  return plan;
}

// DescendOrder, then until the deadline: kick the best order (two random
// swaps, or a reversed run of stages), descend again, keep the result when
// it is better (iterated local search; a fixed seed, so the same problem
// gets the same plan given the same time).
Plan ImproveOrder(const PlanProblem& p, Plan plan, std::chrono::steady_clock::time_point deadline) {
  plan = DescendOrder(p, plan, deadline);
  double best = Evaluate(p, plan).bottleneck_s;
  std::mt19937 rng(1);
  while (std::chrono::steady_clock::now() < deadline && plan.stages.size() >= 3) {
    std::vector<int> order;
    for (const auto& st : plan.stages) order.push_back(st.node);
    const int K = static_cast<int>(order.size());
    if (rng() % 2) {
      for (int i = 0; i < 2; ++i) std::swap(order[rng() % K], order[rng() % K]);
    } else {
      int a = static_cast<int>(rng() % K), b = static_cast<int>(rng() % K);
      if (a > b) std::swap(a, b);
      std::reverse(order.begin() + a, order.begin() + b + 1);
    }
    // Any cuts for the kicked order, then its best ones.
    Plan kicked;
    if (!CutsWithin(p, order, std::numeric_limits<double>::max(), &kicked)) continue;
    Plan next = DescendOrder(p, BestCuts(p, order, kicked), deadline);
    const double value = Evaluate(p, next).bottleneck_s;
    if (value < best * (1 - 1e-9)) plan = next, best = value;
  }
  return plan;
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
      // Small enough for the exact search: windows of the greedy plan first
      // (they usually stop on their own within milliseconds), then the
      // exact search from there; its best plan when the time runs out, the
      // optimum (reported as its own bound) when it finishes.
      best = ImproveWindows(p, *best, until(kPoolsEnd));
      best = DescendOrder(p, *best, until(kAroundEnd));
      PlannerOptions po;
      po.deadline_s = left(kSearchEnd);
      po.start = &*best;
      auto all = MakeOptimalPlanner()->Solve(p, po);
      if (all.ok() && all->evaluation.bottleneck_s <= Evaluate(p, *best).bottleneck_s) best = all->plan;
      if (all.ok() && all->exact) return FinishPlan(name(), p, *best, false, all->lower_bound_s, t0);
      best = ImproveOrder(p, *best, until(kOrderEnd));
    } else {
      // Exact plans inside neighbourhoods; map their nodes back.
      PlannerOptions po;
      const auto pools = Neighbourhoods(p);
      for (size_t i = 0; i < pools.size(); ++i) {
        const auto& pool = pools[i];
        po.deadline_s = left(kPoolsEnd) / static_cast<double>(pools.size() - i);  // an equal share of what is left
        auto sub = MakeOptimalPlanner()->Solve(SubProblem(p, pool), po);
        if (!sub.ok() || sub->evaluation.bottleneck_s >= best_value) continue;
        Plan mapped = sub->plan;
        for (auto& st : mapped.stages) st.node = pool[st.node];
        best = mapped;
        best_value = sub->evaluation.bottleneck_s;
      }
      // Then around the best plan itself: its workers and the unused ones
      // best placed to help, searched exactly from that plan, while it
      // improves.
      while (std::chrono::steady_clock::now() < until(kAroundEnd)) {
        std::vector<int> pool;
        if (!AroundPlan(p, *best, &pool)) break;
        std::vector<int> index(p.nodes.size(), -1);
        for (size_t k = 0; k < pool.size(); ++k) index[pool[k]] = static_cast<int>(k);
        Plan start = *best;
        for (auto& st : start.stages) st.node = index[st.node];
        po.deadline_s = left(kAroundEnd);
        po.start = &start;
        auto sub = MakeOptimalPlanner()->Solve(SubProblem(p, pool), po);
        po.start = nullptr;
        if (!sub.ok() || sub->evaluation.bottleneck_s >= best_value * (1 - 1e-9)) break;
        Plan mapped = sub->plan;
        for (auto& st : mapped.stages) st.node = pool[st.node];
        best = mapped;
        best_value = sub->evaluation.bottleneck_s;
      }
      best = ImproveWindows(p, *best, until(kWindowsEnd));
      best = ImproveOrder(p, *best, until(kOrderEnd));
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
