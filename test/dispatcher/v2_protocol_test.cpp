// The Open Inference Protocol bodies: requests in JSON and with binary data
// parse into the model's inputs, every malformed or mismatched request is an
// error naming what is wrong, and responses carry each output as asked.
#include "dispatcher/v2_protocol.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

namespace tandem {
namespace {

using nlohmann::json;

// A model of two inputs (x: FP32 2x3, mask: BOOL 2) and a tuple output
// (FP32 2, INT64 1) with a None element between.
V2Model TwoInputs() {
  HostTensor a = HostTensor::Zeros(DType::kFloat32, {2});
  HostTensor b = HostTensor::Zeros(DType::kInt64, {1});
  return MakeV2Model("m", {"x", "mask"}, {InputSpec{DType::kFloat32, {2, 3}}, InputSpec{DType::kBool, {2}}},
                     {"0", "1", "2"}, {a, HostTensor::None(), b});
}

json Input(const std::string& name, std::vector<int64_t> shape, const std::string& type, json data) {
  return {{"name", name}, {"shape", shape}, {"datatype", type}, {"data", data}};
}

std::string Error(const std::string& body, std::optional<uint64_t> header = std::nullopt) {
  auto r = ParseV2InferRequest(body, header, TwoInputs());
  REQUIRE_FALSE(r.ok());
  return r.status().message();
}

TEST_CASE("v2 model metadata lists inputs and outputs, outputs named as the protocol names them", "[v2]") {
  V2Model m = TwoInputs();
  m.version = "2";
  CHECK(m.output_names == std::vector<std::string>{"output_0", "output_2"});
  auto j = json::parse(V2ModelMetadata(m));
  CHECK(j["name"] == "m");
  CHECK(j["versions"] == json::array({"2"}));
  CHECK(j["inputs"][1] == json({{"name", "mask"}, {"datatype", "BOOL"}, {"shape", {2}}}));
  CHECK(j["outputs"][1] == json({{"name", "output_2"}, {"datatype", "INT64"}, {"shape", {1}}}));
  CHECK(V2OutputName("") == "output");
  CHECK(V2OutputName("boxes") == "boxes");
}

TEST_CASE("v2 requests in JSON, flat or nested, in any input order, parse into the model's inputs", "[v2]") {
  json req = {
      {"id", "r1"},
      {"inputs", {Input("mask", {2}, "BOOL", {true, false}), Input("x", {2, 3}, "FP32", {{1, 2, 3}, {4, 5, 6.5}})}}};
  auto r = ParseV2InferRequest(req.dump(), std::nullopt, TwoInputs());
  REQUIRE(r.ok());
  CHECK(r->id == "r1");
  REQUIRE(r->inputs.size() == 2);
  CHECK(r->inputs[0].shape == std::vector<int64_t>{2, 3});
  CHECK(r->inputs[0].f32()[5] == 6.5f);
  CHECK(r->inputs[1].dtype == DType::kBool);
  CHECK(r->inputs[1].data == std::vector<uint8_t>{1, 0});
}

TEST_CASE("v2 requests with binary data take the bytes after the JSON header", "[v2]") {
  std::vector<float> x = {1, 2, 3, 4, 5, 6};
  json req = {{"inputs",
               {{{"name", "x"}, {"shape", {2, 3}}, {"datatype", "FP32"}, {"parameters", {{"binary_data_size", 24}}}},
                {{"name", "mask"}, {"shape", {2}}, {"datatype", "BOOL"}, {"parameters", {{"binary_data_size", 2}}}}}},
              {"outputs", {{{"name", "output_2"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string header = req.dump();
  std::string body = header;
  body.append(reinterpret_cast<const char*>(x.data()), 24);
  body.append("\x01\x01", 2);
  auto r = ParseV2InferRequest(body, header.size(), TwoInputs());
  REQUIRE(r.ok());
  CHECK(r->inputs[0].f32()[4] == 5.0f);
  CHECK(r->inputs[1].data == std::vector<uint8_t>{1, 1});
  REQUIRE(r->outputs == std::vector<std::string>{"output_2"});
  CHECK(r->binary == std::vector<bool>{true});

  // Wrong sizes, missing header, bytes left over, bytes missing.
  CHECK(Error(body, header.size() + 1).find("runs past the end") != std::string::npos);
  CHECK(Error(body).find("binary_data_size without an Inference-Header-Content-Length") != std::string::npos);
  CHECK(Error(body + "x", header.size()).find("1 byte(s) of binary data follow") != std::string::npos);
  CHECK(Error(body.substr(0, body.size() - 1), header.size()).find("runs past the end") != std::string::npos);
  CHECK(Error(header, header.size() + 100).find("more than the body") != std::string::npos);
  json bad = req;
  bad["inputs"][0]["parameters"]["binary_data_size"] = 20;
  CHECK(Error(bad.dump() + std::string(22, '\0'), bad.dump().size()).find("20 bytes; 2x3 FP32 is 24") !=
        std::string::npos);
}

TEST_CASE("v2 requests that do not fit the model are refused, naming the input and the problem", "[v2]") {
  auto with = [](json x, json mask) { return json{{"inputs", {x, mask}}}.dump(); };
  const json mask = Input("mask", {2}, "BOOL", {true, false});
  const json x = Input("x", {2, 3}, "FP32", {1, 2, 3, 4, 5, 6});
  CHECK(Error(with(Input("x", {3, 2}, "FP32", {1, 2, 3, 4, 5, 6}), mask)).find("input 'x' takes 2x3") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP64", {1, 2, 3, 4, 5, 6}), mask)).find("input 'x' is FP32") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP32", {1, 2, 3}), mask)).find("holds 3 element(s); the shape has 6") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP32", {1, 2, 3, 4, 5, 6, 7}), mask)).find("more than the shape's 6") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP32", {1, 2, "3", 4, 5, 6}), mask)).find("element 2: must be a number") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP32", {1, 2, 3, 4, 5, 1e300}), mask)).find("out of FP32's range") !=
        std::string::npos);
  CHECK(Error(with(x, Input("mask", {2}, "BOOL", {1, 0}))).find("must be true or false") != std::string::npos);
  CHECK(Error(with(x, Input("y", {2}, "BOOL", {true, false}))).find("'y' is not an input of the model (x, mask)") !=
        std::string::npos);
  CHECK(Error(with(x, x)).find("'x' is given twice") != std::string::npos);
  CHECK(Error(json{{"inputs", {x}}}.dump()).find("gives 1 input(s); the model takes 2") != std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "BYTES", {1}), mask)).find("BYTES tensors are not supported") !=
        std::string::npos);
  CHECK(Error(with(Input("x", {2, 3}, "FP8", {1}), mask)).find("unknown datatype 'FP8'") != std::string::npos);
  CHECK(Error(json{{"inputs", {x, mask}}, {"extra", 1}}.dump()).find("extra") != std::string::npos);
  CHECK(Error(json{{"inputs", {x, mask}}, {"outputs", {{{"name", "nope"}}}}}.dump())
            .find("'nope' is not an output of the model (output_0, output_2)") != std::string::npos);
  CHECK(Error("{\"id\": 1}").find("id") != std::string::npos);
  CHECK(Error("[1, 2]").find("must be") != std::string::npos);
  // Integers keep to their type's range.
  V2Model ints = MakeV2Model("i", {"a"}, {InputSpec{DType::kUInt8, {2}}}, {""}, {HostTensor::Zeros(DType::kInt8, {1})});
  auto r = ParseV2InferRequest(json{{"inputs", {Input("a", {2}, "UINT8", {255, 256})}}}.dump(), std::nullopt, ints);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("element 1: out of UINT8's range") != std::string::npos);
  r = ParseV2InferRequest(json{{"inputs", {Input("a", {2}, "UINT8", {1, 2.5})}}}.dump(), std::nullopt, ints);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("whole number") != std::string::npos);
  // Nesting is bounded.
  json deep = 1;
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  r = ParseV2InferRequest(json{{"inputs", {Input("a", {2}, "UINT8", deep)}}}.dump(), std::nullopt, ints);
  REQUIRE_FALSE(r.ok());
}

TEST_CASE("v2 responses carry every output, or those asked, in JSON or as binary data", "[v2]") {
  V2Model m = TwoInputs();
  HostTensor a = HostTensor::Zeros(DType::kFloat32, {2});
  a.f32()[1] = 2.5f;
  HostTensor b = HostTensor::Zeros(DType::kInt64, {1});
  int64_t seven = 7;
  std::memcpy(b.data.data(), &seven, 8);
  const std::vector<HostTensor> outputs = {a, HostTensor::None(), b};
  V2InferRequest all;
  all.id = "q";
  std::optional<uint64_t> header;
  auto j = json::parse(V2InferResponse(m, all, "3", outputs, &header));
  CHECK_FALSE(header.has_value());
  CHECK(j["id"] == "q");
  CHECK(j["model_version"] == "3");
  REQUIRE(j["outputs"].size() == 2);
  CHECK(j["outputs"][0]["name"] == "output_0");
  CHECK(j["outputs"][0]["data"] == json({0.0, 2.5}));
  CHECK(j["outputs"][1]["data"] == json({7}));

  V2InferRequest one;
  one.outputs = {"output_2"};
  one.binary = {true};
  const std::string body = V2InferResponse(m, one, "3", outputs, &header);
  REQUIRE(header.has_value());
  auto h = json::parse(body.substr(0, *header));
  REQUIRE(h["outputs"].size() == 1);
  CHECK(h["outputs"][0]["parameters"]["binary_data_size"] == 8);
  REQUIRE(body.size() == *header + 8);
  int64_t got = 0;
  std::memcpy(&got, body.data() + *header, 8);
  CHECK(got == 7);
  CHECK(json::parse(V2Error("bad \xff")).contains("error"));  // invalid UTF-8 is replaced, not thrown

  // NaN has no JSON form: that output goes as binary data, unasked.
  HostTensor nan = a;
  nan.f32()[0] = std::nanf("");
  const std::string mixed = V2InferResponse(m, all, "3", {nan, HostTensor::None(), b}, &header);
  REQUIRE(header.has_value());
  auto mj = json::parse(mixed.substr(0, *header));
  CHECK(mj["outputs"][0]["parameters"]["binary_data_size"] == 8);
  CHECK(mj["outputs"][1]["data"] == json({7}));
  CHECK(mixed.size() == *header + 8);
}

}  // namespace
}  // namespace tandem
