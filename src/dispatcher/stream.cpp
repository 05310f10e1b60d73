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

struct InFlight {
  int index = 0;
  HostTensor input;  // kept until the result arrives (for replay)
  Clock::time_point sent;
};

}  // namespace

Result<StreamReport> Streamer::Run(InputSource& inputs, const StreamOptions& o, const ResultSink& sink,
                                   const std::atomic<bool>& stop, const std::function<void(int, int)>& progress) {
  if (!results_) return Status::Internal("Streamer::Run before Bind");
  zmq::socket_t push(ctx_, zmq::socket_type::push);
  SocketOptions so;
  so.linger_ms = 0;
  ApplySocketOptions(push, so);
  push.set(zmq::sockopt::sndtimeo, 100);
  TANDEM_RETURN_IF_ERROR(ConnectSocket(push, o.first_hop));

  StreamReport rep;
  rep.stages.resize(o.num_stages);
  const int total = inputs.count();
  std::map<uint64_t, InFlight> in_flight;           // request id -> input
  std::map<int, std::vector<HostTensor>> finished;  // index -> outputs, until their turn
  std::map<int, bool> failed_indices;
  int next_send = 0, next_deliver = 0;
  const auto start = Clock::now();
  auto last_progress = Clock::now();
  auto last_health = Clock::now();
  DecodeLimits limits;
  limits.max_tensor_bytes = o.max_result_bytes;
  zmq::pollitem_t item{static_cast<void*>(*results_), 0, ZMQ_POLLIN, 0};

  while (next_deliver < total) {
    if (stop) {
      rep.interrupted = true;
      break;
    }
    // Fill the window: requests in flight plus results waiting for their
    // turn, so memory stays bounded when one request is slow.
    while (next_send < total && static_cast<int>(in_flight.size() + finished.size()) < o.window && !stop) {
      TANDEM_ASSIGN_OR_RETURN(HostTensor x, inputs.Get(next_send));
      std::string msg = StartMessage();
      msg += EncodeActivationPrefix(ActivationHeader{o.model_version, 0}, 1);
      EncodeStats es;
      TANDEM_RETURN_IF_ERROR(EncodeTensor(x, o.codec, &msg, &es).WithContext(inputs.Name(next_send)));
      EncodeTimings({}, &msg);
      const uint64_t id = static_cast<uint64_t>(next_send) + 1;
      FinishMessage(MessageType::kActivation, id, &msg);
      const size_t size = msg.size();
      zmq::message_t zmsg = OwnedMessage(std::move(msg));
      bool sent = false;
      while (!stop && !(sent = SendMessage(push, zmsg))) {
        if (Clock::now() - last_progress > std::chrono::duration<double>(o.result_timeout_s))
          return Status::Timeout("stage 0 (" + o.first_hop + ") accepted no request for " +
                                 std::to_string(static_cast<int>(o.result_timeout_s)) + " s");
      }
      if (!sent) break;
      rep.first_hop_bytes += size;
      rep.first_hop_raw_bytes += x.nbytes();
      rep.first_hop_max_error = std::max(rep.first_hop_max_error, es.max_abs_error);
      in_flight[id] = InFlight{next_send, std::move(x), Clock::now()};
      ++next_send;
    }
    int ready = 0;
    try {
      ready = zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Status::Unavailable(std::string("results socket: ") + e.what());
    }
    if (ready > 0) {
      zmq::message_t msg;
      while (results_->recv(msg, zmq::recv_flags::dontwait)) {
        auto h = DecodeHeader(msg.data(), msg.size());
        if (!h.ok()) continue;
        auto it = in_flight.find(h->id);
        if (it == in_flight.end()) continue;  // a duplicate or a stale result: each request is answered once
        Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
        if (h->type == MessageType::kRequestFailed) {
          auto f = RequestFailedBody::Decode(r);
          if (!f.ok() || f->model_version != o.model_version) continue;
          rep.failures.push_back("request " + std::to_string(h->id) + " (" + inputs.Name(it->second.index) +
                                 "): " + f->message);
          ++rep.failed;
          failed_indices[it->second.index] = true;
          in_flight.erase(it);
          last_progress = Clock::now();
          continue;
        }
        if (h->type != MessageType::kActivation) continue;
        uint32_t n = 0;
        auto ah = DecodeActivationPrefix(r, &n);
        if (!ah.ok() || ah->model_version != o.model_version || ah->stage != o.num_stages) continue;
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
          rep.failures.push_back("request " + std::to_string(h->id) + " (" + inputs.Name(it->second.index) +
                                 "): its result does not decode: " + timings.status().message());
          ++rep.failed;
          failed_indices[it->second.index] = true;
          in_flight.erase(it);
          last_progress = Clock::now();
          continue;
        }
        const double lat = std::chrono::duration<double>(Clock::now() - it->second.sent).count();
        rep.latencies_s.push_back(lat);
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
        finished[it->second.index] = std::move(outs);
        ++rep.completed;
        in_flight.erase(it);
        last_progress = Clock::now();
      }
    }
    // Deliver in input order.
    while (next_deliver < total) {
      auto f = finished.find(next_deliver);
      if (f != finished.end()) {
        TANDEM_RETURN_IF_ERROR(sink(next_deliver, f->second));
        finished.erase(f);
      } else if (!failed_indices.count(next_deliver)) {
        break;
      }
      ++next_deliver;
      if (progress) progress(next_deliver, total);
    }
    const auto now = Clock::now();
    const std::chrono::duration<double> health_every(o.health_after_s);
    if (o.health_check && !in_flight.empty() && now - last_progress > health_every && now - last_health > health_every) {
      last_health = now;
      Status h = o.health_check();
      if (!h.ok())
        return Status::Unavailable(h.message() + "; " + std::to_string(in_flight.size()) +
                                   " request(s) in flight have no result, " + std::to_string(next_deliver) +
                                   " result(s) were delivered");
    }
    // Each request has the result timeout from its own send; ids grow with
    // send order, so the first in flight is the oldest.
    if (!in_flight.empty() && now - in_flight.begin()->second.sent > std::chrono::duration<double>(o.result_timeout_s)) {
      const auto& [id, f] = *in_flight.begin();
      return Status::Timeout("request " + std::to_string(id) + " (" + inputs.Name(f.index) + ") has had no result for " +
                             std::to_string(static_cast<int>(o.result_timeout_s)) + " s; " +
                             std::to_string(next_deliver) + " result(s) were delivered");
    }
  }
  rep.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return rep;
}

}  // namespace tandem
