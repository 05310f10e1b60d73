#include "common/util/status.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  TANDEM_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

TEST_CASE("Status carries code and message", "[status]") {
  CHECK(Status::OK().ok());
  Status s = Status::NotFound("model.pt: missing");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == Status::Code::kNotFound);
  CHECK(s.ToString() == "not found: model.pt: missing");
  CHECK(s.WithContext("loading").message() == "loading: model.pt: missing");
  CHECK(Status::OK().WithContext("x").ok());
}

TEST_CASE("Result propagates the first error", "[status]") {
  CHECK(Quarter(8).value() == 2);
  auto r = Quarter(6);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "3 is odd");
  CHECK(Half(3).status().code() == Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace tandem
