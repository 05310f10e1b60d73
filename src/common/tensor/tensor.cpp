#include "common/tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/util/int_list.h"

namespace tandem {

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kNone: return 0;
    case DType::kFloat32: return 4;
    case DType::kFloat64: return 8;
    case DType::kFloat16: return 2;
    case DType::kInt64: return 8;
    case DType::kInt32: return 4;
    case DType::kInt16: return 2;
    case DType::kInt8: return 1;
    case DType::kUInt8: return 1;
    case DType::kBool: return 1;
    case DType::kBFloat16: return 2;
  }
  return 0;
}

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kNone: return "none";
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kFloat16: return "float16";
    case DType::kInt64: return "int64";
    case DType::kInt32: return "int32";
    case DType::kInt16: return "int16";
    case DType::kInt8: return "int8";
    case DType::kUInt8: return "uint8";
    case DType::kBool: return "bool";
    case DType::kBFloat16: return "bfloat16";
  }
  return "unknown";
}

Result<DType> ParseDType(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(DType::kBFloat16); ++i) {
    DType d = static_cast<DType>(i);
    if (name == DTypeName(d)) return d;
  }
  return Status::InvalidArgument("unknown dtype '" + name + "'");
}

Result<int64_t> ShapeNumel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::InvalidArgument("negative dimension in shape " + ShapeToString(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return Status::InvalidArgument("shape " + ShapeToString(shape) + " is too large");
    n *= d;
  }
  return n;
}

Result<uint64_t> ShapeBytes(DType dtype, const std::vector<int64_t>& shape) {
  TANDEM_ASSIGN_OR_RETURN(int64_t numel, ShapeNumel(shape));
  const uint64_t elem = DTypeSize(dtype);
  if (elem != 0 && static_cast<uint64_t>(numel) > std::numeric_limits<uint64_t>::max() / elem)
    return Status::InvalidArgument("shape " + ShapeToString(shape) + " is too large");
  return static_cast<uint64_t>(numel) * elem;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += "x";
    s += std::to_string(shape[i]);
  }
  return s;
}

Result<std::vector<int64_t>> ParseShape(const std::string& text) {
  IntListOptions o;
  o.separators = ",x";
  o.max_abs = 999999999999;
  auto dims = ParseIntList(text, o);
  if (!dims.ok())
    return Status::InvalidArgument("shape " + dims.status().message() +
                                   "; a shape is comma-separated positive integers, e.g. 1,3,224,224");
  for (int64_t d : dims.value())
    if (d <= 0)
      return Status::InvalidArgument("dimension " + std::to_string(d) + " in shape '" + text + "' must be positive");
  if (dims->size() > 8) return Status::InvalidArgument("shape '" + text + "' has more than 8 dimensions");
  TANDEM_RETURN_IF_ERROR(ShapeNumel(dims.value()).status());
  return dims;
}

Result<std::vector<InputSpec>> ParseInputSpecs(const std::string& text) {
  std::vector<InputSpec> specs;
  size_t start = 0;
  while (true) {
    const size_t end = std::min(text.find(';', start), text.size());
    std::string item = text.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item.empty())
      return Status::InvalidArgument("input spec '" + text +
                                     "' has an empty item; give SHAPE[:DTYPE] per input, "
                                     "separated by ';', e.g. 1,3,64,64;1,16:int64");
    if (specs.size() == 64) return Status::InvalidArgument("input spec '" + text + "' lists more than 64 inputs");
    InputSpec spec;
    const size_t colon = item.find(':');
    if (colon != std::string::npos) {
      auto dtype = ParseDType(item.substr(colon + 1));
      if (!dtype.ok() || dtype.value() == DType::kNone)
        return Status::InvalidArgument("input spec '" + item + "': unknown dtype '" + item.substr(colon + 1) +
                                       "' (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, "
                                       "bool)");
      spec.dtype = dtype.value();
      item.resize(colon);
    }
    TANDEM_ASSIGN_OR_RETURN(spec.shape, ParseShape(item));
    specs.push_back(std::move(spec));
    if (end == text.size()) break;
    start = end + 1;
  }
  return specs;
}

std::string InputSpecsToString(const std::vector<InputSpec>& specs) {
  if (specs.size() == 1 && specs[0].dtype == DType::kFloat32) return ShapeToString(specs[0].shape);
  std::string out;
  for (const auto& s : specs) out += (out.empty() ? "" : "; ") + ShapeToString(s.shape) + ":" + DTypeName(s.dtype);
  return out;
}

std::string InputSpecsToArgument(const std::vector<InputSpec>& specs) {
  std::string out;
  for (const auto& s : specs) {
    if (!out.empty()) out += ";";
    for (size_t i = 0; i < s.shape.size(); ++i) out += (i ? "," : "") + std::to_string(s.shape[i]);
    if (s.dtype != DType::kFloat32) out += std::string(":") + DTypeName(s.dtype);
  }
  return out;
}

int64_t HostTensor::numel() const {
  auto n = ShapeNumel(shape);
  return n.ok() ? n.value() : 0;
}

HostTensor HostTensor::Zeros(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.assign(static_cast<size_t>(t.numel()) * DTypeSize(dtype), 0);
  return t;
}

Result<Difference> CompareTensors(const HostTensor& a, const HostTensor& ref) {
  for (const HostTensor* t : {&a, &ref}) {
    auto bytes = ShapeBytes(t->dtype, t->shape);
    if (!bytes.ok() || bytes.value() != t->data.size())
      return Status::InvalidArgument("tensor of shape " + ShapeToString(t->shape) + " carries " +
                                     std::to_string(t->data.size()) + " bytes");
  }
  if (a.dtype != ref.dtype)
    return Status::InvalidArgument(std::string("dtype ") + DTypeName(a.dtype) + " differs from reference dtype " +
                                   DTypeName(ref.dtype));
  if (a.shape != ref.shape)
    return Status::InvalidArgument("shape " + ShapeToString(a.shape) + " differs from reference shape " +
                                   ShapeToString(ref.shape));
  Difference d;
  const int64_t n = a.numel();
  if (a.dtype == DType::kFloat32) {
    for (int64_t i = 0; i < n; ++i) {
      double x = a.f32()[i], r = ref.f32()[i];
      if (std::isnan(x) != std::isnan(r)) d.max_abs_diff = std::numeric_limits<double>::infinity();
      d.max_abs_diff = std::max(d.max_abs_diff, std::fabs(x - r));
      d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(r));
    }
  } else if (a.dtype == DType::kFloat64) {
    const double* x = reinterpret_cast<const double*>(a.data.data());
    const double* r = reinterpret_cast<const double*>(ref.data.data());
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i]) != std::isnan(r[i])) d.max_abs_diff = std::numeric_limits<double>::infinity();
      d.max_abs_diff = std::max(d.max_abs_diff, std::fabs(x[i] - r[i]));
      d.max_abs_ref = std::max(d.max_abs_ref, std::fabs(r[i]));
    }
  } else {
    if (a.data != ref.data) d.max_abs_diff = std::numeric_limits<double>::infinity();
  }
  return d;
}

}  // namespace tandem
