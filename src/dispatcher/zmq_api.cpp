#include "dispatcher/zmq_api.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <zmq.hpp>

#include "common/net/curve_keys.h"
#include "common/net/inference.h"
#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "common/util/log.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
constexpr char kClientDomain[] = "clients";

// HTTP's status for what happened, as /metrics counts it.
int StatusFor(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return 200;
    case Status::Code::kUnavailable: return 503;
    case Status::Code::kTimeout: return 504;
    case Status::Code::kInternal: return 500;
    default: return 400;
  }
}

}  // namespace

struct ZmqApi::Impl {
  Impl(V2Model m, ServingQueue& q, ServeMetrics& me, ZmqApiOptions o)
      : model(std::move(m)), queue(q), metrics(me), o(std::move(o)) {}
  V2Model model;
  ServingQueue& queue;
  ServeMetrics& metrics;
  ZmqApiOptions o;
  zmq::context_t ctx{1};
  std::unique_ptr<ZapAuthenticator> zap;
  std::unique_ptr<zmq::socket_t> router;
  uint64_t max_request_bytes = 0;  // the tensors' bytes of a valid request
  // Answers from the queue, handed to the loop's thread.
  int outbox_fd = -1;
  std::mutex outbox_mu;
  std::deque<std::pair<uint64_t, Delivery>> outbox;
  // Requests submitted and not answered, by our own key.
  struct Pending {
    std::string identity;  // the client's routing id
    uint64_t request_id = 0;
    int64_t ticket = 0;
    Clock::time_point started, deadline;
  };
  std::map<uint64_t, Pending> pending;
  uint64_t next_key = 0;
  LogLimiter log_limit;

  void Send(const std::string& identity, const std::string& message) {
    zmq::message_t id(identity.data(), identity.size());
    zmq::message_t body = OwnedMessage(std::string(message));
    // A client gone, or not reading: its answer is dropped (logged).
    auto sent = router->send(id, zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (sent) sent = router->send(body, zmq::send_flags::dontwait);
    uint64_t suppressed = 0;
    if (!sent && log_limit.Allow(&suppressed))
      LogLine(LogLevel::kWarning,
              "zmq api: an answer was dropped: its client is gone or not reading" +
                  (suppressed ? " (" + std::to_string(suppressed) + " more like this not logged)" : std::string()));
  }
  void Fail(const std::string& identity, uint64_t id, const Status& st, Clock::time_point started) {
    Send(identity, EncodeMessage(MessageType::kError, id, ErrorBody{st.code(), st.message()}.Encode()));
    metrics.ObserveRequest(StatusFor(st.code()), std::chrono::duration<double>(Clock::now() - started).count());
  }
  void Answer(const Pending& p, const Delivery& d) {
    metrics.RequestEnded();
    if (!d.ok)
      return Fail(p.identity, p.request_id,
                  d.not_run ? Status::Unavailable(d.error) : Status::Internal("inference failed: " + d.error),
                  p.started);
    InferReplyBody reply;
    reply.generation = static_cast<uint32_t>(d.generation);
    for (const HostTensor& t : d.outputs) {
      if (t.is_none()) continue;
      const size_t k = reply.outputs.size();
      reply.names.push_back(k < model.output_names.size() ? model.output_names[k] : "output_" + std::to_string(k));
      reply.outputs.push_back(t);
    }
    auto body = reply.Encode();
    if (!body.ok()) return Fail(p.identity, p.request_id, body.status(), p.started);
    Send(p.identity, EncodeMessage(MessageType::kInferReply, p.request_id, body.value()));
    metrics.ObserveRequest(200, std::chrono::duration<double>(Clock::now() - p.started).count());
  }
  // The tensors must be the model's inputs, in order.
  Status Check(const std::vector<HostTensor>& inputs) const {
    if (inputs.size() != model.inputs.size())
      return Status::InvalidArgument(std::to_string(inputs.size()) + " input tensor(s); the model takes " +
                                     std::to_string(model.inputs.size()));
    for (size_t i = 0; i < inputs.size(); ++i) {
      const InputSpec& s = model.inputs[i];
      if (inputs[i].dtype != s.dtype || inputs[i].shape != s.shape)
        return Status::InvalidArgument("input " + std::to_string(i) + " ('" + model.input_names.at(i) +
                                       "'): " + DTypeName(inputs[i].dtype) + " " + ShapeToString(inputs[i].shape) +
                                       "; the model takes " + DTypeName(s.dtype) + " " + ShapeToString(s.shape));
    }
    return Status::OK();
  }
};

ZmqApi::ZmqApi(V2Model model, ServingQueue& queue, ServeMetrics& metrics, ZmqApiOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), queue, metrics, std::move(options))) {}

ZmqApi::~ZmqApi() { Stop(); }

Status ZmqApi::Start() {
  Impl& m = *impl_;
  auto ep = ParseTcpEndpoint(m.o.listen);
  if (!ep.ok()) return ep.status().WithContext("--zmq-listen");
  if (!m.o.keys && !IsLoopbackHost(ep->host))
    return Status::InvalidArgument("--zmq-listen " + m.o.listen +
                                   ": another address than loopback needs keys (the cluster's dispatcher.secret_key "
                                   "or --zmq-secret-key) and --zmq-client-keys");
  if (m.o.keys && m.o.client_keys.empty())
    return Status::InvalidArgument("--zmq-listen " + m.o.listen +
                                   ": with keys, --zmq-client-keys must name the clients' public keys");
  for (const InputSpec& s : m.model.inputs) m.max_request_bytes += ShapeBytes(s.dtype, s.shape).value();
  if (m.o.keys) {
    const std::set<std::string> allowed = m.o.client_keys;
    m.zap = std::make_unique<ZapAuthenticator>(m.ctx, [allowed](const std::string& domain, const std::string& key) {
      return domain == kClientDomain && allowed.count(key) ? "client " + KeyFingerprint(key) : std::string();
    });
    TANDEM_RETURN_IF_ERROR(m.zap->Start());
  }
  m.router = std::make_unique<zmq::socket_t>(m.ctx, zmq::socket_type::router);
  SocketOptions so;
  // A valid request: header, counts, per input dtype, rank, dims and size.
  so.max_message_bytes =
      static_cast<int64_t>(m.max_request_bytes + kHeaderSize + 8 + m.model.inputs.size() * (2 + 8 * 8 + 8) + 64);
  so.send_hwm = 100000;  // answers: bounded by the queue, dropped for a client that never reads
  so.recv_hwm = 1000;
  ApplySocketOptions(*m.router, so);
  m.router->set(zmq::sockopt::router_mandatory, 1);
  TANDEM_RETURN_IF_ERROR(SecureServerSocket(*m.router, m.o.keys, kClientDomain));
  TANDEM_RETURN_IF_ERROR(BindSocket(*m.router, m.o.listen).WithContext("--zmq-listen"));
  endpoint_ = LastEndpoint(*m.router);
  m.outbox_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.outbox_fd < 0) return Status::IOError("eventfd failed");
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void ZmqApi::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  const uint64_t one = 1;
  if (::write(impl_->outbox_fd, &one, sizeof one) < 0) {
    // EAGAIN: the loop is woken anyway.
  }
  thread_.join();
  if (impl_->zap) impl_->zap->Stop();
  ::close(impl_->outbox_fd);
}

void ZmqApi::Loop() {
  Impl& m = *impl_;
  auto handle = [&](const std::string& identity, zmq::message_t& msg) {
    const auto started = Clock::now();
    auto h = DecodeHeader(msg.data(), msg.size());
    if (!h.ok()) return m.Fail(identity, 0, h.status(), started);
    if (h->type != MessageType::kInferRequest)
      return m.Fail(
          identity, h->id,
          Status::Unsupported(std::string("this socket takes INFER_REQUEST, not ") + MessageTypeName(h->type)),
          started);
    if (!ready_ || stop_)
      return m.Fail(identity, h->id, Status::Unavailable("not ready: deploying or shutting down"), started);
    Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
    auto body = InferRequestBody::Decode(r, m.max_request_bytes);
    if (!body.ok()) return m.Fail(identity, h->id, Status::InvalidArgument(body.status().message()), started);
    Status ok = m.Check(body->inputs);
    if (!ok.ok()) return m.Fail(identity, h->id, ok, started);
    // A client is its key, or without keys its address.
    std::string client = MessageUserId(msg);
    if (client.empty()) {
      const char* addr = msg.gets("Peer-Address");
      client = std::string("zmq ") + (addr ? addr : "?");
    }
    const uint64_t key = m.next_key++;
    const int64_t n = static_cast<int64_t>(key);
    auto ticket =
        m.queue.Submit(std::move(body->inputs), "zmq-" + std::to_string(n), client, [&m, key](const Delivery& d) {
          {
            std::lock_guard<std::mutex> lock(m.outbox_mu);
            m.outbox.emplace_back(key, d);
          }
          const uint64_t one = 1;
          if (::write(m.outbox_fd, &one, sizeof one) < 0) {
            // EAGAIN: the loop is woken anyway.
          }
        });
    if (!ticket.ok()) return m.Fail(identity, h->id, ticket.status(), started);
    double timeout_s = m.o.request_timeout_s;
    if (body->timeout_ms > 0) timeout_s = std::min(timeout_s, body->timeout_ms / 1000.0);
    Impl::Pending& p = m.pending[key];
    p.identity = identity;
    p.request_id = h->id;
    p.ticket = ticket->id;
    p.started = started;
    p.deadline = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    m.metrics.RequestStarted();
  };

  zmq::pollitem_t items[2] = {{static_cast<void*>(*m.router), 0, ZMQ_POLLIN, 0}, {nullptr, m.outbox_fd, ZMQ_POLLIN, 0}};
  while (!stop_) {
    long wait_ms = 100;
    const auto now = Clock::now();
    for (const auto& [key, p] : m.pending)
      wait_ms = std::min<long>(
          wait_ms,
          std::max<long>(0, std::chrono::duration_cast<std::chrono::milliseconds>(p.deadline - now).count() + 1));
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(wait_ms));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      LogLine(LogLevel::kError, std::string("zmq api: poll: ") + e.what());
      break;
    }
    // Requests, a bounded number per turn so that answers keep flowing.
    for (int k = 0; k < 256 && (items[0].revents & ZMQ_POLLIN); ++k) {
      zmq::message_t identity, msg;
      if (!m.router->recv(identity, zmq::recv_flags::dontwait)) break;
      if (!identity.more()) continue;
      (void)m.router->recv(msg, zmq::recv_flags::none);
      bool extra = false;
      while (msg.more()) {  // a message of several frames is not ours
        zmq::message_t rest;
        (void)m.router->recv(rest, zmq::recv_flags::none);
        extra = true;
        if (!rest.more()) break;
      }
      const std::string id(static_cast<const char*>(identity.data()), identity.size());
      if (extra) {
        m.Fail(id, 0, Status::InvalidArgument("a request is one ZeroMQ frame"), Clock::now());
        continue;
      }
      handle(id, msg);
    }
    // Answers.
    if (items[1].revents & ZMQ_POLLIN) {
      uint64_t drained;
      if (::read(m.outbox_fd, &drained, sizeof drained) < 0) {
        // EAGAIN: nothing to read after all.
      }
    }
    std::deque<std::pair<uint64_t, Delivery>> answers;
    {
      std::lock_guard<std::mutex> lock(m.outbox_mu);
      answers.swap(m.outbox);
    }
    for (auto& [key, d] : answers) {
      auto it = m.pending.find(key);
      if (it == m.pending.end()) continue;  // answered at its deadline already
      m.Answer(it->second, d);
      m.pending.erase(it);
    }
    // Deadlines: withdrawn if not sent yet, else its result will be dropped.
    const auto after = Clock::now();
    for (auto it = m.pending.begin(); it != m.pending.end();) {
      if (it->second.deadline > after) {
        ++it;
        continue;
      }
      Impl::Pending p = std::move(it->second);
      it = m.pending.erase(it);
      const bool withdrawn = m.queue.Cancel(p.ticket);
      m.metrics.RequestEnded();
      m.Fail(
          p.identity, p.request_id,
          Status::Timeout(std::string("no result within its deadline") +
                          (withdrawn ? " (withdrawn before it was sent)" : " (it still runs; its result is dropped)")),
          p.started);
    }
  }
  // Requests still waiting are answered: the queue answers them when it is
  // failed, after this loop; here the clients hear it now.
  for (auto& [key, p] : m.pending) {
    m.metrics.RequestEnded();
    m.Fail(p.identity, p.request_id, Status::Unavailable("the dispatcher stopped before this request was answered"),
           p.started);
  }
  m.pending.clear();
  m.router->set(zmq::sockopt::linger, 500);
  m.router.reset();
}

}  // namespace tandem
