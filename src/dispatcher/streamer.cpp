#include "dispatcher/streamer.h"

#include <algorithm>
#include <chrono>
#include <map>

#include <unistd.h>

#include "common/net/activation.h"
#include "common/net/protocol.h"
#include "common/net/transport.h"
#include "common/util/log.h"

namespace tandem {

using Clock = std::chrono::steady_clock;

void AddStageTiming(const StageTiming& t, StageStats* s) {
  ++s->count;
  s->compute_s += t.compute_us * 1e-6;
  s->queue_s += t.queue_us * 1e-6;
  s->decode_s += t.decode_us * 1e-6;
  s->encode_s += t.encode_us * 1e-6;
  s->bytes_out += t.bytes_out;
  s->max_abs_error = std::max(s->max_abs_error, t.max_abs_error);
}

Streamer::Streamer(zmq::context_t& ctx, LinkKeys keys) : ctx_(ctx), keys_(std::move(keys)) {}

Status Streamer::Bind(const std::string& bind) {
  results_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pull);
  SocketOptions so;
  so.max_message_bytes = 1ll << 30;
  ApplySocketOptions(*results_, so);
  results_->set(zmq::sockopt::handshake_ivl, 5000);
  TANDEM_RETURN_IF_ERROR(SecureServerSocket(*results_, keys_, kResultsDomain));
  TANDEM_RETURN_IF_ERROR(BindSocket(*results_, bind));
  bound_ = LastEndpoint(*results_);
  return Status::OK();
}

namespace {

struct Request {
  int64_t index = 0;
  std::vector<HostTensor> inputs;  // kept until the result arrives (for replay)
  uint32_t version = 0;            // the deployment it was last sent to (0: waiting to be sent)
  int attempts = 0;
  Clock::time_point sent;
  uint64_t sent_unix_us = 0;
  uint64_t sent_bytes = 0;  // its frame
};

// Adds one request's per-hop transfer times to `hops` (resized to stages +
// 1) when every stage stamped its times.
void AddTransfers(const std::vector<StageTiming>& t, uint32_t num_stages, uint64_t sent_us, uint64_t received_us,
                  std::vector<std::vector<double>>* hops) {
  if (t.size() != num_stages || sent_us == 0) return;
  for (uint32_t k = 0; k < num_stages; ++k)
    if (t[k].stage != k || t[k].recv_unix_us == 0 || t[k].send_unix_us == 0) return;
  if (hops->size() != num_stages + 1) hops->assign(num_stages + 1, {});
  auto diff = [](uint64_t later, uint64_t earlier) {
    return (static_cast<double>(later) - static_cast<double>(earlier)) * 1e-6;
  };
  (*hops)[0].push_back(diff(t[0].recv_unix_us, sent_us));
  for (uint32_t k = 1; k < num_stages; ++k) (*hops)[k].push_back(diff(t[k].recv_unix_us, t[k - 1].send_unix_us));
  (*hops)[num_stages].push_back(diff(received_us, t[num_stages - 1].send_unix_us));
}

double UnixNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// One Run: the requests in flight, the results waiting for their turn, the
// report. Each method is one step of the loop in Run().
class StreamSession {
 public:
  StreamSession(zmq::context_t& ctx, const LinkKeys& keys, zmq::socket_t& results, InputSource& inputs,
                Director& director, const StreamOptions& o)
      : ctx_(ctx), keys_(keys), results_(results), inputs_(inputs), director_(director), o_(o) {}

  Result<StreamReport> Run(const ResultSink& sink, const std::atomic<bool>& stop,
                           const std::function<void(int, int)>& progress) {
    for (;;) {
      // open() before count(): once closed, the count read after is final.
      const bool more = inputs_.open();
      if (!more && next_deliver_ >= inputs_.count()) break;
      if (stop) {
        rep_.interrupted = true;
        break;
      }
      std::map<uint32_t, size_t> per_version;
      for (const auto& [id, r] : in_flight_)
        if (r.version != 0) ++per_version[r.version];
      TANDEM_RETURN_IF_ERROR(director_.Tick(per_version));
      if (const Route* route = director_.route()) {
        routes_seen_.emplace(route->version, *route);
        TANDEM_RETURN_IF_ERROR(ConnectTo(*route));
        TANDEM_RETURN_IF_ERROR(SendDue(*route));
      }
      TANDEM_RETURN_IF_ERROR(Receive());
      // Deliver in input order.
      for (auto f = finished_.find(next_deliver_); f != finished_.end(); f = finished_.find(next_deliver_)) {
        TANDEM_RETURN_IF_ERROR(sink(f->second));
        finished_.erase(f);
        ++next_deliver_;
        if (progress) progress(static_cast<int>(next_deliver_), static_cast<int>(inputs_.count()));
      }
    }
    rep_.unanswered = inputs_.count() - next_deliver_;
    rep_.seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    return std::move(rep_);
  }

 private:
  // A push socket to the route's stage 0, made anew when the route changes.
  Status ConnectTo(const Route& route) {
    if (push_ && push_hop_ == route.first_hop && push_version_ == route.version) return Status::OK();
    // Requests still queued for a pipeline that is live (a model update
    // switched the route) get a moment to leave; a dead one's are replayed.
    if (push_) push_->set(zmq::sockopt::linger, director_.Live(push_version_) ? 2000 : 0);
    push_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
    SocketOptions so;
    so.linger_ms = 0;
    ApplySocketOptions(*push_, so);
    push_->set(zmq::sockopt::sndtimeo, 20);
    TANDEM_RETURN_IF_ERROR(SecureClientSocket(*push_, keys_, route.first_hop_key).WithContext(route.first_hop));
    TANDEM_RETURN_IF_ERROR(ConnectSocket(*push_, route.first_hop));
    push_hop_ = route.first_hop;
    push_version_ = route.version;
    return Status::OK();
  }

  // Sends what is due: requests never sent or sent to a pipeline that is
  // gone (replays, oldest first), those past the result timeout, then new
  // ones while the window has room.
  Status SendDue(const Route& route) {
    const auto now = Clock::now();
    std::vector<uint64_t> to_send;
    for (auto& [id, r] : in_flight_) {
      const bool lost = r.version != 0 && !director_.Live(r.version);
      const bool overdue = r.version != 0 && now - r.sent > std::chrono::duration<double>(o_.result_timeout_s);
      if (r.version == 0 || lost || overdue) to_send.push_back(id);
    }
    while (director_.AcceptingNew() && next_new_ < inputs_.count() &&
           static_cast<int>(in_flight_.size() + finished_.size()) < o_.window) {
      Request r;
      r.index = next_new_;
      auto got = inputs_.Get(next_new_);
      if (!got.ok() && inputs_.Cancelled(next_new_)) {  // withdrawn: answered here, never sent
        Delivery d = Answered(r, nullptr);
        d.error = "withdrawn before it was sent";
        d.not_run = true;
        finished_[next_new_++] = std::move(d);
        continue;
      }
      if (!got.ok()) return got.status();
      r.inputs = std::move(got).value();
      const uint64_t id = static_cast<uint64_t>(next_new_) + 1;  // the wire id; the version tells deployments apart
      in_flight_[id] = std::move(r);
      to_send.push_back(id);
      ++next_new_;
    }
    for (uint64_t id : to_send) {
      auto it = in_flight_.find(id);
      Request& r = it->second;
      if (r.attempts >= o_.max_attempts) {
        Fail(id, r,
             "no result after " + std::to_string(r.attempts) +
                 " sends (pipeline failures or timeouts); giving up on it");
        in_flight_.erase(it);
        continue;
      }
      EncodeStats es;
      auto encoded = EncodeActivation(id, ActivationHeader{route.version, 0}, r.inputs, route.codec, {}, nullptr, &es);
      if (!encoded.ok()) return encoded.status().WithContext(inputs_.Name(r.index));
      const size_t size = encoded->size();
      zmq::message_t zmsg = OwnedMessage(std::move(encoded).value());
      const uint64_t sent_us = UnixMicros();
      // Stage 0 not taking requests now (busy, or gone: the director will
      // tell): the next turn tries again; an earlier send may still answer.
      if (!SendMessage(*push_, zmsg)) break;
      if (r.attempts > 0) ++rep_.replayed;
      ++r.attempts;
      r.version = route.version;
      r.sent = Clock::now();
      r.sent_unix_us = sent_us;
      r.sent_bytes = size;
      rep_.first_hop_bytes += size;
      rep_.first_hop_raw_bytes += es.raw_bytes;
      rep_.first_hop_max_error = std::max(rep_.first_hop_max_error, es.max_abs_error);
    }
    return Status::OK();
  }

  // Takes every result waiting (up to 50 ms for the first, less when the
  // source says a request came).
  Status Receive() {
    zmq::pollitem_t items[2] = {{static_cast<void*>(results_), 0, ZMQ_POLLIN, 0},
                                {nullptr, inputs_.wakeup_fd(), ZMQ_POLLIN, 0}};
    const int n = items[1].fd >= 0 ? 2 : 1;
    int ready = 0;
    try {
      ready = zmq::poll(items, n, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Unavailable(std::string("results socket: ") + e.what());
    }
    if (ready <= 0) return Status::OK();
    if (n == 2 && (items[1].revents & ZMQ_POLLIN)) {
      uint64_t wakes = 0;
      if (::read(items[1].fd, &wakes, sizeof wakes) < 0) {
        // EAGAIN: another read emptied it; nothing else can fail on an eventfd.
      }
    }
    if (!(items[0].revents & ZMQ_POLLIN)) return Status::OK();
    zmq::message_t msg;
    while (results_.recv(msg, zmq::recv_flags::dontwait)) Accept(msg);
    return Status::OK();
  }

  // One message from a last stage: a result, a failure, or something stale.
  void Accept(const zmq::message_t& msg) {
    const uint64_t received_us = UnixMicros();
    auto h = DecodeHeader(msg.data(), msg.size());
    if (!h.ok()) return;
    auto it = in_flight_.find(h->id);
    if (it == in_flight_.end()) {  // already answered: each request is answered once
      ++rep_.duplicates;
      return;
    }
    Request& req = it->second;
    Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
    if (h->type == MessageType::kRequestFailed) {
      auto f = RequestFailedBody::Decode(r);
      auto fr = f.ok() ? routes_seen_.find(f->model_version) : routes_seen_.end();
      if (!f.ok() || f->model_version != req.version || fr == routes_seen_.end() ||
          (keys_ && MessageUserId(msg) != ResultsUserId(fr->second.last_key))) {
        ++rep_.duplicates;
        return;
      }
      Fail(h->id, req, Printable(f->message));
      in_flight_.erase(it);
      return;
    }
    if (h->type != MessageType::kActivation) return;
    auto ah = DecodeActivationHeader(r);
    auto rs = ah.ok() ? routes_seen_.find(ah->model_version) : routes_seen_.end();
    if (!ah.ok() || ah->model_version != req.version || rs == routes_seen_.end() ||
        ah->stage != rs->second.num_stages) {
      ++rep_.duplicates;  // a late result of an earlier send
      return;
    }
    if (keys_ && MessageUserId(msg) != ResultsUserId(rs->second.last_key)) {
      ++rep_.duplicates;  // not from that pipeline's last stage: dropped
      return;
    }
    auto payload = DecodeActivationPayload(r, ah.value(), o_.max_result_bytes);
    if (!payload.ok()) {
      // A result that does not decode fails its request, with the reason.
      Fail(h->id, req, "its result does not decode: " + payload.status().message());
    } else {
      Complete(req, rs->second, std::move(payload).value(), received_us);
    }
    in_flight_.erase(it);
  }

  void Complete(const Request& req, const Route& route, ActivationPayload payload, uint64_t received_us) {
    const auto arrived = Clock::now();
    if (o_.keep_samples) {
      rep_.latencies_s.push_back(std::chrono::duration<double>(arrived - req.sent).count());
      rep_.arrivals_s.push_back(std::chrono::duration<double>(arrived - start_).count());
    }
    if (rep_.stages.size() != route.num_stages) {
      rep_.stages.assign(route.num_stages, StageStats());
      rep_.hop_transfer_s.clear();
    }
    if (req.attempts == 1 && o_.keep_samples)
      AddTransfers(payload.timings, route.num_stages, req.sent_unix_us, received_us, &rep_.hop_transfer_s);
    for (const auto& t : payload.timings)
      if (t.stage < rep_.stages.size()) AddStageTiming(t, &rep_.stages[t.stage]);
    director_.Observe(route.version, payload.timings, RequestClock{req.sent_unix_us, req.sent_bytes, received_us});
    Delivery d = Answered(req, &route);
    d.ok = true;
    d.outputs = std::move(payload.tensors);
    d.timings = std::move(payload.timings);
    finished_[req.index] = std::move(d);
    ++rep_.completed;
    ++rep_.by_generation[route.generation];
  }

  void Fail(uint64_t id, const Request& r, const std::string& why) {
    if (o_.keep_samples)
      rep_.failures.push_back("request " + std::to_string(id) + " (" + inputs_.Name(r.index) + "): " + why);
    ++rep_.failed;
    auto rs = routes_seen_.find(r.version);
    Delivery d = Answered(r, rs != routes_seen_.end() ? &rs->second : nullptr);
    d.error = why;
    finished_[r.index] = std::move(d);
  }

  // The outcome's common fields: the request, and the pipeline it was last sent to (if any).
  static Delivery Answered(const Request& r, const Route* route) {
    Delivery d;
    d.index = r.index;
    d.attempts = r.attempts;
    d.received_unix_s = UnixNow();
    if (route) {
      d.generation = route->generation;
      d.model_sha256 = route->model_sha256;
      d.pipeline = route->pipeline;
    }
    return d;
  }

  zmq::context_t& ctx_;
  const LinkKeys& keys_;
  zmq::socket_t& results_;
  InputSource& inputs_;
  Director& director_;
  const StreamOptions& o_;
  const Clock::time_point start_ = Clock::now();
  std::unique_ptr<zmq::socket_t> push_;  // to the route's stage 0
  std::string push_hop_;
  uint32_t push_version_ = 0;
  StreamReport rep_;
  std::map<uint64_t, Request> in_flight_;        // by wire id = index + 1
  std::map<int64_t, Delivery> finished_;         // index -> outcome, until its turn
  std::map<uint32_t, const Route> routes_seen_;  // version -> route (for deliveries)
  int64_t next_new_ = 0, next_deliver_ = 0;
};

}  // namespace

Result<StreamReport> Streamer::Run(InputSource& inputs, Director& director, const StreamOptions& options,
                                   const ResultSink& sink, const std::atomic<bool>& stop,
                                   const std::function<void(int, int)>& progress) {
  if (!results_) return Status::Internal("Streamer::Run before Bind");
  StreamSession session(ctx_, keys_, *results_, inputs, director, options);
  return session.Run(sink, stop, progress);
}

}  // namespace tandem
