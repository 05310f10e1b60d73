#include "common/util/int_list.h"

#include <catch2/catch.hpp>

namespace tandem {
namespace {

TEST_CASE("integer lists parse with their separators and refuse junk", "[int_list]") {
  CHECK(ParseIntList("1,3,224,224").value() == std::vector<int64_t>{1, 3, 224, 224});
  CHECK(ParseIntList(" 2 , -5 ").value() == std::vector<int64_t>{2, -5});
  IntListOptions x;
  x.separators = ",x";
  CHECK(ParseIntList("1x3x32x32", x).value() == std::vector<int64_t>{1, 3, 32, 32});
  IntListOptions tuple;
  tuple.trailing_separator = true;
  tuple.allow_empty = true;
  CHECK(ParseIntList("3,", tuple).value() == std::vector<int64_t>{3});
  CHECK(ParseIntList("", tuple).value().empty());
  CHECK(ParseIntList("3,", IntListOptions()).status().message() == "'3,': an entry is empty");
  CHECK(ParseIntList("").status().message() == "'': no numbers");
  CHECK(ParseIntList("1,,3").status().message() == "'1,,3': an entry is empty");
  CHECK(ParseIntList("1;3").status().message().find("';' is not a digit or a separator") != std::string::npos);
  CHECK(ParseIntList("a").status().message().find("'a' is not a digit") != std::string::npos);
  CHECK(ParseIntList("1 2").status().message().find("'2' is not a digit or a separator") != std::string::npos);
  IntListOptions small;
  small.max_abs = 999;
  CHECK(ParseIntList("999", small).ok());
  CHECK(ParseIntList("1000", small).status().message().find("too large") != std::string::npos);
  CHECK_FALSE(ParseIntList("99999999999999999999999").ok());
}

}  // namespace
}  // namespace tandem
