#include "worker/stage_pipeline.h"

#include "common/log.h"
#include "common/transport.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::milliseconds kTick(100);
constexpr size_t kRecentWindow = 32;

uint32_t Micros(Clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return static_cast<uint32_t>(std::min<int64_t>(us, UINT32_MAX));
}

}  // namespace

void PipelineCounters::RecordTimes(double compute_s, double queue_s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (recent_.size() < kRecentWindow) {
    recent_.emplace_back(compute_s, queue_s);
  } else {
    recent_[next_] = {compute_s, queue_s};
    next_ = (next_ + 1) % kRecentWindow;
  }
}

void PipelineCounters::RecentMeans(double* compute_s, double* queue_s) const {
  std::lock_guard<std::mutex> lock(mu_);
  double c = 0, q = 0;
  for (const auto& r : recent_) c += r.first, q += r.second;
  const double n = recent_.empty() ? 1 : static_cast<double>(recent_.size());
  *compute_s = c / n;
  *queue_s = q / n;
}

StagePipeline::StagePipeline(zmq::context_t& ctx, std::shared_ptr<SharedStage> stage, Deployment d,
                             PipelineCounters* counters, int queue_depth)
    : ctx_(ctx),
      stage_(std::move(stage)),
      d_(std::move(d)),
      counters_(counters),
      to_compute_(queue_depth),
      to_send_(queue_depth) {}

StagePipeline::~StagePipeline() { Stop(); }

Status StagePipeline::Start() {
  push_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
  SocketOptions so;
  so.send_hwm = 4;
  so.linger_ms = 1000;
  ApplySocketOptions(*push_, so);
  push_->set(zmq::sockopt::sndtimeo, static_cast<int>(kTick.count()));
  TANDEM_RETURN_IF_ERROR(ConnectSocket(*push_, d_.next_hop));
  threads_.emplace_back(&StagePipeline::Guarded, this, "compute", &StagePipeline::ComputeLoop);
  threads_.emplace_back(&StagePipeline::Guarded, this, "send", &StagePipeline::SendLoop);
  return Status::OK();
}

void StagePipeline::RequestStop() {
  stop_ = true;
  to_compute_.Close();
  to_send_.Close();
}

void StagePipeline::Stop() {
  RequestStop();
  for (auto& t : threads_)
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  threads_.clear();
  push_.reset();
}

bool StagePipeline::Offer(std::unique_ptr<WorkItem>& item, std::chrono::milliseconds wait) {
  if (stop_) return false;
  return to_compute_.Push(std::move(item), wait);
}

void StagePipeline::Guarded(const char* what, void (StagePipeline::*loop)()) {
  while (!stop_) {
    try {
      (this->*loop)();
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal; the stop flag decides
      ++counters_->dropped;
      TANDEM_LOG(kWarning) << what << " thread: " << e.what() << "; continuing";
    } catch (const std::exception& e) {
      ++counters_->dropped;
      TANDEM_LOG(kWarning) << what << " thread: dropped a request: " << e.what();
    }
  }
}

DataReceiver::DataReceiver(zmq::socket_t* pull, Lookup lookup, PipelineCounters* counters,
                           uint64_t max_activation_bytes)
    : pull_(pull), lookup_(std::move(lookup)), counters_(counters), max_activation_bytes_(max_activation_bytes) {}

DataReceiver::~DataReceiver() { Stop(); }

void DataReceiver::Start() { thread_ = std::thread(&DataReceiver::Loop, this); }

void DataReceiver::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void DataReceiver::Loop() {
  zmq::pollitem_t item{static_cast<void*>(*pull_), 0, ZMQ_POLLIN, 0};
  while (!stop_) {
    try {
      if (zmq::poll(&item, 1, kTick) <= 0) continue;
      zmq::message_t msg;
      if (!pull_->recv(msg, zmq::recv_flags::dontwait)) continue;
      HandleMessage(msg);
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      ++counters_->dropped;
      TANDEM_LOG(kWarning) << "receive thread: " << e.what() << "; continuing";
    } catch (const std::exception& e) {
      // Out of memory decoding a huge request, say: drop it, keep serving.
      ++counters_->dropped;
      TANDEM_LOG(kWarning) << "receive thread: dropped a request: " << e.what();
    }
  }
}

void DataReceiver::HandleMessage(const zmq::message_t& msg) {
  auto t0 = Clock::now();
  const uint64_t received_us = UnixMicros();
  counters_->bytes_in += msg.size();
  auto drop = [&](const Status& why) {
    ++counters_->dropped;
    TANDEM_LOG(kWarning) << "dropped a data message: " << why.ToString();
  };
  auto header = DecodeHeader(msg.data(), msg.size());
  if (!header.ok()) return drop(header.status());
  Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
  auto it = std::make_unique<WorkItem>();
  it->id = header->id;
  it->timing.recv_unix_us = received_us;
  std::shared_ptr<StagePipeline> target;
  auto stale = [&](uint32_t version, uint32_t stage) {
    ++counters_->dropped;
    TANDEM_LOG(kDebug) << "dropped request " << it->id << " for version " << version << " stage " << stage;
  };
  if (header->type == MessageType::kRequestFailed) {
    auto f = RequestFailedBody::Decode(r);
    if (!f.ok()) return drop(f.status());
    target = lookup_(f->model_version);
    if (!target) return stale(f->model_version, f->stage);
    it->failed = true;
    it->failure = f.value();
  } else if (header->type == MessageType::kActivation) {
    uint32_t n = 0;
    auto ah = DecodeActivationPrefix(r, &n);
    if (!ah.ok()) return drop(ah.status());
    target = lookup_(ah->model_version);
    if (!target || ah->stage != target->deployment().stage_index) return stale(ah->model_version, ah->stage);
    if (n != target->deployment().num_inputs)
      return drop(Status::InvalidArgument("activation carries " + std::to_string(n) + " tensors, stage takes " +
                                          std::to_string(target->deployment().num_inputs)));
    // The limit holds for the whole message, not each tensor: frames that
    // decompress far beyond their size cannot add up past it.
    DecodeLimits limits;
    uint64_t budget = max_activation_bytes_;
    for (uint32_t i = 0; i < n; ++i) {
      limits.max_tensor_bytes = budget;
      auto t = DecodeTensor(&r, limits);
      if (!t.ok()) return drop(t.status());
      budget -= t->nbytes();
      it->tensors.push_back(std::move(t).value());
    }
    auto timings = DecodeTimings(r);
    if (!timings.ok()) return drop(timings.status());
    it->timings = std::move(timings).value();
    it->timing.decode_us = Micros(Clock::now() - t0);
  } else {
    return drop(Status::InvalidArgument(std::string(MessageTypeName(header->type)) + " is not a data message"));
  }
  ++counters_->received;
  it->enqueued = Clock::now();
  // Blocks while the deployment's queue is full (back-pressure), until it
  // takes the request or is stopped (an undeploy: the request is dropped).
  while (!stop_ && !target->stopped()) {
    if (target->Offer(it, kTick)) return;
  }
  ++counters_->dropped;
}

void StagePipeline::ComputeLoop() {
  while (!stop_) {
    auto popped = to_compute_.Pop(kTick);
    if (!popped) continue;
    std::unique_ptr<WorkItem> it = std::move(*popped);
    if (!it->failed) {
      auto t0 = Clock::now();
      it->timing.queue_us = Micros(t0 - it->enqueued);
      auto out = stage_->Run(it->tensors);
      auto t1 = Clock::now();
      it->timing.compute_us = Micros(t1 - t0);
      counters_->RecordTimes(std::chrono::duration<double>(t1 - t0).count(),
                             std::chrono::duration<double>(t0 - it->enqueued).count());
      if (out.ok()) {
        it->tensors = std::move(out).value();
        ++counters_->computed;
      } else {
        ++counters_->failed;
        TANDEM_LOG(kWarning) << "request " << it->id << " failed: " << out.status().message();
        it->failed = true;
        it->failure.model_version = d_.model_version;
        it->failure.stage = d_.stage_index;
        it->failure.message = "stage " + std::to_string(d_.stage_index) + ": " + out.status().message();
        it->tensors.clear();
      }
    }
    while (!stop_ && !to_send_.Push(std::move(it), kTick)) {
    }
  }
}

void StagePipeline::SendLoop() {
  while (!stop_) {
    auto popped = to_send_.Pop(kTick);
    if (!popped) continue;
    std::unique_ptr<WorkItem> it = std::move(*popped);
    std::string msg = StartMessage();
    MessageType type = MessageType::kActivation;
    if (!it->failed) {
      auto t0 = Clock::now();
      ActivationHeader h{d_.model_version, d_.stage_index + 1};
      msg += EncodeActivationPrefix(h, static_cast<uint32_t>(it->tensors.size()));
      // Room for every frame and the timings, so appending frames does not
      // copy earlier ones.
      size_t room = 64 * (it->timings.size() + 1);
      for (const auto& t : it->tensors) room += MaxFrameBytes(t);
      msg.reserve(msg.size() + room);
      const size_t frames_start = msg.size();
      EncodeStats stats;
      Status st;
      for (const auto& t : it->tensors) {
        st = EncodeTensor(t, d_.codec, &msg, &stats);
        if (!st.ok()) break;
      }
      if (st.ok()) {
        it->timing.stage = static_cast<uint16_t>(d_.stage_index);
        it->timing.encode_us = Micros(Clock::now() - t0);
        it->timing.bytes_out = msg.size() - frames_start;
        it->timing.max_abs_error = stats.max_abs_error;
        if (it->timings.size() < kMaxTimings) it->timings.push_back(it->timing);
        EncodeTimings(it->timings, &msg);
      } else {
        it->failed = true;
        it->failure = RequestFailedBody{d_.model_version, d_.stage_index,
                                        "stage " + std::to_string(d_.stage_index) + ": cannot encode output: " +
                                            st.message()};
        ++counters_->failed;
      }
    }
    if (it->failed) {
      msg = StartMessage() + it->failure.Encode();
      type = MessageType::kRequestFailed;
    }
    FinishMessage(type, it->id, &msg);
    const size_t size = msg.size();
    zmq::message_t zmsg = OwnedMessage(std::move(msg));
    // Retries until the next hop takes it or the pipeline stops (a slow or
    // absent next hop blocks here: back-pressure up the chain). The send time
    // is when the socket takes it, so waiting here is not counted as transfer.
    while (!stop_) {
      if (!WaitWritable(*push_, static_cast<int>(kTick.count()))) continue;
      if (type == MessageType::kActivation) SetLastSendTime(zmsg.data(), zmsg.size(), UnixMicros());
      if (SendMessage(*push_, zmsg)) {
        ++counters_->sent;
        counters_->bytes_out += size;
        break;
      }
    }
  }
}

}  // namespace tandem
