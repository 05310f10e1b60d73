// Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0),
// so Python users can produce inputs and read outputs with numpy.load/save.
//
// Supported: little-endian (or byte-order-free) numeric dtypes of DType, C
// order. NumPy has no bfloat16: a bfloat16 tensor is written as float32 (every
// bfloat16 value is one), and no file reads back as bfloat16. Fortran order, big-endian data, object and structured
// dtypes are refused with an error naming the file.
#pragma once

#include <string>

#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// Largest .npy payload tandem reads (bytes); larger files are refused.
constexpr uint64_t kMaxNpyBytes = 4ull << 30;

Result<HostTensor> ParseNpy(const std::string& bytes, const std::string& name_for_errors);
Result<HostTensor> ReadNpy(const std::string& path);

std::string SerializeNpy(const HostTensor& tensor);
// Writes atomically (temporary file, then rename). kNone tensors are refused.
Status WriteNpy(const std::string& path, const HostTensor& tensor);

}  // namespace tandem
