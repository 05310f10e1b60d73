// Shared helpers for tandem's tests: fixture lookup and running commands.
#pragma once

#include <string>
#include <vector>

#include "common/tensor.h"

namespace tandem::test {

// The exported fixture directory: $TANDEM_FIXTURES, else the build's cache.
std::string FixtureDir();
// The tandem-dispatcher binary: $TANDEM_DISPATCHER, else the one built here.
std::string DispatcherPath();

struct Fixture {
  std::string id;                      // "resnet50.traced"
  std::string model;                   // absolute path
  std::vector<int64_t> input_shape;
  HostTensor input;
  std::vector<HostTensor> outputs;     // flattened; kNone where the model returns None
};
// Loads fixture `id` ("NAME.VARIANT") from fixtures.json.
Fixture LoadFixture(const std::string& id);
// Path of a fixture file by name ("two_inputs.pt").
std::string FixturePath(const std::string& file);

struct CommandResult {
  int exit_code = -1;    // the exit status; 128+N when killed by signal N
  std::string out;
  std::string err;
};
// Runs `command` through /bin/sh with stdout and stderr captured.
CommandResult RunCommand(const std::string& command);

// A fresh empty directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Env(const char* name);

}  // namespace tandem::test
