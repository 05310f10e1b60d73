#include "common/tensor/npy.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

namespace tandem {
namespace {

HostTensor Iota(DType dtype, std::vector<int64_t> shape) {
  HostTensor t = HostTensor::Zeros(dtype, std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(i * 7 + 1);
  return t;
}

TEST_CASE("npy round trip for every dtype and rank", "[npy]") {
  for (DType d : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kInt64, DType::kInt32, DType::kInt16,
                  DType::kInt8, DType::kUInt8, DType::kBool}) {
    for (auto shape : std::vector<std::vector<int64_t>>{{}, {5}, {2, 3}, {1, 3, 4, 4}, {0, 3}}) {
      HostTensor t = Iota(d, shape);
      const std::string bytes = SerializeNpy(t);
      CHECK((bytes.size() - t.data.size()) % 64 == 0);  // header aligned as numpy writes it
      auto back = ParseNpy(bytes, "x.npy");
      REQUIRE(back.ok());
      CHECK(back->dtype == d);
      CHECK(back->shape == shape);
      CHECK(back->data == t.data);
    }
  }
}

TEST_CASE("bfloat16, which numpy lacks, is written as float32 exactly", "[npy]") {
  HostTensor t = HostTensor::Zeros(DType::kBFloat16, {2, 2});
  const uint16_t bits[] = {0x3f80, 0xc040, 0x0000, 0x7f80};  // 1, -3, 0, inf
  std::memcpy(t.data.data(), bits, sizeof bits);
  auto back = ParseNpy(SerializeNpy(t), "bf16.npy");
  REQUIRE(back.ok());
  CHECK(back->dtype == DType::kFloat32);
  CHECK(back->shape == t.shape);
  const float* f = back->f32();
  CHECK(f[0] == 1.0f);
  CHECK(f[1] == -3.0f);
  CHECK(f[2] == 0.0f);
  CHECK(std::isinf(f[3]));
}

TEST_CASE("npy parses what numpy writes", "[npy]") {
  // numpy.save of np.arange(3, dtype='<f4'), format 1.0.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + char(header.size()) + char(0) + header;
  const float v[3] = {0, 1, 2};
  bytes.append(reinterpret_cast<const char*>(v), sizeof v);
  auto t = ParseNpy(bytes, "arange.npy");
  REQUIRE(t.ok());
  CHECK(t->shape == std::vector<int64_t>{3});
  CHECK(t->f32()[2] == 2.0f);
}

TEST_CASE("npy refuses corrupt, truncated and unsupported files with the name", "[npy]") {
  const std::string good = SerializeNpy(Iota(DType::kFloat32, {2, 2}));
  auto expect_error = [](const std::string& bytes, const char* what) {
    auto r = ParseNpy(bytes, "in.npy");
    INFO(what);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("in.npy") != std::string::npos);
  };
  expect_error("", "empty");
  expect_error("hello world, not numpy", "no magic");
  expect_error(good.substr(0, good.size() - 1), "data one byte short");
  expect_error(good + "x", "data one byte long");
  expect_error(good.substr(0, 20), "header truncated");
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  expect_error(fortran, "fortran order");
  std::string big = good;
  big.replace(big.find("<f4"), 3, ">f4");
  expect_error(big, "big endian");
  std::string obj = good;
  obj.replace(obj.find("<f4"), 3, "|O8");
  expect_error(obj, "object dtype");
  std::string huge = good;
  huge.replace(huge.find("(2, 2)"), 6, "(99999999999999, 99999999999999)");
  expect_error(huge, "absurd shape");
  std::string version = good;
  version[6] = 9;
  expect_error(version, "unknown version");
}

TEST_CASE("ReadNpy names a missing file", "[npy]") {
  auto r = ReadNpy("/nonexistent/dir/input.npy");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("/nonexistent/dir/input.npy") != std::string::npos);
  CHECK_FALSE(WriteNpy("/nonexistent/dir/out.npy", Iota(DType::kFloat32, {1})).ok());
  CHECK_FALSE(WriteNpy("/tmp/none.npy", HostTensor::None()).ok());
}

}  // namespace
}  // namespace tandem
