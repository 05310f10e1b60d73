#include "worker/stage_pipeline.h"

#include "common/net/activation.h"
#include "common/net/transport.h"
#include "common/util/log.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

StagePipeline::StagePipeline(zmq::context_t& ctx, std::shared_ptr<SharedStage> stage, Deployment d,
                             PipelineCounters* counters, int queue_depth, LinkKeys keys)
    : ctx_(ctx),
      stage_(std::move(stage)),
      d_(std::move(d)),
      keys_(std::move(keys)),
      counters_(counters),
      to_compute_(queue_depth),
      to_send_(queue_depth) {}

StagePipeline::~StagePipeline() { Stop(); }

Status StagePipeline::Start() {
  try {
    push_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::push);
    SocketOptions so;
    so.send_hwm = 4;
    so.linger_ms = 1000;
    ApplySocketOptions(*push_, so);
    push_->set(zmq::sockopt::sndtimeo, static_cast<int>(kDataPathTick.count()));
    TANDEM_RETURN_IF_ERROR(SecureClientSocket(*push_, keys_, d_.next_key).WithContext("next hop " + d_.next_hop));
    TANDEM_RETURN_IF_ERROR(ConnectSocket(*push_, d_.next_hop));
    threads_.emplace_back(&StagePipeline::Guarded, this, "compute", &StagePipeline::ComputeLoop);
    threads_.emplace_back(&StagePipeline::Guarded, this, "send", &StagePipeline::SendLoop);
  } catch (const std::exception& e) {  // no file descriptors or threads left, say
    Stop();
    return Status::Unavailable(std::string("cannot start the stage's sockets and threads: ") + e.what());
  }
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

void StagePipeline::ComputeLoop() {
  while (!stop_) {
    auto popped = to_compute_.Pop(kDataPathTick);
    if (!popped) continue;
    std::unique_ptr<WorkItem> it = std::move(*popped);
    if (!it->failed) {
      auto t0 = Clock::now();
      it->timing.queue_us = TimingMicros(t0 - it->enqueued);
      auto out = stage_->Run(it->tensors);
      auto t1 = Clock::now();
      it->timing.compute_us = TimingMicros(t1 - t0);
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
    while (!stop_ && !to_send_.Push(std::move(it), kDataPathTick)) {
    }
  }
}

void StagePipeline::SendLoop() {
  while (!stop_) {
    auto popped = to_send_.Pop(kDataPathTick);
    if (!popped) continue;
    std::unique_ptr<WorkItem> it = std::move(*popped);
    std::string msg;
    MessageType type = MessageType::kActivation;
    if (!it->failed) {
      it->timing.stage = static_cast<uint16_t>(d_.stage_index);
      auto encoded = EncodeActivation(it->id, ActivationHeader{d_.model_version, d_.stage_index + 1}, it->tensors,
                                      d_.codec, it->timings, &it->timing);
      if (encoded.ok()) {
        msg = std::move(encoded).value();
      } else {
        it->failed = true;
        it->failure = RequestFailedBody{
            d_.model_version, d_.stage_index,
            "stage " + std::to_string(d_.stage_index) + ": cannot encode output: " + encoded.status().message()};
        ++counters_->failed;
      }
    }
    if (it->failed) {
      type = MessageType::kRequestFailed;
      msg = EncodeMessage(type, it->id, it->failure.Encode());
    }
    const size_t size = msg.size();
    zmq::message_t zmsg = OwnedMessage(std::move(msg));
    // Retries until the next hop takes it or the pipeline stops (a slow or
    // absent next hop blocks here: back-pressure up the chain). The send time
    // is when the socket takes it, so waiting here is not counted as transfer.
    while (!stop_) {
      if (!WaitWritable(*push_, static_cast<int>(kDataPathTick.count()))) continue;
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
