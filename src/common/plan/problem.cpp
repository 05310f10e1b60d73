#include "common/plan/problem.h"

#include <cmath>
#include <set>

namespace tandem {

Status PlanProblem::Validate() const {
  if (segments.empty()) return Status::InvalidArgument("the model has no segments");
  if (nodes.empty()) return Status::InvalidArgument("the cluster has no workers");
  const size_t n = nodes.size() + 1;
  if (bandwidth.size() != n || latency.size() != n)
    return Status::InvalidArgument("link matrices must be " + std::to_string(n) + "x" + std::to_string(n));
  for (size_t i = 0; i < n; ++i) {
    if (bandwidth[i].size() != n || latency[i].size() != n)
      return Status::InvalidArgument("link matrices must be " + std::to_string(n) + "x" + std::to_string(n));
    for (size_t j = 0; j < n; ++j) {
      if (i == j) continue;
      if (!(bandwidth[i][j] > 0) || !std::isfinite(bandwidth[i][j]))
        return Status::InvalidArgument("bandwidth between endpoints " + std::to_string(i) + " and " +
                                       std::to_string(j) + " must be positive");
      if (!(latency[i][j] >= 0) || !std::isfinite(latency[i][j]))
        return Status::InvalidArgument("latency between endpoints " + std::to_string(i) + " and " + std::to_string(j) +
                                       " must be >= 0");
    }
  }
  for (const auto& node : nodes) {
    if (!(node.speed > 0) || !std::isfinite(node.speed))
      return Status::InvalidArgument("worker '" + node.name + "': speed must be positive");
    if (!(node.move_s_per_byte >= 0) || !std::isfinite(node.move_s_per_byte))
      return Status::InvalidArgument("worker '" + node.name + "': time per activation byte must be >= 0");
    if (node.activation_copies < 1 || node.activation_copies > 1024)
      return Status::InvalidArgument("worker '" + node.name + "': activation copies must be in 1..1024");
  }
  if (!segment_time.empty()) {
    if (segment_time.size() != nodes.size())
      return Status::InvalidArgument("measured segment times must have one row per worker");
    for (const auto& row : segment_time)
      if (row.size() != segments.size())
        return Status::InvalidArgument("measured segment times must have one column per segment");
  }
  return Status::OK();
}

uint64_t StageMemory(const PlanProblem& p, int node, int begin, int end) {
  uint64_t m =
      static_cast<uint64_t>(p.nodes[node].activation_copies) * (p.InBytes(begin) + p.segments[end - 1].out_bytes);
  for (int s = begin; s < end; ++s) m += p.segments[s].param_bytes;
  return m;
}

PlanEvaluation Evaluate(const PlanProblem& p, const Plan& plan) {
  PlanEvaluation e;
  const int S = static_cast<int>(p.segments.size());
  if (plan.stages.empty()) {
    e.problem = "the plan has no stages";
    return e;
  }
  std::set<int> used;
  int expect = 0;
  for (size_t k = 0; k < plan.stages.size(); ++k) {
    const auto& st = plan.stages[k];
    if (st.node < 0 || st.node >= static_cast<int>(p.nodes.size())) {
      e.problem = "stage " + std::to_string(k) + " names no worker";
      return e;
    }
    if (!used.insert(st.node).second) {
      e.problem = "worker '" + p.nodes[st.node].name + "' runs two stages";
      return e;
    }
    if (st.begin != expect || st.end <= st.begin || st.end > S) {
      e.problem = "stage " + std::to_string(k) + " does not continue the segments contiguously";
      return e;
    }
    expect = st.end;
  }
  if (expect != S) {
    e.problem = "the stages do not cover every segment";
    return e;
  }
  auto consider = [&](double v, const std::string& what) {
    if (v > e.bottleneck_s) {
      e.bottleneck_s = v;
      e.bottleneck = what;
    }
  };
  int prev = p.dispatcher();
  for (size_t k = 0; k < plan.stages.size(); ++k) {
    const auto& st = plan.stages[k];
    const std::string& name = p.nodes[st.node].name;
    const double t = p.Transfer(prev, st.node, p.InBytes(st.begin));
    e.transfer_s.push_back(t);
    consider(t, "transfer " + (k == 0 ? std::string("dispatcher") : p.nodes[prev].name) + " -> " + name);
    double c = 0;
    for (int s = st.begin; s < st.end; ++s) c += p.SegmentTime(st.node, s);
    const double move = p.MoveTime(st.node, st.begin, st.end);
    c += move;
    e.compute_s.push_back(c);
    e.move_s.push_back(move);
    consider(c, "compute of stage " + std::to_string(k) + " on " + name);
    const uint64_t mem = StageMemory(p, st.node, st.begin, st.end);
    e.memory_bytes.push_back(mem);
    if (p.nodes[st.node].memory_bytes > 0 && mem > p.nodes[st.node].memory_bytes) {
      e.problem = "stage " + std::to_string(k) + " needs " + std::to_string(mem) + " bytes, worker '" + name +
                  "' has " + std::to_string(p.nodes[st.node].memory_bytes);
      return e;
    }
    e.latency_s += t + c;
    prev = st.node;
  }
  const double back = p.Transfer(prev, p.dispatcher(), p.segments[S - 1].out_bytes);
  e.transfer_s.push_back(back);
  consider(back, "transfer " + p.nodes[prev].name + " -> dispatcher");
  e.latency_s += back;
  e.feasible = true;
  return e;
}

PlanProblem SubProblem(const PlanProblem& p, const std::vector<int>& nodes) {
  PlanProblem sub;
  sub.segments = p.segments;
  sub.input_bytes = p.input_bytes;
  std::vector<int> index = nodes;
  index.push_back(p.dispatcher());
  for (int n : nodes) sub.nodes.push_back(p.nodes[n]);
  const size_t m = index.size();
  sub.bandwidth.assign(m, std::vector<double>(m, 0));
  sub.latency.assign(m, std::vector<double>(m, 0));
  for (size_t a = 0; a < m; ++a)
    for (size_t b = 0; b < m; ++b) {
      sub.bandwidth[a][b] = p.bandwidth[index[a]][index[b]];
      sub.latency[a][b] = p.latency[index[a]][index[b]];
    }
  if (!p.segment_time.empty())
    for (int n : nodes) sub.segment_time.push_back(p.segment_time[n]);
  return sub;
}

}  // namespace tandem
