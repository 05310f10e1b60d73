// INFER_REQUEST and INFER_REPLY bodies: round trips, and every way a
// client's or a server's bytes can be wrong ends in an error, not a crash or
// an allocation beyond the bound.
#include "common/net/inference.h"

#include <catch2/catch.hpp>

#include "common/net/protocol.h"

namespace tandem {
namespace {

HostTensor Ramp(DType dtype, std::vector<int64_t> shape) {
  HostTensor t = HostTensor::Zeros(dtype, std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(i * 7 + 1);
  return t;
}

TEST_CASE("an inference request and its reply round-trip", "[net]") {
  InferRequestBody req{1500, {Ramp(DType::kFloat32, {1, 3, 4, 4}), Ramp(DType::kInt64, {2}), Ramp(DType::kBool, {})}};
  const std::string body = req.Encode().value();
  Reader r(body);
  auto back = InferRequestBody::Decode(r, 1 << 20);
  REQUIRE(back.ok());
  CHECK(back->timeout_ms == 1500);
  REQUIRE(back->inputs.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back->inputs[i].dtype == req.inputs[i].dtype);
    CHECK(back->inputs[i].shape == req.inputs[i].shape);
    CHECK(back->inputs[i].data == req.inputs[i].data);
  }
  InferReplyBody rep{4, {"output_0", "output_1"}, {Ramp(DType::kFloat16, {2, 5}), Ramp(DType::kUInt8, {3})}};
  const std::string rbody = rep.Encode().value();
  Reader rr(rbody);
  auto rback = InferReplyBody::Decode(rr, 1 << 20);
  REQUIRE(rback.ok());
  CHECK(rback->generation == 4);
  CHECK(rback->names == rep.names);
  CHECK(rback->outputs[0].data == rep.outputs[0].data);
  CHECK(rback->outputs[1].shape == std::vector<int64_t>{3});
  // Encoding refuses what it cannot write.
  CHECK_FALSE(InferRequestBody{0, {}}.Encode().ok());
  CHECK_FALSE(InferRequestBody{0, {HostTensor::None()}}.Encode().ok());
  HostTensor short_data = Ramp(DType::kFloat32, {4});
  short_data.data.pop_back();
  CHECK_FALSE(InferRequestBody{0, {short_data}}.Encode().ok());
  CHECK_FALSE(InferReplyBody{0, {"a"}, {}}.Encode().ok());
}

TEST_CASE("a malformed inference body is refused: every truncation, bad dtypes, sizes and counts", "[net]") {
  const std::string body =
      InferRequestBody{0, {Ramp(DType::kFloat32, {2, 3}), Ramp(DType::kInt8, {5})}}.Encode().value();
  for (size_t n = 0; n < body.size(); ++n) {
    Reader r(body.data(), n);
    CHECK_FALSE(InferRequestBody::Decode(r, 1 << 20).ok());
  }
  {
    std::string extra = body + "x";
    Reader r(extra);
    CHECK(InferRequestBody::Decode(r, 1 << 20).status().message().find("after the last tensor") != std::string::npos);
  }
  {  // the tensors' bytes over the bound (24 + 5 > 28)
    Reader r(body);
    auto d = InferRequestBody::Decode(r, 28);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Status::Code::kCorruption);
  }
  auto corrupt = [&](size_t at, uint8_t value) {
    std::string b = body;
    b[at] = static_cast<char>(value);
    Reader r(b);
    return InferRequestBody::Decode(r, 1 << 20);
  };
  CHECK_FALSE(corrupt(4, 0).ok());      // no tensors
  CHECK_FALSE(corrupt(5, 1).ok());      // 257 tensors
  CHECK_FALSE(corrupt(8, 0).ok());      // dtype none
  CHECK_FALSE(corrupt(8, 99).ok());     // unknown dtype
  CHECK_FALSE(corrupt(9, 9).ok());      // rank above the limit
  CHECK_FALSE(corrupt(10, 7).ok());     // a dim that no longer matches the byte count
  CHECK_FALSE(corrupt(17, 0x80).ok());  // a negative dim
  // A byte count that claims more than the message holds.
  std::string huge;
  Writer w(&huge);
  w.U32(0);
  w.U32(1);
  w.U8(static_cast<uint8_t>(DType::kUInt8));
  w.U8(1);
  w.I64(int64_t{1} << 40);
  w.U64(uint64_t{1} << 40);
  Reader r(huge);
  CHECK_FALSE(InferRequestBody::Decode(r, uint64_t{1} << 50).ok());
}

}  // namespace
}  // namespace tandem
