#include "dispatcher/input_source.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>

#include "common/tensor/npy.h"
#include "common/util/files.h"

namespace tandem {

namespace {

// "NAME.3" -> ("NAME", 3); anything else -> ("", -1).
std::pair<std::string, int> SplitIndex(const std::string& stem) {
  const size_t dot = stem.rfind('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == stem.size() || stem.size() - dot > 4) return {"", -1};
  int k = 0;
  for (size_t i = dot + 1; i < stem.size(); ++i) {
    if (stem[i] < '0' || stem[i] > '9') return {"", -1};
    k = k * 10 + (stem[i] - '0');
  }
  return {stem.substr(0, dot), k};
}

// IEEE half from float (round to nearest; values below half's normal range
// become zero, above it infinity).
uint16_t ToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return sign;
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  uint32_t mant = (x & 0x7fffffu) + 0x1000u;  // round
  int e = exp;
  if (mant & 0x800000u) mant = 0, ++e;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  return static_cast<uint16_t>(sign | (e << 10) | (mant >> 13));
}

}  // namespace

Result<std::unique_ptr<DirectoryInputs>> DirectoryInputs::Open(const std::string& dir,
                                                               const std::vector<InputSpec>& specs, size_t arity) {
  if (!specs.empty()) arity = specs.size();
  if (arity == 0) return Status::InvalidArgument("the model takes no inputs");
  auto files = ListFiles(dir, ".npy");
  if (!files.ok()) return files.status().WithContext("--inputs");
  if (files->empty()) return Status::InvalidArgument(dir + ": no .npy input files");
  auto in = std::make_unique<DirectoryInputs>();
  in->dir_ = dir;
  in->specs_ = specs;
  if (arity == 1) {
    for (const auto& f : files.value()) in->requests_.push_back(Request{f.substr(0, f.size() - 4), {f}});
  } else {
    std::map<std::string, std::vector<std::string>> grouped;
    for (const auto& f : files.value()) {
      const auto [name, k] = SplitIndex(f.substr(0, f.size() - 4));
      if (k < 0 || static_cast<size_t>(k) >= arity)
        return Status::InvalidArgument(dir + "/" + f + ": the model takes " + std::to_string(arity) +
                                       " inputs; name each request's files NAME.0.npy .. NAME." +
                                       std::to_string(arity - 1) + ".npy");
      auto& slot = grouped[name];
      slot.resize(arity);
      slot[k] = f;
    }
    for (auto& [name, group] : grouped) {
      for (size_t k = 0; k < arity; ++k)
        if (group[k].empty())
          return Status::InvalidArgument(dir + ": request '" + name + "' has no input " + std::to_string(k) + " (" +
                                         name + "." + std::to_string(k) + ".npy)");
      in->requests_.push_back(Request{name, std::move(group)});
    }
  }
  // Check every input before anything is streamed.
  for (const auto& r : in->requests_) {
    for (size_t k = 0; k < arity; ++k) {
      const std::string path = dir + "/" + r.files[k];
      TANDEM_ASSIGN_OR_RETURN(HostTensor t, ReadNpy(path));
      if (in->specs_.size() < arity) in->specs_.push_back(InputSpec{t.dtype, t.shape});
      const InputSpec& want = in->specs_[k];
      const std::string which = arity == 1 ? "the input" : "input " + std::to_string(k);
      if (t.dtype != want.dtype)
        return Status::InvalidArgument(path + ": dtype " + DTypeName(t.dtype) + " differs from " + which + "'s dtype " +
                                       DTypeName(want.dtype));
      if (t.shape != want.shape)
        return Status::InvalidArgument(path + ": shape " + ShapeToString(t.shape) + " differs from " + which +
                                       "'s shape " + ShapeToString(want.shape));
    }
  }
  return in;
}

Result<std::vector<HostTensor>> DirectoryInputs::Get(int64_t i) {
  std::vector<HostTensor> out;
  for (const auto& f : requests_.at(i).files) {
    TANDEM_ASSIGN_OR_RETURN(HostTensor t, ReadNpy(dir_ + "/" + f));
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::vector<HostTensor>> SyntheticInputs::Get(int64_t i) {
  std::mt19937 rng(1000003u * static_cast<uint32_t>(i) + 17u);
  std::vector<HostTensor> out;
  for (const auto& spec : specs_) {
    HostTensor t = HostTensor::Zeros(spec.dtype, spec.shape);
    const int64_t n = t.numel();
    std::normal_distribution<float> normal(0.f, 1.f);
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi - 1)(rng); };
    for (int64_t k = 0; k < n; ++k) {
      uint8_t* p = t.data.data() + k * DTypeSize(spec.dtype);
      switch (spec.dtype) {
        case DType::kFloat32: {
          const float v = normal(rng);
          std::memcpy(p, &v, 4);
          break;
        }
        case DType::kFloat64: {
          const double v = normal(rng);
          std::memcpy(p, &v, 8);
          break;
        }
        case DType::kFloat16: {
          const uint16_t v = ToHalf(normal(rng));
          std::memcpy(p, &v, 2);
          break;
        }
        case DType::kBFloat16: {
          const float f = normal(rng);
          uint32_t x;
          std::memcpy(&x, &f, 4);
          const uint16_t v = static_cast<uint16_t>(x >> 16);
          std::memcpy(p, &v, 2);
          break;
        }
        case DType::kUInt8: *p = static_cast<uint8_t>(uniform(0, 256)); break;
        case DType::kInt8: *p = static_cast<uint8_t>(static_cast<int8_t>(uniform(-128, 128))); break;
        case DType::kBool: *p = static_cast<uint8_t>(uniform(0, 2)); break;
        default: {  // little-endian integers of DTypeSize bytes
          const uint64_t v = static_cast<uint64_t>(uniform(0, 10));
          std::memcpy(p, &v, DTypeSize(spec.dtype));
          break;
        }
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string SyntheticInputs::Name(int64_t i) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "request-%06lld", static_cast<long long>(i));
  return buf;
}

}  // namespace tandem
