// SHA-256 (FIPS 180-4), used for models' content hashes. Streaming: Update()
// any number of times, then Finish() once.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t len);
  // Returns the digest as 64 lowercase hex characters.
  std::string FinishHex();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string Sha256Hex(const std::string& data);
std::string Sha256Hex(const void* data, size_t len);

}  // namespace tandem
