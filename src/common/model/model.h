// Model: a TorchScript model loaded for splitting, its graph analysed for
// every place it can be cut.
//
// LibTorch stays behind this folder (src/common/model/): everything else in
// tandem sees HostTensor and the plain structs below.
//
// The cut rule. A Model is loaded from a TorchScript file, put in eval mode,
// frozen (parameters become constants, submodule calls are inlined, batch norm
// is folded), and in-place tensor ops are rewritten to functional ones where
// that is safe. The top-level nodes of the frozen forward graph, in their
// order, minus constants, are numbered 0..N-1. A cut at position p (1 <= p <=
// N-1) splits them into nodes [0, p) and [p, N). The values "crossing" the cut
// are those defined before p (the model's inputs count as defined before 0)
// and used at or after p (a use inside a nested block counts as a use by the
// top-level node that holds the block; the graph's return counts as a use at
// N). Constants never cross: every stage gets its own copy of the constants it
// uses. A cut is valid when
//   - at least one value crosses it,
//   - every crossing value is a tensor, or a value tandem carries as tensors
//     (int, float, bool, None, lists of int, float or bool, tuples of those;
//     not strings, lists of tensors, optionals, dicts or objects), and at
//     least one tensor goes across,
//   - no node at or after p writes in place to memory shared by two crossing
//     tensors (each stage gets its own copy of each crossing tensor, so the
//     copies would diverge where the original tensors did not).
// Several tensors may cross one cut (skip connections): such cuts are valid.
// Constants and prim::Uninitialized placeholders (what scripted code hands to
// a branch that raises) are not nodes: every stage gets its own.
//
// Non-tensor values cross as tensors, converted inside the stage modules: an
// int, float or bool as a 0-d int64, float64 or bool tensor; a list of them
// as a 1-d tensor of that dtype; a tuple as its elements' tensors in order;
// None as nothing (the next stage makes its own None). Every conversion is
// exact. A CutPoint lists the tensors that go across, each saying what it
// carries.
//
// The stage calling convention. Stage [b, e) is a standalone TorchScript
// module whose forward takes, as positional tensors, the tensors carrying the
// values crossing cut b (for b = 0: the model's inputs), ordered by the
// position that defines them, and returns the tensors carrying the values
// crossing cut e: one tensor, or a tuple when several go across. The last stage (e = N) returns exactly what the model
// returns.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/model/stage.h"
#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// One tensor crossing a cut, as measured on the model's sample input.
struct TensorSpec {
  std::string name;  // the TorchScript value name, for people
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  uint64_t bytes = 0;  // numel * element size
  // Empty for a tensor of the model; otherwise the TorchScript type of the
  // non-tensor value this tensor carries across the cut ("int", "float[]").
  std::string carries;
};

struct CutPoint {
  int position = 0;                 // between node position-1 and node position
  std::vector<TensorSpec> tensors;  // in calling-convention order
  // The sum of its tensors' bytes.
  uint64_t bytes() const {
    uint64_t b = 0;
    for (const auto& t : tensors) b += t.bytes;
    return b;
  }
};

class Model {
 public:
  // Loads `path`, freezes it and finds its cut points. Forward must take one
  // tensor per entry of `inputs` (in argument order); the model is run once on
  // sample inputs of those dtypes and shapes (fixed seed: floating point
  // normal, integers uniform in [0, 10), uint8 in [0, 256), int8 in [-128,
  // 128), bool either) to check them and measure every crossing tensor.
  // Errors name the file: missing, not TorchScript, no forward, an input
  // count that differs, a non-tensor argument, inputs the model rejects.
  static Result<std::unique_ptr<Model>> Load(const std::string& path, const std::vector<InputSpec>& inputs);
  // One float32 input of `input_shape`.
  static Result<std::unique_ptr<Model>> Load(const std::string& path, const std::vector<int64_t>& input_shape);
  // The names of forward's arguments (self excluded), from the file alone;
  // errors as Load's.
  static Result<std::vector<std::string>> InputNames(const std::string& path);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& path() const;
  // SHA-256 of the model file, hex.
  const std::string& content_hash() const;
  const std::vector<InputSpec>& inputs() const;
  // Number of top-level non-constant nodes N; positions run 0..N.
  int num_nodes() const;
  // The operation at position pos (0 <= pos < N), e.g. "aten::conv2d".
  std::string NodeKind(int pos) const;
  // Every valid interior cut (1 <= position <= N-1), ascending.
  const std::vector<CutPoint>& cuts() const;
  // The valid cut at `position`, or an error saying why there is none.
  Result<CutPoint> FindCut(int position) const;
  // Bytes of the distinct tensor constants (weights) used by nodes [begin, end).
  uint64_t ParamBytes(int begin, int end) const;
  // The sample inputs used at load, and the original model's output on them.
  const std::vector<HostTensor>& sample_inputs() const;
  const std::vector<HostTensor>& sample_output() const;
  // A name per element of the flattened output, saying which element it is:
  // "" for a lone tensor; "0", "1" for a tuple's elements; a dict's keys or
  // a named tuple's fields; nested parts joined by '.' ("boxes.0").
  const std::vector<std::string>& output_names() const;
  // forward's argument names (self excluded), in order.
  const std::vector<std::string>& input_names() const;

  // Builds stage [begin, end). `begin` and `end` must each be 0, N or a valid
  // cut position, with begin < end.
  Result<std::unique_ptr<Stage>> MakeStage(int begin, int end) const;
  // Runs the model as loaded (not frozen) on one request's inputs; result
  // flattened as Stage::Run does.
  Result<std::vector<HostTensor>> RunOriginal(const std::vector<HostTensor>& inputs) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tandem
