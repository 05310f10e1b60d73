// Planner benchmark after SEIFER's simulation: nodes uniform in a 150 m x
// 150 m square, link bandwidth log2(1 + 283230 / d^2) Mbit/s between nodes d
// metres apart (d >= 1 m), the dispatcher at a random point too, no latency.
// Uniform instances: every node speed 1.0 and the same memory cap; mixed:
// speeds in [0.5, 2] and caps scaled by [0.5, 1.5]. Segments come from
// profiles measured with `tandem-dispatcher profile --out`.
//
// For each algorithm: the bottleneck relative to the optimum (exact search
// within --exact-deadline), or to the best proven lower bound where the
// exact search does not finish; and the solve time.
//
// Usage: planner_bench [--repeats R] [--exact-deadline S] PROFILE.json...
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/model/profile.h"
#include "common/plan/planner.h"
#include "dispatcher/planning.h"

using namespace tandem;

namespace {

// `with_io`: the dispatcher's own transfers count (tandem's problem); without,
// its links are free, as in SEIFER's simulation, which ignores them.
PlanProblem Instance(const ModelProfile& prof, int n, double cap_mb, bool mixed, bool with_io, std::mt19937& rng) {
  std::uniform_real_distribution<double> pos(0, 150), u(0, 1);
  PlanProblem p;
  p.segments = PlanSegments(prof);
  p.input_bytes = prof.input_bytes;
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
      const double d = std::max(1.0, std::hypot(xy[i].first - xy[j].first, xy[i].second - xy[j].second));
      p.bandwidth[i][j] = std::log2(1 + 283230 / (d * d)) * 1e6 / 8;  // bytes per second
      if (!with_io && (i == n || j == n)) p.bandwidth[i][j] = 1e18;
    }
  return p;
}

struct Stats {
  int runs = 0, solved = 0;
  double sum_ratio = 0, max_ratio = 0, max_time = 0, sum_time = 0;
  int worse_than_baseline = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  double exact_deadline = 10;
  std::vector<std::string> files;
  CLI::App app{"planner_bench: every planning algorithm on random clusters for each profile"};
  app.add_option("--repeats", repeats, "random clusters per setting")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--exact-deadline", exact_deadline, "seconds the exact search may take")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("profiles", files, "profiles written by `tandem-dispatcher profile --out`")->required();
  CLI11_PARSE(app, argc, argv);
  const std::vector<int> sizes = {5, 10, 15, 20, 50, 100, 200};
  const std::vector<double> caps = {64, 128, 256, 512};
  const std::vector<std::string> algos = {"optimal", "auto", "fast", "seifer", "greedy", "random"};
  std::printf(
      "| model | setting | nodes | feasible | reference | optimal max s | auto mean / max | auto max s | "
      "fast mean / max | fast max s | seifer mean / max | greedy mean / max | random mean |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int auto_worse = 0, fast_over_2pct = 0, fast_compared = 0;
  double fast_lb_gap_200 = 0;
  for (const auto& file : files) {
    auto prof = ReadProfile(file);
    if (!prof.ok()) {
      std::fprintf(stderr, "%s\n", prof.status().ToString().c_str());
      return 1;
    }
    std::string model = file.substr(file.find_last_of('/') + 1);
    model = model.substr(0, model.find('.'));
    for (int setting = 0; setting < 3; ++setting) {
      const bool mixed = setting == 2;
      const bool with_io = setting >= 1;
      const char* setting_name = setting == 0 ? "SEIFER (no dispatcher I/O)" : setting == 1 ? "uniform" : "mixed";
      for (int n : sizes) {
        std::map<std::string, Stats> stats;
        int exact_refs = 0, lb_refs = 0;
        std::mt19937 rng(1000 * n + setting);
        for (double cap : caps) {
          for (int r = 0; r < repeats; ++r) {
            PlanProblem p = Instance(prof.value(), n, cap, mixed, with_io, rng);
            std::map<std::string, Result<PlanResult>> res;
            for (const auto& a : algos) {
              PlannerOptions o;
              o.deadline_s = exact_deadline;
              o.seed = r + 1;
              if (a == "optimal" && n > 40) continue;
              res.emplace(a, MakePlanner(a).value()->Solve(p, o));
            }
            // The reference: the optimum if proven, else the best lower bound.
            double ref = 0;
            bool exact = false;
            auto opt = res.find("optimal");
            if (opt != res.end() && opt->second.ok()) {
              ref = opt->second->evaluation.bottleneck_s;
              exact = true;
            } else {
              for (auto& [a, rr] : res)
                if (rr.ok()) ref = std::max(ref, rr->lower_bound_s);
            }
            if (ref <= 0) continue;  // infeasible for everyone
            exact ? ++exact_refs : ++lb_refs;
            double baseline = 1e300;
            for (const char* b : {"greedy", "seifer"})
              if (res.count(b) && res.at(b).ok()) baseline = std::min(baseline, res.at(b)->evaluation.bottleneck_s);
            for (auto& [a, rr] : res) {
              auto& st = stats[a];
              ++st.runs;
              if (!rr.ok()) continue;
              ++st.solved;
              const double ratio = rr->evaluation.bottleneck_s / ref;
              st.sum_ratio += ratio;
              st.max_ratio = std::max(st.max_ratio, ratio);
              st.sum_time += rr->solve_s;
              st.max_time = std::max(st.max_time, rr->solve_s);
              if (a == "auto" && rr->evaluation.bottleneck_s > baseline * (1 + 1e-9)) ++auto_worse;
              if (a == "fast" && exact) {
                ++fast_compared;
                if (ratio > 1.02) ++fast_over_2pct;
              }
              if (a == "fast" && n == 200)
                fast_lb_gap_200 = std::max(fast_lb_gap_200, rr->evaluation.bottleneck_s / rr->lower_bound_s);
            }
          }
        }
        auto cell = [&](const char* a, bool time) -> std::string {
          auto it = stats.find(a);
          char buf[64];
          if (it == stats.end() || it->second.solved == 0) return "-";
          const auto& st = it->second;
          if (time)
            std::snprintf(buf, sizeof buf, "%.3f", st.max_time);
          else
            std::snprintf(buf, sizeof buf, "%.4f / %.4f", st.sum_ratio / st.solved, st.max_ratio);
          return buf;
        };
        auto random_mean = [&]() -> std::string {
          auto it = stats.find("random");
          if (it == stats.end() || it->second.solved == 0) return "-";
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.2f", it->second.sum_ratio / it->second.solved);
          return buf;
        };
        const int feasible = exact_refs + lb_refs;
        std::printf("| %s | %s | %d | %d/%d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", model.c_str(),
                    setting_name, n, feasible, static_cast<int>(caps.size()) * repeats,
                    feasible == 0     ? "-"
                    : lb_refs == 0    ? "optimum"
                    : exact_refs == 0 ? "lower bound"
                                      : "mixed",
                    n <= 40 ? cell("optimal", true).c_str() : "n/a", cell("auto", false).c_str(),
                    cell("auto", true).c_str(), cell("fast", false).c_str(), cell("fast", true).c_str(),
                    cell("seifer", false).c_str(), cell("greedy", false).c_str(), random_mean().c_str());
        std::fflush(stdout);
      }
    }
  }
  std::printf(
      "\nauto worse than greedy or seifer: %d instance(s); fast more than 2%% above the optimum: %d of %d; "
      "largest fast/lower-bound ratio at 200 nodes: %.4f\n",
      auto_worse, fast_over_2pct, fast_compared, fast_lb_gap_200);
  return 0;
}
