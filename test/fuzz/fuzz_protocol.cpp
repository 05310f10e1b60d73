// Fuzz target: a message as any socket receives it: the header, then the body
// of its type (every control body, PROBE, DEPLOY_CHUNK, KEY_REPLY,
// REQUEST_FAILED, and serve's INFER_REQUEST and INFER_REPLY).
#include <cstddef>
#include <cstdint>

#include "common/net/inference.h"
#include "common/net/protocol.h"

using namespace tandem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto h = DecodeHeader(data, size);
  if (!h.ok()) return 0;
  Reader r(data + kHeaderSize, size - kHeaderSize);
  switch (h->type) {
    case MessageType::kHello: (void)HelloBody::Decode(r); break;
    case MessageType::kHelloAck: (void)HelloAckBody::Decode(r); break;
    case MessageType::kDeploy: (void)DeployBody::Decode(r, /*copy_stage=*/false); break;
    case MessageType::kDeployAck: (void)DeployAckBody::Decode(r); break;
    case MessageType::kStatusReply: (void)StatusBody::Decode(r); break;
    case MessageType::kPong: (void)PongBody::Decode(r); break;
    case MessageType::kError: (void)ErrorBody::Decode(r); break;
    case MessageType::kUndeploy: (void)UndeployBody::Decode(r); break;
    case MessageType::kProbe: (void)DecodeProbe(r); break;
    case MessageType::kMeasureLinks: (void)MeasureLinksBody::Decode(r); break;
    case MessageType::kLinksReport: (void)LinksReportBody::Decode(r); break;
    case MessageType::kKeyReply: (void)KeyReplyBody::Decode(r); break;
    case MessageType::kDeployChunk: (void)DecodeDeployChunk(r); break;
    case MessageType::kRequestFailed: (void)RequestFailedBody::Decode(r); break;
    case MessageType::kInferRequest: (void)InferRequestBody::Decode(r, 1 << 20); break;
    case MessageType::kInferReply: (void)InferReplyBody::Decode(r, 1 << 20); break;
    default: break;  // no body, or ACTIVATION (its own target)
  }
  return 0;
}
