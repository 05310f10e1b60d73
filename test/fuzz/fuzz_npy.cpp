// Fuzz target: a .npy file (run --inputs, fixtures).
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/tensor/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)tandem::ParseNpy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  return 0;
}
