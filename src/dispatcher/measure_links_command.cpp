// `tandem-dispatcher measure-links`: bandwidth and latency of every link the
// planner uses, measured with PROBE messages, written for network.links.
#include <cstdio>
#include <memory>
#include <zmq.hpp>

#include "common/config/measured_links.h"
#include "common/net/link_probe.h"
#include "common/util/files.h"
#include "common/util/format.h"
#include "common/util/log.h"
#include "common/util/progress.h"
#include "dispatcher/command.h"
#include "dispatcher/worker_client.h"

namespace tandem {
namespace {

struct MeasureLinksCommandOptions {
  std::string cluster;    // cluster config; empty: the embedded default
  std::string out;        // write the measurements here (for network.links)
  double probe_mb = 1;    // payload of a timed probe, MB (10^6 bytes)
  int rounds = 3;         // timed probes each way; the fastest counts
  double timeout_s = 10;  // for each probe's answer
};

// Measures a cluster's links one at a time and keeps what it found and what
// it could not measure.
class LinkSurvey {
 public:
  LinkSurvey(const ClusterConfig& cluster, const ProbeOptions& probe)
      : cluster_(cluster),
        probe_(probe),
        clients_(cluster.workers.size()),
        total_(static_cast<int>(clients_.size() * (clients_.size() + 1) / 2)),
        progress_("measuring " + std::to_string(total_) + " links") {
    result_.measured_at = UtcTimestamp();
    result_.probe_bytes = probe.probe_bytes;
    result_.rounds = probe.rounds;
  }

  // The dispatcher's own link to each worker; a worker that answers keeps
  // its client for the next step.
  void DispatcherLinks() {
    for (size_t i = 0; i < clients_.size(); ++i) {
      const WorkerEntry& w = cluster_.workers[i];
      auto client = std::make_unique<WorkerClient>(ctx_, w, cluster_.keys, cluster_.WorkerKeys());
      Status st = client->Hello(cluster_.connect_timeout_s);
      if (st.ok()) {
        auto e = ProbeLink(ctx_, w.endpoint, probe_, nullptr, cluster_.keys, w.public_key);
        if (e.ok()) {
          Record(kDispatcherLinkName, w.name, e->rtt_s, e->out_bytes_per_s, e->in_bytes_per_s);
          clients_[i] = std::move(client);
          continue;
        }
        st = e.status();
      }
      Fail(kDispatcherLinkName, w.name, st.message());
    }
  }

  // Worker to worker: worker i probes every later worker that answered. One
  // worker measures at a time, so transfers do not share a link.
  void WorkerLinks() {
    for (size_t i = 0; i < clients_.size(); ++i) {
      MeasureLinksBody m;
      m.probe_bytes = probe_.probe_bytes;
      m.rounds = probe_.rounds;
      m.timeout_s = probe_.timeout_s;
      const std::string& name = cluster_.workers[i].name;
      for (size_t j = i + 1; j < clients_.size(); ++j) {
        const WorkerEntry& peer = cluster_.workers[j];
        if (!clients_[i])
          Fail(name, peer.name, name + " did not answer the dispatcher");
        else if (!clients_[j])
          Fail(name, peer.name, peer.name + " did not answer the dispatcher");
        else
          m.peers.push_back({peer.name, clients_[j]->control_endpoint(), peer.public_key});
      }
      if (m.peers.empty()) continue;
      // Each peer takes at most 3 + 3 * rounds probe messages.
      const double timeout =
          cluster_.connect_timeout_s + m.peers.size() * (3.0 + 3.0 * probe_.rounds) * probe_.timeout_s;
      auto report = clients_[i]->MeasureLinks(m, timeout);
      if (!report.ok()) {
        for (const auto& p : m.peers) Fail(name, p.name, report.status().message());
        continue;
      }
      for (const auto& l : report->links) {
        if (l.code != Status::Code::kOk)
          Fail(name, l.name, Printable(l.message));
        else
          Record(name, l.name, l.rtt_s, l.out_bytes_per_s, l.in_bytes_per_s);
      }
    }
  }

  const MeasuredLinks& result() const { return result_; }
  const std::vector<std::string>& failed() const { return failed_; }
  int total() const { return total_; }

 private:
  // Both directions of one link: a -> b leaves at `out`, b -> a at `in`.
  void Record(const std::string& a, const std::string& b, double rtt_s, double out_bps, double in_bps) {
    result_.links.push_back({a, b, out_bps * 8e-6, rtt_s / 2 * 1e3});
    result_.links.push_back({b, a, in_bps * 8e-6, rtt_s / 2 * 1e3});
    progress_.Update(++done_, total_);
  }
  // A link between a and b that was not measured, and why.
  void Fail(const std::string& a, const std::string& b, const std::string& why) {
    failed_.push_back(a + " <-> " + b + ": " + why);
    progress_.Update(++done_, total_);
  }

  const ClusterConfig& cluster_;
  const ProbeOptions probe_;
  zmq::context_t ctx_{1};
  std::vector<std::unique_ptr<WorkerClient>> clients_;
  const int total_;
  int done_ = 0;
  Progress progress_;
  MeasuredLinks result_;
  std::vector<std::string> failed_;
};

Status RunMeasureLinks(const MeasureLinksCommandOptions& o) {
  ClusterConfig cluster = DefaultClusterConfig();
  if (!o.cluster.empty()) {
    TANDEM_ASSIGN_OR_RETURN(cluster, LoadClusterConfig(o.cluster));
  }
  ProbeOptions po;
  po.probe_bytes = static_cast<uint32_t>(o.probe_mb * 1e6);
  po.rounds = static_cast<uint32_t>(o.rounds);
  po.timeout_s = o.timeout_s;
  LinkSurvey survey(cluster, po);
  survey.DispatcherLinks();
  survey.WorkerLinks();
  const MeasuredLinks& result = survey.result();

  std::printf("%-24s %-24s %12s %11s\n", "from", "to", "Mbit/s", "latency ms");
  for (const auto& l : result.links)
    std::printf("%-24s %-24s %12.1f %11.3f\n", l.from.c_str(), l.to.c_str(), l.bandwidth_mbps, l.latency_ms);
  std::printf("%zu of %d links measured (probes of %u bytes, the fastest of %u rounds each way)\n",
              result.links.size() / 2, survey.total(), po.probe_bytes, po.rounds);
  for (const auto& f : survey.failed()) std::fprintf(stderr, "not measured: %s\n", f.c_str());
  const bool written = !o.out.empty() && !result.links.empty();
  if (written) {
    TANDEM_RETURN_IF_ERROR(WriteFileAtomic(o.out, MeasuredLinksToJson(result)));
    std::printf("wrote %s; plan with it: \"network\": {\"links\": \"%s\"} in %s\n", o.out.c_str(), o.out.c_str(),
                o.cluster.empty() ? "the cluster config" : o.cluster.c_str());
  }
  if (!survey.failed().empty())
    return Status::Unavailable(std::to_string(survey.failed().size()) + " of " + std::to_string(survey.total()) +
                               " links could not be measured (listed above)" +
                               (written ? "; " + o.out + " holds the others" : std::string()));
  return Status::OK();
}

}  // namespace

Subcommand AddMeasureLinksCommand(CLI::App& app) {
  auto o = std::make_shared<MeasureLinksCommandOptions>();
  CLI::App* cmd = app.add_subcommand(
      "measure-links",
      "measure bandwidth and latency between the dispatcher and each worker and between every two workers, for the "
      "planner (the cluster config's network.links); run it while no pipeline runs");
  cmd->add_option("--cluster,-c", o->cluster, "cluster config JSON (default: 3 local workers)");
  cmd->add_option("--out,-o", o->out, "write the measurements (JSON) here");
  cmd->add_option("--probe-mb", o->probe_mb, "payload of a timed probe, MB (larger: steadier on fast links)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, kMaxProbeBytes / 1e6));
  cmd->add_option("--rounds", o->rounds, "timed probes each way per link; the fastest counts")
      ->capture_default_str()
      ->check(CLI::Range(1, static_cast<int>(kMaxProbeRounds)));
  cmd->add_option("--timeout", o->timeout_s, "seconds to wait for each probe's answer")
      ->capture_default_str()
      ->check(CLI::Range(0.01, 3600.0));
  return {cmd, [o] { return RunMeasureLinks(*o); }};
}

}  // namespace tandem
