// Fuzz target: a body of `serve`'s POST /v2/models/NAME/infer (JSON, or JSON
// then binary tensors), parsed against a model of three inputs, and the
// response made from what it parsed. Input: one flag byte (bit 0: an
// Inference-Header-Content-Length is given), its value (4 bytes, little
// endian), then the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "dispatcher/v2_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tandem;
  static const V2Model model =
      MakeV2Model("m", {"x", "mask", "ids"},
                  {InputSpec{DType::kFloat32, {2, 3}}, InputSpec{DType::kBool, {2}}, InputSpec{DType::kInt64, {3}}},
                  {"0", "1"}, {HostTensor::Zeros(DType::kFloat32, {2}), HostTensor::Zeros(DType::kInt64, {1})});
  if (size < 5) return 0;
  std::optional<uint64_t> header;
  if (data[0] & 1)
    header = uint64_t{data[1]} | uint64_t{data[2]} << 8 | uint64_t{data[3]} << 16 | uint64_t{data[4]} << 24;
  const std::string body(reinterpret_cast<const char*>(data) + 5, size - 5);
  auto req = ParseV2InferRequest(body, header, model);
  if (req.ok()) {
    std::optional<uint64_t> out_header;
    (void)V2InferResponse(model, req.value(), "1", {req->inputs[0], req->inputs[2]}, &out_header);
  }
  return 0;
}
