#include "common/net/move_cost.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <random>

namespace tandem {
namespace {

HostTensor RandomFloats(std::vector<int64_t> shape, uint32_t seed) {
  HostTensor t;
  t.dtype = DType::kFloat32;
  t.shape = std::move(shape);
  int64_t n = 1;
  for (auto d : t.shape) n *= d;
  t.data.resize(static_cast<size_t>(n) * 4);
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  for (int64_t i = 0; i < n; ++i) {
    const float v = g(rng);
    std::memcpy(&t.data[static_cast<size_t>(i) * 4], &v, 4);
  }
  return t;
}

TEST_CASE("moving activations is measured per byte over a real loopback hop", "[move]") {
  const std::vector<HostTensor> tensors{RandomFloats({1, 64, 28, 28}, 1), RandomFloats({1, 16, 28, 28}, 2)};
  for (const char* codec : {"raw", "lz4", "zfp+lz4", "zfp:accuracy=0.01"}) {
    INFO(codec);
    MoveCostOptions o;
    o.codec = ParseCodec(codec).value();
    o.min_time_s = 0.01;
    o.min_rounds = 4;
    auto c = MeasureMoveCost(tensors, o);
    REQUIRE(c.ok());
    CHECK(c->sample_bytes == (64 + 16) * 28 * 28 * 4);
    CHECK(c->rounds >= 4);
    CHECK(c->s_per_byte > 0);
    // Half a round per byte: a round of 250 kB on this machine cannot take a second.
    CHECK(c->s_per_byte * 2 * c->sample_bytes < 1.0);
  }
}

TEST_CASE("moving nothing, or with a bad codec, is refused", "[move]") {
  MoveCostOptions o;
  CHECK(MeasureMoveCost({}, o).status().code() == Status::Code::kInvalidArgument);
  HostTensor empty;
  empty.dtype = DType::kFloat32;
  empty.shape = {0};
  CHECK(MeasureMoveCost({empty}, o).status().code() == Status::Code::kInvalidArgument);
  o.codec.codec = Codec::kZfp;
  o.codec.zfp_mode = ZfpMode::kAccuracy;
  o.codec.zfp_param = -1;
  CHECK_FALSE(MeasureMoveCost({RandomFloats({8}, 3)}, o).ok());
}

}  // namespace
}  // namespace tandem
