#include "dispatcher/run_report.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "common/util/format.h"
#include "common/util/stats.h"

namespace tandem {
namespace {

// Results per second once the pipeline is full: the first arrivals (up to a
// quarter of them, at most `skip`) are left out.
double SteadyThroughput(const std::vector<double>& arrivals, size_t skip) {
  const size_t n = arrivals.size();
  skip = std::min(skip, n / 4);
  if (n < skip + 2 || arrivals[n - 1] <= arrivals[skip]) return 0;
  return static_cast<double>(n - 1 - skip) / (arrivals[n - 1] - arrivals[skip]);
}

// Median transfer time of hop h in ms; -1 when not measured.
double TransferMs(const StreamReport& r, size_t h) {
  if (h >= r.hop_transfer_s.size() || r.hop_transfer_s[h].empty()) return -1;
  return Median(r.hop_transfer_s[h]) * 1e3;
}

std::string FormatTransfer(double ms) {
  if (ms < 0) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", ms);
  return b;
}

}  // namespace

void PrintRunReport(const StreamReport& r, const RunFacts& facts) {
  const PipelineDescription& d = facts.pipeline;
  const int64_t sent = r.completed + r.failed;
  std::printf("\nrequests     %lld completed, %lld failed in %.2f s: %.2f inferences/s\n",
              static_cast<long long>(r.completed), static_cast<long long>(r.failed), r.seconds,
              r.seconds > 0 ? r.completed / r.seconds : 0.0);
  // The planner predicts the steady rate: set against it what the run made
  // once the pipeline was full (the whole run also counts filling it and
  // the stages' first, slower calls), while the first plan served alone.
  const double steady = SteadyThroughput(r.arrivals_s, facts.window + d.workers.size());
  if (steady > 0) {
    std::printf("             %.2f inferences/s once the pipeline was full", steady);
    if (facts.predicted && facts.predicted->feasible && d.pipeline == 1)
      std::printf(" (planned: %.2f/s, %+.0f%%)", facts.predicted->throughput(),
                  100 * (facts.predicted->throughput() / steady - 1));
    std::printf("\n");
  }
  std::printf("latency      p50 %.1f ms, p95 %.1f ms, p99 %.1f ms\n", Percentile(r.latencies_s, 0.50) * 1e3,
              Percentile(r.latencies_s, 0.95) * 1e3, Percentile(r.latencies_s, 0.99) * 1e3);
  if (facts.recoveries > 0 || r.by_generation.size() > 1 || r.replayed > 0) {
    std::printf("recovery     %d recover%s, %lld request(s) sent again, %lld late or duplicate result(s) dropped\n",
                facts.recoveries, facts.recoveries == 1 ? "y" : "ies", static_cast<long long>(r.replayed),
                static_cast<long long>(r.duplicates));
    for (const auto& [g, n] : r.by_generation)
      std::printf("             model generation %d answered %lld\n", g, static_cast<long long>(n));
  }
  if (d.workers.empty()) return;
  std::printf("\nlast pipeline %d (model generation %d)\n", d.pipeline, d.generation);
  std::printf(
      "hop                               bytes/request   raw bytes  codec               max error  transfer ms\n");
  const double per = sent > 0 ? 1.0 / sent : 0;
  char hop[128];
  std::snprintf(hop, sizeof hop, "dispatcher -> %s", d.workers[0].c_str());
  std::printf("%-33s %13s %11s  %-18s %9.2g  %11s\n", hop,
              FormatBytes(static_cast<uint64_t>(r.first_hop_bytes * per)).c_str(),
              FormatBytes(static_cast<uint64_t>(r.first_hop_raw_bytes * per)).c_str(), d.first_codec.ToString().c_str(),
              r.first_hop_max_error, FormatTransfer(TransferMs(r, 0)).c_str());
  const size_t k = std::min(r.stages.size(), d.workers.size());
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    std::snprintf(hop, sizeof hop, "%s -> %s", d.workers[i].c_str(),
                  i + 1 < d.workers.size() ? d.workers[i + 1].c_str() : "dispatcher");
    const uint64_t b = s.count ? s.bytes_out / s.count : 0;
    std::printf("%-33s %13s %11s  %-18s %9.2g  %11s\n", hop, FormatBytes(b).c_str(),
                FormatBytes(d.hop_raw_bytes[i]).c_str(), d.hop_codecs[i].ToString().c_str(), s.max_abs_error,
                FormatTransfer(TransferMs(r, i + 1)).c_str());
  }
  std::printf("\nstage  worker            compute ms   queue ms  decode ms  encode ms\n");
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    const double n = s.count ? static_cast<double>(s.count) : 1.0;
    std::printf("%5zu  %-16s %11.2f %10.2f %10.2f %10.2f\n", i, d.workers[i].c_str(), s.compute_s / n * 1e3,
                s.queue_s / n * 1e3, s.decode_s / n * 1e3, s.encode_s / n * 1e3);
  }
  if (!facts.events.empty()) {
    std::printf("\nevents\n");
    for (const auto& e : facts.events) std::printf("  %s\n", e.c_str());
  }
  for (const auto& f : r.failures) std::printf("failed: %s\n", f.c_str());
  if (!r.hop_transfer_s.empty())
    std::printf("(transfer: median of the receiver's clock minus the sender's, per hop)\n");
}

Status WriteRunReport(const std::string& path, const StreamReport& r, const RunFacts& facts) {
  const PipelineDescription& d = facts.pipeline;
  const std::optional<PlanEvaluation>& predicted = facts.predicted;
  using nlohmann::json;
  const int64_t sent = r.completed + r.failed;
  const double per = sent > 0 ? 1.0 / static_cast<double>(sent) : 0;
  auto ms_stats = [](const std::vector<double>& v) -> json {
    if (v.empty()) return nullptr;
    double sum = 0;
    for (double x : v) sum += x;
    return json{{"p50", Percentile(v, 0.5) * 1e3},
                {"p95", Percentile(v, 0.95) * 1e3},
                {"mean", sum / v.size() * 1e3},
                {"samples", v.size()}};
  };
  json j;
  j["model"] = {{"path", facts.model_path}, {"sha256", facts.model_sha256}};
  j["window"] = facts.window;
  j["requests"] = {{"completed", r.completed},
                   {"failed", r.failed},
                   {"seconds", r.seconds},
                   {"throughput_per_s", r.seconds > 0 ? r.completed / r.seconds : 0.0},
                   {"steady_throughput_per_s", SteadyThroughput(r.arrivals_s, facts.window + d.workers.size())},
                   {"latency_ms", ms_stats(r.latencies_s)},
                   {"replayed", r.replayed},
                   {"recoveries", facts.recoveries}};
  j["pipeline"] = {{"number", d.pipeline}, {"generation", d.generation}, {"workers", d.workers}, {"cuts", d.cuts}};
  if (predicted && predicted->feasible) {
    j["predicted"] = {{"bottleneck_s", predicted->bottleneck_s},     {"bottleneck", predicted->bottleneck},
                      {"throughput_per_s", predicted->throughput()}, {"latency_s", predicted->latency_s},
                      {"compute_s", predicted->compute_s},           {"transfer_s", predicted->transfer_s}};
  } else {
    j["predicted"] = nullptr;
  }
  json hops = json::array();
  const size_t k = std::min(r.stages.size(), d.workers.size());
  if (!d.workers.empty()) {
    hops.push_back({{"from", "dispatcher"},
                    {"to", d.workers[0]},
                    {"codec", d.first_codec.ToString()},
                    {"bytes_per_request", r.first_hop_bytes * per},
                    {"raw_bytes", r.first_hop_raw_bytes * per},
                    {"max_abs_error", r.first_hop_max_error},
                    {"transfer_ms", ms_stats(r.hop_transfer_s.empty() ? std::vector<double>() : r.hop_transfer_s[0])}});
  }
  json stages = json::array();
  for (size_t i = 0; i < k; ++i) {
    const auto& s = r.stages[i];
    const double n = s.count ? static_cast<double>(s.count) : 1.0;
    hops.push_back(
        {{"from", d.workers[i]},
         {"to", i + 1 < d.workers.size() ? d.workers[i + 1] : "dispatcher"},
         {"codec", d.hop_codecs[i].ToString()},
         {"bytes_per_request", s.bytes_out / n},
         {"raw_bytes", d.hop_raw_bytes[i]},
         {"max_abs_error", s.max_abs_error},
         {"transfer_ms", ms_stats(i + 1 < r.hop_transfer_s.size() ? r.hop_transfer_s[i + 1] : std::vector<double>())}});
    stages.push_back({{"worker", d.workers[i]},
                      {"requests", s.count},
                      {"compute_ms", s.compute_s / n * 1e3},
                      {"queue_ms", s.queue_s / n * 1e3},
                      {"decode_ms", s.decode_s / n * 1e3},
                      {"encode_ms", s.encode_s / n * 1e3}});
  }
  j["hops"] = hops;
  j["stages"] = stages;
  return WriteFileAtomic(path, j.dump(1) + "\n");
}

}  // namespace tandem
