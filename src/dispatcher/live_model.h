// What the running pipeline says about the cluster, and when to re-plan.
//
// LiveCostModel keeps, per worker, how much slower (or faster) its stage
// runs than the plan predicted: every result's timings trailer gives each
// stage's decode + compute + encode time, which is set against the
// predicted compute of that stage (its segments plus moving its
// activations) on that worker. The estimate is an exponentially weighted
// mean of log(measured / predicted), so a factor of 2 and of 1/2 weigh the
// same, with its spread.
//
// What it acts on is drift, not the plan's own error. Measured against
// predicted differs from one segment range to another (a profile is off by
// more on small segments than on large ones, co-located stages compete
// unevenly), so a factor measured on one stage says little about the same
// worker running another, and acting on it makes plans flip between shapes
// whose errors differ. So each worker's baseline is the least its factor
// has been on its current stage (the mean, once it averages 1 / weight
// samples), and the model reports, once the plan has run long enough on
// every worker (settled), how far above that the factor is now: a worker
// whose stage now takes 3x its best time there is 3x slower, whatever the
// profile said, even when it slowed before the plan settled. When a new plan
// starts, each worker's drift so far is kept (a worker left out because it
// slowed stays slow in later plans) and its estimate starts over on its new
// stage; a worker the new plan keeps on the same stage goes on with its
// estimate. A worker that runs no stage keeps its last factor.
//
// A worker that looks faster than it was (a drift below 1, from a drift
// kept from an earlier plan, or the median taken out) is not trusted to
// stay so: on a host shared with other stages, or under a CPU quota, a
// stage runs faster while its neighbours or its own receiver idle, which
// says nothing about the load a new plan would give it. Only slowdowns
// beyond kKeepDrift move stages (a worker that recovers from one comes back
// toward 1).
//
// Links are measured against the plan and against each other, not against
// a baseline: a link is often not measurable before it is the bottleneck (a
// hop into a busy stage waits for that stage, and HopSampler drops such
// samples), and a change first seen after the plan settled would become the
// baseline itself. Each hop's service time (HopSampler) and bytes are
// kept per pair of endpoints, across plans; a link's ratio is its time
// over what the problem's bandwidth and latency give for those bytes. On
// slow CPUs every hop takes several times what the link's rate says
// (encryption, copies, the kernel, all at the node's CPU share), so what
// counts is a link against the typical one: the median ratio of the
// bandwidth-bound links measured (frames of kBandwidthBoundS or more at the
// planned rate; the smallest ratio while fewer than three are), at least 1.
// Every link is
// planned at the typical ratio, and one slower than that by more than
// kLinkSlow at its own. What slows a link on the edge is mostly the
// sender's side (a shaped or shared uplink, a Wi-Fi radio), so each of a
// sender's links is planned at least as slow as the slowest bandwidth-bound
// link measured out of it: otherwise a plan that only changed its next hop
// would look like a cure, and a link measured before the change like a way
// back.
//
// Drift common to the plan's workers is not counted: with three or more,
// the median change is taken out of each one's (a load on the whole host,
// say, or every node throttling alike, changes no plan's balance), so what
// remains is how each worker moved against the others.
//
// AdaptPolicy decides when a re-plan pays: when the plan that is best under
// the drifted costs would be faster than the running one by more than a
// threshold, for longer than a dwell time, after a cool-down since the last
// migration. Threshold, dwell and cool-down together are the hysteresis.
//
// Neither class is thread-safe; the PipelineManager calls them from the
// Streamer's thread.
#pragma once

#include <chrono>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/plan/problem.h"

namespace tandem {

class LiveCostModel {
 public:
  // `workers`: the cluster's workers. `weight`: the weight of each new
  // sample in the mean (0.05: about the last 20 samples count); the first
  // 1/weight samples after the warm-up are averaged with equal weights.
  explicit LiveCostModel(size_t workers, double weight = 0.05);
  static constexpr int kWarmupSamples = 10;
  // A plan's drift on a worker is kept for later plans only beyond this
  // factor (either way), and only a slowdown beyond it is planned for; below
  // it, it is taken for noise. Without this, noise would add up from plan to
  // plan. 1.5: a host hiccup slowed one emulated node 1.42x for 15 s and a
  // 1.25 band migrated on it.
  static constexpr double kKeepDrift = 1.5;

  // A new plan runs stages on `workers` (cluster indices) from now on.
  // `adapted`: the plan replaces one because of the drift measured, which
  // is then kept whatever its size (else only beyond kKeepDrift).
  // `unchanged`: workers that run the same stage (the same segments) as in
  // the plan before; their estimates go on as they were, so a change that
  // began just before the switch is still seen against their best there,
  // not taken for the new plan's baseline.
  void NewPlan(const std::vector<size_t>& workers, bool adapted = false, const std::vector<size_t>& unchanged = {});
  // A stage on `worker` predicted to take `predicted_s` took `measured_s`.
  // Samples of 0 or less, or not finite, are ignored, and so are a worker's
  // first kWarmupSamples after NewPlan (a stage's first calls are slower).
  void Observe(size_t worker, double predicted_s, double measured_s);
  // Whether every worker of the plan has `min_samples` samples since
  // NewPlan; from the first time it does (settled), drift is reported.
  bool Settle(int min_samples);
  bool settled() const { return settled_; }

  // measured / predicted for `worker` on its current stage: 1 before any
  // sample.
  double Slowdown(size_t worker) const;
  // The spread of log(measured / predicted) over its recent samples.
  double Spread(size_t worker) const;
  int Samples(size_t worker) const { return worker < workers_.size() ? workers_[worker].samples : 0; }
  // How much slower `worker` is than its best on the stages it ran (its
  // drift; > 1: slower; the plan's common drift taken out). 1 until
  // something changed.
  double Drift(size_t worker) const;

  // `p` (over the cluster's workers) with each worker's compute and moves
  // scaled by its drift when it is slower beyond kKeepDrift, and each
  // link's transfer time (bandwidth and latency) by its LinkSlowdown.
  PlanProblem Corrected(const PlanProblem& p) const;

  // Forgets a worker and its links (it restarted: another process, maybe on
  // other hardware).
  void Reset(size_t worker);
  // The plan workers' median log drift since it settled (0 before, or with
  // fewer than kCommonModeWorkers workers): taken out of each one's.
  double CommonDrift() const;
  static constexpr size_t kCommonModeWorkers = 3;
  // Workers added to the cluster: indices up to `workers` - 1 get estimates.
  void Grow(size_t workers) {
    if (workers > workers_.size()) workers_.resize(workers);
  }

  // Links: from and to are worker indices, or kDispatcher.
  static constexpr size_t kDispatcher = static_cast<size_t>(-1);
  // Samples a link needs, after its warm-up, before it counts as measured.
  static constexpr int kLinkSamples = 10;
  // A link's time is the least of its last kLinkWindow samples (with that
  // sample's frame size). What a hop's time has beyond the link's own is
  // waiting (the sender's CPU share taken by its compute, the receiver's
  // queue), which only adds, and comes and goes; a slower link slows every
  // transfer. And links change in steps (20x when a Wi-Fi link drops): a mean
  // over many samples saw half of such a step 10 s after it, at 1.5
  // results/s, and a plan made on that half kept the slow link.
  static constexpr size_t kLinkWindow = 9;
  // A link counts as slower than the typical one beyond this factor: on
  // nodes at a small CPU share a hop's time varies with what its sender
  // computes meanwhile (medians of 9 reached 3.7x the typical link in a
  // steady emulated run), while a link that drops does so by 10x or more.
  static constexpr double kLinkSlow = 3.0;
  // A measured link whose frames take this long or longer at its planned
  // rate is bandwidth-bound: it sets the typical ratio, and its slowdown
  // speaks for its sender's other links. (Not the measured time: a link
  // that slowed would then be the only bandwidth-bound one, and typical.)
  static constexpr double kBandwidthBoundS = 0.001;
  // A hop of the current plan took `seconds` for a frame of `bytes`
  // (HopSampler). Ignored: links that are not the plan's, bad values, and
  // each link's first kWarmupSamples after NewPlan.
  void ObserveLink(size_t from, size_t to, uint64_t bytes, double seconds);
  // How much slower than `p` (over the cluster's workers, the dispatcher
  // last) plans it the link is to be planned: the typical ratio, times the
  // link's own slowdown against it or its sender's (the larger) when that
  // is beyond kKeepDrift. 1 before anything is measured.
  double LinkSlowdown(const PlanProblem& p, size_t from, size_t to) const;
  // The typical ratio (see above).
  double TypicalLinkRatio(const PlanProblem& p) const;
  struct SlowLink {
    size_t from = 0, to = 0;
    double ratio = 1;     // its time over the plan's
    double relative = 1;  // over the typical ratio
  };
  // The measured links slower than the typical one beyond kLinkSlow.
  std::vector<SlowLink> SlowLinks(const PlanProblem& p) const;
  // A large change: a worker kLargeDrift or more slower than its best, or
  // a link kLargeLink or more slower than the typical one. Smaller ones
  // (a host's passing hiccup looks like one) must last longer before they
  // move stages (AdaptOptions::small_dwell_s).
  static constexpr double kLargeDrift = 2.0;
  static constexpr double kLargeLink = 8.0;
  bool LargeChange(const PlanProblem& p) const;

 private:
  struct Estimate {   // of a worker
    double mean = 0;  // of log(measured / predicted)
    double var = 0;
    int samples = 0;
    int skipped = 0;      // warm-up samples ignored since NewPlan
    double baseline = 0;  // the least mean since the plan settled, or before it (see Observe)
    double best = std::numeric_limits<double>::infinity();  // the least mean, from 1 / weight samples on
    double drift = 0;                                       // log of the drift of earlier plans
    // Its estimate went on from a settled plan into the current one (the
    // same stage): mean - baseline is its drift before this plan settles.
    bool carried = false;
  };
  struct LinkEstimate {
    int samples = 0;
    int skipped = 0;                               // warm-up samples ignored since NewPlan
    std::deque<std::pair<double, double>> recent;  // the last kLinkWindow seconds and bytes
    double seconds = 0;                            // the least of them
    double bytes = 0;                              // that sample's frame size
  };
  using Link = std::pair<size_t, size_t>;
  // A measured link's time against what `p` plans for its bytes.
  static double Ratio(const PlanProblem& p, const Link& link, const LinkEstimate& e);
  static bool Measured(const LinkEstimate& e) { return e.samples >= kLinkSamples; }
  // What `p` plans for `bytes` over `link` (0: not in `p`); without the
  // latency when `bandwidth_only`.
  static double Planned(const PlanProblem& p, const Link& link, double bytes, bool bandwidth_only);
  static bool BandwidthBound(const PlanProblem& p, const Link& link, const LinkEstimate& e);
  // LinkSlowdown with the typical ratio already known (Corrected asks for
  // every pair: the typical ratio is worked out once).
  double LinkSlowdown(const PlanProblem& p, size_t from, size_t to, double typical) const;
  std::vector<Estimate> workers_;
  std::map<Link, LinkEstimate> links_;
  std::vector<Link> plan_links_;
  std::vector<size_t> plan_;
  bool settled_ = false;
  double weight_;
};

struct AdaptOptions {
  bool enabled = false;
  // Re-plan when the best plan under the corrected costs is predicted
  // faster than the running one by more than this fraction. Default 15%.
  double threshold = 0.15;
  // ... for at least this long. Default 10 s.
  double dwell_s = 10;
  // No new migration this soon after the last one (the new pipeline's
  // estimates settle first); < 0: three dwell times (the default: 30 s).
  double cooldown_s = -1;
  // Samples each worker of the running plan needs before its estimate is
  // trusted (after its warm-up). Default 30.
  int min_samples = 30;
  // ... and seconds the plan must have run: its stages' first minute can
  // be slower than what follows (caches, loads of the other stages on a
  // shared host); < 0: three dwell times (the default: 30 s).
  double settle_s = -1;
  double SettleSeconds() const { return settle_s < 0 ? 3 * dwell_s : settle_s; }
  // The dwell when no drift behind the gain is large (LiveCostModel::
  // LargeChange); < 0: three dwell times (the default: 30 s).
  double small_dwell_s = -1;
  double SmallDwellSeconds() const { return small_dwell_s < 0 ? 3 * dwell_s : small_dwell_s; }
};

class AdaptPolicy {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AdaptPolicy(AdaptOptions o) : o_(o) {}

  // One look at the cluster at `now`: the running plan's bottleneck and the
  // best plan's, both under the corrected costs, and whether every worker
  // of the running plan has enough samples, whether the drift behind the
  // gain is large (else the gain must hold for SmallDwellSeconds), the
  // running pipeline's measured rate over the last few seconds (< 0:
  // unknown), and the rate it was predicted to make when it was deployed
  // (<= 0: unknown). True when a migration is due now; the caller then
  // migrates and calls Migrated.
  //
  // The measured rate must confirm the model: a gain counts only while the
  // rate is below (1 - threshold) of the pipeline's reference rate, the
  // median of the rates measured at its last kReferenceKept looks that saw
  // no gain, or a gain the rate did not show. Until there are
  // kReferenceLooks of them, the reference is the predicted rate (a plan
  // that makes about what it was made for is not slowed; a model error
  // there from the start, such as a result hop that always looks slow,
  // then joins the reference and moves nothing); with neither, the model
  // alone decides. A slowdown the model sees and the stream does not (a
  // stage that is not the real bottleneck, a host's passing hiccup) moves
  // nothing; nor does one while the stream is limited by its input rather
  // than the cluster. Looks without results (an idle server) do not count;
  // a load that grows raises the reference within kReferenceKept looks.
  bool Due(Clock::time_point now, double running_s, double best_s, bool trusted, bool large = true, double rate = -1,
           double predicted_rate = -1);
  static constexpr int kReferenceLooks = 5;
  static constexpr size_t kReferenceKept = 60;  // two minutes of looks
  // A migration happened (or a pipeline was replaced for another reason):
  // the dwell starts over and the cool-down runs.
  void Migrated(Clock::time_point now);
  // A look that could not compare (estimates not settled, a model update
  // under way, no plan found): the dwell starts over.
  void Interrupted() { better_since_.reset(); }
  // The predicted gain the last Due saw: 1 - best / running (0 if none).
  double gain() const { return gain_; }

 private:
  AdaptOptions o_;
  std::optional<Clock::time_point> better_since_;
  std::optional<Clock::time_point> migrated_at_;
  double gain_ = 0;
  std::vector<double> reference_rates_;  // since the last Migrated, the last kReferenceKept
};

// Seconds to ship the weights of the stages of `next` that `running` does
// not already run on the same worker, one after the other over the
// dispatcher's links in `p` (the dispatcher is the last endpoint).
double ShipSeconds(const PlanProblem& p, const Plan& running, const Plan& next);

// Whether a migration repays itself before a stream of `requests_left`
// more results ends (< 0: no known end, always): the time the new plan
// saves over the requests left once its stages are shipped (at the running
// plan's `running_s` per result) must exceed the `ship_s` shipping takes.
bool MigrationRepays(double running_s, double best_s, int64_t requests_left, double ship_s);

}  // namespace tandem
