// Shared helpers for tandem's tests: fixture lookup and running commands.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/net/curve_keys.h"
#include "common/net/protocol.h"
#include "common/tensor/tensor.h"

namespace tandem::test {

// The exported fixture directory: $TANDEM_FIXTURES, else the build's cache.
std::string FixtureDir();
// The tandem-dispatcher binary: $TANDEM_DISPATCHER, else the one built here.
std::string DispatcherPath();

struct Fixture {
  std::string id;                    // "resnet50.traced"
  std::string model;                 // absolute path
  std::vector<int64_t> input_shape;  // the first input's
  HostTensor input;                  // the first input
  std::vector<InputSpec> specs;      // every input's dtype and shape, in forward's order
  std::vector<HostTensor> inputs;    // every input
  std::vector<HostTensor> outputs;   // flattened; kNone where the model returns None
};
// Loads fixture `id` ("NAME.VARIANT") from fixtures.json.
Fixture LoadFixture(const std::string& id);
// Path of a fixture file by name ("two_inputs.pt").
std::string FixturePath(const std::string& file);

struct CommandResult {
  int exit_code = -1;  // the exit status; 128+N when killed by signal N
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

// The source tree (for configs/ and scripts/).
std::string SourceDir();

// A TCP port on 127.0.0.1 that nothing listens on right now.
int FreePort();

// The tandem-worker binary: $TANDEM_WORKER, else the one built here.
std::string WorkerPath();

// A child process (fork/exec) with stdout and stderr in a log file. The
// destructor kills it (SIGKILL) if it still runs.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  int pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout_s`; returns the exit code (128+N for signal N), or -1
  // if it is still running.
  int Wait(double timeout_s);
  std::string Log() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  std::string log_;
};

// Keys for a test cluster in `dir`: the dispatcher's pair, an
// authorized_keys file holding its public key, and a pair per worker.
class TestKeyring {
 public:
  explicit TestKeyring(const std::string& dir);
  std::string dispatcher_secret;  // its file
  CurveKeyPair dispatcher;
  std::string authorized_keys;  // its file
  // Worker `name`'s pair, made on first use: (secret key file, public key).
  std::pair<std::string, std::string> Worker(const std::string& name);

 private:
  std::string dir_;
};

// A tandem-worker on loopback with free control and data ports; waits until
// its control port accepts HELLO. With `keys` (which must outlive it) it runs
// with its own pair from them, obeys their dispatcher, and tells its key on
// a free port of its own.
class WorkerProcess {
 public:
  explicit WorkerProcess(const std::string& name, const std::string& log_dir,
                         const std::vector<std::string>& extra_args = {}, TestKeyring* keys = nullptr);
  const std::string& endpoint() const { return endpoint_; }
  const std::string& data_endpoint() const { return data_endpoint_; }
  const std::string& key_endpoint() const { return key_endpoint_; }  // with keys
  const std::string& public_key() const { return public_key_; }      // with keys
  Process& process() { return *process_; }
  // Kills it if it runs and starts it again on the same ports (as systemd
  // restarts a worker); waits until it answers HELLO.
  void Restart();

 private:
  std::string endpoint_, data_endpoint_, key_endpoint_, public_key_, log_;
  TestKeyring* keys_ = nullptr;
  std::vector<std::string> argv_;
  int restarts_ = 0;
  std::unique_ptr<Process> process_;
};

// The type of a reply read off the wire (the test fails when its header
// does not decode).
MessageType ReplyType(const std::string& reply);

}  // namespace tandem::test
