#include "common/model/torch_bridge.h"

#include <sstream>

namespace tandem {

namespace {

// LibTorch messages carry a C++ backtrace and sometimes a TorchScript one;
// users get the first meaningful line.
std::string FirstLine(const std::string& msg) {
  std::istringstream in(msg);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.find_first_not_of(" \t") != std::string::npos) return line;
  }
  return msg;
}

// The message of an exception from LibTorch without its C++ backtrace.
std::string ExceptionText(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return ce->what_without_backtrace();
  return e.what();
}

// The first line of the TorchScript error message that names the failure
// ("RuntimeError: ..."), else the first line.
std::string ScriptErrorLineOf(const std::string& msg) {
  std::istringstream in(msg);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("Error:") != std::string::npos || line.find("Exception:") != std::string::npos) {
      size_t p = line.find_first_not_of(" \t");
      return line.substr(p == std::string::npos ? 0 : p);
    }
  }
  return FirstLine(msg);
}

}  // namespace

std::string TorchMessage(const std::exception& e) { return FirstLine(ExceptionText(e)); }

std::string ScriptErrorLine(const std::exception& e) { return ScriptErrorLineOf(ExceptionText(e)); }

Result<DType> FromTorchDType(c10::ScalarType t) {
  switch (t) {
    case c10::kFloat: return DType::kFloat32;
    case c10::kDouble: return DType::kFloat64;
    case c10::kHalf: return DType::kFloat16;
    case c10::kBFloat16: return DType::kBFloat16;
    case c10::kLong: return DType::kInt64;
    case c10::kInt: return DType::kInt32;
    case c10::kShort: return DType::kInt16;
    case c10::kChar: return DType::kInt8;
    case c10::kByte: return DType::kUInt8;
    case c10::kBool: return DType::kBool;
    default: return Status::Unsupported(std::string("tensor dtype ") + c10::toString(t) + " is not supported");
  }
}

Result<c10::ScalarType> ToTorchDType(DType d) {
  switch (d) {
    case DType::kFloat32: return c10::kFloat;
    case DType::kFloat64: return c10::kDouble;
    case DType::kFloat16: return c10::kHalf;
    case DType::kBFloat16: return c10::kBFloat16;
    case DType::kInt64: return c10::kLong;
    case DType::kInt32: return c10::kInt;
    case DType::kInt16: return c10::kShort;
    case DType::kInt8: return c10::kChar;
    case DType::kUInt8: return c10::kByte;
    case DType::kBool: return c10::kBool;
    case DType::kNone: break;
  }
  return Status::InvalidArgument("a None value cannot be passed as a tensor");
}

Result<at::Tensor> ToTorch(const HostTensor& h) {
  TANDEM_ASSIGN_OR_RETURN(c10::ScalarType st, ToTorchDType(h.dtype));
  TANDEM_ASSIGN_OR_RETURN(uint64_t bytes, ShapeBytes(h.dtype, h.shape));
  if (bytes != h.data.size())
    return Status::InvalidArgument("tensor of shape " + ShapeToString(h.shape) + " carries " +
                                   std::to_string(h.data.size()) + " bytes of data");
  at::Tensor t = at::empty(h.shape, at::TensorOptions().dtype(st));
  if (!h.data.empty()) std::memcpy(t.data_ptr(), h.data.data(), h.data.size());
  return t;
}

Result<HostTensor> FromTorch(const at::Tensor& t) {
  HostTensor h;
  TANDEM_ASSIGN_OR_RETURN(h.dtype, FromTorchDType(t.scalar_type()));
  at::Tensor c = t.contiguous();
  if (c.is_mkldnn() || c.is_sparse()) c = c.to_dense();
  h.shape.assign(c.sizes().begin(), c.sizes().end());
  const size_t n = static_cast<size_t>(c.numel()) * c.element_size();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  if (n) h.data.assign(p, p + n);  // one pass (resize would zero-fill first)
  return h;
}

void FlattenValues(const c10::IValue& v, std::vector<c10::IValue>* out) {
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) FlattenValues(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) FlattenValues(e, out);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) FlattenValues(e.value(), out);
  } else {
    out->push_back(v);
  }
}

Status Flatten(const c10::IValue& v, std::vector<HostTensor>* out) {
  std::vector<c10::IValue> leaves;
  FlattenValues(v, &leaves);
  for (const auto& e : leaves) {
    if (e.isTensor()) {
      TANDEM_ASSIGN_OR_RETURN(HostTensor h, FromTorch(e.toTensor()));
      out->push_back(std::move(h));
    } else if (e.isNone()) {
      out->push_back(HostTensor::None());
    } else {
      return Status::Unsupported("model returns a value of type " + e.type()->str() +
                                 "; tandem handles tensors and None, in tuples, lists and dicts");
    }
  }
  return Status::OK();
}

void LeafNames(const c10::IValue& v, const std::string& prefix, std::vector<std::string>* out) {
  auto child = [&](const std::string& name) { return prefix.empty() ? name : prefix + "." + name; };
  if (v.isTuple()) {
    const auto& tuple = v.toTupleRef();
    const auto& elems = tuple.elements();
    std::vector<std::string> fields;
    const auto type = tuple.type();
    if (type && type->schema()) {
      for (const auto& a : type->schema()->arguments()) fields.push_back(a.name());
    }
    for (size_t i = 0; i < elems.size(); ++i)
      LeafNames(elems[i], child(i < fields.size() ? fields[i] : std::to_string(i)), out);
  } else if (v.isList()) {
    size_t i = 0;
    for (const auto& e : v.toListRef()) LeafNames(e, child(std::to_string(i++)), out);
  } else if (v.isGenericDict()) {
    for (const auto& e : v.toGenericDict()) {
      const c10::IValue& key = e.key();
      std::string name;
      if (key.isString()) {
        name = key.toStringRef();
      } else if (key.isInt()) {
        name = std::to_string(key.toInt());
      } else {
        name = std::to_string(out->size());
      }
      LeafNames(e.value(), child(name), out);
    }
  } else {
    out->push_back(prefix);
  }
}

uint64_t TensorBytes(const at::Tensor& t) { return static_cast<uint64_t>(t.numel()) * t.element_size(); }

Result<std::unique_ptr<Stage>> StageFromModule(torch::jit::Module m, const std::string& name) {
  auto impl = std::make_unique<Stage::Impl>();
  auto fwd = m.find_method("forward");
  if (!fwd) return Status::InvalidArgument(name + ": stage module has no forward method");
  const auto& schema = fwd->function().getSchema();
  impl->num_inputs = static_cast<int>(schema.arguments().size()) - 1;  // minus self
  for (size_t i = 1; i < schema.arguments().size(); ++i) {
    if (!schema.arguments()[i].type()->isSubtypeOf(*c10::TensorType::get()))
      return Status::InvalidArgument(name + ": stage forward argument '" + schema.arguments()[i].name() +
                                     "' is not a tensor; not a tandem stage");
  }
  m.eval();
  impl->module = std::move(m);
  impl->name = name;
  return std::make_unique<Stage>(std::move(impl));
}

}  // namespace tandem
