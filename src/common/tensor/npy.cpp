#include "common/tensor/npy.h"

#include <algorithm>
#include <cstring>

#include "common/util/files.h"
#include "common/util/int_list.h"

namespace tandem {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
constexpr size_t kMaxHeaderLen = 64 * 1024;

struct DescrEntry {
  const char* descr;  // without the byte-order character
  DType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"f4", DType::kFloat32}, {"f8", DType::kFloat64}, {"f2", DType::kFloat16},
    {"i8", DType::kInt64},   {"i4", DType::kInt32},   {"i2", DType::kInt16},
    {"i1", DType::kInt8},    {"u1", DType::kUInt8},   {"b1", DType::kBool},
};

// Returns the text after `'key':` in a Python dict literal, or npos.
size_t FindKey(const std::string& header, const std::string& key) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos) return p;
  p = header.find(':', p);
  if (p == std::string::npos) return p;
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  return p;
}

}  // namespace

Result<HostTensor> ParseNpy(const std::string& bytes, const std::string& name) {
  auto bad = [&](const std::string& why) { return Status::Corruption(name + ": not a valid .npy file: " + why); };
  if (bytes.size() < kMagicLen + 4 || std::memcmp(bytes.data(), kMagic, kMagicLen) != 0) return bad("missing magic");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad("truncated header");
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    return Status::Unsupported(name + ": .npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_len > kMaxHeaderLen || offset + header_len > bytes.size()) return bad("truncated header");
  const std::string header = bytes.substr(offset, header_len);
  offset += header_len;

  size_t p = FindKey(header, "descr");
  if (p == std::string::npos || p >= header.size() || header[p] != '\'') return bad("no 'descr' in header");
  size_t e = header.find('\'', p + 1);
  if (e == std::string::npos) return bad("unterminated 'descr'");
  std::string descr = header.substr(p + 1, e - p - 1);
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '|' || descr[0] == '=')) {
    descr = descr.substr(1);
  } else if (descr.size() == 3 && descr[0] == '>') {
    if (descr[2] != '1')
      return Status::Unsupported(name + ": big-endian .npy data is not supported; save with '<' byte order");
    descr = descr.substr(1);
  }
  HostTensor t;
  bool known = false;
  for (const auto& d : kDescrs) {
    if (descr == d.descr) {
      t.dtype = d.dtype;
      known = true;
    }
  }
  if (!known) return Status::Unsupported(name + ": .npy dtype '" + descr + "' is not supported");

  p = FindKey(header, "fortran_order");
  if (p == std::string::npos) return bad("no 'fortran_order' in header");
  if (header.compare(p, 4, "True") == 0)
    return Status::Unsupported(name + ": Fortran-ordered arrays are not supported; save a C-contiguous array");

  p = FindKey(header, "shape");
  if (p == std::string::npos || p >= header.size() || header[p] != '(') return bad("no 'shape' in header");
  e = header.find(')', p);
  if (e == std::string::npos) return bad("unterminated 'shape'");
  // A Python tuple: "(3, 224, 224)", "(3,)" or "()"; Python 2 wrote longs as "3L".
  std::string dims = header.substr(p + 1, e - p - 1);
  dims.erase(std::remove(dims.begin(), dims.end(), 'L'), dims.end());
  IntListOptions list;
  list.trailing_separator = true;
  list.allow_empty = true;
  list.max_abs = 999999999999999;
  auto parsed = ParseIntList(dims, list);
  if (!parsed.ok()) return bad("'shape' " + parsed.status().message());
  t.shape = std::move(parsed).value();
  if (t.shape.size() > 16) return bad("too many dimensions");
  auto numel = ShapeNumel(t.shape);
  if (!numel.ok()) return bad(numel.status().message());
  const size_t elem = DTypeSize(t.dtype);
  if (static_cast<uint64_t>(numel.value()) > kMaxNpyBytes / elem)
    return Status::InvalidArgument(name + ": array is larger than the limit of " + std::to_string(kMaxNpyBytes) +
                                   " bytes");
  const size_t need = static_cast<size_t>(numel.value()) * elem;
  if (bytes.size() - offset != need)
    return bad("data is " + std::to_string(bytes.size() - offset) + " bytes, shape " + ShapeToString(t.shape) +
               " needs " + std::to_string(need));
  t.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
  return t;
}

Result<HostTensor> ReadNpy(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path, kMaxNpyBytes + kMaxHeaderLen + 16));
  return ParseNpy(bytes, path);
}

std::string SerializeNpy(const HostTensor& tensor) {
  if (tensor.dtype == DType::kBFloat16) {
    // NumPy has no bfloat16: widened to float32, which holds every value.
    HostTensor wide = HostTensor::Zeros(DType::kFloat32, tensor.shape);
    for (int64_t i = 0; i < wide.numel(); ++i) {
      uint16_t b;
      std::memcpy(&b, tensor.data.data() + 2 * i, 2);
      const uint32_t bits = static_cast<uint32_t>(b) << 16;
      std::memcpy(wide.data.data() + 4 * i, &bits, 4);
    }
    return SerializeNpy(wide);
  }
  const HostTensor& t = tensor;
  std::string descr = "<f4";
  for (const auto& d : kDescrs) {
    if (d.dtype == t.dtype) descr = std::string(DTypeSize(t.dtype) == 1 ? "|" : "<") + d.descr;
  }
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + ", ";
  if (t.shape.size() > 1) shape.resize(shape.size() - 2);
  if (t.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so that magic + 4-byte preamble + header + '\n' is a multiple of 64.
  const size_t total = kMagicLen + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(1);
  out += static_cast<char>(0);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
  return out;
}

Status WriteNpy(const std::string& path, const HostTensor& t) {
  if (t.is_none()) return Status::InvalidArgument(path + ": cannot write a None value as .npy");
  bool known = false;
  for (const auto& d : kDescrs) known |= d.dtype == t.dtype;
  if (!known)
    return Status::Unsupported(path + ": dtype " + std::string(DTypeName(t.dtype)) + " cannot be written as .npy");
  return WriteFileAtomic(path, SerializeNpy(t));
}

}  // namespace tandem
