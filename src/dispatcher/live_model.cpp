#include "dispatcher/live_model.h"

#include <algorithm>
#include <cmath>

namespace tandem {

LiveCostModel::LiveCostModel(size_t workers, double weight) : workers_(workers), weight_(weight) {}

double LiveCostModel::CommonDrift() const {
  if (!settled_ || plan_.size() < kCommonModeWorkers) return 0;
  std::vector<double> d;
  for (size_t w : plan_) d.push_back(workers_[w].mean - workers_[w].baseline);
  std::sort(d.begin(), d.end());
  const size_t n = d.size();
  return n % 2 ? d[n / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
}

void LiveCostModel::NewPlan(const std::vector<size_t>& workers, bool adapted) {
  const double common = CommonDrift();
  if (settled_)
    for (size_t w : plan_) {
      const double d = workers_[w].mean - workers_[w].baseline - common;
      if (adapted || std::abs(d) > std::log(kKeepDrift)) workers_[w].drift += d;
    }
  for (size_t w : workers) {
    if (w >= workers_.size()) continue;
    Estimate& e = workers_[w];
    e.mean = e.var = e.baseline = 0;
    e.samples = e.skipped = 0;
  }
  plan_.clear();
  for (size_t w : workers)
    if (w < workers_.size()) plan_.push_back(w);
  settled_ = false;
}

void LiveCostModel::Observe(size_t worker, double predicted_s, double measured_s) {
  if (worker >= workers_.size() || !(predicted_s > 0) || !(measured_s > 0) || !std::isfinite(predicted_s) ||
      !std::isfinite(measured_s))
    return;
  Estimate& e = workers_[worker];
  if (e.skipped < kWarmupSamples) {
    ++e.skipped;
    return;
  }
  const double x = std::log(measured_s / predicted_s);
  ++e.samples;
  // Exponentially weighted mean and variance (West's incremental form); a
  // plain mean while there are fewer than 1 / weight samples, so the first
  // ones do not weigh on it for long.
  const double w = std::max(weight_, 1.0 / e.samples);
  const double d = x - e.mean;
  e.mean += w * d;
  e.var = (1 - w) * (e.var + w * d * d);
}

bool LiveCostModel::Settle(int min_samples) {
  if (settled_ || plan_.empty()) return settled_;
  for (size_t w : plan_)
    if (workers_[w].samples < min_samples) return false;
  for (size_t w : plan_) workers_[w].baseline = workers_[w].mean;
  settled_ = true;
  return true;
}

double LiveCostModel::Slowdown(size_t worker) const {
  return worker < workers_.size() && workers_[worker].samples > 0 ? std::exp(workers_[worker].mean) : 1.0;
}

double LiveCostModel::Spread(size_t worker) const {
  return worker < workers_.size() ? std::sqrt(workers_[worker].var) : 0.0;
}

double LiveCostModel::Drift(size_t worker) const {
  if (worker >= workers_.size()) return 1.0;
  const Estimate& e = workers_[worker];
  bool in_plan = false;
  for (size_t w : plan_) in_plan |= w == worker;
  return std::exp(e.drift + (settled_ && in_plan ? e.mean - e.baseline - CommonDrift() : 0.0));
}

void LiveCostModel::Reset(size_t worker) {
  if (worker >= workers_.size()) return;
  workers_[worker] = Estimate();
  // Its stage, if it still has one, is measured afresh: the plan settles again.
  if (std::find(plan_.begin(), plan_.end(), worker) != plan_.end()) settled_ = false;
}

PlanProblem LiveCostModel::Corrected(const PlanProblem& p) const {
  PlanProblem c = p;
  for (size_t n = 0; n < c.nodes.size(); ++n) {
    // Drift within kKeepDrift is noise (as for carrying it into a new plan):
    // small ones, each under it, must not add up to a plan that looks faster.
    double f = Drift(n);
    if (std::abs(std::log(f)) < std::log(kKeepDrift)) f = 1;
    c.nodes[n].speed /= f;
    c.nodes[n].move_s_per_byte *= f;
    if (n < c.segment_time.size())
      for (double& t : c.segment_time[n]) t *= f;
  }
  return c;
}

bool AdaptPolicy::Due(Clock::time_point now, double running_s, double best_s, bool trusted) {
  gain_ = running_s > 0 && best_s > 0 ? 1 - best_s / running_s : 0;
  const bool better = o_.enabled && trusted && gain_ > o_.threshold;
  if (!better) {
    better_since_.reset();
    return false;
  }
  if (!better_since_) better_since_ = now;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  if (seconds(now - *better_since_) < o_.dwell_s) return false;
  const double cooldown = o_.cooldown_s < 0 ? 3 * o_.dwell_s : o_.cooldown_s;
  if (migrated_at_ && seconds(now - *migrated_at_) < cooldown) return false;
  return true;
}

void AdaptPolicy::Migrated(Clock::time_point now) {
  migrated_at_ = now;
  better_since_.reset();
}

}  // namespace tandem
