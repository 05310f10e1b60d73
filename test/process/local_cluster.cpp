#include "process/local_cluster.h"

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "common/model/chain.h"
#include "common/tensor/npy.h"
#include "common/util/files.h"

namespace tandem {

LocalCluster::LocalCluster(int n, const std::string& extra_config, const std::vector<std::string>& worker_args,
                           const std::string& worker_fields, bool secure) {
  if (secure) keys_ = std::make_unique<test::TestKeyring>(dir_.path());
  std::string workers;
  for (int i = 0; i < n; ++i) {
    workers_.push_back(
        std::make_unique<test::WorkerProcess>("w" + std::to_string(i), dir_.path(), worker_args, keys_.get()));
    const test::WorkerProcess& w = *workers_.back();
    workers += std::string(i ? ", " : "") + "{\"name\": \"w" + std::to_string(i) + "\", \"endpoint\": \"" +
               w.endpoint() + "\"" + worker_fields;
    if (secure)
      workers += ", \"public_key\": \"" + w.public_key() + "\", \"key_endpoint\": \"" + w.key_endpoint() + "\"";
    workers += "}";
  }
  config_ = dir_.path() + "/cluster.json";
  std::ofstream(config_) << "{" << extra_config << "\"timeouts\": {\"connect_s\": 10, \"result_s\": 120}, "
                         << (secure ? "\"dispatcher\": {\"secret_key\": \"" + keys_->dispatcher_secret + "\"}, " : "")
                         << "\"workers\": [" << workers << "]}";
}

std::string LocalCluster::Logs() const {
  std::string s;
  for (const auto& w : workers_) s += w->process().Log();
  return s;
}

std::vector<HostTensor> WriteInputs(const std::string& dir, int n, const std::vector<int64_t>& shape, uint32_t seed) {
  std::vector<HostTensor> inputs;
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0, 1);
  for (int i = 0; i < n; ++i) {
    HostTensor t = HostTensor::Zeros(DType::kFloat32, shape);
    for (int64_t k = 0; k < t.numel(); ++k) t.f32()[k] = dist(rng);
    char name[64];
    std::snprintf(name, sizeof name, "/in-%04d.npy", i);
    REQUIRE(WriteNpy(dir + name, t).ok());
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::vector<HostTensor> ReadOutputs(const std::string& dir, int i, size_t count,
                                    const std::vector<std::string>& names) {
  char stem[64];
  std::snprintf(stem, sizeof stem, "/in-%04d.out", i);
  std::vector<HostTensor> outs;
  for (size_t k = 0; k < count; ++k) {
    const std::string element = names.size() == count ? names[k] : (count == 1 ? std::string() : std::to_string(k));
    const std::string path = dir + stem + (element.empty() ? "" : "." + element) + ".npy";
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      outs.push_back(HostTensor::None());
      continue;
    }
    auto t = ReadNpy(path);
    REQUIRE(t.ok());
    outs.push_back(std::move(t).value());
  }
  return outs;
}

int CountFiles(const std::string& dir) {
  auto files = ListFiles(dir, ".npy");
  return files.ok() ? static_cast<int>(files->size()) : 0;
}

namespace {

// The model's outputs for `n` inputs run at once, stacked along dimension 0.
Result<std::vector<std::vector<HostTensor>>> RunStacked(const Model& model, const HostTensor* inputs, size_t n) {
  HostTensor stacked = inputs[0];  // [n * d0, ...] in C order: the inputs one after another
  stacked.shape[0] *= static_cast<int64_t>(n);
  for (size_t i = 1; i < n; ++i) {
    if (inputs[i].shape != inputs[0].shape) return Status::InvalidArgument("inputs of different shapes");
    stacked.data.insert(stacked.data.end(), inputs[i].data.begin(), inputs[i].data.end());
  }
  TANDEM_ASSIGN_OR_RETURN(auto out, model.RunOriginal({stacked}));
  std::vector<std::vector<HostTensor>> each(n);
  for (const HostTensor& t : out) {
    if (!t.is_none() && (t.shape.empty() || t.shape[0] % static_cast<int64_t>(n) != 0))
      return Status::InvalidArgument("an output is not stacked along dimension 0");
    for (size_t i = 0; i < n; ++i) {
      if (t.is_none()) {
        each[i].push_back(HostTensor::None());
        continue;
      }
      HostTensor part;
      part.dtype = t.dtype;
      part.shape = t.shape;
      part.shape[0] /= static_cast<int64_t>(n);
      const size_t bytes = t.nbytes() / n;
      part.data.assign(t.data.begin() + i * bytes, t.data.begin() + (i + 1) * bytes);
      each[i].push_back(std::move(part));
    }
  }
  return each;
}

}  // namespace

std::vector<std::vector<HostTensor>> ReferenceOutputs(const Model& model, const std::vector<HostTensor>& inputs,
                                                      int batch) {
  std::vector<std::vector<HostTensor>> refs;
  if (inputs.empty()) return refs;
  // Batching gives the same answers only where samples do not interact (the
  // batch dimension is not reduced over or counted): checked on the first
  // inputs, else one input at a time.
  auto alone = model.RunOriginal({inputs[0]});
  INFO(alone.status().ToString());
  REQUIRE(alone.ok());
  const size_t probe = std::min<size_t>(2, inputs.size());
  auto together = RunStacked(model, inputs.data(), probe);
  if (!together.ok() || !CheckOutputs(together.value()[0], alone.value()).ok()) batch = 1;
  for (size_t first = 0; first < inputs.size(); first += batch) {
    const size_t n = std::min(inputs.size() - first, static_cast<size_t>(batch));
    auto out = RunStacked(model, &inputs[first], n);
    INFO(out.status().ToString());
    REQUIRE(out.ok());
    for (auto& one : out.value()) refs.push_back(std::move(one));
  }
  return refs;
}

}  // namespace tandem
