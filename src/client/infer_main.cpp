// tandem-infer: send .npy files to a `tandem-dispatcher serve` over its
// ZeroMQ API and write the answers as .npy files. Each file is one request
// of a model with one input; several requests are outstanding at once
// (--pipeline). Built on include/tandem/client.h alone (and the .npy files).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/tensor/npy.h"
#include "tandem/client.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string Stem(const std::string& path) {
  std::string n = path.substr(path.rfind('/') + 1);
  const size_t dot = n.rfind('.');
  return dot != std::string::npos && dot > 0 ? n.substr(0, dot) : n;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tandem-infer: send .npy inputs to `tandem-dispatcher serve --zmq-listen` and write the answers"};
  tandem::client::Options o;
  std::vector<std::string> inputs;
  std::string out_dir;
  int pipeline = 4, repeat = 1;
  app.add_option("--endpoint", o.endpoint, "serve's --zmq-listen address, tcp://HOST:PORT")->required();
  app.add_option("--server-key", o.server_key, "CurveZMQ: the server's public key (text or file)");
  app.add_option("--secret-key", o.secret_key_file, "CurveZMQ: this client's secret key file (keygen)");
  app.add_option("--timeout", o.timeout_s, "seconds a request may take")->capture_default_str();
  app.add_option("--pipeline", pipeline, "requests outstanding at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--repeat", repeat, "send the inputs this many times")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app.add_option("--out", out_dir, "write each answer to DIR/NAME.npy (NAME.OUTPUT.npy for several outputs)");
  app.add_option("inputs", inputs, ".npy files, one request each")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  std::vector<tandem::client::Tensor> tensors;
  for (const std::string& path : inputs) {
    auto t = tandem::ReadNpy(path);
    if (!t.ok()) {
      std::fprintf(stderr, "tandem-infer: %s\n", t.status().ToString().c_str());
      return 1;
    }
    tandem::client::Tensor c;
    c.dtype = static_cast<tandem::client::DType>(t->dtype);
    c.shape = t->shape;
    c.data = std::move(t->data);
    tensors.push_back(std::move(c));
  }
  try {
    tandem::client::Client client(o);
    const size_t total = inputs.size() * static_cast<size_t>(repeat);
    size_t next = 0, answered = 0, failed = 0;
    std::map<uint64_t, std::pair<size_t, Clock::time_point>> sent;  // id -> (input, when)
    std::vector<double> latencies;
    const auto t0 = Clock::now();
    while (answered + failed < total) {
      while (next < total && client.outstanding() < static_cast<size_t>(pipeline)) {
        const size_t k = next % inputs.size();
        sent[client.Send({tensors[k]})] = {k, Clock::now()};
        ++next;
      }
      try {
        tandem::client::Client::Reply r = client.Receive();
        auto s = sent.at(r.request_id);
        sent.erase(r.request_id);
        latencies.push_back(std::chrono::duration<double>(Clock::now() - s.second).count());
        ++answered;
        if (!out_dir.empty()) {
          for (auto& out : r.outputs) {
            tandem::HostTensor h;
            h.dtype = static_cast<tandem::DType>(out.tensor.dtype);
            h.shape = out.tensor.shape;
            h.data = std::move(out.tensor.data);
            const std::string path = out_dir + "/" + Stem(inputs[s.first]) +
                                     (r.outputs.size() > 1 ? "." + out.name : std::string()) + ".npy";
            auto st = tandem::WriteNpy(path, h);
            if (!st.ok()) {
              std::fprintf(stderr, "tandem-infer: %s\n", st.ToString().c_str());
              return 1;
            }
          }
        }
      } catch (const tandem::client::Error& e) {
        if (e.status() == 0) throw;  // no answer at all: the server is gone
        auto it = sent.find(e.request_id());
        if (it == sent.end()) throw;
        const size_t k = it->second.first;
        sent.erase(it);
        if (e.retryable()) {  // the queue was full: the same input again, a moment later
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          sent[client.Send({tensors[k]})] = {k, Clock::now()};
          continue;
        }
        std::fprintf(stderr, "tandem-infer: %s: %s\n", inputs[k].c_str(), e.what());
        ++failed;
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double q) {
      return latencies.empty() ? 0.0
                               : latencies[std::min(latencies.size() - 1, static_cast<size_t>(q * latencies.size()))];
    };
    std::printf("%zu answered, %zu failed in %.2f s: %.1f/s, latency p50 %.1f ms, p99 %.1f ms\n", answered, failed,
                secs, answered / std::max(secs, 1e-9), 1e3 * pct(0.5), 1e3 * pct(0.99));
    return failed == 0 ? 0 : 1;
  } catch (const tandem::client::Error& e) {
    std::fprintf(stderr, "tandem-infer: %s\n", e.what());
    return 1;
  }
}
