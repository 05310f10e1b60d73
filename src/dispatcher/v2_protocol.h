// The bodies of the Open Inference Protocol (KServe v2 REST) that `serve`
// reads and writes: model metadata, inference requests (JSON tensor data, or
// the binary tensor data extension: a JSON header of
// Inference-Header-Content-Length bytes followed by the tensors' raw
// little-endian bytes) and responses, and error bodies.
//
// Everything here is a pure function of its arguments (no I/O), and every
// request body is untrusted: sizes are bounded by the model's own input
// specs, and errors name the input and what is wrong (the HTTP layer answers
// them with 400).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/tensor/tensor.h"
#include "common/util/status.h"

namespace tandem {

// "FP32", "INT64", "BOOL", ... for a DType; nullptr for kNone.
const char* V2DataType(DType dtype);
// The DType of a v2 datatype name; BYTES and unknown names are errors.
Result<DType> ParseV2DataType(const std::string& name);

// What the protocol says of the served model.
struct V2Model {
  std::string name;
  std::string version;                    // the model generation serving now, as text
  std::vector<std::string> input_names;   // forward's argument names
  std::vector<InputSpec> inputs;          // their dtypes and shapes
  std::vector<std::string> output_names;  // per tensor output (V2OutputName)
  std::vector<InputSpec> outputs;         // their dtypes and shapes
};

// The protocol's name for the model's output element `element_name`
// (Model::output_names): "output" for a lone tensor, "output_K" for a tuple's
// element K, a dict's key or a named tuple's field as it is.
std::string V2OutputName(const std::string& element_name);
// The served model from the model's inputs and a sample output (None
// elements are not outputs).
V2Model MakeV2Model(std::string name, std::vector<std::string> input_names, std::vector<InputSpec> inputs,
                    const std::vector<std::string>& element_names, const std::vector<HostTensor>& sample_output);

// GET /v2/models/NAME.
std::string V2ModelMetadata(const V2Model& model);

struct V2InferRequest {
  std::string id;                    // echoed in the response ("" when absent)
  std::vector<HostTensor> inputs;    // one per model input, in forward's order
  std::vector<std::string> outputs;  // asked for, in the response's order; empty: all
  std::vector<bool> binary;          // per entry of outputs: as binary data
  bool all_binary = false;           // parameters.binary_data_output
};

// Parses POST /v2/models/NAME/infer. `header_length`: the
// Inference-Header-Content-Length header's value when present (the JSON is
// that many bytes at the start of `body`, binary tensors follow). Every
// input of the model must be given once, by name, with its datatype and
// shape; data as a flat (or nested) JSON array of numbers (booleans for
// BOOL) in row-major order, or binary_data_size bytes of the binary part.
Result<V2InferRequest> ParseV2InferRequest(const std::string& body, std::optional<uint64_t> header_length,
                                           const V2Model& model);

// The response body to a request. Outputs go as JSON numbers unless binary
// data was asked for, or the datatype has no JSON form (FP16, BF16), or a
// value is NaN or infinite (JSON has no such numbers). *header_length is set to the JSON's
// length when binary data follows it (the HTTP layer sends it as
// Inference-Header-Content-Length), else to nullopt. `outputs`: the result's
// elements, None included, as Model::output_names lists them.
std::string V2InferResponse(const V2Model& model, const V2InferRequest& request, const std::string& model_version,
                            const std::vector<HostTensor>& outputs, std::optional<uint64_t>* header_length);

// {"error": message}.
std::string V2Error(const std::string& message);

}  // namespace tandem
