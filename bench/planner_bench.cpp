// Planner benchmark: every planning algorithm on families of random clusters.
//
// Easy families, after SEIFER's simulation (--families easy): nodes uniform
// in a 150 m x 150 m square, link bandwidth log2(1 + 283230 / d^2) Mbit/s
// between nodes d metres apart (d >= 1 m), the dispatcher at a random point,
// no latency, memory caps of 64-512 MB. "seifer": the dispatcher's links are
// free (as in the paper); "uniform": every speed 1.0, one cap; "mixed":
// speeds in [0.5, 2], caps scaled by [0.5, 1.5].
//
// Hard families (--families hard): speeds in [0.5, 2]; each worker's memory
// 25-80% of the model's weights, so a plan needs several stages and memory
// decides where cuts go; the dispatcher in the middle of the field; the same
// geometry with bandwidths scaled so that moving a typical activation over
// a typical link takes about as long as a worker's fair share of the
// compute (times a random factor in [0.5, 2]); latencies 0-2 ms.
// "hard-synthetic": S segments of a CNN-like model drawn at random
// (activations shrinking and weights growing with depth); "hard-MODEL": the
// segments of a measured profile; "hard-links-synthetic" (up to 20
// workers): as hard-synthetic, but every link drawn on its own, no
// geometry (so no worker is better placed than another, and the best plans
// use every worker).
//
// For each algorithm: the bottleneck relative to the optimum (the exact
// search within --exact-deadline), or to the best proven lower bound where
// the exact search does not finish; and solve times.
//
// Usage: planner_bench [--repeats R] [--exact-deadline S] [--families easy,hard] [--sizes ...] PROFILE.json...
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/model/profile.h"
#include "common/plan/planner.h"
#include "dispatcher/planning.h"

using namespace tandem;

namespace {

struct BenchModel {
  std::string name;
  std::vector<PlanSegment> segments;
  uint64_t input_bytes = 0;
};

double Seifer(double d) { return std::log2(1 + 283230 / (d * d)) * 1e6 / 8; }  // bytes per second

// Easy: `with_io` false makes the dispatcher's links free, as in SEIFER's
// simulation, which ignores them.
PlanProblem EasyInstance(const BenchModel& m, int n, double cap_mb, bool mixed, bool with_io, std::mt19937& rng) {
  std::uniform_real_distribution<double> pos(0, 150), u(0, 1);
  PlanProblem p;
  p.segments = m.segments;
  p.input_bytes = m.input_bytes;
  std::vector<std::pair<double, double>> xy;
  for (int i = 0; i <= n; ++i) xy.emplace_back(pos(rng), pos(rng));  // the last is the dispatcher
  for (int i = 0; i < n; ++i) {
    PlanNode node;
    node.name = "n" + std::to_string(i);
    node.speed = mixed ? 0.5 + 1.5 * u(rng) : 1.0;
    node.memory_bytes = static_cast<uint64_t>(cap_mb * (mixed ? 0.5 + u(rng) : 1.0) * 1e6);
    p.nodes.push_back(node);
  }
  p.bandwidth.assign(n + 1, std::vector<double>(n + 1, 0));
  p.latency.assign(n + 1, std::vector<double>(n + 1, 0));
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n; ++j) {
      if (i == j) continue;
      p.bandwidth[i][j] = Seifer(std::max(1.0, std::hypot(xy[i].first - xy[j].first, xy[i].second - xy[j].second)));
      if (!with_io && (i == n || j == n)) p.bandwidth[i][j] = 1e18;
    }
  return p;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// `geometric` false: every link drawn on its own (no positions), uniform in
// [0.2, 2.2] times the same typical bandwidth.
PlanProblem HardInstance(const BenchModel& m, int n, std::mt19937& rng, bool geometric = true) {
  std::uniform_real_distribution<double> pos(0, 150), u(0, 1);
  PlanProblem p;
  p.segments = m.segments;
  p.input_bytes = m.input_bytes;
  uint64_t weights = 0;
  double work = 0;
  for (const auto& s : p.segments) weights += s.param_bytes, work += s.compute_s;
  double speeds = 0;
  for (int i = 0; i < n; ++i) {
    PlanNode node;
    node.name = "n" + std::to_string(i);
    node.speed = 0.5 + 1.5 * u(rng);
    node.memory_bytes = static_cast<uint64_t>((0.25 + 0.55 * u(rng)) * static_cast<double>(weights)) + (1 << 20);
    speeds += node.speed;
    p.nodes.push_back(node);
  }
  std::vector<std::pair<double, double>> xy;
  for (int i = 0; i < n; ++i) xy.emplace_back(pos(rng), pos(rng));
  xy.emplace_back(75, 75);  // the dispatcher
  p.bandwidth.assign(n + 1, std::vector<double>(n + 1, 0));
  p.latency.assign(n + 1, std::vector<double>(n + 1, 0));
  std::vector<double> bws, acts;
  for (int i = 0; i <= n; ++i)
    for (int j = 0; j <= n; ++j)
      if (i != j) {
        p.bandwidth[i][j] = Seifer(std::max(1.0, std::hypot(xy[i].first - xy[j].first, xy[i].second - xy[j].second)));
        p.latency[i][j] = 0.002 * u(rng);
        bws.push_back(p.bandwidth[i][j]);
      }
  if (!geometric)
    for (auto& row : p.bandwidth)
      for (auto& b : row) b = Median(bws) * (0.2 + 2 * u(rng));
  for (const auto& s : p.segments) acts.push_back(static_cast<double>(s.out_bytes));
  // A typical activation over a typical link ~ a fair share of the compute.
  const double scale = Median(acts) / Median(bws) / (work / speeds) * (0.5 + 1.5 * u(rng));
  for (auto& row : p.bandwidth)
    for (auto& b : row) b *= scale;
  return p;
}

// A CNN-like model: activations shrink and weights grow with depth.
BenchModel SyntheticModel(int segments, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  std::lognormal_distribution<double> compute(0, 0.7);
  BenchModel m;
  m.name = "synthetic";
  m.input_bytes = 602112;
  for (int s = 0; s < segments; ++s) {
    const double depth = static_cast<double>(s) / segments;
    PlanSegment seg;
    seg.compute_s = 1.0 / segments * compute(rng);
    seg.param_bytes = u(rng) < 0.3 ? 0 : static_cast<uint64_t>(2e5 * std::exp(4 * depth) * (0.2 + 1.6 * u(rng)));
    seg.out_bytes = static_cast<uint64_t>(3.2e6 * std::exp(-3 * depth) * (0.5 + u(rng)));
    m.segments.push_back(seg);
  }
  return m;
}

struct Cell {
  std::vector<double> exact_times;  // optimal's solve times where it proved the optimum
  int instances = 0, feasible = 0, exact = 0;
  std::map<std::string, std::vector<double>> gaps;  // algorithm -> bottleneck / reference
  std::map<std::string, double> max_time;
};

struct Totals {
  int auto_worse_than_fast = 0, auto_worse_than_baseline = 0, fast_compared = 0, fast_over_2pct = 0;
  double fast_worst_exact = 1, fast_worst_bound_200 = 1, optimal_worst_16x120 = 0, optimal_worst_20x120 = 0;
  int optimal_unsolved_16x120 = 0, optimal_unsolved_20x120 = 0;
  double fast_max_time = 0, auto_max_time = 0;
};

const std::vector<std::string> kAlgos = {"optimal", "auto", "fast", "seifer", "greedy", "random"};

void Run(const PlanProblem& p, double exact_deadline, int seed, int segments, Cell* cell, Totals* t) {
  ++cell->instances;
  const int n = static_cast<int>(p.nodes.size());
  std::map<std::string, Result<PlanResult>> res;
  for (const auto& a : kAlgos) {
    if (a == "optimal" && n > 40) continue;
    PlannerOptions o;
    if (a == "optimal") o.deadline_s = exact_deadline;  // the others keep the default (2 s)
    o.seed = seed;
    res.emplace(a, MakePlanner(a).value()->Solve(p, o));
  }
  double ref = 0;
  bool exact = false;
  auto opt = res.find("optimal");
  if (opt != res.end() && opt->second.ok() && opt->second->exact) {
    ref = opt->second->evaluation.bottleneck_s;
    exact = true;
    cell->exact_times.push_back(opt->second->solve_s);
  } else {
    for (auto& [a, r] : res)
      if (r.ok()) ref = std::max(ref, r->lower_bound_s);
  }
  if (n >= 16 && segments >= 120 && opt != res.end()) {
    if (!exact) ++(n >= 20 ? t->optimal_unsolved_20x120 : t->optimal_unsolved_16x120);
    if (exact) {
      double& worst = n >= 20 ? t->optimal_worst_20x120 : t->optimal_worst_16x120;
      worst = std::max(worst, opt->second->solve_s);
    }
  }
  if (ref <= 0) return;  // infeasible for everyone
  ++cell->feasible;
  cell->exact += exact;
  double baseline = 1e300;
  for (const char* b : {"greedy", "seifer"})
    if (res.count(b) && res.at(b).ok()) baseline = std::min(baseline, res.at(b)->evaluation.bottleneck_s);
  for (auto& [a, r] : res) {
    if (!r.ok()) continue;
    const double gap = r->evaluation.bottleneck_s / ref;
    cell->gaps[a].push_back(gap);
    cell->max_time[a] = std::max(cell->max_time[a], r->solve_s);
  }
  if (res.count("auto") && res.at("auto").ok()) {
    const double a = res.at("auto")->evaluation.bottleneck_s;
    if (a > baseline * (1 + 1e-9)) ++t->auto_worse_than_baseline;
    if (res.at("fast").ok() && a > res.at("fast")->evaluation.bottleneck_s * (1 + 1e-9)) ++t->auto_worse_than_fast;
    t->auto_max_time = std::max(t->auto_max_time, res.at("auto")->solve_s);
  }
  if (res.at("fast").ok()) {
    const auto& f = res.at("fast").value();
    t->fast_max_time = std::max(t->fast_max_time, f.solve_s);
    if (exact) {
      ++t->fast_compared;
      const double gap = f.evaluation.bottleneck_s / ref;
      t->fast_over_2pct += gap > 1.02;
      t->fast_worst_exact = std::max(t->fast_worst_exact, gap);
    }
    if (n >= 200) t->fast_worst_bound_200 = std::max(t->fast_worst_bound_200, f.evaluation.bottleneck_s / ref);
  }
}

std::string Gap(const Cell& c, const std::string& a) {
  auto it = c.gaps.find(a);
  if (it == c.gaps.end() || it->second.empty()) return "-";
  double sum = 0, mx = 0;
  for (double g : it->second) sum += g, mx = std::max(mx, g);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.4f / %.4f", sum / it->second.size(), mx);
  return buf;
}

std::string Seconds(const Cell& c, const std::string& a) {
  auto it = c.max_time.find(a);
  if (it == c.max_time.end()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", it->second);
  return buf;
}

std::string ExactTimes(const Cell& c, int n) {
  if (n > 40) return "n/a";
  std::vector<double> t = c.exact_times;
  if (t.empty()) return "0 solved";
  std::sort(t.begin(), t.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, "%d/%d: %.3f / %.3f / %.3f", static_cast<int>(t.size()), c.feasible, t[t.size() / 2],
                t[std::min(t.size() - 1, t.size() * 9 / 10)], t.back());
  return buf;
}

void Row(const std::string& family, int n, int segments, const Cell& c) {
  std::printf("| %s | %d | %d | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s |\n", family.c_str(), n, segments,
              c.feasible, c.instances, ExactTimes(c, n).c_str(), Gap(c, "fast").c_str(), Seconds(c, "fast").c_str(),
              Gap(c, "auto").c_str(), Seconds(c, "auto").c_str(), Gap(c, "seifer").c_str(), Gap(c, "greedy").c_str(),
              Gap(c, "random").c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  double exact_deadline = 10;
  std::vector<std::string> families = {"easy", "hard"};
  std::vector<int> sizes = {4, 8, 12, 16, 20, 50, 100, 200};
  std::vector<int> synthetic_segments = {20, 60, 120};
  std::vector<std::string> files;
  CLI::App app{"planner_bench: every planning algorithm on random clusters"};
  app.add_option("--repeats", repeats, "random clusters per row (easy: per memory cap)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--exact-deadline", exact_deadline, "seconds the exact search may take")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--families", families, "easy, hard")->delimiter(',')->capture_default_str();
  app.add_option("--sizes", sizes, "worker counts")->delimiter(',')->capture_default_str();
  app.add_option("--synthetic-segments", synthetic_segments, "segment counts of the synthetic hard family")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("profiles", files, "profiles written by `tandem-dispatcher profile --out`");
  CLI11_PARSE(app, argc, argv);
  std::vector<BenchModel> models;
  for (const auto& file : files) {
    auto prof = ReadProfile(file);
    if (!prof.ok()) {
      std::fprintf(stderr, "%s\n", prof.status().ToString().c_str());
      return 1;
    }
    BenchModel m;
    m.name = file.substr(file.find_last_of('/') + 1);
    m.name = m.name.substr(0, m.name.find('.'));
    m.segments = PlanSegments(prof.value());
    m.input_bytes = prof->input_bytes;
    models.push_back(m);
  }
  std::printf(
      "| family | workers | segments | feasible | optimal solved: median / p90 / max s | fast mean / max | fast max s "
      "| auto mean / max | auto max s | seifer mean / max | greedy mean / max | random mean / max |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  Totals totals;
  const bool easy = std::count(families.begin(), families.end(), "easy") > 0;
  const bool hard = std::count(families.begin(), families.end(), "hard") > 0;
  if (hard) {
    for (int segments : synthetic_segments)
      for (int n : sizes) {
        Cell cell;
        std::mt19937 rng(7919 * n + segments);
        for (int r = 0; r < repeats; ++r) {
          const BenchModel m = SyntheticModel(segments, rng);
          Run(HardInstance(m, n, rng), exact_deadline, r + 1, segments, &cell, &totals);
        }
        Row("hard-synthetic", n, segments, cell);
      }
    for (int segments : synthetic_segments)
      for (int n : sizes) {
        if (n > 20) continue;  // the family for the exact search
        Cell cell;
        std::mt19937 rng(6151 * n + segments);
        for (int r = 0; r < repeats; ++r) {
          const BenchModel m = SyntheticModel(segments, rng);
          Run(HardInstance(m, n, rng, false), exact_deadline, r + 1, segments, &cell, &totals);
        }
        Row("hard-links-synthetic", n, segments, cell);
      }
    for (const auto& m : models)
      for (int n : sizes) {
        Cell cell;
        std::mt19937 rng(104729 * n + 17);
        const int segments = static_cast<int>(m.segments.size());
        for (int r = 0; r < repeats; ++r) Run(HardInstance(m, n, rng), exact_deadline, r + 1, segments, &cell, &totals);
        Row("hard-" + m.name, n, segments, cell);
      }
  }
  if (easy) {
    const std::vector<double> caps = {64, 128, 256, 512};
    const char* names[] = {"seifer", "uniform", "mixed"};
    for (const auto& m : models)
      for (int setting = 0; setting < 3; ++setting)
        for (int n : sizes) {
          Cell cell;
          std::mt19937 rng(1000 * n + setting);
          for (double cap : caps)
            for (int r = 0; r < repeats; ++r)
              Run(EasyInstance(m, n, cap, setting == 2, setting >= 1, rng), exact_deadline, r + 1,
                  static_cast<int>(m.segments.size()), &cell, &totals);
          Row(std::string("easy-") + names[setting] + "-" + m.name, n, static_cast<int>(m.segments.size()), cell);
        }
  }
  std::printf(
      "\nfast above the optimum by more than 2%%: %d of %d (worst %.4f); fast / lower bound at 200 workers: worst "
      "%.4f; fast at most %.3f s\n",
      totals.fast_over_2pct, totals.fast_compared, totals.fast_worst_exact, totals.fast_worst_bound_200,
      totals.fast_max_time);
  std::printf("optimal at 16 x 120+: slowest %.3f s, %d unsolved; at 20 x 120+: slowest %.3f s, %d unsolved\n",
              totals.optimal_worst_16x120, totals.optimal_unsolved_16x120, totals.optimal_worst_20x120,
              totals.optimal_unsolved_20x120);
  std::printf("auto worse than fast: %d; worse than greedy or seifer: %d; auto at most %.3f s\n",
              totals.auto_worse_than_fast, totals.auto_worse_than_baseline, totals.auto_max_time);
  return 0;
}
