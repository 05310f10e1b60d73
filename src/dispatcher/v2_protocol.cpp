#include "dispatcher/v2_protocol.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/util/json.h"

namespace tandem {
namespace {

using nlohmann::json;

struct V2Type {
  DType dtype;
  const char* name;
};
constexpr V2Type kTypes[] = {
    {DType::kBool, "BOOL"},    {DType::kUInt8, "UINT8"},   {DType::kInt8, "INT8"},    {DType::kInt16, "INT16"},
    {DType::kInt32, "INT32"},  {DType::kInt64, "INT64"},   {DType::kFloat16, "FP16"}, {DType::kFloat32, "FP32"},
    {DType::kFloat64, "FP64"}, {DType::kBFloat16, "BF16"},
};

// Half-precision types have no JSON form in the protocol: binary only.
bool BinaryOnly(DType d) { return d == DType::kFloat16 || d == DType::kBFloat16; }

template <typename T>
void Put(uint8_t* dst, int64_t i, T v) {
  std::memcpy(dst + i * static_cast<int64_t>(sizeof(T)), &v, sizeof(T));
}

// One JSON value as element i of a tensor of `dtype`.
Status PutValue(const json& v, DType dtype, uint8_t* dst, int64_t i, const JsonField& where) {
  auto bad = [&](const char* what) { return where.Error("element " + std::to_string(i) + ": " + what); };
  if (dtype == DType::kBool) {
    if (!v.is_boolean()) return bad("must be true or false (BOOL)");
    dst[i] = v.get<bool>() ? 1 : 0;
    return Status::OK();
  }
  if (!v.is_number()) return bad("must be a number");
  if (dtype == DType::kFloat32 || dtype == DType::kFloat64) {
    const double d = v.get<double>();
    if (dtype == DType::kFloat32) {
      if (std::isfinite(d) && std::fabs(d) > std::numeric_limits<float>::max()) return bad("out of FP32's range");
      Put(dst, i, static_cast<float>(d));
    } else {
      Put(dst, i, d);
    }
    return Status::OK();
  }
  // Integers: whole numbers within the type's range.
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return bad("out of range");
    x = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else {
    return bad("must be a whole number");
  }
  auto in = [&](int64_t lo, int64_t hi) { return x >= lo && x <= hi; };
  switch (dtype) {
    case DType::kUInt8:
      if (!in(0, 255)) return bad("out of UINT8's range");
      dst[i] = static_cast<uint8_t>(x);
      return Status::OK();
    case DType::kInt8:
      if (!in(-128, 127)) return bad("out of INT8's range");
      Put(dst, i, static_cast<int8_t>(x));
      return Status::OK();
    case DType::kInt16:
      if (!in(-32768, 32767)) return bad("out of INT16's range");
      Put(dst, i, static_cast<int16_t>(x));
      return Status::OK();
    case DType::kInt32:
      if (!in(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()))
        return bad("out of INT32's range");
      Put(dst, i, static_cast<int32_t>(x));
      return Status::OK();
    case DType::kInt64: Put(dst, i, x); return Status::OK();
    default: return bad("this datatype has no JSON form: send it as binary data");
  }
}

// Fills `t` (sized already) from a flat or nested JSON array, row-major.
Status FillFromJson(const JsonField& data, HostTensor* t) {
  if (!data.is_array()) return data.Error("must be an array of the tensor's elements in row-major order");
  const int64_t n = t->numel();
  int64_t filled = 0;
  // Depth-first over nested arrays, with an explicit stack (bounded depth).
  struct Frame {
    const json* array;
    size_t next;
  };
  std::vector<Frame> stack = {{&data.json(), 0}};
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.array->size()) {
      stack.pop_back();
      continue;
    }
    const json& v = (*f.array)[f.next++];
    if (v.is_array()) {
      if (stack.size() >= 64) return data.Error("nested more than 64 deep");
      stack.push_back({&v, 0});
      continue;
    }
    if (filled == n) return data.Error("holds more than the shape's " + std::to_string(n) + " element(s)");
    TANDEM_RETURN_IF_ERROR(PutValue(v, t->dtype, t->data.data(), filled, data));
    ++filled;
  }
  if (filled != n)
    return data.Error("holds " + std::to_string(filled) + " element(s); the shape has " + std::to_string(n));
  return Status::OK();
}

json ShapeJson(const std::vector<int64_t>& shape) {
  json s = json::array();
  for (int64_t d : shape) s.push_back(d);
  return s;
}

json TensorMetadata(const std::string& name, const InputSpec& spec) {
  return {{"name", name}, {"datatype", V2DataType(spec.dtype)}, {"shape", ShapeJson(spec.shape)}};
}

template <typename T>
T Get(const uint8_t* src, int64_t i) {
  T v;
  std::memcpy(&v, src + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

// JSON has no NaN or infinity: a tensor holding one goes as binary data.
bool HasNonFinite(const HostTensor& t) {
  const int64_t n = t.numel();
  if (t.dtype == DType::kFloat32) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(Get<float>(t.data.data(), i))) return true;
  } else if (t.dtype == DType::kFloat64) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(Get<double>(t.data.data(), i))) return true;
  }
  return false;
}

// A tensor's elements as a flat JSON array.
json DataJson(const HostTensor& t) {
  json a = json::array();
  const int64_t n = t.numel();
  const uint8_t* p = t.data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::kBool: a.push_back(p[i] != 0); break;
      case DType::kUInt8: a.push_back(p[i]); break;
      case DType::kInt8: a.push_back(Get<int8_t>(p, i)); break;
      case DType::kInt16: a.push_back(Get<int16_t>(p, i)); break;
      case DType::kInt32: a.push_back(Get<int32_t>(p, i)); break;
      case DType::kInt64: a.push_back(Get<int64_t>(p, i)); break;
      case DType::kFloat32: a.push_back(Get<float>(p, i)); break;
      case DType::kFloat64: a.push_back(Get<double>(p, i)); break;
      default: break;  // binary only
    }
  }
  return a;
}

}  // namespace

const char* V2DataType(DType dtype) {
  for (const auto& t : kTypes)
    if (t.dtype == dtype) return t.name;
  return nullptr;
}

Result<DType> ParseV2DataType(const std::string& name) {
  for (const auto& t : kTypes)
    if (name == t.name) return t.dtype;
  if (name == "BYTES") return Status::InvalidArgument("BYTES tensors are not supported: the model takes numbers");
  return Status::InvalidArgument("unknown datatype '" + name +
                                 "' (BOOL, UINT8, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16)");
}

std::string V2OutputName(const std::string& element_name) {
  if (element_name.empty()) return "output";
  if (element_name[0] >= '0' && element_name[0] <= '9') return "output_" + element_name;
  return element_name;
}

V2Model MakeV2Model(std::string name, std::vector<std::string> input_names, std::vector<InputSpec> inputs,
                    const std::vector<std::string>& element_names, const std::vector<HostTensor>& sample_output) {
  V2Model m;
  m.name = std::move(name);
  m.input_names = std::move(input_names);
  m.inputs = std::move(inputs);
  for (size_t i = 0; i < sample_output.size(); ++i) {
    if (sample_output[i].is_none()) continue;
    m.output_names.push_back(V2OutputName(i < element_names.size() ? element_names[i] : std::to_string(i)));
    m.outputs.push_back(InputSpec{sample_output[i].dtype, sample_output[i].shape});
  }
  return m;
}

std::string V2ModelMetadata(const V2Model& model) {
  json inputs = json::array(), outputs = json::array();
  for (size_t i = 0; i < model.inputs.size(); ++i)
    inputs.push_back(TensorMetadata(model.input_names[i], model.inputs[i]));
  for (size_t i = 0; i < model.outputs.size(); ++i)
    outputs.push_back(TensorMetadata(model.output_names[i], model.outputs[i]));
  json j = {{"name", model.name},
            {"versions", json::array({model.version})},
            {"platform", "pytorch_torchscript"},
            {"inputs", inputs},
            {"outputs", outputs}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<V2InferRequest> ParseV2InferRequest(const std::string& body, std::optional<uint64_t> header_length,
                                           const V2Model& model) {
  const uint64_t json_len = header_length ? *header_length : body.size();
  if (json_len > body.size())
    return Status::InvalidArgument("Inference-Header-Content-Length " + std::to_string(json_len) +
                                   " is more than the body's " + std::to_string(body.size()) + " bytes");
  TANDEM_ASSIGN_OR_RETURN(JsonDocument doc, JsonDocument::Parse(body.substr(0, json_len), "request"));
  const JsonField root = doc.root();
  TANDEM_RETURN_IF_ERROR(root.CheckObject({"id", "parameters", "inputs", "outputs"}));
  V2InferRequest req;
  TANDEM_RETURN_IF_ERROR(root.Get("id", &req.id));
  if (root.Has("parameters")) {
    const JsonField p = root["parameters"];
    if (!p.is_object()) return p.Error("must be an object");
    TANDEM_RETURN_IF_ERROR(p.Get("binary_data_output", &req.all_binary));
  }
  if (!root.Has("inputs")) return root.Error("inputs: required: one entry per model input");
  const JsonField inputs = root["inputs"];
  TANDEM_RETURN_IF_ERROR(inputs.CheckArray(model.inputs.size()));
  if (inputs.size() != model.inputs.size())
    return inputs.Error("gives " + std::to_string(inputs.size()) + " input(s); the model takes " +
                        std::to_string(model.inputs.size()));
  req.inputs.assign(model.inputs.size(), HostTensor());
  std::vector<bool> given(model.inputs.size(), false);
  uint64_t binary_offset = json_len;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const JsonField in = inputs[k];
    TANDEM_RETURN_IF_ERROR(in.CheckObject({"name", "shape", "datatype", "parameters", "data"}));
    std::string name, datatype;
    TANDEM_RETURN_IF_ERROR(in.Require("name", &name));
    size_t j = 0;
    while (j < model.input_names.size() && model.input_names[j] != name) ++j;
    if (j == model.input_names.size()) {
      std::string known;
      for (const auto& n : model.input_names) known += (known.empty() ? "" : ", ") + n;
      return in["name"].Error("'" + name + "' is not an input of the model (" + known + ")");
    }
    if (given[j]) return in["name"].Error("'" + name + "' is given twice");
    given[j] = true;
    const InputSpec& spec = model.inputs[j];
    TANDEM_RETURN_IF_ERROR(in.Require("datatype", &datatype));
    auto dtype = ParseV2DataType(datatype);
    if (!dtype.ok()) return in["datatype"].Error(dtype.status().message());
    if (dtype.value() != spec.dtype)
      return in["datatype"].Error(datatype + ": input '" + name + "' is " + V2DataType(spec.dtype));
    std::vector<int64_t> shape;
    if (!in.Has("shape")) return in.Error("shape: required");
    TANDEM_RETURN_IF_ERROR(in["shape"].CheckArray(64));
    TANDEM_RETURN_IF_ERROR(in.Require("shape", &shape));
    if (shape != spec.shape)
      return in["shape"].Error("[" + ShapeToString(shape) + "]: input '" + name + "' takes " +
                               ShapeToString(spec.shape));
    HostTensor t = HostTensor::Zeros(spec.dtype, spec.shape);
    uint64_t binary_size = 0;
    bool binary = false;
    if (in.Has("parameters")) {
      const JsonField p = in["parameters"];
      if (!p.is_object()) return p.Error("must be an object");
      if (p.Has("binary_data_size")) {
        binary = true;
        TANDEM_RETURN_IF_ERROR(p["binary_data_size"].Read(&binary_size));
      }
    }
    if (binary) {
      if (in.Has("data")) return in.Error("has both data and parameters.binary_data_size");
      if (!header_length) return in.Error("binary_data_size without an Inference-Header-Content-Length header");
      if (binary_size != t.nbytes())
        return in["parameters"]["binary_data_size"].Error(std::to_string(binary_size) + " bytes; " +
                                                          ShapeToString(spec.shape) + " " + V2DataType(spec.dtype) +
                                                          " is " + std::to_string(t.nbytes()));
      if (binary_size > body.size() - binary_offset)
        return in["parameters"]["binary_data_size"].Error("runs past the end of the body");
      std::memcpy(t.data.data(), body.data() + binary_offset, binary_size);
      binary_offset += binary_size;
    } else {
      if (!in.Has("data")) return in.Error("data: required (or parameters.binary_data_size)");
      if (BinaryOnly(spec.dtype))
        return in["data"].Error(std::string(V2DataType(spec.dtype)) + " has no JSON form: send it as binary data");
      TANDEM_RETURN_IF_ERROR(FillFromJson(in["data"], &t));
    }
    req.inputs[j] = std::move(t);
  }
  if (binary_offset != body.size())
    return Status::InvalidArgument(std::to_string(body.size() - binary_offset) +
                                   " byte(s) of binary data follow what the inputs' binary_data_size take");
  if (root.Has("outputs")) {
    const JsonField outs = root["outputs"];
    TANDEM_RETURN_IF_ERROR(outs.CheckArray(model.outputs.size()));
    for (size_t k = 0; k < outs.size(); ++k) {
      const JsonField o = outs[k];
      TANDEM_RETURN_IF_ERROR(o.CheckObject({"name", "parameters"}));
      std::string name;
      TANDEM_RETURN_IF_ERROR(o.Require("name", &name));
      bool known = false;
      for (const auto& n : model.output_names) known |= n == name;
      if (!known) {
        std::string all;
        for (const auto& n : model.output_names) all += (all.empty() ? "" : ", ") + n;
        return o["name"].Error("'" + name + "' is not an output of the model (" + all + ")");
      }
      bool binary = req.all_binary;
      if (o.Has("parameters")) {
        const JsonField p = o["parameters"];
        if (!p.is_object()) return p.Error("must be an object");
        TANDEM_RETURN_IF_ERROR(p.Get("binary_data", &binary));
      }
      req.outputs.push_back(name);
      req.binary.push_back(binary);
    }
  }
  return req;
}

std::string V2InferResponse(const V2Model& model, const V2InferRequest& request, const std::string& model_version,
                            const std::vector<HostTensor>& outputs, std::optional<uint64_t>* header_length) {
  // The result's tensor elements, by protocol name.
  std::vector<const HostTensor*> tensors;
  for (const auto& t : outputs)
    if (!t.is_none()) tensors.push_back(&t);
  std::vector<std::pair<size_t, bool>> chosen;  // (index into tensors, binary)
  if (request.outputs.empty()) {
    for (size_t i = 0; i < tensors.size(); ++i) chosen.push_back({i, request.all_binary});
  } else {
    for (size_t k = 0; k < request.outputs.size(); ++k)
      for (size_t i = 0; i < model.output_names.size() && i < tensors.size(); ++i)
        if (model.output_names[i] == request.outputs[k]) chosen.push_back({i, request.binary[k]});
  }
  json outs = json::array();
  std::string binary;
  for (const auto& [i, want_binary] : chosen) {
    const HostTensor& t = *tensors[i];
    json o = {{"name", i < model.output_names.size() ? model.output_names[i] : V2OutputName(std::to_string(i))},
              {"datatype", V2DataType(t.dtype) ? V2DataType(t.dtype) : "FP32"},
              {"shape", ShapeJson(t.shape)}};
    if (want_binary || BinaryOnly(t.dtype) || HasNonFinite(t)) {
      o["parameters"] = {{"binary_data_size", t.nbytes()}};
      binary.append(reinterpret_cast<const char*>(t.data.data()), t.nbytes());
    } else {
      o["data"] = DataJson(t);
    }
    outs.push_back(std::move(o));
  }
  json j = {{"model_name", model.name}, {"model_version", model_version}, {"outputs", outs}};
  if (!request.id.empty()) j["id"] = request.id;
  std::string text = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (binary.empty()) {
    *header_length = std::nullopt;
    return text;
  }
  *header_length = text.size();
  return text + binary;
}

std::string V2Error(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace tandem
