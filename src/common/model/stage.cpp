#include "common/model/stage.h"

#include <c10/core/InferenceMode.h>

#include <chrono>
#include <sstream>

#include "common/model/torch_bridge.h"
#include "common/util/files.h"

namespace tandem {

namespace {

// Whether a timing loop runs again at iteration `i`: the warm-up runs, then
// until `timed` runs are at least `repeats` and add up to `total_s` >=
// `min_total_s` (at most 100000 timed runs).
bool KeepTiming(int i, int warmup, size_t timed, int repeats, double total_s, double min_total_s) {
  constexpr size_t kMaxTimed = 100000;
  return i < warmup || timed < static_cast<size_t>(repeats) || (total_s < min_total_s && timed < kMaxTimed);
}

}  // namespace

Stage::Stage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stage::~Stage() = default;

Result<std::unique_ptr<Stage>> Stage::FromBytes(const std::string& bytes, const std::string& name) {
  try {
    std::istringstream in(bytes);
    torch::jit::Module m = torch::jit::load(in, c10::Device(c10::kCPU));
    return StageFromModule(std::move(m), name);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(name + ": not a TorchScript module: " + TorchMessage(e));
  }
}

Result<std::unique_ptr<Stage>> Stage::Load(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return FromBytes(bytes, path);
}

int Stage::num_inputs() const { return impl_->num_inputs; }

namespace {
Result<std::vector<c10::IValue>> StageInputs(const Stage::Impl& impl, const std::vector<HostTensor>& inputs) {
  if (static_cast<int>(inputs.size()) != impl.num_inputs)
    return Status::InvalidArgument(impl.name + ": stage takes " + std::to_string(impl.num_inputs) +
                                   " input tensor(s), got " + std::to_string(inputs.size()));
  std::vector<c10::IValue> args;
  args.reserve(inputs.size());
  for (const auto& h : inputs) {
    TANDEM_ASSIGN_OR_RETURN(at::Tensor t, ToTorch(h));
    args.emplace_back(std::move(t));
  }
  return args;
}
}  // namespace

Result<std::vector<HostTensor>> Stage::Run(const std::vector<HostTensor>& inputs) {
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto args, StageInputs(*impl_, inputs));
    c10::IValue out = impl_->module.forward(std::move(args));
    std::vector<HostTensor> result;
    TANDEM_RETURN_IF_ERROR(Flatten(out, &result));
    return result;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->name + ": model raised: " + ScriptErrorLine(e));
  }
}

Result<std::vector<double>> Stage::Time(const std::vector<HostTensor>& inputs, int warmup, int repeats,
                                        double min_total_s) {
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto args, StageInputs(*impl_, inputs));
    std::vector<double> times;
    double total = 0;
    for (int i = 0; KeepTiming(i, warmup, times.size(), repeats, total, min_total_s); ++i) {
      // Fresh copies: a stage may write to its inputs in place.
      std::vector<c10::IValue> call;
      for (const auto& a : args) call.emplace_back(a.toTensor().clone());
      auto t0 = std::chrono::steady_clock::now();
      c10::IValue out = impl_->module.forward(std::move(call));
      auto t1 = std::chrono::steady_clock::now();
      if (i >= warmup) {
        times.push_back(std::chrono::duration<double>(t1 - t0).count());
        total += times.back();
      }
    }
    return times;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->name + ": model raised: " + ScriptErrorLine(e));
  }
}

Result<std::vector<std::vector<double>>> Stage::TimePasses(const std::vector<Stage*>& chain,
                                                           const std::vector<HostTensor>& inputs, int warmup,
                                                           int repeats, double min_total_s,
                                                           const std::function<void(int)>& on_pass) {
  if (chain.empty()) return std::vector<std::vector<double>>{};
  Stage* current = chain.front();
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto first, StageInputs(*chain.front()->impl_, inputs));
    std::vector<std::vector<double>> times(chain.size());
    double total = 0;
    for (int pass = 0; KeepTiming(pass, warmup, times[0].size(), repeats, total, min_total_s); ++pass) {
      std::vector<c10::IValue> args;
      for (const auto& a : first) args.emplace_back(a.toTensor().clone());
      for (size_t i = 0; i < chain.size(); ++i) {
        current = chain[i];
        if (static_cast<int>(args.size()) != current->impl_->num_inputs)
          return Status::InvalidArgument(current->impl_->name + ": stage takes " +
                                         std::to_string(current->impl_->num_inputs) +
                                         " input(s), the stage before it gives " + std::to_string(args.size()));
        auto t0 = std::chrono::steady_clock::now();
        c10::IValue out = current->impl_->module.forward(std::move(args));
        auto t1 = std::chrono::steady_clock::now();
        if (pass >= warmup) {
          times[i].push_back(std::chrono::duration<double>(t1 - t0).count());
          total += times[i].back();
        }
        args.clear();
        FlattenValues(out, &args);
      }
      if (on_pass) on_pass(pass + 1);
    }
    return times;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(current->impl_->name + ": model raised: " + ScriptErrorLine(e));
  }
}

Result<std::string> Stage::Serialize() const {
  try {
    std::ostringstream out;
    impl_->module.save(out);
    return out.str();
  } catch (const std::exception& e) {
    return Status::Internal(impl_->name + ": cannot serialize stage: " + TorchMessage(e));
  }
}

Status Stage::Save(const std::string& path) const {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, Serialize());
  return WriteFileAtomic(path, bytes);
}

}  // namespace tandem
