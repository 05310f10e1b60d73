#include "dispatcher/stream.h"

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>

#include "common/file_util.h"
#include "common/npy.h"
#include "common/protocol.h"
#include "common/transport.h"

namespace tandem {

using Clock = std::chrono::steady_clock;

Result<std::unique_ptr<DirectoryInputs>> DirectoryInputs::Open(const std::string& dir,
                                                               const std::vector<int64_t>& shape) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Status::NotFound(dir + ": cannot open input directory: " + std::strerror(errno));
  auto in = std::make_unique<DirectoryInputs>();
  in->dir_ = dir;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".npy") == 0) in->files_.push_back(n);
  }
  ::closedir(d);
  std::sort(in->files_.begin(), in->files_.end());
  if (in->files_.empty()) return Status::InvalidArgument(dir + ": no .npy input files");
  in->shape_ = shape;
  // Check every input before anything is streamed.
  for (const auto& f : in->files_) {
    TANDEM_ASSIGN_OR_RETURN(HostTensor t, ReadNpy(dir + "/" + f));
    if (t.dtype != DType::kFloat32)
      return Status::InvalidArgument(dir + "/" + f + ": dtype " + DTypeName(t.dtype) + ", inputs must be float32");
    if (in->shape_.empty()) in->shape_ = t.shape;
    if (t.shape != in->shape_)
      return Status::InvalidArgument(dir + "/" + f + ": shape " + ShapeToString(t.shape) + " differs from the input shape " +
                                     ShapeToString(in->shape_));
  }
  return in;
}

Result<HostTensor> DirectoryInputs::Get(int i) { return ReadNpy(dir_ + "/" + files_.at(i)); }

std::string DirectoryInputs::Name(int i) const { return files_.at(i).substr(0, files_.at(i).size() - 4); }

Result<HostTensor> SyntheticInputs::Get(int i) {
  HostTensor t = HostTensor::Zeros(DType::kFloat32, shape_);
  std::mt19937 rng(1000003u * static_cast<uint32_t>(i) + 17u);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (int64_t k = 0; k < t.numel(); ++k) t.f32()[k] = dist(rng);
  return t;
}

std::string SyntheticInputs::Name(int i) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "request-%06d", i);
  return buf;
}

Status WriteOutputs(const std::string& dir, const std::string& name, const std::vector<HostTensor>& outputs) {
  for (size_t k = 0; k < outputs.size(); ++k) {
    if (outputs[k].is_none()) continue;
    const std::string file =
        dir + "/" + name + (outputs.size() == 1 ? ".out.npy" : ".out." + std::to_string(k) + ".npy");
    TANDEM_RETURN_IF_ERROR(WriteNpy(file, outputs[k]));
  }
  return Status::OK();
}

Streamer::Streamer(zmq::context_t& ctx) : ctx_(ctx) {}

Status Streamer::Bind(const std::string& bind) {
  results_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pull);
  SocketOptions so;
  so.max_message_bytes = 1ll << 30;
  ApplySocketOptions(*results_, so);
  TANDEM_RETURN_IF_ERROR(BindSocket(*results_, bind));
  bound_ = LastEndpoint(*results_);
  return Status::OK();
}

namespace {

struct Request {
  int index = 0;
  HostTensor input;  // kept until the result arrives (for replay)
  uint32_t version = 0;  // the deployment it was last sent to (0: waiting to be sent)
  int attempts = 0;
  Clock::time_point sent;
  uint64_t sent_unix_us = 0;
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

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Result<StreamReport> Streamer::Run(InputSource& inputs, Director& director, const StreamOptions& o,
                                   const ResultSink& sink, const std::atomic<bool>& stop,
                                   const std::function<void(int, int)>& progress) {
  if (!results_) return Status::Internal("Streamer::Run before Bind");
  std::unique_ptr<zmq::socket_t> push;  // to the route's stage 0
  std::string push_hop;
  uint32_t push_version = 0;

  StreamReport rep;
  const int total = inputs.count();
  // Request id on the wire = index + 1; the version tells deployments apart.
  std::map<uint64_t, Request> in_flight;
  std::map<int, Delivery> finished;  // index -> outcome, until its turn
  std::map<uint32_t, const Route> routes_seen;  // version -> route (for deliveries)
  int next_new = 0, next_deliver = 0;
  const auto start = Clock::now();
  DecodeLimits limits;
  zmq::pollitem_t item{static_cast<void*>(*results_), 0, ZMQ_POLLIN, 0};

  auto fail = [&](uint64_t id, Request& r, const std::string& why) {
    rep.failures.push_back("request " + std::to_string(id) + " (" + inputs.Name(r.index) + "): " + why);
    ++rep.failed;
    Delivery d;
    d.index = r.index;
    d.error = why;
    d.attempts = r.attempts;
    d.received_unix_s = UnixNow();
    auto rs = routes_seen.find(r.version);
    if (rs != routes_seen.end()) {
      d.generation = rs->second.generation;
      d.model_sha256 = rs->second.model_sha256;
      d.pipeline = rs->second.pipeline;
    }
    finished[r.index] = std::move(d);
  };

  while (next_deliver < total) {
    if (stop) {
      rep.interrupted = true;
      break;
    }
    std::map<uint32_t, size_t> per_version;
    for (const auto& [id, r] : in_flight)
      if (r.version != 0) ++per_version[r.version];
    TANDEM_RETURN_IF_ERROR(director.Tick(per_version));
    const Route* route = director.route();
    const auto now = Clock::now();
    if (route) {
      routes_seen.emplace(route->version, *route);
      if (!push || push_hop != route->first_hop || push_version != route->version) {
        // Requests still queued for a pipeline that is live (a model update
        // switched the route) get a moment to leave; a dead one's are replayed.
        if (push) push->set(zmq::sockopt::linger, director.Live(push_version) ? 2000 : 0);
        push = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
        SocketOptions so;
        so.linger_ms = 0;
        ApplySocketOptions(*push, so);
        push->set(zmq::sockopt::sndtimeo, 20);
        TANDEM_RETURN_IF_ERROR(ConnectSocket(*push, route->first_hop));
        push_hop = route->first_hop;
        push_version = route->version;
      }
      // Requests to send: those never sent or sent to a pipeline that is
      // gone (replays, oldest first), those past the result timeout, then
      // new ones while the window has room.
      std::vector<uint64_t> to_send;
      for (auto& [id, r] : in_flight) {
        const bool lost = r.version != 0 && !director.Live(r.version);
        const bool overdue = r.version != 0 && now - r.sent > std::chrono::duration<double>(o.result_timeout_s);
        if (r.version == 0 || lost || overdue) to_send.push_back(id);
      }
      while (director.AcceptingNew() && next_new < total &&
             static_cast<int>(in_flight.size() + finished.size()) < o.window) {
        Request r;
        r.index = next_new;
        TANDEM_ASSIGN_OR_RETURN(r.input, inputs.Get(next_new));
        const uint64_t id = static_cast<uint64_t>(next_new) + 1;
        in_flight[id] = std::move(r);
        to_send.push_back(id);
        ++next_new;
      }
      for (uint64_t id : to_send) {
        auto it = in_flight.find(id);
        Request& r = it->second;
        if (r.attempts >= o.max_attempts) {
          fail(id, r, "no result after " + std::to_string(r.attempts) +
                          " sends (pipeline failures or timeouts); giving up on it");
          in_flight.erase(it);
          continue;
        }
        std::string msg = StartMessage();
        msg += EncodeActivationPrefix(ActivationHeader{route->version, 0}, 1);
        EncodeStats es;
        TANDEM_RETURN_IF_ERROR(EncodeTensor(r.input, route->codec, &msg, &es).WithContext(inputs.Name(r.index)));
        EncodeTimings({}, &msg);
        FinishMessage(MessageType::kActivation, id, &msg);
        const size_t size = msg.size();
        zmq::message_t zmsg = OwnedMessage(std::move(msg));
        const uint64_t sent_us = UnixMicros();
        if (!SendMessage(*push, zmsg)) {
          // Stage 0 is not taking requests now (busy, or gone: the director
          // will tell). The next turn tries again; an earlier send, if any,
          // may still answer meanwhile.
          break;
        }
        if (r.attempts > 0) ++rep.replayed;
        ++r.attempts;
        r.version = route->version;
        r.sent = Clock::now();
        r.sent_unix_us = sent_us;
        rep.first_hop_bytes += size;
        rep.first_hop_raw_bytes += r.input.nbytes();
        rep.first_hop_max_error = std::max(rep.first_hop_max_error, es.max_abs_error);
      }
    }
    int ready = 0;
    try {
      ready = zmq::poll(&item, 1, std::chrono::milliseconds(50));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Unavailable(std::string("results socket: ") + e.what());
    }
    if (ready > 0) {
      zmq::message_t msg;
      while (results_->recv(msg, zmq::recv_flags::dontwait)) {
        auto h = DecodeHeader(msg.data(), msg.size());
        if (!h.ok()) continue;
        auto it = in_flight.find(h->id);
        if (it == in_flight.end()) {  // already answered: each request is answered once
          ++rep.duplicates;
          continue;
        }
        Request& req = it->second;
        Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
        if (h->type == MessageType::kRequestFailed) {
          auto f = RequestFailedBody::Decode(r);
          if (!f.ok() || f->model_version != req.version) {
            ++rep.duplicates;
            continue;
          }
          fail(h->id, req, f->message);
          in_flight.erase(it);
          continue;
        }
        if (h->type != MessageType::kActivation) continue;
        uint32_t n = 0;
        auto ah = DecodeActivationPrefix(r, &n);
        auto rs = ah.ok() ? routes_seen.find(ah->model_version) : routes_seen.end();
        if (!ah.ok() || ah->model_version != req.version || rs == routes_seen.end() ||
            ah->stage != rs->second.num_stages) {
          ++rep.duplicates;  // a late result of an earlier send
          continue;
        }
        std::vector<HostTensor> outs;
        Status st;
        uint64_t budget = o.max_result_bytes;  // for the whole message
        for (uint32_t k = 0; k < n && st.ok(); ++k) {
          limits.max_tensor_bytes = budget;
          auto t = DecodeTensor(&r, limits);
          if (t.ok()) {
            budget -= t->nbytes();
            outs.push_back(std::move(t).value());
          } else {
            st = t.status();
          }
        }
        auto timings = st.ok() ? DecodeTimings(r) : Result<std::vector<StageTiming>>(st);
        if (!timings.ok()) {
          // A result that does not decode fails its request, with the reason.
          fail(h->id, req, "its result does not decode: " + timings.status().message());
          in_flight.erase(it);
          continue;
        }
        const auto arrived = Clock::now();
        rep.latencies_s.push_back(std::chrono::duration<double>(arrived - req.sent).count());
        rep.arrivals_s.push_back(std::chrono::duration<double>(arrived - start).count());
        if (rep.stages.size() != rs->second.num_stages) {
          rep.stages.assign(rs->second.num_stages, StageStats());
          rep.hop_transfer_s.clear();
        }
        if (req.attempts == 1)
          AddTransfers(timings.value(), rs->second.num_stages, req.sent_unix_us, UnixMicros(), &rep.hop_transfer_s);
        for (const auto& t : timings.value()) {
          if (t.stage >= rep.stages.size()) continue;
          auto& s = rep.stages[t.stage];
          ++s.count;
          s.compute_s += t.compute_us * 1e-6;
          s.queue_s += t.queue_us * 1e-6;
          s.decode_s += t.decode_us * 1e-6;
          s.encode_s += t.encode_us * 1e-6;
          s.bytes_out += t.bytes_out;
          s.max_abs_error = std::max(s.max_abs_error, t.max_abs_error);
        }
        Delivery d;
        d.index = req.index;
        d.ok = true;
        d.outputs = std::move(outs);
        d.generation = rs->second.generation;
        d.model_sha256 = rs->second.model_sha256;
        d.pipeline = rs->second.pipeline;
        d.received_unix_s = UnixNow();
        d.attempts = req.attempts;
        finished[req.index] = std::move(d);
        ++rep.completed;
        ++rep.by_generation[rs->second.generation];
        in_flight.erase(it);
      }
    }
    // Deliver in input order.
    while (next_deliver < total) {
      auto f = finished.find(next_deliver);
      if (f == finished.end()) break;
      TANDEM_RETURN_IF_ERROR(sink(f->second));
      finished.erase(f);
      ++next_deliver;
      if (progress) progress(next_deliver, total);
    }
  }
  rep.unanswered = total - next_deliver;
  rep.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return rep;
}

}  // namespace tandem
