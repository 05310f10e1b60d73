#include "dispatcher/http_api.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <thread>

#include "common/net/transport.h"
#include "common/tensor/npy.h"
#include "common/util/log.h"
#include "dispatcher/status_page.h"

namespace tandem {

struct HttpApi::Impl {
  V2Model model;
  ServingQueue& queue;
  ServeMetrics& metrics;
  HttpApiOptions o;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::atomic<uint64_t> next_request{0};

  Impl(V2Model m, ServingQueue& q, ServeMetrics& metrics, HttpApiOptions options)
      : model(std::move(m)), queue(q), metrics(metrics), o(std::move(options)) {}
};

namespace {

void Error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(V2Error(message), "application/json");
}

void Unavailable(httplib::Response& res, const std::string& message) {
  res.set_header("Retry-After", "1");
  Error(res, 503, message);
}

void Unauthorized(httplib::Response& res) {
  res.set_header("WWW-Authenticate", "Bearer");
  Error(res, 401, "a bearer token is required (Authorization: Bearer TOKEN)");
}

// "HOST:PORT" (HOST may be [IPv6]).
Status SplitListen(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    return Status::InvalidArgument("--listen " + listen + ": give HOST:PORT (e.g. 127.0.0.1:8000)");
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  const std::string p = listen.substr(colon + 1);
  char* end = nullptr;
  const long v = std::strtol(p.c_str(), &end, 10);
  if (*end != '\0' || v < 0 || v > 65535)
    return Status::InvalidArgument("--listen " + listen + ": the port must be a number from 0 to 65535");
  *port = static_cast<int>(v);
  return Status::OK();
}

// Compares in time independent of where the strings differ.
bool SameSecret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

}  // namespace

HttpApi::HttpApi(V2Model model, ServingQueue& queue, ServeMetrics& metrics, HttpApiOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), queue, metrics, std::move(options))) {}

HttpApi::~HttpApi() { Stop(); }

bool HttpApi::Authorized(const httplib::Request& req) const {
  // The status page itself holds no data (it asks for the token).
  return impl_->o.token.empty() || req.path == "/v2/health/live" || req.path == "/" ||
         SameSecret(req.get_header_value("Authorization"), "Bearer " + impl_->o.token);
}

Status HttpApi::Start() {
  Impl& m = *impl_;
  std::string host;
  TANDEM_RETURN_IF_ERROR(SplitListen(m.o.listen, &host, &port_));
  if (!IsLoopbackHost(host) && m.o.token.empty())
    return Status::InvalidArgument("--listen " + m.o.listen +
                                   ": another address than loopback needs a token (--token-file)");
  if (m.o.tls_cert.empty() != m.o.tls_key.empty())
    return Status::InvalidArgument("--tls-cert and --tls-key go together");
  if (!m.o.tls_cert.empty()) {
    auto tls = std::make_unique<httplib::SSLServer>(m.o.tls_cert.c_str(), m.o.tls_key.c_str());
    if (!tls->is_valid())
      return Status::InvalidArgument("--tls-cert " + m.o.tls_cert + ", --tls-key " + m.o.tls_key +
                                     ": cannot be loaded (PEM certificate and its private key, readable)");
    m.server = std::move(tls);
  } else {
    m.server = std::make_unique<httplib::Server>();
  }
  httplib::Server& s = *m.server;
  // Before any body is read: the token, and a body whose size is known and
  // bounded (httplib checks the length limit against Content-Length only, and
  // would inflate a compressed body).
  const uint64_t max_body = m.o.max_body_bytes;
  s.set_pre_routing_handler([this, max_body](const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    if (!Authorized(req) && req.method != "POST") {
      Unauthorized(res);
      return R::Handled;
    }
    if (req.method != "POST") return R::Unhandled;
    const std::string encoding = req.get_header_value("Content-Encoding");
    if (!encoding.empty() && encoding != "identity") {
      Error(res, 415, "Content-Encoding " + encoding + ": send the body uncompressed");
      return R::Handled;
    }
    if (req.has_header("Transfer-Encoding") || !req.has_header("Content-Length")) {
      Error(res, 411, "give the body's Content-Length (chunked bodies are not taken)");
      return R::Handled;
    }
    const std::string length = req.get_header_value("Content-Length");
    char* end = nullptr;
    const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
    if (length.empty() || *end != '\0' || length[0] == '-' || n > max_body) {
      Error(res, 413, "a body of " + length + " bytes; at most " + std::to_string(max_body) + " are taken");
      return R::Handled;
    }
    // A body of a size a request may have is read before an unauthorized
    // POST is answered 401 (by the handler): a client still sending it
    // would otherwise see the connection cut (over TLS: an EOF error), not
    // the 401.
    return R::Unhandled;
  });
  s.set_keep_alive_timeout(2);
  // A client keeps its connection for many requests (httplib's default is
  // 5); a connection holds its thread until it has been idle for 2 s.
  s.set_keep_alive_max_count(100000);
  const int threads = m.o.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(m.o.max_body_bytes);
  s.set_tcp_nodelay(true);
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what += std::string(": ") + e.what();
    } catch (...) {
    }
    Error(res, 500, what);
  });
  // Routes are regular expressions: a '.' in the name must match only itself.
  std::string base = "/v2/models/";
  for (char c : m.model.name) base += c == '.' ? std::string("\\.") : std::string(1, c);
  auto ready = [this](const httplib::Request&, httplib::Response& res) {
    if (ready_)
      res.set_content("", "text/plain");
    else
      Unavailable(res, "not ready: the pipeline is not deployed, or the dispatcher is shutting down");
  };
  s.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) { res.set_content("", "text/plain"); });
  s.Get("/v2/health/ready", ready);
  s.Get(base + "/ready", ready);
  s.Get(base, [this](const httplib::Request&, httplib::Response& res) {
    V2Model shown = impl_->model;
    shown.version = std::to_string(generation_.load());
    res.set_content(V2ModelMetadata(shown), "application/json");
  });
  s.Post(base + "/infer", [this](const httplib::Request& req, httplib::Response& res) {
    // Every answer is counted, whatever path through Infer it takes (an
    // exception becomes the 500 of the exception handler).
    struct Counted {
      ServeMetrics& metrics;
      const httplib::Response& res;
      const std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();
      ~Counted() {
        metrics.RequestEnded();
        const int status = std::uncaught_exceptions() > 0 ? 500 : res.status == -1 ? 200 : res.status;
        metrics.ObserveRequest(status, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
    } counted{impl_->metrics, res};
    impl_->metrics.RequestStarted();
    if (!Authorized(req)) return Unauthorized(res);
    Infer(req, res);
  });
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(StatusPageHtml(), "text/html; charset=utf-8");
  });
  s.Get("/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(impl_->metrics.StatusJson(impl_->queue.queued(), impl_->model.name, ready_), "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(impl_->metrics.Render(impl_->queue.queued()), "text/plain; version=0.0.4; charset=utf-8");
  });
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404 && !Authorized(req)) return Unauthorized(res);  // no paths shown to strangers
    if (res.status == 404) Error(res, 404, "no such path: " + req.path + " (see /v2/models/NAME)");
  });

  const bool bound = port_ == 0 ? (port_ = s.bind_to_any_port(host)) > 0 : s.bind_to_port(host, port_);
  if (!bound)
    return Status::Unavailable("--listen " + m.o.listen +
                               ": cannot listen there (in use, or not an address of this machine)");
  m.thread = std::thread([&s] { s.listen_after_bind(); });
  // stop() does nothing until the server runs: wait for it (bounded).
  for (int i = 0; i < 500 && !s.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!s.is_running()) return Status::Internal("the HTTP server did not start");
  return Status::OK();
}

void HttpApi::Stop() {
  if (!impl_ || !impl_->server) return;
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->server.reset();
}

void HttpApi::Infer(const httplib::Request& req, httplib::Response& res) {
  Impl& m = *impl_;
  if (!ready_) return Unavailable(res, "not ready: the pipeline is not deployed, or the dispatcher is shutting down");
  const bool npy = req.get_header_value("Content-Type").rfind("application/x-npy", 0) == 0;
  V2InferRequest v2;
  std::string npy_output;  // with npy: the output to answer with
  if (npy) {
    if (m.model.inputs.size() != 1)
      return Error(res, 400,
                   "a .npy body is one tensor; the model takes " + std::to_string(m.model.inputs.size()) +
                       " inputs: send a v2 JSON body");
    auto t = ParseNpy(req.body, "request body");
    if (!t.ok()) return Error(res, 400, t.status().message());
    const InputSpec& spec = m.model.inputs[0];
    if (t->dtype != spec.dtype || t->shape != spec.shape)
      return Error(res, 400,
                   std::string("request body: ") + DTypeName(t->dtype) + " " + ShapeToString(t->shape) +
                       "; the model takes " + DTypeName(spec.dtype) + " " + ShapeToString(spec.shape));
    v2.inputs.push_back(std::move(t).value());
    if (req.has_param("output")) {
      npy_output = req.get_param_value("output");
    } else if (m.model.output_names.size() == 1) {
      npy_output = m.model.output_names[0];
    } else {
      std::string all;
      for (const auto& n : m.model.output_names) all += (all.empty() ? "" : ", ") + n;
      return Error(res, 400, "the model has several outputs (" + all + "): pick one with ?output=NAME");
    }
    bool known = false;
    for (const auto& n : m.model.output_names) known |= n == npy_output;
    if (!known) return Error(res, 400, "?output=" + npy_output + ": not an output of the model");
  } else {
    std::optional<uint64_t> header_length;
    if (req.has_header("Inference-Header-Content-Length")) {
      const std::string v = req.get_header_value("Inference-Header-Content-Length");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || v[0] == '-')
        return Error(res, 400, "Inference-Header-Content-Length: '" + v + "' is not a byte count");
      header_length = n;
    }
    auto parsed = ParseV2InferRequest(req.body, header_length, m.model);
    if (!parsed.ok()) return Error(res, 400, parsed.status().message());
    v2 = std::move(parsed).value();
  }
  const std::string name = "http-" + std::to_string(m.next_request++);
  // Clients are told apart by address: the queue's fairness is per host.
  auto ticket = m.queue.Submit(std::move(v2.inputs), name, "http " + req.remote_addr);
  if (!ticket.ok()) return Unavailable(res, ticket.status().message());
  const auto deadline = std::chrono::duration<double>(m.o.request_timeout_s);
  if (ticket->answer.wait_for(deadline) != std::future_status::ready) {
    // Not sent yet: withdrawn, its place freed. Else it runs, and its result is dropped.
    const bool withdrawn = m.queue.Cancel(ticket->id);
    char secs[32];
    std::snprintf(secs, sizeof secs, "%g", m.o.request_timeout_s);
    return Error(res, 504,
                 std::string("no result within ") + secs + " s" +
                     (withdrawn ? " (withdrawn before it was sent)" : " (it still runs; its result is dropped)"));
  }
  const Delivery& d = ticket->answer.get();
  if (!d.ok && d.not_run) return Unavailable(res, d.error);
  if (!d.ok) return Error(res, 500, "inference failed: " + d.error);
  generation_ = d.generation;
  const std::string version = std::to_string(d.generation);
  if (npy) {
    size_t k = 0;
    for (const auto& t : d.outputs) {
      if (t.is_none()) continue;
      if (k < m.model.output_names.size() && m.model.output_names[k] == npy_output) {
        res.set_header("Model-Version", version);
        return res.set_content(SerializeNpy(t), "application/x-npy");
      }
      ++k;
    }
    return Error(res, 500, "the result lacks output " + npy_output);
  }
  std::optional<uint64_t> header_length;
  std::string body = V2InferResponse(m.model, v2, version, d.outputs, &header_length);
  if (header_length) {
    res.set_header("Inference-Header-Content-Length", std::to_string(*header_length));
    res.set_content(std::move(body), "application/octet-stream");
  } else {
    res.set_content(std::move(body), "application/json");
  }
}

}  // namespace tandem
