#include "dispatcher/local_cluster.h"

#include <dirent.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

#include "common/npy.h"

namespace tandem {

LocalCluster::LocalCluster(int n, const std::string& extra_config, const std::vector<std::string>& worker_args,
                           const std::string& worker_fields) {
  std::string workers;
  for (int i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<test::WorkerProcess>("w" + std::to_string(i), dir_.path(), worker_args));
    workers += std::string(i ? ", " : "") + "{\"name\": \"w" + std::to_string(i) + "\", \"endpoint\": \"" +
               workers_.back()->endpoint() + "\"" + worker_fields + "}";
  }
  config_ = dir_.path() + "/cluster.json";
  std::ofstream(config_) << "{" << extra_config << "\"timeouts\": {\"connect_s\": 10, \"result_s\": 120}, "
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

std::vector<HostTensor> ReadOutputs(const std::string& dir, int i, size_t count) {
  char stem[64];
  std::snprintf(stem, sizeof stem, "/in-%04d.out", i);
  std::vector<HostTensor> outs;
  for (size_t k = 0; k < count; ++k) {
    const std::string path = dir + stem + (count == 1 ? std::string(".npy") : "." + std::to_string(k) + ".npy");
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
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    n += name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0;
  }
  ::closedir(d);
  return n;
}

}  // namespace tandem
