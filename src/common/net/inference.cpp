#include "common/net/inference.h"

#include "common/net/codec.h"
#include "common/net/protocol.h"

namespace tandem {
namespace {

Status Truncated(const char* what) { return Status::Corruption(std::string(what) + ": truncated or malformed body"); }

}  // namespace

Status EncodePlainTensor(const HostTensor& t, std::string* out) {
  if (t.is_none()) return Status::InvalidArgument("a plain tensor cannot be None");
  if (t.shape.size() > static_cast<size_t>(kMaxRank))
    return Status::InvalidArgument("tensor rank " + std::to_string(t.shape.size()) + " exceeds " +
                                   std::to_string(kMaxRank));
  TANDEM_ASSIGN_OR_RETURN(uint64_t bytes, ShapeBytes(t.dtype, t.shape));
  if (bytes != t.data.size()) return Status::InvalidArgument("tensor data does not match its shape");
  Writer w(out);
  w.U8(static_cast<uint8_t>(t.dtype));
  w.U8(static_cast<uint8_t>(t.shape.size()));
  for (int64_t d : t.shape) w.I64(d);
  w.U64(bytes);
  w.Raw(t.data.data(), t.data.size());
  return Status::OK();
}

Result<HostTensor> DecodePlainTensor(Reader& r, uint64_t max_bytes) {
  uint8_t dtype = 0, rank = 0;
  r.U8(&dtype);
  r.U8(&rank);
  if (!r.ok()) return Truncated("tensor");
  HostTensor t;
  t.dtype = static_cast<DType>(dtype);
  if (t.dtype == DType::kNone || DTypeSize(t.dtype) == 0)
    return Status::Corruption("tensor: unknown dtype " + std::to_string(dtype));
  if (rank > kMaxRank) return Status::Corruption("tensor: rank " + std::to_string(rank) + " exceeds limit");
  t.shape.resize(rank);
  for (int i = 0; i < rank; ++i) r.I64(&t.shape[i]);
  uint64_t bytes = 0;
  r.U64(&bytes);
  if (!r.ok()) return Truncated("tensor");
  auto expected = ShapeBytes(t.dtype, t.shape);
  if (!expected.ok() || expected.value() != bytes)
    return Status::Corruption("tensor: " + std::to_string(bytes) + " bytes do not match shape " +
                              ShapeToString(t.shape));
  if (bytes > max_bytes || bytes > r.remaining())
    return Status::Corruption("tensor: " + std::to_string(bytes) + " bytes exceed what the message holds or allows");
  const uint8_t* at = nullptr;
  r.Skip(bytes, &at);
  t.data.assign(at, at + bytes);
  return t;
}

Result<std::string> InferRequestBody::Encode() const {
  if (inputs.empty() || inputs.size() > kMaxTensorsPerMessage)
    return Status::InvalidArgument("a request carries 1.." + std::to_string(kMaxTensorsPerMessage) + " tensors");
  std::string s;
  Writer w(&s);
  w.U32(timeout_ms);
  w.U32(static_cast<uint32_t>(inputs.size()));
  for (size_t i = 0; i < inputs.size(); ++i) {
    Status st = EncodePlainTensor(inputs[i], &s);
    if (!st.ok()) return st.WithContext("input " + std::to_string(i));
  }
  return s;
}

Result<InferRequestBody> InferRequestBody::Decode(Reader& r, uint64_t max_bytes) {
  InferRequestBody b;
  uint32_t n = 0;
  r.U32(&b.timeout_ms);
  r.U32(&n);
  if (!r.ok()) return Truncated("INFER_REQUEST");
  if (n == 0 || n > kMaxTensorsPerMessage)
    return Status::Corruption("INFER_REQUEST: " + std::to_string(n) + " tensors (1.." +
                              std::to_string(kMaxTensorsPerMessage) + ")");
  uint64_t left = max_bytes;
  for (uint32_t i = 0; i < n; ++i) {
    auto t = DecodePlainTensor(r, left);
    if (!t.ok()) return t.status().WithContext("INFER_REQUEST: input " + std::to_string(i));
    left -= t->data.size();
    b.inputs.push_back(std::move(t).value());
  }
  if (r.remaining() != 0) return Status::Corruption("INFER_REQUEST: bytes after the last tensor");
  return b;
}

Result<std::string> InferReplyBody::Encode() const {
  if (outputs.size() > kMaxTensorsPerMessage || names.size() != outputs.size())
    return Status::InvalidArgument("a reply names each of at most " + std::to_string(kMaxTensorsPerMessage) +
                                   " tensors");
  std::string s;
  Writer w(&s);
  w.U32(generation);
  w.U32(static_cast<uint32_t>(outputs.size()));
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (names[i].size() > kMaxNameLen) return Status::InvalidArgument("output name too long: " + names[i]);
    w.Str(names[i]);
    Status st = EncodePlainTensor(outputs[i], &s);
    if (!st.ok()) return st.WithContext(names[i]);
  }
  return s;
}

Result<InferReplyBody> InferReplyBody::Decode(Reader& r, uint64_t max_bytes) {
  InferReplyBody b;
  uint32_t n = 0;
  r.U32(&b.generation);
  r.U32(&n);
  if (!r.ok()) return Truncated("INFER_REPLY");
  if (n > kMaxTensorsPerMessage) return Status::Corruption("INFER_REPLY: " + std::to_string(n) + " tensors");
  uint64_t left = max_bytes;
  for (uint32_t i = 0; i < n; ++i) {
    std::string name;
    if (!r.Str(&name, kMaxNameLen)) return Truncated("INFER_REPLY");
    auto t = DecodePlainTensor(r, left);
    if (!t.ok()) return t.status().WithContext("INFER_REPLY: output " + std::to_string(i));
    left -= t->data.size();
    b.names.push_back(std::move(name));
    b.outputs.push_back(std::move(t).value());
  }
  if (r.remaining() != 0) return Status::Corruption("INFER_REPLY: bytes after the last tensor");
  return b;
}

}  // namespace tandem
