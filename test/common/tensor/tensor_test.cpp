#include "common/tensor/tensor.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

TEST_CASE("ParseShape accepts commas and x, refuses junk", "[tensor]") {
  CHECK(ParseShape("1,3,224,224").value() == std::vector<int64_t>{1, 3, 224, 224});
  CHECK(ParseShape("1x3x32x32").value() == std::vector<int64_t>{1, 3, 32, 32});
  CHECK(ParseShape(" 2, 5 ").value() == std::vector<int64_t>{2, 5});
  for (const char* bad : {"", "1,,3", "1,0,3", "a,b", "1,-3", "1;3", "99999999999999999", "1,2,3,4,5,6,7,8,9"}) {
    auto r = ParseShape(bad);
    INFO(bad);
    CHECK_FALSE(r.ok());
  }
  CHECK_FALSE(ParseShape("100000,100000,100000,100000,100000").ok());  // overflows int64
}

TEST_CASE("ParseInputSpecs: a SHAPE[:DTYPE] per input, ';'-separated", "[tensor]") {
  auto one = ParseInputSpecs("1,3,224,224");
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK(one->at(0) == InputSpec{DType::kFloat32, {1, 3, 224, 224}});
  CHECK(InputSpecsToString(one.value()) == "1x3x224x224");
  auto two = ParseInputSpecs("2,16:int64; 2x16:bool");
  REQUIRE(two.ok());
  REQUIRE(two->size() == 2);
  CHECK(two->at(0) == InputSpec{DType::kInt64, {2, 16}});
  CHECK(two->at(1) == InputSpec{DType::kBool, {2, 16}});
  CHECK(InputSpecsToString(two.value()) == "2x16:int64; 2x16:bool");
  CHECK(ParseInputSpecs(InputSpecsToArgument(two.value())).value() == two.value());
  CHECK(ParseInputSpecs("1,3:uint8").value().at(0).dtype == DType::kUInt8);
  for (const char* bad : {"", ";", "1,3;", "1,3:none", "1,3:complex", "1,3:", ":int64", "1,0:int8", "1,3;;2"}) {
    auto r = ParseInputSpecs(bad);
    INFO(bad);
    CHECK_FALSE(r.ok());
  }
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? ";" : "") + std::string("1");
  CHECK(ParseInputSpecs(many).status().message().find("more than 64") != std::string::npos);
}

TEST_CASE("ShapeNumel and names", "[tensor]") {
  CHECK(ShapeNumel({}).value() == 1);
  CHECK(ShapeNumel({2, 0, 3}).value() == 0);
  CHECK_FALSE(ShapeNumel({-1}).ok());
  CHECK(ShapeToString({1, 3}) == "1x3");
  CHECK(ShapeToString({}) == "scalar");
  for (int i = 0; i <= 10; ++i) {
    DType d = static_cast<DType>(i);
    CHECK(ParseDType(DTypeName(d)).value() == d);
  }
  CHECK_FALSE(ParseDType("complex64").ok());
}

TEST_CASE("CompareTensors finds the worst element", "[tensor]") {
  HostTensor a = HostTensor::Zeros(DType::kFloat32, {2, 2});
  HostTensor b = a;
  b.f32()[3] = -2.5f;
  a.f32()[3] = -2.0f;
  auto d = CompareTensors(a, b);
  REQUIRE(d.ok());
  CHECK(d->max_abs_diff == Approx(0.5));
  CHECK(d->max_abs_ref == Approx(2.5));
  HostTensor c = HostTensor::Zeros(DType::kFloat32, {4});
  CHECK_FALSE(CompareTensors(a, c).ok());
  HostTensor e = HostTensor::Zeros(DType::kInt64, {2, 2});
  CHECK_FALSE(CompareTensors(a, e).ok());
}

}  // namespace
}  // namespace tandem
