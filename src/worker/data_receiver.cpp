#include "worker/data_receiver.h"

#include <algorithm>

#include "common/net/activation.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/util/log.h"

namespace tandem {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

DataReceiver::DataReceiver(zmq::socket_t* pull, Lookup lookup, PipelineCounters* counters,
                           uint64_t max_activation_bytes, const WorkerAccess* access)
    : pull_(pull),
      lookup_(std::move(lookup)),
      counters_(counters),
      max_activation_bytes_(max_activation_bytes),
      access_(access && access->secure() ? access : nullptr) {}

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
      if (zmq::poll(&item, 1, kDataPathTick) <= 0) continue;
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
    uint64_t suppressed = 0;
    if (drop_log_.Allow(&suppressed))
      TANDEM_LOG(kWarning) << "dropped a data message: " << why.ToString()
                           << (suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
  };
  auto header = DecodeHeader(msg.data(), msg.size());
  if (!header.ok()) return drop(header.status());
  Reader r(static_cast<const uint8_t*>(msg.data()) + kHeaderSize, msg.size() - kHeaderSize);
  auto it = std::make_unique<WorkItem>();
  it->id = header->id;
  it->timing.recv_unix_us = received_us;
  std::shared_ptr<StagePipeline> target;
  auto refuse = [&](const std::string& why) {
    ++counters_->refused;
    uint64_t suppressed = 0;
    if (drop_log_.Allow(&suppressed))
      TANDEM_LOG(kWarning) << "refused " << why
                           << (suppressed ? " (" + std::to_string(suppressed) + " more not logged)" : "");
  };
  auto stale = [&](uint32_t version, uint32_t stage) {
    ++counters_->dropped;
    TANDEM_LOG(kDebug) << "dropped request " << it->id << " for version " << version << " stage " << stage;
  };
  if (header->type == MessageType::kRequestFailed) {
    auto f = RequestFailedBody::Decode(r);
    if (!f.ok()) return drop(f.status());
    target = lookup_(f->model_version);
    if (!target) return stale(f->model_version, f->stage);
    if (access_ && !access_->MaySend(MessageUserId(msg), target->deployment().prev_key))
      return refuse("a REQUEST_FAILED from a worker that is not this stage's previous hop");
    it->failed = true;
    it->failure = f.value();
  } else if (header->type == MessageType::kActivation) {
    auto ah = DecodeActivationHeader(r);
    if (!ah.ok()) return drop(ah.status());
    target = lookup_(ah->model_version);
    if (!target || ah->stage != target->deployment().stage_index) return stale(ah->model_version, ah->stage);
    if (access_ && !access_->MaySend(MessageUserId(msg), target->deployment().prev_key))
      return refuse("an activation from a worker that is not this stage's previous hop");
    if (ah->num_tensors != target->deployment().num_inputs)
      return drop(Status::InvalidArgument("activation carries " + std::to_string(ah->num_tensors) +
                                          " tensors, stage takes " + std::to_string(target->deployment().num_inputs)));
    // Bounded by what the deployment declared, not only the worker's limit: a
    // small frame that would inflate beyond its stage's input is refused.
    const uint64_t declared = target->deployment().max_input_bytes;
    const uint64_t budget = declared > 0 ? std::min(declared, max_activation_bytes_) : max_activation_bytes_;
    auto payload = DecodeActivationPayload(r, ah.value(), budget);
    if (!payload.ok()) return drop(payload.status());
    it->tensors = std::move(payload->tensors);
    it->timings = std::move(payload->timings);
    it->timing.decode_us = TimingMicros(Clock::now() - t0);
  } else {
    return drop(Status::InvalidArgument(std::string(MessageTypeName(header->type)) + " is not a data message"));
  }
  ++counters_->received;
  it->enqueued = Clock::now();
  // Blocks while the deployment's queue is full (back-pressure), until it
  // takes the request or is stopped (an undeploy: the request is dropped).
  while (!stop_ && !target->stopped()) {
    if (target->Offer(it, kDataPathTick)) return;
  }
  ++counters_->dropped;
}

}  // namespace tandem
