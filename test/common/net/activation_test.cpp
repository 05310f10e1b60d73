#include "common/net/activation.h"

#include <catch2/catch.hpp>

#include "common/net/protocol.h"

namespace tandem {
namespace {

HostTensor Ramp(std::vector<int64_t> shape) {
  HostTensor t = HostTensor::Zeros(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 0.25f * static_cast<float>(i % 97);
  return t;
}

// The body of a whole message (after its protocol header).
Reader BodyOf(const std::string& msg) {
  auto h = DecodeHeader(msg.data(), msg.size());
  REQUIRE(h.ok());
  REQUIRE(h->type == MessageType::kActivation);
  return Reader(msg.data() + kHeaderSize, msg.size() - kHeaderSize);
}

TEST_CASE("an activation round-trips: header, tensors and timings", "[activation]") {
  const std::vector<HostTensor> tensors = {Ramp({1, 3, 8, 8}), Ramp({2, 5}), HostTensor::None()};
  StageTiming earlier{0, 1, 2, 3, 4, 5, 0.5};
  earlier.recv_unix_us = 1000;
  earlier.send_unix_us = 2000;
  StageTiming own;
  own.stage = 1;
  own.compute_us = 77;
  EncodeStats stats;
  auto msg =
      EncodeActivation(42, ActivationHeader{7, 2}, tensors, ParseCodec("zfp+lz4").value(), {earlier}, &own, &stats);
  REQUIRE(msg.ok());
  CHECK(DecodeHeader(msg->data(), msg->size())->id == 42);
  // The own record got this message's figures.
  CHECK(own.bytes_out > 0);
  CHECK(own.bytes_out == stats.frame_bytes);
  CHECK(stats.raw_bytes == tensors[0].nbytes() + tensors[1].nbytes());

  Reader r = BodyOf(msg.value());
  auto h = DecodeActivationHeader(r);
  REQUIRE(h.ok());
  CHECK(h->model_version == 7);
  CHECK(h->stage == 2);
  CHECK(h->num_tensors == 3);
  auto p = DecodeActivationPayload(r, h.value(), 1 << 20);
  REQUIRE(p.ok());
  REQUIRE(p->tensors.size() == 3);
  CHECK(p->tensors[0].data == tensors[0].data);
  CHECK(p->tensors[0].shape == tensors[0].shape);
  CHECK(p->tensors[1].data == tensors[1].data);
  CHECK(p->tensors[2].is_none());
  REQUIRE(p->timings.size() == 2);
  CHECK(p->timings[0].compute_us == 3);
  CHECK(p->timings[0].max_abs_error == 0.5);
  CHECK(p->timings[0].send_unix_us == 2000);
  CHECK(p->timings[1].stage == 1);
  CHECK(p->timings[1].compute_us == 77);
  CHECK(p->timings[1].bytes_out == own.bytes_out);
}

TEST_CASE("the sender stamps the last record's send time in place", "[activation]") {
  StageTiming own;
  own.recv_unix_us = 3000;
  auto msg = EncodeActivation(1, ActivationHeader{1, 1}, {Ramp({4})}, CodecSpec(), {StageTiming{}}, &own);
  REQUIRE(msg.ok());
  SetLastSendTime(msg->data(), msg->size(), 0x0102030405060708ull);
  Reader r = BodyOf(msg.value());
  auto p = DecodeActivationPayload(r, DecodeActivationHeader(r).value(), 1 << 20);
  REQUIRE(p.ok());
  CHECK(p->timings.back().recv_unix_us == 3000);
  CHECK(p->timings.back().send_unix_us == 0x0102030405060708ull);
  CHECK(p->timings.front().send_unix_us == 0);
}

// The message's trailer replaced by `trailer` (the bytes after the frames).
std::string WithTrailer(const std::string& msg, const std::string& trailer) {
  // An encoded message without timings ends in a u32 count of 0.
  std::string body = msg.substr(kHeaderSize, msg.size() - kHeaderSize - 4) + trailer;
  return EncodeMessage(MessageType::kActivation, 1, body);
}

TEST_CASE("a 1.1 trailer (no times) decodes; a cut or overlong trailer is refused", "[activation]") {
  auto msg = EncodeActivation(1, ActivationHeader{1, 1}, {Ramp({4})}, CodecSpec(), {});
  REQUIRE(msg.ok());
  std::string old;
  Writer w(&old);
  w.U32(1);
  w.U16(0);
  for (int i = 0; i < 4; ++i) w.U32(9);
  w.U64(10);
  w.F64(0.25);
  const std::string v11 = WithTrailer(msg.value(), old);
  Reader r = BodyOf(v11);
  auto p = DecodeActivationPayload(r, DecodeActivationHeader(r).value(), 1 << 20);
  REQUIRE(p.ok());
  CHECK(p->timings.at(0).compute_us == 9);
  CHECK(p->timings.at(0).recv_unix_us == 0);

  std::string times = old;
  Writer t(&times);
  t.U64(1);
  t.U64(2);
  for (const std::string& bad : {old.substr(0, old.size() - 3), times.substr(0, times.size() - 3), times + "x",
                                 old + std::string(16, '\0') + std::string(16, '\0')}) {
    const std::string m = WithTrailer(msg.value(), bad);
    Reader br = BodyOf(m);
    auto bp = DecodeActivationPayload(br, DecodeActivationHeader(br).value(), 1 << 20);
    CHECK(bp.status().code() == Status::Code::kCorruption);
  }
  // More records than any pipeline has stages.
  std::string many;
  Writer mw(&many);
  mw.U32(kMaxTimings + 1);
  const std::string m = WithTrailer(msg.value(), many);
  Reader mr = BodyOf(m);
  CHECK_FALSE(DecodeActivationPayload(mr, DecodeActivationHeader(mr).value(), 1 << 20).ok());
}

TEST_CASE("tensor counts and the total size are bounded", "[activation]") {
  // Encoding: 1..kMaxTensorsPerMessage tensors.
  CHECK_FALSE(EncodeActivation(1, ActivationHeader{}, {}, CodecSpec(), {}).ok());
  std::vector<HostTensor> too_many(kMaxTensorsPerMessage + 1, Ramp({1}));
  CHECK_FALSE(EncodeActivation(1, ActivationHeader{}, too_many, CodecSpec(), {}).ok());
  // Decoding: a header claiming none or too many.
  for (uint32_t n : {0u, kMaxTensorsPerMessage + 1}) {
    std::string body;
    Writer w(&body);
    w.U32(1);
    w.U32(0);
    w.U32(n);
    Reader r(body);
    CHECK(DecodeActivationHeader(r).status().code() == Status::Code::kCorruption);
  }
  // Frames that are each within the bound but not together: refused when
  // the total passes it, before the next is allocated.
  const HostTensor big = HostTensor::Zeros(DType::kFloat32, {1, 256, 256});  // 256 KiB of zeros, lz4: ~1 kB
  auto msg = EncodeActivation(1, ActivationHeader{1, 0}, {big, big, big}, ParseCodec("lz4").value(), {});
  REQUIRE(msg.ok());
  CHECK(msg->size() < 16 * 1024);
  Reader r = BodyOf(msg.value());
  const ActivationHeader h = DecodeActivationHeader(r).value();
  Reader again = r;
  CHECK(DecodeActivationPayload(again, h, 3 * big.nbytes()).ok());
  auto over = DecodeActivationPayload(r, h, 3 * big.nbytes() - 1);
  CHECK(over.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("TimingMicros clamps to the field", "[activation]") {
  using std::chrono::microseconds;
  CHECK(TimingMicros(microseconds(1234)) == 1234);
  CHECK(TimingMicros(microseconds(-5)) == 0);
  CHECK(TimingMicros(std::chrono::hours(24 * 60)) == UINT32_MAX);
}

}  // namespace
}  // namespace tandem
