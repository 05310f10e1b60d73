#include "common/util/json.h"

#include <catch2/catch.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

struct Point {
  int x = 0;
  double weight = 1;
};
Status ReadJson(const JsonField& f, Point* p) {
  TANDEM_RETURN_IF_ERROR(f.CheckObject({"x", "weight"}));
  TANDEM_RETURN_IF_ERROR(f.Require("x", &p->x));
  return f.Get("weight", &p->weight);
}

std::string ErrorOf(const std::string& text) {
  auto doc = JsonDocument::Parse(text, "f.json");
  if (!doc.ok()) return doc.status().message();
  std::vector<Point> points;
  Status st = doc->root().Require("points", &points);
  REQUIRE_FALSE(st.ok());
  CHECK(st.code() == Status::Code::kInvalidArgument);
  return st.message();
}

TEST_CASE("JSON fields read into structs; errors name the file and the field path", "[json]") {
  auto doc = JsonDocument::Parse(R"({"points": [{"x": 1}, {"x": -2, "weight": 0.5}], "name": "n"})", "f.json");
  REQUIRE(doc.ok());
  std::vector<Point> points;
  REQUIRE(doc->root().Require("points", &points).ok());
  REQUIRE(points.size() == 2);
  CHECK(points[1].x == -2);
  CHECK(points[0].weight == 1);  // absent: left as it was
  CHECK(points[1].weight == 0.5);
  std::string name = "default", missing = "default";
  CHECK(doc->root().Get("name", &name).ok());
  CHECK(doc->root().Get("nothing", &missing).ok());
  CHECK(name == "n");
  CHECK(missing == "default");

  CHECK(ErrorOf("{").find("f.json: not valid JSON") == 0);
  CHECK(ErrorOf("[]") == "f.json: points: required");
  CHECK(ErrorOf(R"({"points": {}})") == "f.json: points: must be a list");
  CHECK(ErrorOf(R"({"points": [{"x": 1}, {"y": 2}]})") == "f.json: points[1].y: unknown field (known: x, weight)");
  CHECK(ErrorOf(R"({"points": [{"weight": 2}]})") == "f.json: points[0].x: required");
  CHECK(ErrorOf(R"({"points": [{"x": "1"}]})") == "f.json: points[0].x: must be an integer");
  CHECK(ErrorOf(R"({"points": [{"x": 1.5}]})") == "f.json: points[0].x: must be an integer");
  CHECK(ErrorOf(R"({"points": [{"x": 3000000000}]})").find("f.json: points[0].x: must be an integer") == 0);
  CHECK(ErrorOf(R"({"points": [{"x": 1, "weight": "heavy"}]})") == "f.json: points[0].weight: must be a number");
  CHECK(ErrorOf(R"({"points": [7]})") == "f.json: points[0]: must be a JSON object");
}

TEST_CASE("JSON integers are range-checked for their type", "[json]") {
  auto doc = JsonDocument::Parse(R"({"neg": -1, "big": 18446744073709551615, "flag": 1})", "g.json");
  REQUIRE(doc.ok());
  const JsonField j = doc->root();
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  int64_t i64 = 0;
  bool flag = false;
  double d = 0;
  CHECK(j.Get("neg", &u64).message() == "g.json: neg: must be a non-negative integer");
  CHECK(j.Get("neg", &i64).ok());
  CHECK(i64 == -1);
  CHECK(j.Get("big", &u64).ok());
  CHECK(u64 == UINT64_MAX);
  CHECK_FALSE(j.Get("big", &u32).ok());
  CHECK_FALSE(j.Get("big", &i64).ok());
  CHECK(j.Get("flag", &flag).message() == "g.json: flag: must be true or false");
  CHECK(j.Get("neg", &d).ok());
  CHECK(d == -1);
  CHECK(JsonDocument::Parse(R"({"inf": 1e999})", "g.json").status().message().find("g.json: not valid JSON") == 0);
}

TEST_CASE("JSON documents load from files, bounded", "[json]") {
  test::TempDir dir;
  const std::string path = dir.path() + "/h.json";
  REQUIRE(WriteFileAtomic(path, R"({"a": 1})").ok());
  auto doc = JsonDocument::Load(path, 1024);
  REQUIRE(doc.ok());
  CHECK(doc->source() == path);
  CHECK(JsonDocument::Load(path, 4).status().message().find("larger than the limit") != std::string::npos);
  CHECK(JsonDocument::Load(dir.path() + "/none.json", 1024).status().code() == Status::Code::kNotFound);
  // Fields stay valid when the document is moved.
  JsonDocument moved = std::move(doc).value();
  int a = 0;
  CHECK(moved.root().Require("a", &a).ok());
  CHECK(a == 1);
}

}  // namespace
}  // namespace tandem
