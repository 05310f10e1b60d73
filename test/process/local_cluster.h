// Helpers for the black-box pipeline tests: worker processes on loopback
// with a cluster config, and input/output files.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/model/model.h"
#include "common/tensor/tensor.h"
#include "support.h"

namespace tandem {

// N tandem-worker processes and a cluster config naming them (w0, w1, ...).
// `extra_config`: JSON members put first in the config ("\"network\": {...}, ").
// `worker_args`: extra flags for every worker. `secure` (the default): every
// link is CurveZMQ, with keys made for the cluster (keys()).
class LocalCluster {
 public:
  explicit LocalCluster(int n, const std::string& extra_config = "", const std::vector<std::string>& worker_args = {},
                        const std::string& worker_fields = "", bool secure = true);
  const std::string& config() const { return config_; }
  std::string Logs() const;
  test::WorkerProcess& worker(int i) { return *workers_.at(i); }
  test::TestKeyring* keys() { return keys_.get(); }  // null when not secure

 private:
  test::TempDir dir_;
  std::unique_ptr<test::TestKeyring> keys_;
  std::vector<std::unique_ptr<test::WorkerProcess>> workers_;
  std::string config_;
};

// Writes N random normal inputs DIR/in-000.npy ... and returns them.
std::vector<HostTensor> WriteInputs(const std::string& dir, int n, const std::vector<int64_t>& shape, uint32_t seed);
// The outputs written for input i (kNone where a file is missing): in-NNNN.out.npy
// for one unnamed output, else in-NNNN.out.NAME.npy by `names` (the model's
// output_names) or, without them, by index.
std::vector<HostTensor> ReadOutputs(const std::string& dir, int i, size_t count,
                                    const std::vector<std::string>& names = {});
// Output tensors (.npy) in a directory.
int CountFiles(const std::string& dir);
// The unsplit model's outputs for each input, run `batch` inputs at a time
// (stacked along dimension 0, outputs cut back along it): the same values
// as one RunOriginal per input within the split tolerance, at a fraction of
// the calls. A model whose samples interact in a batch (its answer for the
// first input changes when batched) is run one input at a time.
std::vector<std::vector<HostTensor>> ReferenceOutputs(const Model& model, const std::vector<HostTensor>& inputs,
                                                      int batch = 32);

}  // namespace tandem
