// Internal to src/common/model/: what this folder's LibTorch files share,
// the mapping between tandem's types and LibTorch's (tensors, values, errors)
// and a Stage's module. Include it only from .cpp files of this folder: it
// pulls in LibTorch's headers.
#pragma once

#include <torch/script.h>

#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "common/model/stage.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// The first meaningful line of a LibTorch exception, without its C++ backtrace.
std::string TorchMessage(const std::exception& e);
// The line of a TorchScript exception that names the failure ("RuntimeError:
// ..."), else its first line: what a model's own `raise` says.
std::string ScriptErrorLine(const std::exception& e);

Result<DType> FromTorchDType(c10::ScalarType t);
Result<c10::ScalarType> ToTorchDType(DType d);
// Copies a HostTensor into a new torch tensor (the input is never aliased).
Result<at::Tensor> ToTorch(const HostTensor& h);
// Copies a torch tensor (made contiguous and dense) into a HostTensor.
Result<HostTensor> FromTorch(const at::Tensor& t);
uint64_t TensorBytes(const at::Tensor& t);

// The leaves of `v`, tuples and lists opened recursively, in order: the
// values a stage's output hands on (the next stage's positional arguments).
void FlattenValues(const c10::IValue& v, std::vector<c10::IValue>* out);
// The same leaves as HostTensors: a tensor each, kNone for None; any other
// leaf is an Unsupported error. Dicts give their values in insertion order.
Status Flatten(const c10::IValue& v, std::vector<HostTensor>* out);
// A name per leaf of `v`, in Flatten's order: the path to it, its parts
// joined by '.': a tuple element's index (a named tuple's field name), a list
// index, a dict key; "" for a lone tensor.
void LeafNames(const c10::IValue& v, const std::string& prefix, std::vector<std::string>* out);

struct Stage::Impl {
  torch::jit::Module module;
  std::string name;  // for errors
  int num_inputs = 0;
};

// Checks that `m` is a stage (forward takes only tensors), puts it in eval
// mode and wraps it. `name` is used in errors.
Result<std::unique_ptr<Stage>> StageFromModule(torch::jit::Module m, const std::string& name);

}  // namespace tandem
