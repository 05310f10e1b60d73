#include "support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file_util.h"
#include "common/npy.h"

namespace tandem::test {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string FixtureDir() {
  std::string d = Env("TANDEM_FIXTURES");
  return d.empty() ? TANDEM_TEST_FIXTURE_DIR : d;
}

std::string DispatcherPath() {
  std::string d = Env("TANDEM_DISPATCHER");
  return d.empty() ? TANDEM_TEST_DISPATCHER : d;
}

std::string FixturePath(const std::string& file) { return FixtureDir() + "/" + file; }

Fixture LoadFixture(const std::string& id) {
  auto text = ReadFile(FixturePath("fixtures.json"));
  REQUIRE(text.ok());
  auto j = nlohmann::json::parse(text.value());
  for (const auto& e : j.at("fixtures")) {
    const std::string eid = e.at("name").get<std::string>() + "." + e.at("variant").get<std::string>();
    if (eid != id) continue;
    Fixture f;
    f.id = id;
    f.model = FixturePath(e.at("model").get<std::string>());
    f.input_shape = e.at("input_shape").get<std::vector<int64_t>>();
    auto in = ReadNpy(FixturePath(e.at("input").get<std::string>()));
    REQUIRE(in.ok());
    f.input = std::move(in).value();
    for (const auto& o : e.at("outputs")) {
      if (o.is_null()) {
        f.outputs.push_back(HostTensor::None());
        continue;
      }
      auto t = ReadNpy(FixturePath(o.get<std::string>()));
      REQUIRE(t.ok());
      f.outputs.push_back(std::move(t).value());
    }
    return f;
  }
  FAIL("no fixture " << id << " in " << FixturePath("fixtures.json"));
  return {};
}

CommandResult RunCommand(const std::string& command) {
  TempDir tmp;
  const std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  const std::string full = command + " >" + out + " 2>" + err + " </dev/null";
  int status = std::system(full.c_str());
  CommandResult r;
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) r.exit_code = 128 + WTERMSIG(status);
  auto o = ReadFile(out);
  auto e = ReadFile(err);
  r.out = o.ok() ? o.value() : "";
  r.err = e.ok() ? e.value() : "";
  return r;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/tandem-test-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  REQUIRE(p != nullptr);
  path_ = p;
}

TempDir::~TempDir() {
  const std::string cmd = "rm -rf '" + path_ + "'";
  if (std::system(cmd.c_str()) != 0) {
  }
}

}  // namespace tandem::test
