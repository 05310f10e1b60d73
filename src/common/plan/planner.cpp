#include "common/plan/planner.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <unordered_map>
#include <unordered_set>

namespace tandem {

const char kExactSearchTimeout[] =
    "the exact search ran out of time (a longer deadline lets it finish; fast gives a plan in about a second)";

namespace {
struct Entry {
  const char* name;
  std::unique_ptr<Planner> (*make)();
};
// The registry: one line per algorithm.
const Entry kPlanners[] = {
    {"auto", MakeAutoPlanner},     {"optimal", MakeOptimalPlanner}, {"fast", MakeFastPlanner},
    {"greedy", MakeGreedyPlanner}, {"random", MakeRandomPlanner},   {"seifer", MakeSeiferPlanner},
};

std::string Mb(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  return buf;
}
}  // namespace

Result<std::unique_ptr<Planner>> MakePlanner(const std::string& name) {
  for (const auto& e : kPlanners)
    if (name == e.name) return e.make();
  std::string list;
  for (const auto& e : kPlanners) list += (list.empty() ? "" : ", ") + std::string(e.name);
  return Status::InvalidArgument("unknown planning algorithm '" + name + "' (known: " + list + ")");
}

std::vector<std::string> PlannerNames() {
  std::vector<std::string> names;
  for (const auto& e : kPlanners) names.push_back(e.name);
  return names;
}

Result<PlanResult> FinishPlan(const char* algorithm, const PlanProblem& p, Plan plan, bool exact, double lower_bound_s,
                              std::chrono::steady_clock::time_point started) {
  PlanResult r;
  r.algorithm = algorithm;
  r.plan = std::move(plan);
  r.evaluation = Evaluate(p, r.plan);
  if (!r.evaluation.feasible)
    return Status::Internal(std::string(algorithm) + " produced an invalid plan: " + r.evaluation.problem);
  r.exact = exact;
  r.lower_bound_s = lower_bound_s;
  r.solve_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

Status CheckCapacity(const PlanProblem& p) {
  TANDEM_RETURN_IF_ERROR(p.Validate());
  uint64_t largest = 0, total = 0;
  bool unlimited = false;
  for (const auto& n : p.nodes) {
    if (n.memory_bytes == 0) unlimited = true;
    largest = std::max(largest, n.memory_bytes);
    total += n.memory_bytes;
  }
  if (unlimited) return Status::OK();
  // The least memory of any stage holding segment s: the best start b <= s
  // (input copies of b plus weights of b..s-1) and the best end e > s
  // (weights of s+1..e-1 plus output copies of e-1), around s's own
  // weights. O(S).
  const int S = static_cast<int>(p.segments.size());
  // With nodes of different activation copies, the fewest give a bound
  // every node's stage must meet.
  uint64_t copies = UINT64_MAX;
  for (const auto& n : p.nodes) copies = std::min(copies, static_cast<uint64_t>(n.activation_copies));
  std::vector<uint64_t> left(S), right(S);
  for (int s = 0; s < S; ++s)
    left[s] =
        s == 0 ? copies * p.InBytes(0) : std::min(copies * p.InBytes(s), left[s - 1] + p.segments[s - 1].param_bytes);
  for (int s = S - 1; s >= 0; --s)
    right[s] = s == S - 1 ? copies * p.segments[s].out_bytes
                          : std::min(copies * p.segments[s].out_bytes, p.segments[s + 1].param_bytes + right[s + 1]);
  for (int s = 0; s < S; ++s) {
    const uint64_t need = left[s] + p.segments[s].param_bytes + right[s];
    if (need > largest)
      return Status::InvalidArgument("segment " + std::to_string(s) + " needs at least " + Mb(need) +
                                     " in any stage (weights and activations); the largest worker has " + Mb(largest) +
                                     ", " + Mb(need - largest) + " short");
  }
  uint64_t weights = 0;
  for (const auto& s : p.segments) weights += s.param_bytes;
  if (weights > total)
    return Status::InvalidArgument("the model's weights need " + Mb(weights) + "; the workers have " + Mb(total) +
                                   " in all, " + Mb(weights - total) + " short");
  return Status::OK();
}

namespace {

// The least each term of a plan can cost over all nodes: the first hop, the
// last hop, and each segment on its fastest node.
struct TermFloors {
  double first_hop = std::numeric_limits<double>::infinity();
  double last_hop = std::numeric_limits<double>::infinity();
  std::vector<double> segment;
};

TermFloors Floors(const PlanProblem& p) {
  const int S = static_cast<int>(p.segments.size());
  const int M = static_cast<int>(p.nodes.size());
  const int D = p.dispatcher();
  TermFloors f;
  for (int v = 0; v < M; ++v) {
    f.first_hop = std::min(f.first_hop, p.Transfer(D, v, p.input_bytes));
    f.last_hop = std::min(f.last_hop, p.Transfer(v, D, p.segments[S - 1].out_bytes));
  }
  f.segment.assign(S, std::numeric_limits<double>::infinity());
  for (int s = 0; s < S; ++s)
    for (int v = 0; v < M; ++v) f.segment[s] = std::min(f.segment[s], p.SegmentTime(v, s));
  return f;
}

}  // namespace

double BottleneckLowerBound(const PlanProblem& p) {
  const TermFloors f = Floors(p);
  double lb = std::max(f.first_hop, f.last_hop);
  for (double t : f.segment) lb = std::max(lb, t);
  if (p.segment_time.empty()) {
    double work = 0, speed = 0;
    for (const auto& s : p.segments) work += s.compute_s;
    for (const auto& n : p.nodes) speed += n.speed;
    lb = std::max(lb, work / speed);
  }
  return std::max(lb, RelaxedBound(p, lb));
}

double LatencyLowerBound(const PlanProblem& p) {
  const TermFloors f = Floors(p);
  double sum = f.first_hop + f.last_hop;
  for (double t : f.segment) sum += t;
  return sum;
}

namespace {

// Calls f(end) for every end such that a stage over segments [begin, end)
// on node v computes within `limit` and fits v's memory.
template <class F>
void ForEachStageEnd(const PlanProblem& p, int v, int begin, double limit, F f) {
  const int S = static_cast<int>(p.segments.size());
  uint64_t params = 0;
  const uint64_t budget = p.nodes[v].memory_bytes;
  // Segment times only grow with the end; moving the output does not.
  double t = p.nodes[v].move_s_per_byte * static_cast<double>(p.InBytes(begin));
  for (int e = begin; e < S; ++e) {
    t += p.SegmentTime(v, e);
    params += p.segments[e].param_bytes;
    if (t > limit || (budget > 0 && params > budget)) break;
    if (budget > 0 && params + p.nodes[v].activation_copies * (p.InBytes(begin) + p.segments[e].out_bytes) > budget)
      continue;
    if (t + p.nodes[v].move_s_per_byte * static_cast<double>(p.segments[e].out_bytes) > limit) continue;
    f(e + 1);
  }
}

// Is the relaxation feasible within `limit`? Stages may use any node whose
// memory and speed allow them (nodes may repeat), every cut crosses the
// best link of the cluster, at most as many stages as nodes. Every real
// plan within `limit` is feasible here, so the smallest such limit is a
// lower bound.
bool RelaxedFeasible(const PlanProblem& p, double limit, double best_bw, double best_lat) {
  const int S = static_cast<int>(p.segments.size());
  const int M = static_cast<int>(p.nodes.size());
  const int D = p.dispatcher();
  // fewest stages covering [0, e); INT_MAX: unreachable.
  std::vector<int> stages(S + 1, std::numeric_limits<int>::max());
  stages[0] = 0;
  for (int b = 0; b < S; ++b) {
    if (stages[b] == std::numeric_limits<int>::max() || stages[b] >= M) continue;
    if (b > 0 && static_cast<double>(p.segments[b - 1].out_bytes) / best_bw + best_lat > limit) continue;
    for (int v = 0; v < M; ++v) {
      if (b == 0 && p.Transfer(D, v, p.input_bytes) > limit) continue;
      ForEachStageEnd(p, v, b, limit, [&](int end) {
        if (end == S && p.Transfer(v, D, p.segments[S - 1].out_bytes) > limit) return;
        stages[end] = std::min(stages[end], stages[b] + 1);
      });
    }
  }
  return stages[S] <= M;
}

}  // namespace

double RelaxedBound(const PlanProblem& p, double from) {
  const int M = static_cast<int>(p.nodes.size());
  double best_bw = 0, best_lat = std::numeric_limits<double>::infinity();
  for (int u = 0; u < M; ++u)
    for (int v = 0; v < M; ++v)
      if (u != v) {
        best_bw = std::max(best_bw, p.bandwidth[u][v]);
        best_lat = std::min(best_lat, p.latency[u][v]);
      }
  if (M < 2) best_bw = std::numeric_limits<double>::infinity(), best_lat = 0;
  // Bisection on the limit: the relaxation is monotone in it.
  double lo = from, hi = std::max(from, 1e-9);
  for (int i = 0; i < 200 && !RelaxedFeasible(p, hi, best_bw, best_lat); ++i) lo = hi, hi *= 2;
  if (!RelaxedFeasible(p, hi, best_bw, best_lat)) return from;
  for (int i = 0; i < 50 && hi - lo > 1e-9 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (RelaxedFeasible(p, mid, best_bw, best_lat))
      hi = mid;
    else
      lo = mid;
  }
  return lo;
}

namespace {

// The relaxation where nodes may repeat (at most as many stages as nodes)
// but every transfer crosses its real link: is it feasible within `limit`?
// stages[b][v]: fewest stages covering [0, b) with the last on v.
bool LinkRelaxedFeasible(const PlanProblem& p, double limit) {
  const int S = static_cast<int>(p.segments.size());
  const int M = static_cast<int>(p.nodes.size());
  const int D = p.dispatcher();
  constexpr int kNone = std::numeric_limits<int>::max();
  std::vector<std::vector<int>> stages(S + 1, std::vector<int>(M, kNone));
  std::vector<int> entry(M);
  for (int b = 0; b < S; ++b) {
    // The fewest stages before a stage on v that starts at b.
    for (int v = 0; v < M; ++v) {
      entry[v] = kNone;
      if (b == 0) {
        if (p.Transfer(D, v, p.input_bytes) <= limit) entry[v] = 0;
        continue;
      }
      for (int u = 0; u < M; ++u)
        if (u != v && stages[b][u] < entry[v] && p.Transfer(u, v, p.InBytes(b)) <= limit) entry[v] = stages[b][u];
    }
    for (int v = 0; v < M; ++v) {
      if (entry[v] == kNone || entry[v] + 1 > M) continue;
      ForEachStageEnd(p, v, b, limit, [&](int end) { stages[end][v] = std::min(stages[end][v], entry[v] + 1); });
    }
  }
  for (int v = 0; v < M; ++v)
    if (stages[S][v] <= M && p.Transfer(v, D, p.segments[S - 1].out_bytes) <= limit) return true;
  return false;
}

}  // namespace

double LinkRelaxedBound(const PlanProblem& p, double lo, double hi, std::chrono::steady_clock::time_point deadline) {
  if (!(hi > lo) || LinkRelaxedFeasible(p, lo)) return lo;
  for (int i = 0; i < 40 && hi - lo > 1e-6 * hi && std::chrono::steady_clock::now() < deadline; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (LinkRelaxedFeasible(p, mid))
      hi = mid;
    else
      lo = mid;
  }
  return lo;
}

std::vector<double> BottleneckCandidates(const PlanProblem& p, double cap) {
  const int S = static_cast<int>(p.segments.size());
  const int M = static_cast<int>(p.nodes.size());
  std::vector<double> c;
  for (int v = 0; v < M; ++v) {
    for (int b = 0; b < S; ++b) {
      double t = p.nodes[v].move_s_per_byte * static_cast<double>(p.InBytes(b));
      for (int e = b; e < S; ++e) {
        t += p.SegmentTime(v, e);
        if (t > cap) break;
        const double stage = t + p.nodes[v].move_s_per_byte * static_cast<double>(p.segments[e].out_bytes);
        if (stage <= cap) c.push_back(stage);
      }
    }
  }
  for (int u = 0; u <= M; ++u) {
    for (int v = 0; v <= M; ++v) {
      if (u == v) continue;
      for (int s = 0; s <= S; ++s) {
        const uint64_t bytes = s == S ? p.segments[S - 1].out_bytes : p.InBytes(s);
        const double t = p.Transfer(u, v, bytes);
        if (t <= cap) c.push_back(t);
      }
    }
  }
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  return c;
}

void StageEnds(const PlanProblem& p, int v, int e, double limit, std::vector<int>* ends) {
  ends->clear();
  const int S = static_cast<int>(p.segments.size());
  const double per_byte = p.nodes[v].move_s_per_byte;
  double t = per_byte * static_cast<double>(p.InBytes(e));  // grows with the end; the output's move does not
  uint64_t params = 0;
  const uint64_t budget = p.nodes[v].memory_bytes;
  for (int x = e; x < S; ++x) {
    t += p.SegmentTime(v, x);
    if (t > limit) break;
    params += p.segments[x].param_bytes;
    if (budget > 0 && params > budget) break;
    if (t + per_byte * static_cast<double>(p.segments[x].out_bytes) > limit) continue;
    if (budget == 0 || params + p.nodes[v].activation_copies * (p.InBytes(e) + p.segments[x].out_bytes) <= budget)
      ends->push_back(x + 1);
  }
}

namespace {

// Depth-first search for a plan within `limit`: state (used nodes, last
// node, next segment). States proven hopeless are remembered, so each is
// expanded once: exhaustive, hence exact.
class WithinSearch {
 public:
  WithinSearch(const PlanProblem& p, double limit, std::chrono::steady_clock::time_point deadline)
      : p_(p),
        limit_(limit),
        deadline_(deadline),
        S_(static_cast<int>(p.segments.size())),
        M_(static_cast<int>(p.nodes.size())) {
    // Nodes fastest first: long stages are tried before short ones.
    for (int v = 0; v < M_; ++v) order_.push_back(v);
    std::sort(order_.begin(), order_.end(), [&](int a, int b) { return p.nodes[a].speed > p.nodes[b].speed; });
    suffix_work_.assign(S_ + 1, 0.0);
    for (int s = S_ - 1; s >= 0; --s) suffix_work_[s] = suffix_work_[s + 1] + p.segments[s].compute_s;
  }

  Result<std::optional<Plan>> Run() {
    std::vector<PlanStage> path;
    bool found = Search(0, p_.dispatcher(), 0, &path);
    if (timed_out_) return Status::Timeout(kExactSearchTimeout);
    if (!found) return std::optional<Plan>();
    return std::optional<Plan>(Plan{path});
  }

 private:
  void Ends(int v, int e, std::vector<int>* ends) const { StageEnds(p_, v, e, limit_, ends); }

  bool Search(uint64_t used, int last, int e, std::vector<PlanStage>* path) {
    if (e == S_) return p_.Transfer(last, p_.dispatcher(), p_.segments[S_ - 1].out_bytes) <= limit_;
    if (timed_out_) return false;
    if ((++steps_ & 1023) == 0 && std::chrono::steady_clock::now() > deadline_) {
      timed_out_ = true;
      return false;
    }
    const uint64_t key = (used << 24) | (static_cast<uint64_t>(last) << 12) | static_cast<uint64_t>(e);
    if (hopeless_.count(key)) return false;
    // Capacity: the unused nodes together cannot do the remaining work within the limit.
    if (p_.segment_time.empty()) {
      double capacity = 0;
      for (int v = 0; v < M_; ++v)
        if (!(used >> v & 1)) capacity += limit_ * p_.nodes[v].speed;
      if (capacity < suffix_work_[e] * (1 - 1e-12)) {
        hopeless_.insert(key);
        return false;
      }
    }
    std::vector<int> ends;
    for (int v : order_) {
      if (used >> v & 1) continue;
      if (p_.Transfer(last, v, p_.InBytes(e)) > limit_) continue;
      Ends(v, e, &ends);
      for (auto it = ends.rbegin(); it != ends.rend(); ++it) {
        path->push_back(PlanStage{v, e, *it});
        if (Search(used | (uint64_t{1} << v), v, *it, path)) return true;
        path->pop_back();
        if (timed_out_) return false;
      }
    }
    hopeless_.insert(key);
    return false;
  }

  const PlanProblem& p_;
  const double limit_;
  const std::chrono::steady_clock::time_point deadline_;
  const int S_, M_;
  std::vector<int> order_;
  std::vector<double> suffix_work_;
  std::unordered_set<uint64_t> hopeless_;
  uint64_t steps_ = 0;
  bool timed_out_ = false;
};

// The fast search: one choice per stage — the unused node reachable within
// the limit whose stage reaches furthest, backing off to shorter stages when
// the next transfer does not fit — with a bounded number of retries. Any
// number of nodes.
bool GreedyWithin(const PlanProblem& p, double limit, std::vector<char>* used, int last, int e,
                  std::vector<PlanStage>* path, int* budget) {
  const int S = static_cast<int>(p.segments.size());
  const int M = static_cast<int>(p.nodes.size());
  if (e == S) return p.Transfer(last, p.dispatcher(), p.segments[S - 1].out_bytes) <= limit;
  if (--*budget < 0) return false;
  std::vector<int> ends;
  int best_v = -1, best_end = -1;
  double best_bw = 0;
  for (int v = 0; v < M; ++v) {
    if ((*used)[v] || p.Transfer(last, v, p.InBytes(e)) > limit) continue;
    StageEnds(p, v, e, limit, &ends);
    if (ends.empty()) continue;
    if (ends.back() > best_end || (ends.back() == best_end && p.bandwidth[last][v] > best_bw)) {
      best_v = v;
      best_end = ends.back();
      best_bw = p.bandwidth[last][v];
    }
  }
  if (best_v < 0) return false;
  StageEnds(p, best_v, e, limit, &ends);
  (*used)[best_v] = 1;
  for (auto it = ends.rbegin(); it != ends.rend() && *budget >= 0; ++it) {
    path->push_back(PlanStage{best_v, e, *it});
    if (GreedyWithin(p, limit, used, best_v, *it, path, budget)) return true;
    path->pop_back();
  }
  (*used)[best_v] = 0;
  return false;
}

// Branch and bound for the least latency. The future cost depends only on
// (used, last, next segment), so reaching a state at a cost no lower than
// before cannot help (exact); a lower bound on the rest prunes the search.
class LatencySearch {
 public:
  LatencySearch(const PlanProblem& p, std::chrono::steady_clock::time_point deadline)
      : p_(p), deadline_(deadline), S_(static_cast<int>(p.segments.size())), M_(static_cast<int>(p.nodes.size())) {
    const TermFloors f = Floors(p);
    rest_.assign(S_ + 1, 0.0);
    rest_[S_] = f.last_hop;
    for (int s = S_ - 1; s >= 0; --s) rest_[s] = rest_[s + 1] + f.segment[s];
  }

  Result<std::optional<Plan>> Run() {
    std::vector<PlanStage> path;
    Search(0, p_.dispatcher(), 0, 0.0, &path);
    if (timed_out_) return Status::Timeout(kExactSearchTimeout);
    if (best_plan_.empty()) return std::optional<Plan>();
    return std::optional<Plan>(Plan{best_plan_});
  }

 private:
  void Search(uint64_t used, int last, int e, double cost, std::vector<PlanStage>* path) {
    if (e == S_) {
      const double total = cost + p_.Transfer(last, p_.dispatcher(), p_.segments[S_ - 1].out_bytes);
      if (total < best_) {
        best_ = total;
        best_plan_ = *path;
      }
      return;
    }
    if (timed_out_ || cost + rest_[e] >= best_) return;
    if ((++steps_ & 1023) == 0 && std::chrono::steady_clock::now() > deadline_) {
      timed_out_ = true;
      return;
    }
    const uint64_t key = (used << 24) | (static_cast<uint64_t>(last) << 12) | static_cast<uint64_t>(e);
    auto seen = seen_.find(key);
    if (seen != seen_.end() && seen->second <= cost) return;
    seen_[key] = cost;
    std::vector<int> ends;
    for (int v = 0; v < M_; ++v) {
      if (used >> v & 1) continue;
      const double hop = p_.Transfer(last, v, p_.InBytes(e));
      StageEnds(p_, v, e, std::numeric_limits<double>::infinity(), &ends);
      double compute = 0;
      int x = e;
      for (auto it = ends.begin(); it != ends.end(); ++it) {
        while (x < *it) compute += p_.SegmentTime(v, x++);
        path->push_back(PlanStage{v, e, *it});
        Search(used | (uint64_t{1} << v), v, *it, cost + hop + compute + p_.MoveTime(v, e, *it), path);
        path->pop_back();
        if (timed_out_) return;
      }
    }
  }

  const PlanProblem& p_;
  const std::chrono::steady_clock::time_point deadline_;
  const int S_, M_;
  std::vector<double> rest_;  // lower bound on the cost of segments [s, S) plus the last hop
  std::unordered_map<uint64_t, double> seen_;
  double best_ = std::numeric_limits<double>::infinity();
  std::vector<PlanStage> best_plan_;
  uint64_t steps_ = 0;
  bool timed_out_ = false;
};

}  // namespace

Result<std::optional<Plan>> FindLeastLatencyPlan(const PlanProblem& p, std::chrono::steady_clock::time_point deadline) {
  if (p.nodes.size() > 40) return Status::Unsupported("the exact search handles at most 40 workers");
  if (p.segments.size() >= 4096) return Status::Unsupported("too many segments");
  return LatencySearch(p, deadline).Run();
}

Result<std::optional<Plan>> FindPlanWithin(const PlanProblem& p, double limit, bool exhaustive,
                                           std::chrono::steady_clock::time_point deadline) {
  if (p.segments.size() >= 4096 || p.nodes.size() >= 4096)
    return Status::Unsupported("the planner handles fewer than 4096 segments and workers");
  if (!exhaustive) {
    std::vector<char> used(p.nodes.size(), 0);
    std::vector<PlanStage> path;
    int budget = 64 * static_cast<int>(p.segments.size() + p.nodes.size());
    if (GreedyWithin(p, limit, &used, p.dispatcher(), 0, &path, &budget)) return std::optional<Plan>(Plan{path});
    return std::optional<Plan>();
  }
  if (p.nodes.size() > 40) return Status::Unsupported("the exact search handles at most 40 workers");
  return WithinSearch(p, limit, deadline).Run();
}

Result<std::optional<Plan>> GreedyBisection(const PlanProblem& p, double lower_bound) {
  const auto never = std::chrono::steady_clock::time_point::max();
  // A bound of 0 (every term free) must still grow.
  double lo = lower_bound, hi = lower_bound > 0 ? lower_bound : 1e-9;
  std::optional<Plan> best;
  for (int i = 0; i < 120 && !best; ++i) {
    TANDEM_ASSIGN_OR_RETURN(best, FindPlanWithin(p, hi, false, never));
    if (!best) {
      lo = hi;
      hi *= 2;
    }
  }
  if (!best) return best;
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
  return best;
}

}  // namespace tandem
