// `tandem-dispatcher serve`: plan and deploy as `run` does, then answer
// inference requests over HTTP (http_api.h) until SIGTERM, keeping the
// pipeline up meanwhile (recoveries and model updates as in `run`).
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "common/net/curve_keys.h"
#include "common/util/files.h"
#include "common/util/log.h"
#include "common/util/signals.h"
#include "dispatcher/command.h"
#include "dispatcher/http_api.h"
#include "dispatcher/json_flags.h"
#include "dispatcher/model_setup.h"
#include "dispatcher/pipeline_session.h"
#include "dispatcher/serve_metrics.h"
#include "dispatcher/serving_queue.h"
#include "dispatcher/v2_protocol.h"
#include "dispatcher/zmq_api.h"

namespace tandem {
namespace {

struct ServeOptions {
  PipelineOptions pipeline;  // the model, the cluster, the plan, the stream
  std::string input_shape;   // the model's inputs (required)
  std::string name;          // the model's name in URLs; default: the file's stem
  HttpApiOptions http;
  std::string token_file;       // the bearer token, first line of this file
  ZmqApiOptions zmq;            // listen empty: no ZeroMQ API
  std::string zmq_secret_key;   // its key pair; default: the cluster's dispatcher key
  std::string zmq_client_keys;  // authorized-keys file of the clients let in
  int max_queued = 64;          // requests accepted and not answered, at most
  int max_per_client = 0;       // of those, one client's; 0: three quarters of max_queued
  double drain_timeout_s = 60;  // after SIGTERM, how long accepted requests may take
};

// The model's name in URLs: --name, else the file name without directory
// and extension.
std::string ModelName(const ServeOptions& o) {
  if (!o.name.empty()) return o.name;
  std::string n = o.pipeline.model.substr(o.pipeline.model.rfind('/') + 1);
  const size_t dot = n.rfind('.');
  if (dot != std::string::npos && dot > 0) n = n.substr(0, dot);
  return n;
}

Result<std::string> ReadToken(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 4096));
  const std::string token = text.substr(0, text.find('\n'));
  if (token.size() < 16) return Status::InvalidArgument(path + ": the token must be at least 16 characters");
  for (char c : token)
    if (c <= ' ' || c > '~') return Status::InvalidArgument(path + ": the token must be printable ASCII, no spaces");
  return token;
}

Status Serve(ServeOptions o, const std::atomic<bool>& stop) {
  const std::string name = ModelName(o);
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return Status::InvalidArgument("--name " + name + ": letters, digits, '-', '_' and '.' only");
  if (!o.token_file.empty()) {
    TANDEM_ASSIGN_OR_RETURN(o.http.token, ReadToken(o.token_file));
  }
  if (o.http.threads < o.max_queued + 16)
    return Status::InvalidArgument("--http-threads " + std::to_string(o.http.threads) + " must exceed --max-queued " +
                                   std::to_string(o.max_queued) +
                                   " by 16 at least: each waiting request holds a thread, and health checks need some");
  TANDEM_ASSIGN_OR_RETURN(ClusterConfig cluster, LoadPipelineCluster(o.pipeline));
  if (!o.zmq.listen.empty()) {
    o.zmq.request_timeout_s = o.http.request_timeout_s;
    if (!o.zmq_secret_key.empty()) {
      auto keys = ReadSecretKey(o.zmq_secret_key);
      if (!keys.ok()) return keys.status().WithContext("--zmq-secret-key");
      o.zmq.keys = keys.value();
    } else {
      o.zmq.keys = cluster.keys;
    }
    if (!o.zmq_client_keys.empty()) {
      auto keys = ReadAuthorizedKeys(o.zmq_client_keys);
      if (!keys.ok()) return keys.status().WithContext("--zmq-client-keys");
      o.zmq.client_keys = keys.value();
    }
  }
  TANDEM_RETURN_IF_ERROR(PipelineSession::Check(o.pipeline, cluster));
  auto specs = ParseInputSpecs(o.input_shape);
  if (!specs.ok()) return specs.status().WithContext("--input-shape");
  o.pipeline.sighup_reloads_cluster = true;  // a daemon: `systemctl reload` re-reads the cluster
  TANDEM_ASSIGN_OR_RETURN(auto session, PipelineSession::Open(o.pipeline, std::move(cluster), specs.value()));
  // The largest body a valid request can have: its inputs as JSON numbers
  // (at most 32 characters an element) and 1 MiB of the rest.
  uint64_t elements = 0;
  for (const InputSpec& s : session->inputs()) elements += static_cast<uint64_t>(ShapeNumel(s.shape).value());
  o.http.max_body_bytes = 32 * elements + (1u << 20);
  ServingQueue queue(o.max_queued, o.max_per_client);
  ServeMetrics metrics;
  const V2Model served =
      MakeV2Model(name, session->input_names(), session->inputs(), session->output_names(), session->sample_output());
  HttpApi api(served, queue, metrics, o.http);
  TANDEM_RETURN_IF_ERROR(api.Start());  // before deploying: a busy port fails fast
  std::unique_ptr<ZmqApi> zmq_api;
  if (!o.zmq.listen.empty()) {
    zmq_api = std::make_unique<ZmqApi>(served, queue, metrics, o.zmq);
    TANDEM_RETURN_IF_ERROR(zmq_api->Start());
  }
  TANDEM_RETURN_IF_ERROR(session->Deploy());
  // The pipeline as /metrics shows it; from the Streamer's thread only.
  auto show_pipeline = [&](int generation) {
    const PipelineManager& manager = session->manager();
    std::map<std::string, bool> up;
    const ClusterConfig& cluster = manager.cluster();  // as reloaded
    for (size_t i = 0; i < cluster.workers.size(); ++i)
      if (manager.Present(i)) up[cluster.workers[i].name] = false;
    for (int i : manager.Reachable()) up[cluster.workers[i].name] = true;
    metrics.SetPipeline(manager.Describe().workers, up, manager.recoveries(), generation);
  };
  show_pipeline(1);
  if (const auto& predicted = session->Facts().predicted) metrics.SetPredictedThroughput(predicted->throughput());
  const PipelineDescription first = session->Describe();
  std::printf("serving %s as '%s' on %s://%s (port %d), %zu stages, window %d\n", o.pipeline.model.c_str(),
              name.c_str(), o.http.tls_cert.empty() ? "http" : "https", o.http.listen.c_str(), api.port(),
              first.workers.size(), o.pipeline.window);
  if (zmq_api)
    std::printf("ZeroMQ clients on %s%s\n", zmq_api->endpoint().c_str(),
                o.zmq.keys ? (" (CurveZMQ, server key " + o.zmq.keys->public_key + ")").c_str() : "");
  std::fflush(stdout);
  api.SetReady(true);
  if (zmq_api) zmq_api->SetReady(true);

  // SIGTERM: stop taking requests, finish those accepted, then leave; past
  // the drain timeout the rest are answered with an error.
  std::atomic<bool> abort{false}, done{false};
  std::thread watcher([&] {
    while (!stop && !done) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (done) return;
    api.SetReady(false);
    if (zmq_api) zmq_api->SetReady(false);
    queue.Close();
    std::printf("stopping: %d accepted request(s) to finish\n", queue.queued());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    while (!done && std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(o.drain_timeout_s))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    abort = true;
  });
  Result<StreamReport> rep = Status::Internal("not streamed");
  int generation = 1;  // the latest that answered
  auto shown_at = std::chrono::steady_clock::now();
  // Failures and recoveries show without waiting for a result (an idle or
  // stalled server too), a few times a second.
  const std::function<void()> each_turn = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (now - shown_at < std::chrono::milliseconds(250)) return;
    shown_at = now;
    show_pipeline(generation);
  };
  try {
    rep = session->Stream(
        queue,
        [&](const Delivery& d) {
          if (d.generation > 0) {  // the pipeline itself shows on the next turns
            generation = d.generation;
            api.SetGeneration(d.generation);
          }
          metrics.ObserveDelivery(d);
          return queue.Deliver(d);
        },
        abort, nullptr, /*keep_samples=*/false, each_turn);
  } catch (const std::exception& e) {  // the shutdown below must run: clients are waiting
    rep = Status::Internal(e.what());
  }
  done = true;
  watcher.join();
  api.SetReady(false);
  if (zmq_api) zmq_api->SetReady(false);
  const int unanswered = queue.queued();
  queue.FailRemaining(rep.ok() ? "the dispatcher stopped (drain timeout) before this request was answered"
                               : "the dispatcher failed: " + rep.status().message());
  api.Stop();
  if (zmq_api) zmq_api->Stop();
  session->Shutdown();
  if (!rep.ok()) return rep.status();
  std::printf("served %lld request(s): %lld answered, %lld failed",
              static_cast<long long>(rep->completed + rep->failed), static_cast<long long>(rep->completed),
              static_cast<long long>(rep->failed));
  if (unanswered > 0) std::printf(", %d cut off by the drain timeout", unanswered);
  std::printf("\n");
  return unanswered > 0 ? Status::Unavailable(std::to_string(unanswered) +
                                              " accepted request(s) were not answered within --drain-timeout")
                        : Status::OK();
}

}  // namespace

Subcommand AddServeCommand(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "deploy the model as `run` does and answer inference requests over HTTP (Open Inference Protocol v2) "
      "until SIGTERM");
  AddJsonConfigFlag(cmd,
                    "JSON file of these settings: an object whose keys are the long flags without dashes "
                    "({\"model\": \"m.pt\", \"max-queued\": 128}); flags given here win");
  AddPipelineFlags(cmd, &o->pipeline);
  AddInputShapeFlag(cmd, &o->input_shape, "the model's inputs: ")->required();
  cmd->add_option("--name", o->name, "the model's name in URLs (default: the model file's name without extension)");
  cmd->add_option("--listen", o->http.listen,
                  "HOST:PORT for HTTP (port 0: any free port; another host than loopback needs --token-file)")
      ->capture_default_str();
  cmd->add_option("--token-file", o->token_file,
                  "require 'Authorization: Bearer TOKEN' on every request but /v2/health/live; TOKEN is the file's "
                  "first line (16+ printable characters)");
  cmd->add_option("--tls-cert", o->http.tls_cert, "PEM certificate chain: serve HTTPS (with --tls-key)");
  cmd->add_option("--tls-key", o->http.tls_key, "PEM private key of --tls-cert");
  cmd->add_option("--zmq-listen", o->zmq.listen,
                  "also take requests from ZeroMQ clients (include/tandem/client.h) on tcp://HOST:PORT; another "
                  "host than loopback needs keys and --zmq-client-keys");
  cmd->add_option("--zmq-secret-key", o->zmq_secret_key,
                  "the ZeroMQ API's CurveZMQ secret key file (default: the cluster config's dispatcher.secret_key)");
  cmd->add_option("--zmq-client-keys", o->zmq_client_keys,
                  "the public keys of the ZeroMQ clients let in, one per line (with keys: required)");
  cmd->add_option("--max-queued", o->max_queued,
                  "requests accepted and not yet answered, at most; more get 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--max-queued-per-client", o->max_per_client,
                  "of those, one client's at most (a client: an HTTP peer's address, a ZeroMQ client's key or "
                  "address; clients take turns); default three quarters of --max-queued")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--request-timeout", o->http.request_timeout_s,
                  "seconds a request may wait for its result before its client gets 504")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));
  cmd->add_option("--http-threads", o->http.threads,
                  "HTTP threads: clients served at once (at least --max-queued + 16: a waiting request holds one)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--drain-timeout", o->drain_timeout_s,
                  "after SIGTERM, seconds the accepted requests may take before they are answered with an error")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  return {cmd, [o] { return Serve(*o, InstallStopSignals()); }};
}

}  // namespace tandem
