// `tandem-dispatcher measure-links`: bandwidth and latency of every link the
// planner uses, measured with PROBE messages, written for network.links.
#include <cstdio>
#include <ctime>
#include <memory>
#include <zmq.hpp>

#include "common/file_util.h"
#include "common/link_probe.h"
#include "common/log.h"
#include "common/measured_links.h"
#include "common/progress.h"
#include "dispatcher/commands.h"
#include "dispatcher/worker_client.h"

namespace tandem {
namespace {

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Both directions of one link: a -> b leaves at `out`, b -> a at `in`.
void Record(const std::string& a, const std::string& b, double rtt_s, double out_bps, double in_bps,
            MeasuredLinks* m) {
  m->links.push_back({a, b, out_bps * 8e-6, rtt_s / 2 * 1e3});
  m->links.push_back({b, a, in_bps * 8e-6, rtt_s / 2 * 1e3});
}

}  // namespace

Status RunMeasureLinksCommand(const MeasureLinksCommandOptions& o) {
  ClusterConfig cluster = DefaultClusterConfig();
  if (!o.cluster.empty()) {
    TANDEM_ASSIGN_OR_RETURN(cluster, LoadClusterConfig(o.cluster));
  }
  ProbeOptions po;
  po.probe_bytes = static_cast<uint32_t>(o.probe_mb * 1e6);
  po.rounds = static_cast<uint32_t>(o.rounds);
  po.timeout_s = o.timeout_s;
  if (po.probe_bytes == 0 || po.probe_bytes > kMaxProbeBytes)
    return Status::InvalidArgument("--probe-mb must give 1.." + std::to_string(kMaxProbeBytes) + " bytes");

  zmq::context_t ctx(1);
  const size_t n = cluster.workers.size();
  MeasuredLinks result;
  result.measured_at = UtcNow();
  result.probe_bytes = po.probe_bytes;
  result.rounds = po.rounds;
  std::vector<std::string> failed;
  std::vector<std::unique_ptr<WorkerClient>> clients(n);
  const int total = static_cast<int>(n + n * (n - 1) / 2);
  int done = 0;
  Progress progress("measuring " + std::to_string(total) + " links");
  // A link between a and b that was not measured, and why.
  auto fail = [&](const std::string& a, const std::string& b, const std::string& why) {
    failed.push_back(a + " <-> " + b + ": " + why);
    progress.Update(++done, total);
  };

  // The dispatcher's own link to each worker.
  for (size_t i = 0; i < n; ++i) {
    const WorkerEntry& w = cluster.workers[i];
    auto client = std::make_unique<WorkerClient>(ctx, w);
    Status st = client->Hello(cluster.connect_timeout_s);
    if (st.ok()) {
      auto e = ProbeLink(ctx, w.endpoint, po);
      if (e.ok()) {
        Record(kDispatcherLinkName, w.name, e->rtt_s, e->out_bytes_per_s, e->in_bytes_per_s, &result);
        clients[i] = std::move(client);
      } else {
        st = e.status();
      }
    }
    if (st.ok()) progress.Update(++done, total);
    else fail(kDispatcherLinkName, w.name, st.message());
  }
  // Worker to worker: worker i probes every later worker that answered.
  // One worker measures at a time, so transfers do not share a link.
  for (size_t i = 0; i < n; ++i) {
    MeasureLinksBody m;
    m.probe_bytes = po.probe_bytes;
    m.rounds = po.rounds;
    m.timeout_s = po.timeout_s;
    const std::string& name = cluster.workers[i].name;
    for (size_t j = i + 1; j < n; ++j) {
      const WorkerEntry& peer = cluster.workers[j];
      if (!clients[i]) fail(name, peer.name, name + " did not answer the dispatcher");
      else if (!clients[j]) fail(name, peer.name, peer.name + " did not answer the dispatcher");
      else m.peers.push_back({peer.name, peer.endpoint});
    }
    if (m.peers.empty()) continue;
    // Each peer takes at most 3 + 3 * rounds probe messages.
    const double timeout = cluster.connect_timeout_s + m.peers.size() * (3.0 + 3.0 * po.rounds) * po.timeout_s;
    auto report = clients[i]->MeasureLinks(m, timeout);
    if (!report.ok()) {
      for (const auto& p : m.peers) fail(name, p.name, report.status().message());
      continue;
    }
    for (const auto& l : report->links) {
      if (l.code != Status::Code::kOk) {
        fail(name, l.name, l.message);
        continue;
      }
      Record(name, l.name, l.rtt_s, l.out_bytes_per_s, l.in_bytes_per_s, &result);
      progress.Update(++done, total);
    }
  }

  std::printf("%-24s %-24s %12s %11s\n", "from", "to", "Mbit/s", "latency ms");
  for (const auto& l : result.links)
    std::printf("%-24s %-24s %12.1f %11.3f\n", l.from.c_str(), l.to.c_str(), l.bandwidth_mbps, l.latency_ms);
  std::printf("%zu of %d links measured (probes of %u bytes, the fastest of %u rounds each way)\n",
              result.links.size() / 2, total, po.probe_bytes, po.rounds);
  for (const auto& f : failed) std::fprintf(stderr, "not measured: %s\n", f.c_str());
  if (!o.out.empty() && !result.links.empty()) {
    TANDEM_RETURN_IF_ERROR(WriteFileAtomic(o.out, MeasuredLinksToJson(result)));
    std::printf("wrote %s; plan with it: \"network\": {\"links\": \"%s\"} in %s\n", o.out.c_str(), o.out.c_str(),
                o.cluster.empty() ? "the cluster config" : o.cluster.c_str());
  }
  if (!failed.empty())
    return Status::Unavailable(std::to_string(failed.size()) + " of " + std::to_string(total) +
                               " links could not be measured (listed above)" +
                               (o.out.empty() || result.links.empty() ? std::string()
                                                                      : "; " + o.out + " holds the others"));
  return Status::OK();
}

}  // namespace tandem
