// Stage: one standalone TorchScript module of a split model, loaded and run
// through LibTorch behind tandem's own types (HostTensor, Status). The
// calling convention is in model.h.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// A loaded stage module. Not thread-safe: one Run at a time.
class Stage {
 public:
  static Result<std::unique_ptr<Stage>> Load(const std::string& path);
  // `name` is used in errors only.
  static Result<std::unique_ptr<Stage>> FromBytes(const std::string& bytes, const std::string& name);
  ~Stage();
  Stage(const Stage&) = delete;
  Stage& operator=(const Stage&) = delete;

  // Number of positional tensor inputs forward takes.
  int num_inputs() const;
  // Runs forward under inference mode. Inputs are copied, never modified. The
  // result is flattened: a tensor gives one element, a tuple (or list) one per
  // element, recursively, and None a kNone element. A model exception becomes
  // an InvalidArgument error with the model's message.
  Result<std::vector<HostTensor>> Run(const std::vector<HostTensor>& inputs);
  // Runs forward `warmup` times, then keeps timing calls on the same inputs
  // until there are `repeats` of them and they add up to `min_total_s` (at
  // most 100000 calls); returns the wall time of each timed call, in seconds
  // (conversion of inputs and outputs excluded).
  Result<std::vector<double>> Time(const std::vector<HostTensor>& inputs, int warmup, int repeats,
                                   double min_total_s = 0);
  // Times a chain of stages pass by pass: each pass feeds a fresh copy of
  // `inputs` to chain[0] and each stage's flattened outputs to the next, the
  // way consecutive stages of one model run. `warmup` untimed passes, then
  // timed ones until there are `repeats` and the timed calls add up to
  // `min_total_s` (at most 100000 passes). Returns, per stage, the wall time
  // of each timed call in seconds (only forward: no conversion of tensors).
  // Every stage but the last must return what the next takes. `on_pass`
  // (may be empty) is called after each pass with the number done.
  static Result<std::vector<std::vector<double>>> TimePasses(const std::vector<Stage*>& chain,
                                                             const std::vector<HostTensor>& inputs, int warmup,
                                                             int repeats, double min_total_s = 0,
                                                             const std::function<void(int)>& on_pass = {});
  // The TorchScript archive (the format torch.jit.save writes).
  Result<std::string> Serialize() const;
  Status Save(const std::string& path) const;

  struct Impl;

  // Made by Load/FromBytes here, and by Model::MakeStage (Impl is LibTorch's
  // module: torch_bridge.h).
  explicit Stage(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
