// INFER_REQUEST and INFER_REPLY: what a client of `serve`'s ZeroMQ API
// (include/tandem/client.h, clients/python/tandem_client.py) sends and gets
// back. Each is one ZeroMQ message: the protocol header (protocol.h; its id
// is the client's request id, echoed in the answer) and this body. This file
// is their only encoder and decoder.
//
// Bodies, little-endian:
//
//   INFER_REQUEST  u32 timeout_ms (0: the server's; else the shorter)
//                  u32 tensor count (1..kMaxTensorsPerMessage)
//                  that many plain tensors, one per model input, in order
//   INFER_REPLY    u32 model generation that answered
//                  u32 tensor count (0..kMaxTensorsPerMessage)
//                  per tensor: str name (u32 length, bytes), plain tensor
//
//   plain tensor   u8 dtype (DType), u8 rank (<= kMaxRank), i64 dims[rank],
//                  u64 byte count (= numel * dtype size), the bytes (C order)
//
// A request that fails is answered with ERROR (protocol.h) and the same id:
// invalid argument (a bad message or tensor: the text names it),
// unavailable (queue full or shutting down: try again later), timeout (its
// deadline passed), internal (the model raised). Plain tensors, not codec
// frames: a client in any language writes them with a few lines, and CURVE
// already authenticates every byte where the link needs it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/net/wire_coding.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// Appends one plain tensor. kNone tensors are refused.
Status EncodePlainTensor(const HostTensor& tensor, std::string* out);
// Reads one; nothing larger than max_bytes is allocated. Errors: kCorruption.
Result<HostTensor> DecodePlainTensor(Reader& r, uint64_t max_bytes);

struct InferRequestBody {
  uint32_t timeout_ms = 0;
  std::vector<HostTensor> inputs;
  // Errors: no tensor, too many, or one that is None or does not match its shape.
  Result<std::string> Encode() const;
  // max_bytes bounds the tensors' bytes in all.
  static Result<InferRequestBody> Decode(Reader& r, uint64_t max_bytes);
};

struct InferReplyBody {
  uint32_t generation = 0;
  std::vector<std::string> names;  // one per output
  std::vector<HostTensor> outputs;
  // Errors: names and outputs differ in number, a name is too long, a tensor is bad.
  Result<std::string> Encode() const;
  static Result<InferReplyBody> Decode(Reader& r, uint64_t max_bytes);
};

}  // namespace tandem
