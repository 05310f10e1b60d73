// A loaded stage that several deployments of a worker may share.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/model/stage.h"

namespace tandem {

// A loaded stage that several deployments may share (a redeployment that
// reuses it): Run is serialised.
class SharedStage {
 public:
  SharedStage(std::unique_ptr<Stage> stage, uint64_t bytes, std::string sha256)
      : stage_(std::move(stage)), bytes_(bytes), sha256_(std::move(sha256)) {}
  Result<std::vector<HostTensor>> Run(const std::vector<HostTensor>& inputs) {
    std::lock_guard<std::mutex> lock(mu_);
    return stage_->Run(inputs);
  }
  int num_inputs() const { return stage_->num_inputs(); }
  uint64_t bytes() const { return bytes_; }  // size of its archive
  const std::string& sha256() const { return sha256_; }

 private:
  std::mutex mu_;
  std::unique_ptr<Stage> stage_;
  uint64_t bytes_;
  std::string sha256_;
};

}  // namespace tandem
