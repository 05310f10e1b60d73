// HostTensor: a dense, C-ordered tensor in host memory, independent of LibTorch.
//
// This is how tensors cross the narrow interface between the LibTorch-backed
// model code (src/common/model/) and everything else: files (.npy), the wire
// codec, tests. Data is stored little-endian, as on every platform tandem runs on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace tandem {

// Element types. Numbers are stable: they appear in files and on the wire.
enum class DType : uint8_t {
  kNone = 0,  // not a tensor: a None element of a model's tuple output; no data
  kFloat32 = 1,
  kFloat64 = 2,
  kFloat16 = 3,
  kInt64 = 4,
  kInt32 = 5,
  kInt16 = 6,
  kInt8 = 7,
  kUInt8 = 8,
  kBool = 9,
  kBFloat16 = 10,
};

// Bytes per element (0 for kNone). Unknown values give 0.
size_t DTypeSize(DType dtype);
// "float32", "int64", ... ; "none" for kNone; "unknown" otherwise.
const char* DTypeName(DType dtype);
// Parses DTypeName's output.
Result<DType> ParseDType(const std::string& name);

// Product of dims; 1 for a scalar (empty shape). Returns an error when a dim is
// negative or the product overflows int64.
Result<int64_t> ShapeNumel(const std::vector<int64_t>& shape);
// numel * DTypeSize(dtype), or an error when a dim is negative or the
// product overflows 64 bits. Every size computed from a peer's or a file's
// shape goes through here.
Result<uint64_t> ShapeBytes(DType dtype, const std::vector<int64_t>& shape);
// "1x3x224x224", "scalar" for an empty shape.
std::string ShapeToString(const std::vector<int64_t>& shape);
// Parses "1,3,224,224" (commas or 'x'); every dim must be a positive integer.
Result<std::vector<int64_t>> ParseShape(const std::string& text);

// A model input's dtype and shape, as a user gives it: "1,3,224,224"
// (float32 when no dtype is named) or "1,16:int64".
struct InputSpec {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  bool operator==(const InputSpec& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const InputSpec& o) const { return !(*this == o); }
};
// Parses one input's spec per ';'-separated item, in the model's argument
// order: "1,3,64,64;1,1,64,64:bool". At most 64 inputs; every dtype but none.
Result<std::vector<InputSpec>> ParseInputSpecs(const std::string& text);
// "1x3x224x224" for one float32 input; "1x16:int64; 1x16:bool" otherwise.
std::string InputSpecsToString(const std::vector<InputSpec>& specs);
// The text ParseInputSpecs reads back ("1,16:int64;1,16:bool").
std::string InputSpecsToArgument(const std::vector<InputSpec>& specs);

struct HostTensor {
  DType dtype = DType::kNone;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;  // numel * DTypeSize(dtype) bytes, C order

  bool is_none() const { return dtype == DType::kNone; }
  int64_t numel() const;
  size_t nbytes() const { return data.size(); }

  // A zero-filled tensor; the shape must be valid.
  static HostTensor Zeros(DType dtype, std::vector<int64_t> shape);
  static HostTensor None() { return HostTensor(); }

  // Typed views; the caller checks dtype first.
  const float* f32() const { return reinterpret_cast<const float*>(data.data()); }
  float* f32() { return reinterpret_cast<float*>(data.data()); }
};

// Largest |a - b| over elements, as double, and the largest |b|. Both must have
// the same dtype (float32 or float64) and shape; otherwise an error.
struct Difference {
  double max_abs_diff = 0;
  double max_abs_ref = 0;
};
Result<Difference> CompareTensors(const HostTensor& a, const HostTensor& ref);

}  // namespace tandem
