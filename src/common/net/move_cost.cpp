#include "common/net/move_cost.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <zmq.hpp>

#include "common/net/activation.h"
#include "common/net/protocol.h"
#include "common/net/transport.h"

namespace tandem {

namespace {

// One round, as a worker moves a request: the output copied out of the
// model's tensor, encoded into a message, pushed through the socket pair,
// received, decoded, and copied into a tensor for the model.
Status Round(const std::vector<HostTensor>& tensors, const CodecSpec& codec, zmq::socket_t& push, zmq::socket_t& pull) {
  std::vector<HostTensor> outputs(tensors.size());  // the stage's outputs leaving the model
  for (size_t i = 0; i < tensors.size(); ++i) {
    outputs[i].dtype = tensors[i].dtype;
    outputs[i].shape = tensors[i].shape;
    outputs[i].data.assign(tensors[i].data.begin(), tensors[i].data.end());
  }
  TANDEM_ASSIGN_OR_RETURN(std::string msg, EncodeActivation(0, ActivationHeader{}, outputs, codec, {}));
  zmq::message_t out = OwnedMessage(std::move(msg));
  if (!SendMessage(push, out)) return Status::Unavailable("loopback send failed");
  zmq::message_t in;
  try {
    if (!pull.recv(in, zmq::recv_flags::none)) return Status::Timeout("loopback receive timed out");
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("loopback receive failed: ") + e.what());
  }
  TANDEM_ASSIGN_OR_RETURN(Header h, DecodeHeader(in.data(), in.size()));
  Reader r(static_cast<const uint8_t*>(in.data()) + kHeaderSize, h.body_len);
  TANDEM_ASSIGN_OR_RETURN(ActivationHeader ah, DecodeActivationHeader(r));
  TANDEM_ASSIGN_OR_RETURN(ActivationPayload payload, DecodeActivationPayload(r, ah, ~uint64_t{0}));
  for (const auto& t : payload.tensors) {
    // The input entering the model: a fresh buffer, not zero-filled.
    std::unique_ptr<uint8_t[]> model_input(new uint8_t[t.nbytes() + 1]);
    std::memcpy(model_input.get(), t.data.data(), t.nbytes());
    // The copy is never read: keep the compiler from dropping it.
    asm volatile("" : : "r"(model_input.get()) : "memory");
  }
  return Status::OK();
}

}  // namespace

Result<MoveCost> MeasureMoveCost(const std::vector<HostTensor>& tensors, const MoveCostOptions& options) {
  MoveCost cost;
  for (const auto& t : tensors) cost.sample_bytes += t.nbytes();
  if (tensors.empty() || cost.sample_bytes == 0) return Status::InvalidArgument("no activation bytes to move");
  if (tensors.size() > kMaxTensorsPerMessage) return Status::InvalidArgument("too many tensors for one message");
  TANDEM_RETURN_IF_ERROR(ValidateCodec(options.codec));
  try {
    zmq::context_t ctx(1);
    zmq::socket_t pull(ctx, zmq::socket_type::pull), push(ctx, zmq::socket_type::push);
    SocketOptions so;
    so.send_hwm = so.recv_hwm = 2;
    ApplySocketOptions(pull, so);
    ApplySocketOptions(push, so);
    pull.set(zmq::sockopt::rcvtimeo, 10000);  // loopback down: fail, do not hang
    push.set(zmq::sockopt::sndtimeo, 10000);
    TANDEM_RETURN_IF_ERROR(BindSocket(pull, "tcp://127.0.0.1:*"));
    TANDEM_RETURN_IF_ERROR(ConnectSocket(push, LastEndpoint(pull)));
    TANDEM_RETURN_IF_ERROR(Round(tensors, options.codec, push, pull));  // warm-up: connection, allocations
    double total = 0;
    while (cost.rounds < options.min_rounds || total < options.min_time_s) {
      const auto t0 = std::chrono::steady_clock::now();
      TANDEM_RETURN_IF_ERROR(Round(tensors, options.codec, push, pull));
      total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      ++cost.rounds;
    }
    cost.s_per_byte = total / cost.rounds / (2.0 * static_cast<double>(cost.sample_bytes));
  } catch (const zmq::error_t& e) {
    return Status::Unavailable(std::string("measuring activation moves on loopback: ") + e.what());
  }
  return cost;
}

}  // namespace tandem
