// Explicit little-endian, bounds-checked encoding of wire fields.
//
// Writer appends fixed-width integers, doubles, length-prefixed strings and
// blobs to a byte string. Reader consumes them and never reads past the end:
// every Get* returns false on truncation or when a length exceeds its bound,
// and the reader stays failed (ok() == false) from then on, so a decoder may
// read a whole struct and check once.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace tandem {

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Fixed(v, 2); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  void I64(int64_t v) { Fixed(static_cast<uint64_t>(v), 8); }
  void F64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    Fixed(bits, 8);
  }
  // u32 length, then the bytes.
  void Str(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    out_->append(s);
  }
  void Raw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }

 private:
  void Fixed(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string* out_;
};

class Reader {
 public:
  Reader(const void* data, size_t size) : p_(static_cast<const uint8_t*>(data)), end_(p_ + size) {}
  explicit Reader(const std::string& s) : Reader(s.data(), s.size()) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* position() const { return p_; }

  bool U8(uint8_t* v) { return Fixed(v, 1); }
  bool U16(uint16_t* v) { return Fixed(v, 2); }
  bool U32(uint32_t* v) { return Fixed(v, 4); }
  bool U64(uint64_t* v) { return Fixed(v, 8); }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Fixed(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool F64(double* v) {
    uint64_t bits;
    if (!Fixed(&bits, 8)) return false;
    std::memcpy(v, &bits, 8);
    return true;
  }
  // A u32-length-prefixed string of at most max_len bytes.
  bool Str(std::string* s, size_t max_len) {
    uint32_t n;
    if (!U32(&n)) return false;
    if (n > max_len || n > remaining()) return Fail();
    s->assign(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  // Points at the next n bytes and skips them.
  bool Skip(size_t n, const uint8_t** at) {
    if (n > remaining()) return Fail();
    *at = p_;
    p_ += n;
    return true;
  }

 private:
  template <typename T>
  bool Fixed(T* v, int n) {
    if (!ok_ || remaining() < static_cast<size_t>(n)) return Fail();
    uint64_t x = 0;
    for (int i = 0; i < n; ++i) x |= static_cast<uint64_t>(p_[i]) << (8 * i);
    *v = static_cast<T>(x);
    p_ += n;
    return true;
  }
  bool Fail() {
    ok_ = false;
    p_ = end_;
    return false;
  }
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace tandem
