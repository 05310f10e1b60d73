#include "dispatcher/input_source.h"

#include <cstdio>
#include <random>

#include "common/tensor/npy.h"
#include "common/util/files.h"

namespace tandem {

Result<std::unique_ptr<DirectoryInputs>> DirectoryInputs::Open(const std::string& dir,
                                                               const std::vector<int64_t>& shape) {
  auto files = ListFiles(dir, ".npy");
  if (!files.ok()) return files.status().WithContext("--inputs");
  auto in = std::make_unique<DirectoryInputs>();
  in->dir_ = dir;
  in->files_ = std::move(files).value();
  if (in->files_.empty()) return Status::InvalidArgument(dir + ": no .npy input files");
  in->shape_ = shape;
  // Check every input before anything is streamed.
  for (const auto& f : in->files_) {
    TANDEM_ASSIGN_OR_RETURN(HostTensor t, ReadNpy(dir + "/" + f));
    if (t.dtype != DType::kFloat32)
      return Status::InvalidArgument(dir + "/" + f + ": dtype " + DTypeName(t.dtype) + ", inputs must be float32");
    if (in->shape_.empty()) in->shape_ = t.shape;
    if (t.shape != in->shape_)
      return Status::InvalidArgument(dir + "/" + f + ": shape " + ShapeToString(t.shape) +
                                     " differs from the input shape " + ShapeToString(in->shape_));
  }
  return in;
}

Result<HostTensor> DirectoryInputs::Get(int i) { return ReadNpy(dir_ + "/" + files_.at(i)); }

std::string DirectoryInputs::Name(int i) const { return files_.at(i).substr(0, files_.at(i).size() - 4); }

Result<HostTensor> SyntheticInputs::Get(int i) {
  HostTensor t = HostTensor::Zeros(DType::kFloat32, shape_);
  std::mt19937 rng(1000003u * static_cast<uint32_t>(i) + 17u);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (int64_t k = 0; k < t.numel(); ++k) t.f32()[k] = dist(rng);
  return t;
}

std::string SyntheticInputs::Name(int i) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "request-%06d", i);
  return buf;
}

}  // namespace tandem
