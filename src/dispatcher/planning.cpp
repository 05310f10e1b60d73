#include "dispatcher/planning.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>

#include "common/plan/worker_memory.h"
#include "common/util/format.h"
#include "common/util/log.h"

namespace tandem {

std::vector<PlanSegment> PlanSegments(const ModelProfile& profile) {
  std::vector<PlanSegment> segments;
  for (size_t i = 0; i < profile.segments.size(); ++i) {
    const auto& s = profile.segments[i];
    const int tensors = i < profile.cuts.size() ? static_cast<int>(profile.cuts[i].tensors.size()) : 1;
    segments.push_back(PlanSegment{s.compute_s, s.param_bytes, s.output_bytes, tensors});
  }
  return segments;
}

namespace {
// True the first time this process sees `key` (a re-plan after a failure
// does not repeat a warning the first plan gave).
bool WarnOnce(const std::string& key) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  return seen.insert(key).second;
}
}  // namespace

double WorkerFacts::BusyCpus() const {
  if (threads > 0 && cpus > 0) return std::min<double>(threads, cpus);
  return threads > 0 ? threads : cpus;
}

namespace {

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// Per worker: the speed the planner gives it (the cluster's, or derived on
// the profiling host), and the share of it its host leaves it (1: alone).
struct WorkerSpeed {
  double speed = 1.0;
  double share = 1.0;
};

std::vector<WorkerSpeed> WorkerSpeeds(const ModelProfile& profile, const ClusterConfig& cluster,
                                      const std::vector<WorkerFacts>& facts) {
  const size_t n = cluster.workers.size();
  std::vector<WorkerSpeed> out(n);
  auto fact = [&](size_t i) { return i < facts.size() ? facts[i] : WorkerFacts(); };
  const MachineInfo& m = profile.machine;
  // The CPUs the profile kept busy: its threads, within what it could use.
  const double usable = m.cpus > 0 ? m.cpus : m.cores;
  const double profiled_cpus = usable > 0 && m.threads > 0 ? std::min<double>(usable, m.threads) : m.threads;
  std::string derived;
  for (size_t i = 0; i < n; ++i) {
    const WorkerEntry& w = cluster.workers[i];
    out[i].speed = w.speed;
    const WorkerFacts f = fact(i);
    if (w.speed_given || !w.profile.empty() || f.host_id.empty() || f.host_id != m.host_id || f.BusyCpus() <= 0 ||
        profiled_cpus <= 0)
      continue;
    out[i].speed = f.BusyCpus() / profiled_cpus;
    if (std::abs(out[i].speed - 1.0) > 1e-9)
      derived +=
          (derived.empty() ? "" : ", ") + w.name + " " + Fixed(f.BusyCpus()) + " (speed " + Fixed(out[i].speed) + ")";
  }
  if (!derived.empty() && WarnOnce("speed|" + derived + "|" + profile.model_hash))
    TANDEM_LOG(kInfo) << "the profile took " << Fixed(profiled_cpus)
                      << " CPU(s); workers on this host that the cluster config gives no speed use " << derived
                      << " (planned in proportion; give a speed, or profile with their threads, to say "
                      << "otherwise)";
  // Hosts whose workers want more CPUs than the host has.
  std::map<std::string, std::vector<size_t>> hosts;
  for (size_t i = 0; i < n; ++i)
    if (!fact(i).host_id.empty()) hosts[fact(i).host_id].push_back(i);
  for (const auto& [host, members] : hosts) {
    double busy = 0;
    int cores = 0;
    for (size_t i : members) {
      const WorkerFacts f = fact(i);
      busy += f.BusyCpus() > 0 ? f.BusyCpus() : 1.0;
      cores = std::max(cores, f.host_cores);
    }
    if (members.size() < 2 || cores <= 0 || busy <= cores) continue;
    const double share = cores / busy;
    std::string names;
    for (size_t i : members) {
      out[i].share = share;
      names += (names.empty() ? "" : ", ") + cluster.workers[i].name;
    }
    if (WarnOnce("share|" + names + "|" + std::to_string(share)))
      TANDEM_LOG(kInfo) << names << " share one host's " << cores << " CPU(s) and would keep " << Fixed(busy)
                        << " busy: each planned at " << Fixed(share) << " of its speed";
  }
  return out;
}

}  // namespace

Result<PlanProblem> BuildPlanProblem(const ModelProfile& profile, const ClusterConfig& cluster, const CodecSpec& codec,
                                     const std::vector<WorkerFacts>& facts) {
  PlanProblem p;
  p.segments = PlanSegments(profile);
  p.input_bytes = profile.input_bytes;
  const std::string hop_codec = codec.ToString();
  const bool move_known = profile.move_codec == hop_codec;
  if (!profile.move_codec.empty() && !move_known &&
      WarnOnce(profile.model_path + "|" + profile.move_codec + "|" + hop_codec))
    TANDEM_LOG(kWarning) << profile.model_path << ": the profile measured moving activations with codec "
                         << profile.move_codec << ", the hops use " << hop_codec
                         << "; planning without that cost (profile with --move-codec " << hop_codec << ")";
  const std::vector<WorkerSpeed> speeds = WorkerSpeeds(profile, cluster, facts);
  for (size_t i = 0; i < cluster.workers.size(); ++i) {
    const WorkerEntry& w = cluster.workers[i];
    const double speed = speeds[i].speed * speeds[i].share;
    PlanNode node{w.name, speed, w.memory_mb << 20};
    if (move_known) node.move_s_per_byte = profile.move_s_per_byte / speed;
    // What the worker's own memory check counts (worker_memory.h).
    const int depth = i < facts.size() && facts[i].queue_depth > 0 ? facts[i].queue_depth : kDefaultWorkerQueueDepth;
    node.activation_copies = WorkerActivationCopies(depth, CodecScratchCopies(codec));
    p.nodes.push_back(node);
  }
  const size_t n = cluster.workers.size() + 1;
  p.bandwidth.assign(n, std::vector<double>(n, 0));
  p.latency.assign(n, std::vector<double>(n, 0));
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b)
      if (a != b) {
        p.bandwidth[a][b] = cluster.LinkBandwidth(a, b);
        p.latency[a][b] = cluster.LinkLatency(a, b);
      }
  bool measured = false;
  for (const auto& w : cluster.workers) measured |= !w.profile.empty();
  if (measured) {
    for (size_t i = 0; i < cluster.workers.size(); ++i) {
      const auto& w = cluster.workers[i];
      std::vector<double> row;
      if (w.profile.empty()) {
        for (const auto& s : profile.segments) row.push_back(s.compute_s / p.nodes[i].speed);
      } else {
        const std::string field = cluster.source + ": workers[" + std::to_string(i) + "].profile";
        auto own = ReadProfile(w.profile);
        if (!own.ok()) return own.status().WithContext(field);
        if (own->model_hash != profile.model_hash || own->inputs != profile.inputs ||
            own->segments.size() != profile.segments.size())
          return Status::InvalidArgument(field + ": " + w.profile + " was measured for another model or input shape");
        for (const auto& s : own->segments) row.push_back(s.compute_s / speeds[i].share);
        if (own->move_codec == hop_codec) p.nodes[i].move_s_per_byte = own->move_s_per_byte / speeds[i].share;
      }
      p.segment_time.push_back(std::move(row));
    }
  }
  return p;
}

std::vector<int> PlanCuts(const ModelProfile& profile, const Plan& plan) {
  std::vector<int> cuts;
  for (size_t k = 0; k + 1 < plan.stages.size(); ++k) cuts.push_back(profile.cuts[plan.stages[k].end - 1].position);
  return cuts;
}

Result<Plan> PlanFromCuts(const ModelProfile& profile, const std::vector<int>& cuts, const std::vector<int>& nodes) {
  if (nodes.size() != cuts.size() + 1)
    return Status::InvalidArgument(std::to_string(cuts.size() + 1) + " stages need as many workers, not " +
                                   std::to_string(nodes.size()));
  Plan plan;
  int begin = 0;
  for (size_t k = 0; k <= cuts.size(); ++k) {
    int end = static_cast<int>(profile.segments.size());
    if (k < cuts.size()) {
      auto it = std::find_if(profile.cuts.begin(), profile.cuts.end(),
                             [&](const CutPoint& c) { return c.position == cuts[k]; });
      if (it == profile.cuts.end())
        return Status::InvalidArgument("cut " + std::to_string(cuts[k]) + " is not a valid cut of " +
                                       profile.model_path);
      end = static_cast<int>(it - profile.cuts.begin()) + 1;
    }
    if (end <= begin) return Status::InvalidArgument("cuts must be ascending");
    plan.stages.push_back(PlanStage{nodes[k], begin, end});
    begin = end;
  }
  return plan;
}

std::vector<std::string> PlanWorkers(const ClusterConfig& cluster, const Plan& plan) {
  std::vector<std::string> names;
  for (const auto& s : plan.stages) names.push_back(cluster.workers[s.node].name);
  return names;
}

std::pair<int, int> StageNodes(const ModelProfile& profile, const PlanStage& s) {
  return {profile.segments[s.begin].begin, profile.segments[s.end - 1].end};
}

std::string FormatPlan(const ModelProfile& profile, const ClusterConfig& cluster, const PlanResult& r) {
  const auto& ev = r.evaluation;
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof buf, "plan: %zu stage(s) on %zu worker(s), algorithm %s%s, solved in %.3f s\n\n",
                r.plan.stages.size(), cluster.workers.size(), r.algorithm.c_str(), r.exact ? " (exact)" : "",
                r.solve_s);
  out += buf;
  if (cluster.network.measured_links > 0) {
    // The matrix covers the config's workers (a plan may show only some).
    const size_t m = cluster.network.measured_bandwidth_mbps.size();
    const size_t links = m * (m - 1);
    std::snprintf(buf, sizeof buf, "links: %zu of %zu measured (%s)%s\n\n", cluster.network.measured_links, links,
                  cluster.network.links.c_str(),
                  cluster.network.measured_links < links ? "; the others as the config says" : "");
    out += buf;
  }
  out += "stage  worker            nodes       transfer in ms   compute ms   (moving ms)   memory\n";
  for (size_t k = 0; k < r.plan.stages.size(); ++k) {
    const auto& s = r.plan.stages[k];
    const auto [first, end] = StageNodes(profile, s);
    const std::string nodes = std::to_string(first) + "-" + std::to_string(end - 1);
    std::snprintf(buf, sizeof buf, "%5zu  %-16s  %-10s %15.3f %12.3f %13.3f   %s\n", k,
                  cluster.workers[s.node].name.c_str(), nodes.c_str(), ev.transfer_s[k] * 1e3, ev.compute_s[k] * 1e3,
                  ev.move_s[k] * 1e3, FormatBytes(ev.memory_bytes[k]).c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "last hop to the dispatcher %.3f ms\n\nbottleneck: %s, %.3f ms\npredicted throughput %.2f "
                "inferences/s, latency %.1f ms\n",
                ev.transfer_s.back() * 1e3, ev.bottleneck.c_str(), ev.bottleneck_s * 1e3, ev.throughput(),
                ev.latency_s * 1e3);
  out += buf;
  if (!r.exact) {
    const bool latency = r.objective == Objective::kLatency;
    const double value = latency ? ev.latency_s : ev.bottleneck_s;
    std::snprintf(buf, sizeof buf, "lower bound on the least %s %.3f ms (gap at most %.1f%%)\n",
                  latency ? "latency" : "bottleneck", r.lower_bound_s * 1e3,
                  r.lower_bound_s > 0 ? 100.0 * (value / r.lower_bound_s - 1) : 0.0);
    out += buf;
  }
  return out;
}

}  // namespace tandem
