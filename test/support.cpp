#include "support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <zmq.hpp>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/net/curve_keys.h"
#include "common/net/protocol.h"
#include "common/net/zap.h"
#include "common/tensor/npy.h"
#include "common/util/files.h"
#include "common/util/json.h"

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
  auto doc = JsonDocument::Load(FixturePath("fixtures.json"), 1 << 20);
  INFO(doc.status().ToString());
  REQUIRE(doc.ok());
  const JsonField list = doc->root()["fixtures"];
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonField e = list[i];
    std::string name, variant, model, input;
    std::vector<int64_t> shape;
    REQUIRE(e.Require("name", &name).ok());
    REQUIRE(e.Require("variant", &variant).ok());
    if (name + "." + variant != id) continue;
    REQUIRE(e.Require("model", &model).ok());
    REQUIRE(e.Require("input", &input).ok());
    REQUIRE(e.Require("input_shape", &shape).ok());
    Fixture f;
    f.id = id;
    f.model = FixturePath(model);
    f.input_shape = shape;
    std::vector<std::string> files{input};
    if (e.Has("inputs")) {
      files.clear();
      const JsonField list = e["inputs"];
      for (size_t k = 0; k < list.size(); ++k) {
        files.emplace_back();
        REQUIRE(list[k].Require("file", &files.back()).ok());
      }
    }
    for (const auto& file : files) {
      auto in = ReadNpy(FixturePath(file));
      REQUIRE(in.ok());
      f.specs.push_back(InputSpec{in->dtype, in->shape});
      f.inputs.push_back(std::move(in).value());
    }
    f.input = f.inputs.at(0);
    const JsonField outputs = e["outputs"];
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (outputs[k].is_null()) {
        f.outputs.push_back(HostTensor::None());
        continue;
      }
      std::string file;
      REQUIRE(outputs[k].Read(&file).ok());
      auto t = ReadNpy(FixturePath(file));
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
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.exit_code = 128 + WTERMSIG(status);
  auto o = ReadFile(out);
  auto e = ReadFile(err);
  r.out = o.ok() ? o.value() : "";
  r.err = e.ok() ? e.value() : "";
  return r;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string SourceDir() { return TANDEM_TEST_SOURCE_DIR; }

std::string WorkerPath() {
  std::string d = Env("TANDEM_WORKER");
  return d.empty() ? TANDEM_TEST_WORKER : d;
}

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Process::~Process() {
  if (Wait(0) < 0) {
    Signal(SIGKILL);
    Wait(10);
  }
}

void Process::Signal(int sig) {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

int Process::Wait(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (status_ < 0) {
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::string Process::Log() const {
  auto r = ReadFile(log_);
  return r.ok() ? r.value() : "";
}

TestKeyring::TestKeyring(const std::string& dir) : dir_(dir) {
  dispatcher_secret = dir + "/dispatcher.key";
  auto made = EnsureCurveKeyFiles(dispatcher_secret, dispatcher_secret + ".pub", false);
  REQUIRE(made.ok());
  dispatcher = made.value();
  authorized_keys = dir + "/authorized_keys";
  REQUIRE(WriteFileAtomic(authorized_keys, dispatcher.public_key + "  # the test's dispatcher\n").ok());
}

std::pair<std::string, std::string> TestKeyring::Worker(const std::string& name) {
  const std::string secret = dir_ + "/" + name + ".key";
  auto made = EnsureCurveKeyFiles(secret, secret + ".pub", /*if_missing=*/true);
  REQUIRE(made.ok());
  return {secret, made->public_key};
}

WorkerProcess::WorkerProcess(const std::string& name, const std::string& log_dir,
                             const std::vector<std::string>& extra_args, TestKeyring* keys)
    : keys_(keys) {
  // Free ports; a race with another process taking one is possible but
  // would show as a clear bind error in the log.
  const int control = FreePort();
  int data = FreePort();
  while (data == control) data = FreePort();
  endpoint_ = "tcp://127.0.0.1:" + std::to_string(control);
  data_endpoint_ = "tcp://127.0.0.1:" + std::to_string(data);
  argv_ = {WorkerPath(), "--listen", endpoint_, "--data-listen", data_endpoint_, "--name", name, "--threads", "1"};
  if (keys_) {
    int announce = FreePort();
    while (announce == control || announce == data) announce = FreePort();
    key_endpoint_ = "tcp://127.0.0.1:" + std::to_string(announce);
    const auto [secret, public_key] = keys_->Worker(name);
    public_key_ = public_key;
    for (const std::string& a : {std::string("--secret-key"), secret, std::string("--authorized-keys"),
                                 keys_->authorized_keys, std::string("--key-listen"), key_endpoint_})
      argv_.push_back(a);
  }
  argv_.insert(argv_.end(), extra_args.begin(), extra_args.end());
  log_ = log_dir + "/" + name + ".log";
  Restart();
}

void WorkerProcess::Restart() {
  process_.reset();  // SIGKILL if it still runs
  process_ = std::make_unique<Process>(argv_, log_ + (restarts_++ ? "." + std::to_string(restarts_) : ""));
  // Wait until it answers HELLO (bounded), as the dispatcher would say it.
  zmq::context_t ctx(1);
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  LinkKeys keys;
  if (keys_) keys = keys_->dispatcher;
  REQUIRE(SecureClientSocket(s, keys, public_key_).ok());
  s.connect(endpoint_);
  const std::string hello =
      EncodeMessage(MessageType::kHello, 1, HelloBody{PeerRole::kDispatcher, "test", {}}.Encode());
  s.send(zmq::buffer(hello), zmq::send_flags::dontwait);
  zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
  const bool up = zmq::poll(&item, 1, std::chrono::milliseconds(15000)) > 0;
  INFO(process_->Log());
  REQUIRE(up);
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

MessageType ReplyType(const std::string& reply) {
  auto h = DecodeHeader(reply.data(), reply.size());
  REQUIRE(h.ok());
  return h->type;
}

}  // namespace tandem::test
