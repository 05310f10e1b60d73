#include "dispatcher/live_model.h"

#include <algorithm>
#include <cmath>
#include <iterator>

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

void LiveCostModel::NewPlan(const std::vector<size_t>& workers, bool adapted, const std::vector<size_t>& unchanged) {
  const auto goes_on = [&](size_t w) {
    return std::find(unchanged.begin(), unchanged.end(), w) != unchanged.end() &&
           std::find(plan_.begin(), plan_.end(), w) != plan_.end() &&
           std::find(workers.begin(), workers.end(), w) != workers.end();
  };
  const double common = CommonDrift();
  for (size_t w : plan_) {
    Estimate& e = workers_[w];
    if (goes_on(w)) {  // its drift stays in its estimate
      if (settled_) e.carried = true;
      continue;
    }
    if (!settled_ && !e.carried) continue;  // no baseline to measure drift from
    const double d = e.mean - e.baseline - (settled_ ? common : 0.0);
    if (adapted || std::abs(d) > std::log(kKeepDrift)) e.drift += d;
  }
  for (size_t w : workers) {
    if (w >= workers_.size() || goes_on(w)) continue;
    Estimate& e = workers_[w];
    e.carried = false;
    e.mean = e.var = e.baseline = 0;
    e.best = std::numeric_limits<double>::infinity();
    e.samples = e.skipped = 0;
  }
  plan_.clear();
  for (size_t w : workers)
    if (w < workers_.size()) plan_.push_back(w);
  plan_links_.clear();
  if (!plan_.empty()) {
    plan_links_.push_back({kDispatcher, plan_.front()});
    for (size_t i = 1; i < plan_.size(); ++i) plan_links_.push_back({plan_[i - 1], plan_[i]});
    plan_links_.push_back({plan_.back(), kDispatcher});
  }
  for (const Link& l : plan_links_) links_[l].skipped = 0;  // its first transfers set up the connection
  settled_ = false;
}

void LiveCostModel::ObserveLink(size_t from, size_t to, uint64_t bytes, double seconds) {
  const Link link{from, to};
  if (bytes == 0 || !(seconds > 0) || !std::isfinite(seconds) ||
      std::find(plan_links_.begin(), plan_links_.end(), link) == plan_links_.end())
    return;
  LinkEstimate& e = links_[link];
  if (e.skipped < kWarmupSamples) {
    ++e.skipped;
    return;
  }
  ++e.samples;
  e.recent.emplace_back(seconds, static_cast<double>(bytes));
  if (e.recent.size() > kLinkWindow) e.recent.pop_front();
  // The least time of the window, with its frame's size: waiting only adds.
  const auto least = std::min_element(e.recent.begin(), e.recent.end());
  e.seconds = least->first;
  e.bytes = least->second;
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
  ++e.samples;
  // Exponentially weighted mean and variance (West's incremental form); a
  // plain mean while there are fewer than 1 / weight samples, so the first
  // ones do not weigh on it for long.
  const double x = std::log(measured_s / predicted_s);
  const double w = std::max(weight_, 1.0 / e.samples);
  const double d = x - e.mean;
  e.mean += w * d;
  e.var = (1 - w) * (e.var + w * d * d);
  // The baseline is the least the mean has been in this plan, once it
  // averages 1 / weight samples: a worker that slowed after its new stage
  // started, before the plan settled, is slower than its baseline.
  if (e.samples >= static_cast<int>(1 / weight_)) e.best = std::min(e.best, e.mean);
  if (settled_ && std::find(plan_.begin(), plan_.end(), worker) != plan_.end())
    e.baseline = std::min(e.baseline, e.best);
}

double LiveCostModel::Planned(const PlanProblem& p, const Link& link, double bytes, bool bandwidth_only) {
  const size_t endpoints = std::min(p.bandwidth.size(), p.latency.size());
  const auto index = [&](size_t i) { return i == kDispatcher ? endpoints - 1 : i; };
  const size_t a = index(link.first), b = index(link.second);
  if (endpoints == 0 || a >= endpoints || b >= endpoints || a == b || b >= p.bandwidth[a].size() ||
      b >= p.latency[a].size() || !(p.bandwidth[a][b] > 0))
    return 0;
  return bytes / p.bandwidth[a][b] + (bandwidth_only ? 0.0 : p.latency[a][b]);
}

double LiveCostModel::Ratio(const PlanProblem& p, const Link& link, const LinkEstimate& e) {
  const double planned = Planned(p, link, e.bytes, false);
  return planned > 0 ? e.seconds / planned : 1;
}

bool LiveCostModel::BandwidthBound(const PlanProblem& p, const Link& link, const LinkEstimate& e) {
  return Measured(e) && Planned(p, link, e.bytes, true) >= kBandwidthBoundS;
}

double LiveCostModel::TypicalLinkRatio(const PlanProblem& p) const {
  std::vector<double> r;
  for (const auto& [link, e] : links_)
    if (BandwidthBound(p, link, e)) r.push_back(Ratio(p, link, e));
  if (r.empty()) return 1;
  std::sort(r.begin(), r.end());
  const size_t n = r.size();
  const double typical = n < 3 ? r.front() : n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
  return std::max(1.0, typical);
}

double LiveCostModel::LinkSlowdown(const PlanProblem& p, size_t from, size_t to) const {
  return LinkSlowdown(p, from, to, TypicalLinkRatio(p));
}

double LiveCostModel::LinkSlowdown(const PlanProblem& p, size_t from, size_t to, double typical) const {
  double relative = 1;
  auto it = links_.find({from, to});
  if (it != links_.end() && Measured(it->second)) relative = Ratio(p, it->first, it->second) / typical;
  for (auto o = links_.lower_bound({from, 0}); o != links_.end() && o->first.first == from; ++o)
    if (BandwidthBound(p, o->first, o->second)) relative = std::max(relative, Ratio(p, o->first, o->second) / typical);
  return typical * (relative > kLinkSlow ? relative : 1.0);
}

std::vector<LiveCostModel::SlowLink> LiveCostModel::SlowLinks(const PlanProblem& p) const {
  const double typical = TypicalLinkRatio(p);
  std::vector<SlowLink> out;
  for (const auto& [link, e] : links_) {
    if (!Measured(e)) continue;
    const double r = Ratio(p, link, e);
    if (r / typical > kLinkSlow) out.push_back({link.first, link.second, r, r / typical});
  }
  return out;
}

bool LiveCostModel::Settle(int min_samples) {
  if (settled_ || plan_.empty()) return settled_;
  for (size_t w : plan_)
    if (workers_[w].samples < min_samples) return false;
  for (size_t w : plan_) workers_[w].baseline = std::min(workers_[w].mean, workers_[w].best);
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
  const bool measured = in_plan && (settled_ || e.carried);
  return std::exp(e.drift + (measured ? e.mean - e.baseline - CommonDrift() : 0.0));
}

void LiveCostModel::Reset(size_t worker) {
  if (worker >= workers_.size()) return;
  workers_[worker] = Estimate();
  for (auto it = links_.begin(); it != links_.end();)
    it = it->first.first == worker || it->first.second == worker ? links_.erase(it) : std::next(it);
  // Its stage, if it still has one, is measured afresh: the plan settles again.
  if (std::find(plan_.begin(), plan_.end(), worker) != plan_.end()) settled_ = false;
}

PlanProblem LiveCostModel::Corrected(const PlanProblem& p) const {
  PlanProblem c = p;
  for (size_t n = 0; n < c.nodes.size(); ++n) {
    // Drift within kKeepDrift is noise (as for carrying it into a new plan):
    // small ones, each under it, must not add up to a plan that looks faster.
    // And a worker faster than it was is not trusted to stay so (see above).
    double f = Drift(n);
    if (f < kKeepDrift) f = 1;
    c.nodes[n].speed /= f;
    c.nodes[n].move_s_per_byte *= f;
    if (n < c.segment_time.size())
      for (double& t : c.segment_time[n]) t *= f;
  }
  const size_t endpoints = std::min(c.bandwidth.size(), c.latency.size());
  const auto index = [&](size_t i) { return i + 1 == endpoints ? kDispatcher : i; };
  const double typical = TypicalLinkRatio(p);
  for (size_t a = 0; a < endpoints; ++a)
    for (size_t b = 0; b < endpoints && b < c.bandwidth[a].size() && b < c.latency[a].size(); ++b) {
      if (a == b) continue;
      const double f = LinkSlowdown(p, index(a), index(b), typical);
      if (f == 1.0) continue;
      c.bandwidth[a][b] /= f;
      c.latency[a][b] *= f;
    }
  return c;
}

bool LiveCostModel::LargeChange(const PlanProblem& p) const {
  for (size_t w = 0; w < workers_.size(); ++w)
    if (Drift(w) >= kLargeDrift) return true;
  for (const auto& l : SlowLinks(p))
    if (l.relative >= kLargeLink) return true;
  return false;
}

bool AdaptPolicy::Due(Clock::time_point now, double running_s, double best_s, bool trusted, bool large, double rate,
                      double predicted_rate) {
  gain_ = running_s > 0 && best_s > 0 ? 1 - best_s / running_s : 0;
  const bool gain = o_.enabled && trusted && gain_ > o_.threshold;
  // The median, once there are enough looks; the prediction before.
  double reference = predicted_rate > 0 ? predicted_rate : -1;
  if (static_cast<int>(reference_rates_.size()) >= kReferenceLooks) {
    std::vector<double> r = reference_rates_;
    std::nth_element(r.begin(), r.begin() + r.size() / 2, r.end());
    reference = r[r.size() / 2];
  }
  const bool shown = rate < 0 || reference < 0 || rate < (1 - o_.threshold) * reference;
  // A look joins the reference unless it saw a gain that the stream shows
  // (that is what the reference is to be compared with); idle looks (no
  // results) measure nothing.
  if (trusted && rate > 0 && (!gain || !shown)) {
    if (reference_rates_.size() >= kReferenceKept) reference_rates_.erase(reference_rates_.begin());
    reference_rates_.push_back(rate);
  }
  const bool better = gain && shown;
  if (!better) {
    better_since_.reset();
    return false;
  }
  if (!better_since_) better_since_ = now;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  if (seconds(now - *better_since_) < (large ? o_.dwell_s : o_.SmallDwellSeconds())) return false;
  const double cooldown = o_.cooldown_s < 0 ? 3 * o_.dwell_s : o_.cooldown_s;
  if (migrated_at_ && seconds(now - *migrated_at_) < cooldown) return false;
  return true;
}

void AdaptPolicy::Migrated(Clock::time_point now) {
  migrated_at_ = now;
  better_since_.reset();
  reference_rates_.clear();
}

double ShipSeconds(const PlanProblem& p, const Plan& running, const Plan& next) {
  const size_t d = p.nodes.size();  // the dispatcher's row
  double seconds = 0;
  for (const PlanStage& s : next.stages) {
    const bool held = std::find(running.stages.begin(), running.stages.end(), s) != running.stages.end();
    if (held || s.node < 0) continue;
    double bytes = 0;
    for (int k = std::max(0, s.begin); k < s.end && static_cast<size_t>(k) < p.segments.size(); ++k)
      bytes += static_cast<double>(p.segments[k].param_bytes);
    const size_t n = static_cast<size_t>(s.node);
    if (d < p.bandwidth.size() && n < p.bandwidth[d].size() && p.bandwidth[d][n] > 0)
      seconds += bytes / p.bandwidth[d][n];
    if (d < p.latency.size() && n < p.latency[d].size()) seconds += p.latency[d][n];
  }
  return seconds;
}

bool MigrationRepays(double running_s, double best_s, int64_t requests_left, double ship_s) {
  if (requests_left < 0) return true;
  const double left = static_cast<double>(requests_left) - (running_s > 0 ? ship_s / running_s : 0);
  return left > 0 && left * (running_s - best_s) > ship_s;
}

}  // namespace tandem
