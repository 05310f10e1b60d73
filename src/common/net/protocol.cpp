#include "common/net/protocol.h"

#include "common/net/curve_keys.h"
#include "common/util/log.h"

#include <cmath>
#include <cstring>

namespace tandem {
namespace {

constexpr char kMagic[4] = {'T', 'N', 'D', 'M'};

bool KnownType(uint16_t t) { return (t >= 1 && t <= 18) || (t >= 20 && t <= 23); }

Status Truncated(const char* what) { return Status::Corruption(std::string(what) + " body is truncated or malformed"); }

void PutCodec(Writer& w, const CodecSpec& c) {
  w.U8(static_cast<uint8_t>(c.codec));
  w.U8(static_cast<uint8_t>(c.zfp_mode));
  w.F64(c.zfp_param);
}

bool GetCodec(Reader& r, CodecSpec* c) {
  uint8_t codec = 0, mode = 0;
  r.U8(&codec);
  r.U8(&mode);
  r.F64(&c->zfp_param);
  if (!r.ok() || codec > 3 || mode > 3) return false;
  c->codec = static_cast<Codec>(codec);
  c->zfp_mode = static_cast<ZfpMode>(mode);
  return ValidateCodec(*c).ok();
}

// A key field: empty, or 40 characters of Z85.
bool GetKey(Reader& r, std::string* key) {
  if (!r.Str(key, kCurveKeyZ85Len)) return false;
  return key->empty() || IsCurveKey(*key);
}

Status::Code CodeFromWire(uint8_t v) {
  return v <= static_cast<uint8_t>(Status::Code::kInternal) ? static_cast<Status::Code>(v) : Status::Code::kInternal;
}

}  // namespace

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kHello: return "HELLO";
    case MessageType::kHelloAck: return "HELLO_ACK";
    case MessageType::kDeploy: return "DEPLOY";
    case MessageType::kDeployAck: return "DEPLOY_ACK";
    case MessageType::kStatusRequest: return "STATUS_REQUEST";
    case MessageType::kStatusReply: return "STATUS_REPLY";
    case MessageType::kPing: return "PING";
    case MessageType::kPong: return "PONG";
    case MessageType::kError: return "ERROR";
    case MessageType::kUndeploy: return "UNDEPLOY";
    case MessageType::kUndeployAck: return "UNDEPLOY_ACK";
    case MessageType::kProbe: return "PROBE";
    case MessageType::kProbeReply: return "PROBE_REPLY";
    case MessageType::kMeasureLinks: return "MEASURE_LINKS";
    case MessageType::kLinksReport: return "LINKS_REPORT";
    case MessageType::kKeyRequest: return "KEY_REQUEST";
    case MessageType::kKeyReply: return "KEY_REPLY";
    case MessageType::kDeployChunk: return "DEPLOY_CHUNK";
    case MessageType::kActivation: return "ACTIVATION";
    case MessageType::kRequestFailed: return "REQUEST_FAILED";
    case MessageType::kInferRequest: return "INFER_REQUEST";
    case MessageType::kInferReply: return "INFER_REPLY";
  }
  return "UNKNOWN";
}

std::string StartMessage() { return std::string(kHeaderSize, '\0'); }

void FinishMessage(MessageType type, uint64_t id, std::string* message) {
  std::string header;
  Writer w(&header);
  w.Raw(kMagic, 4);
  w.U8(kProtocolMajor);
  w.U8(kProtocolMinor);
  w.U16(static_cast<uint16_t>(type));
  w.U32(0);
  w.U64(id);
  w.U32(static_cast<uint32_t>(message->size() - kHeaderSize));
  message->replace(0, kHeaderSize, header);
}

std::string EncodeMessage(MessageType type, uint64_t id, const std::string& body) {
  std::string out = StartMessage();
  out += body;
  FinishMessage(type, id, &out);
  return out;
}

Result<Header> DecodeHeader(const void* data, size_t size) {
  if (size < kHeaderSize)
    return Status::Corruption("message of " + std::to_string(size) + " bytes is shorter than a header");
  if (std::memcmp(data, kMagic, 4) != 0) return Status::Corruption("message does not start with the tandem magic");
  Reader r(static_cast<const uint8_t*>(data) + 4, kHeaderSize - 4);
  Header h;
  uint16_t type = 0;
  r.U8(&h.major);
  r.U8(&h.minor);
  r.U16(&type);
  r.U32(&h.flags);
  r.U64(&h.id);
  r.U32(&h.body_len);
  if (h.major != kProtocolMajor)
    return Status::VersionMismatch("peer speaks tandem protocol " + std::to_string(h.major) + "." +
                                   std::to_string(h.minor) + ", this is " + std::to_string(kProtocolMajor) + "." +
                                   std::to_string(kProtocolMinor));
  if (!KnownType(type)) return Status::Corruption("unknown message type " + std::to_string(type));
  h.type = static_cast<MessageType>(type);
  if (h.body_len != size - kHeaderSize)
    return Status::Corruption("header states a " + std::to_string(h.body_len) + "-byte body, message carries " +
                              std::to_string(size - kHeaderSize));
  return h;
}

std::string HelloBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U8(static_cast<uint8_t>(role));
  w.Str(name);
  w.U32(static_cast<uint32_t>(peer_keys.size()));
  for (const auto& k : peer_keys) w.Str(k);
  return s;
}
Result<HelloBody> HelloBody::Decode(Reader& r) {
  HelloBody b;
  uint8_t role = 0;
  r.U8(&role);
  r.Str(&b.name, kMaxNameLen);
  if (!r.ok() || (role != 1 && role != 2)) return Truncated("HELLO");
  b.role = static_cast<PeerRole>(role);
  if (r.remaining() == 0) return b;  // before minor 5
  uint32_t n = 0;
  if (!r.U32(&n) || n > kMaxLinkPeers) return Truncated("HELLO (peer keys)");
  for (uint32_t i = 0; i < n; ++i) {
    std::string key;
    if (!GetKey(r, &key) || key.empty()) return Truncated("HELLO (peer keys)");
    b.peer_keys.push_back(std::move(key));
  }
  if (r.remaining() != 0) return Truncated("HELLO");
  return b;
}

std::string HelloAckBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.Str(name);
  w.Str(software);
  w.U16(data_port);
  w.U64(memory_budget);
  w.U32(threads);
  w.U64(max_message_bytes);
  w.U32(queue_depth);
  w.Str(public_key);
  w.F64(cpu_temp_c);      // minor 8
  w.U32(throttle_flags);  // minor 8
  w.Str(host_id);         // minor 10
  w.F64(cpus);
  w.U32(host_cores);
  return s;
}
Result<HelloAckBody> HelloAckBody::Decode(Reader& r) {
  HelloAckBody b;
  r.Str(&b.name, kMaxNameLen);
  r.Str(&b.software, kMaxNameLen);
  r.U16(&b.data_port);
  r.U64(&b.memory_budget);
  r.U32(&b.threads);
  r.U64(&b.max_message_bytes);
  if (r.ok() && r.remaining() > 0) r.U32(&b.queue_depth);                                             // minor 4
  if (r.ok() && r.remaining() > 0 && !GetKey(r, &b.public_key)) return Truncated("HELLO_ACK (key)");  // minor 5
  if (r.ok() && r.remaining() > 0) {                                                                  // minor 8
    r.F64(&b.cpu_temp_c);
    r.U32(&b.throttle_flags);
  }
  if (r.ok() && r.remaining() > 0) {  // minor 10
    r.Str(&b.host_id, kMaxNameLen);
    r.F64(&b.cpus);
    r.U32(&b.host_cores);
  }
  if (!r.ok() || !(b.cpu_temp_c < 1000) || !(b.cpus >= 0 && b.cpus <= kMaxCpus) || b.host_cores > kMaxCpus)
    return Truncated("HELLO_ACK");
  return b;
}

std::string DeployBody::Encode() const {
  std::string s;
  s.reserve(stage.size() + 512);
  Writer w(&s);
  w.Str(model_id);
  w.U32(model_version);
  w.U32(stage_index);
  w.U32(num_stages);
  w.Str(next_hop);
  PutCodec(w, codec);
  w.U32(num_inputs);
  w.U64(activation_bytes);
  w.Str(stage_sha256);
  w.U64(stage.size());
  w.Raw(stage.data(), stage.size());
  w.U8(beside ? 1 : 0);
  w.Str(prev_key);
  w.Str(next_key);
  w.U64(upload_bytes);
  return s;
}
Result<DeployBody> DeployBody::Decode(Reader& r, bool copy_stage) {
  DeployBody b;
  r.Str(&b.model_id, kMaxNameLen);
  r.U32(&b.model_version);
  r.U32(&b.stage_index);
  r.U32(&b.num_stages);
  r.Str(&b.next_hop, kMaxEndpointLen);
  if (!GetCodec(r, &b.codec)) return Truncated("DEPLOY (codec)");
  r.U32(&b.num_inputs);
  r.U64(&b.activation_bytes);
  r.Str(&b.stage_sha256, kMaxNameLen);
  uint64_t n = 0;
  r.U64(&n);
  const uint8_t* at = nullptr;
  if (!r.ok() || n > kMaxStageBytes || !r.Skip(static_cast<size_t>(n), &at)) return Truncated("DEPLOY");
  if (b.num_stages == 0 || b.num_stages > kMaxStages || b.stage_index >= b.num_stages || b.num_inputs == 0 ||
      b.num_inputs > kMaxTensorsPerMessage)
    return Status::Corruption("DEPLOY has an invalid stage index, stage count or input count");
  if (copy_stage)
    b.stage.assign(reinterpret_cast<const char*>(at), static_cast<size_t>(n));
  else
    b.stage_view = std::string_view(reinterpret_cast<const char*>(at), static_cast<size_t>(n));
  if (r.remaining() > 0) {  // minor 1
    uint8_t flags = 0;
    r.U8(&flags);
    if (!r.ok() || flags > 1) return Status::Corruption("DEPLOY has unknown flags");
    b.beside = flags & 1;
  }
  if (r.remaining() > 0) {  // minor 5
    if (!GetKey(r, &b.prev_key) || !GetKey(r, &b.next_key)) return Truncated("DEPLOY (keys)");
  }
  if (r.remaining() > 0) {  // minor 6
    if (!r.U64(&b.upload_bytes)) return Truncated("DEPLOY (upload size)");
    if (r.remaining() != 0) return Truncated("DEPLOY");
    if (b.upload_bytes > kMaxStageBytes || (b.upload_bytes > 0 && n > 0))
      return Status::Corruption("DEPLOY announces an upload of " + std::to_string(b.upload_bytes) +
                                " bytes beside an inline archive, or over " + std::to_string(kMaxStageBytes));
  }
  if (n == 0 && b.stage_sha256.empty())
    return Status::Corruption("DEPLOY carries neither a stage nor the SHA-256 of one to reuse");
  return b;
}

std::string UndeployBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U32(model_version);
  return s;
}
Result<UndeployBody> UndeployBody::Decode(Reader& r) {
  UndeployBody b;
  if (r.remaining() == 0) return b;  // minor 0: every deployment
  r.U32(&b.model_version);
  if (!r.ok()) return Truncated("UNDEPLOY");
  return b;
}

std::string EncodeProbe(uint64_t id, uint32_t reply_bytes, size_t payload_bytes) {
  std::string m = StartMessage();
  Writer w(&m);
  w.U32(reply_bytes);
  m.resize(m.size() + payload_bytes, '\0');
  FinishMessage(MessageType::kProbe, id, &m);
  return m;
}

Result<uint32_t> DecodeProbe(Reader& r) {
  uint32_t reply_bytes = 0;
  if (!r.U32(&reply_bytes)) return Truncated("PROBE");
  if (reply_bytes > kMaxProbeBytes)
    return Status::InvalidArgument("PROBE asks for a " + std::to_string(reply_bytes) + "-byte reply; the most is " +
                                   std::to_string(kMaxProbeBytes));
  return reply_bytes;
}

std::string EncodeDeployChunk(uint64_t id, uint64_t offset, std::string_view bytes) {
  std::string m = StartMessage();
  m.reserve(m.size() + 8 + bytes.size());
  Writer w(&m);
  w.U64(offset);
  w.Raw(bytes.data(), bytes.size());
  FinishMessage(MessageType::kDeployChunk, id, &m);
  return m;
}

Result<DeployChunk> DecodeDeployChunk(Reader& r) {
  DeployChunk c;
  if (!r.U64(&c.offset)) return Truncated("DEPLOY_CHUNK");
  const size_t n = r.remaining();
  if (n == 0 || n > kMaxDeployChunkBytes)
    return Status::Corruption("DEPLOY_CHUNK carries " + std::to_string(n) + " bytes; 1.." +
                              std::to_string(kMaxDeployChunkBytes) + " are allowed");
  const uint8_t* at = nullptr;
  r.Skip(n, &at);
  c.bytes = std::string_view(reinterpret_cast<const char*>(at), n);
  if (c.offset > kMaxStageBytes) return Status::Corruption("DEPLOY_CHUNK offset is past the largest stage");
  return c;
}

std::string MeasureLinksBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U32(probe_bytes);
  w.U32(rounds);
  w.F64(timeout_s);
  w.U32(static_cast<uint32_t>(peers.size()));
  for (const auto& p : peers) {
    w.Str(p.name);
    w.Str(p.endpoint);
  }
  for (const auto& p : peers) w.Str(p.key);  // minor 5
  return s;
}

Result<MeasureLinksBody> MeasureLinksBody::Decode(Reader& r) {
  MeasureLinksBody b;
  uint32_t n = 0;
  r.U32(&b.probe_bytes);
  r.U32(&b.rounds);
  r.F64(&b.timeout_s);
  r.U32(&n);
  if (!r.ok()) return Truncated("MEASURE_LINKS");
  if (b.probe_bytes == 0 || b.probe_bytes > kMaxProbeBytes)
    return Status::InvalidArgument("MEASURE_LINKS probe size " + std::to_string(b.probe_bytes) + " is not in 1.." +
                                   std::to_string(kMaxProbeBytes));
  if (b.rounds == 0 || b.rounds > kMaxProbeRounds)
    return Status::InvalidArgument("MEASURE_LINKS rounds " + std::to_string(b.rounds) + " is not in 1.." +
                                   std::to_string(kMaxProbeRounds));
  if (!(b.timeout_s > 0 && b.timeout_s <= 3600))
    return Status::InvalidArgument("MEASURE_LINKS timeout is not in (0, 3600] s");
  if (n > kMaxLinkPeers)
    return Status::InvalidArgument("MEASURE_LINKS names " + std::to_string(n) + " peers; the most is " +
                                   std::to_string(kMaxLinkPeers));
  for (uint32_t i = 0; i < n; ++i) {
    LinkPeer p;
    if (!r.Str(&p.name, kMaxNameLen) || !r.Str(&p.endpoint, kMaxEndpointLen)) return Truncated("MEASURE_LINKS");
    b.peers.push_back(std::move(p));
  }
  if (r.remaining() > 0)  // minor 5
    for (auto& p : b.peers)
      if (!GetKey(r, &p.key)) return Truncated("MEASURE_LINKS (keys)");
  if (r.remaining() != 0) return Truncated("MEASURE_LINKS");
  return b;
}

std::string LinksReportBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U32(static_cast<uint32_t>(links.size()));
  for (const auto& l : links) {
    w.Str(l.name);
    w.U8(static_cast<uint8_t>(l.code));
    w.Str(l.message);
    w.F64(l.rtt_s);
    w.F64(l.out_bytes_per_s);
    w.F64(l.in_bytes_per_s);
  }
  return s;
}

Result<LinksReportBody> LinksReportBody::Decode(Reader& r) {
  LinksReportBody b;
  uint32_t n = 0;
  if (!r.U32(&n)) return Truncated("LINKS_REPORT");
  if (n > kMaxLinkPeers) return Truncated("LINKS_REPORT");
  for (uint32_t i = 0; i < n; ++i) {
    LinkResult l;
    uint8_t code = 0;
    r.Str(&l.name, kMaxNameLen);
    r.U8(&code);
    r.Str(&l.message, kMaxTextLen);
    r.F64(&l.rtt_s);
    r.F64(&l.out_bytes_per_s);
    r.F64(&l.in_bytes_per_s);
    if (!r.ok()) return Truncated("LINKS_REPORT");
    l.code = CodeFromWire(code);
    const bool finite = std::isfinite(l.rtt_s) && std::isfinite(l.out_bytes_per_s) && std::isfinite(l.in_bytes_per_s);
    if (!finite || l.rtt_s < 0 || l.out_bytes_per_s < 0 || l.in_bytes_per_s < 0) return Truncated("LINKS_REPORT");
    b.links.push_back(std::move(l));
  }
  if (r.remaining() != 0) return Truncated("LINKS_REPORT");
  return b;
}

std::string PongBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U64(instance);
  w.U32(deployments);
  w.F64(cpu_temp_c);      // minor 8
  w.U32(throttle_flags);  // minor 8
  return s;
}
Result<PongBody> PongBody::Decode(Reader& r) {
  PongBody b;
  if (r.remaining() == 0) return b;  // minor 0
  r.U64(&b.instance);
  r.U32(&b.deployments);
  if (r.ok() && r.remaining() > 0) {  // minor 8
    r.F64(&b.cpu_temp_c);
    r.U32(&b.throttle_flags);
  }
  if (!r.ok() || !(b.cpu_temp_c < 1000)) return Truncated("PONG");
  return b;
}

std::string DeployAckBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U8(static_cast<uint8_t>(code));
  w.Str(message);
  w.U64(param_bytes);
  w.F64(load_seconds);
  return s;
}
Result<DeployAckBody> DeployAckBody::Decode(Reader& r) {
  DeployAckBody b;
  uint8_t code = 0;
  r.U8(&code);
  r.Str(&b.message, kMaxTextLen);
  r.U64(&b.param_bytes);
  r.F64(&b.load_seconds);
  if (!r.ok()) return Truncated("DEPLOY_ACK");
  b.code = CodeFromWire(code);
  return b;
}

std::string StatusBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.Str(name);
  w.U8(static_cast<uint8_t>(state));
  w.Str(model_id);
  w.U32(model_version);
  w.U32(stage_index);
  w.U32(num_stages);
  for (uint64_t v : {received, computed, sent, failed, dropped, bytes_in, bytes_out}) w.U64(v);
  w.F64(compute_s);
  w.F64(queue_s);
  w.F64(uptime_s);
  w.Str(last_error);
  w.U64(refused);         // minor 7
  w.F64(cpu_temp_c);      // minor 8
  w.U32(throttle_flags);  // minor 8
  return s;
}
Result<StatusBody> StatusBody::Decode(Reader& r) {
  StatusBody b;
  uint8_t state = 0;
  r.Str(&b.name, kMaxNameLen);
  r.U8(&state);
  r.Str(&b.model_id, kMaxNameLen);
  r.U32(&b.model_version);
  r.U32(&b.stage_index);
  r.U32(&b.num_stages);
  for (uint64_t* v : {&b.received, &b.computed, &b.sent, &b.failed, &b.dropped, &b.bytes_in, &b.bytes_out}) r.U64(v);
  r.F64(&b.compute_s);
  r.F64(&b.queue_s);
  r.F64(&b.uptime_s);
  r.Str(&b.last_error, kMaxTextLen);
  if (r.ok() && r.remaining() > 0) r.U64(&b.refused);  // minor 7
  if (r.ok() && r.remaining() > 0) {                   // minor 8
    r.F64(&b.cpu_temp_c);
    r.U32(&b.throttle_flags);
  }
  if (!r.ok() || state > 2 || !(b.cpu_temp_c < 1000)) return Truncated("STATUS_REPLY");
  b.state = static_cast<WorkerState>(state);
  return b;
}

std::string ErrorBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U8(static_cast<uint8_t>(code));
  w.Str(message.substr(0, kMaxTextLen));
  return s;
}
Result<ErrorBody> ErrorBody::Decode(Reader& r) {
  ErrorBody b;
  uint8_t code = 0;
  r.U8(&code);
  r.Str(&b.message, kMaxTextLen);
  if (!r.ok()) return Truncated("ERROR");
  b.code = CodeFromWire(code);
  return b;
}

Status ErrorBody::ToStatus() const {
  // A peer's words: escaped and cut short before anyone logs or prints them.
  const std::string message = Printable(this->message, kMaxTextLen);
  switch (code) {
    case Status::Code::kOk: return Status::Internal("peer sent an ERROR with code ok: " + message);
    case Status::Code::kInvalidArgument: return Status::InvalidArgument(message);
    case Status::Code::kNotFound: return Status::NotFound(message);
    case Status::Code::kCorruption: return Status::Corruption(message);
    case Status::Code::kIOError: return Status::IOError(message);
    case Status::Code::kUnavailable: return Status::Unavailable(message);
    case Status::Code::kTimeout: return Status::Timeout(message);
    case Status::Code::kVersionMismatch: return Status::VersionMismatch(message);
    case Status::Code::kUnsupported: return Status::Unsupported(message);
    case Status::Code::kInternal: return Status::Internal(message);
  }
  return Status::Internal(message);
}

std::string KeyReplyBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.Str(name);
  w.Str(public_key);
  return s;
}
Result<KeyReplyBody> KeyReplyBody::Decode(Reader& r) {
  KeyReplyBody b;
  r.Str(&b.name, kMaxNameLen);
  if (!r.ok() || !GetKey(r, &b.public_key) || r.remaining() != 0) return Truncated("KEY_REPLY");
  return b;
}

std::string RequestFailedBody::Encode() const {
  std::string s;
  Writer w(&s);
  w.U32(model_version);
  w.U32(stage);
  w.Str(message.substr(0, kMaxTextLen));
  return s;
}
Result<RequestFailedBody> RequestFailedBody::Decode(Reader& r) {
  RequestFailedBody b;
  r.U32(&b.model_version);
  r.U32(&b.stage);
  r.Str(&b.message, kMaxTextLen);
  if (!r.ok()) return Truncated("REQUEST_FAILED");
  return b;
}

}  // namespace tandem
