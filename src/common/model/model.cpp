// The graph analysis: freezing a model, finding its cuts, building stage
// modules out of node ranges. See model.h for the cut rule and the stage
// calling convention.
#include "common/model/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "common/model/torch_bridge.h"
#include "common/util/digest.h"
#include "common/util/files.h"

namespace tandem {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

namespace {

// Nodes every stage makes its own copy of: constants, and the placeholders
// (prim::Uninitialized) that scripted code passes to a branch that raises.
bool IsFree(const Node* n) { return n->kind() == c10::prim::Constant || n->kind() == c10::prim::Uninitialized; }
bool IsConstant(const Value* v) { return IsFree(v->node()); }

bool IsTensor(const c10::TypePtr& t) { return t->isSubtypeOf(*c10::TensorType::get()); }

// Non-tensor values cross a cut as tensors (see model.h): a scalar as a 0-d
// tensor, a list as a 1-d tensor, None as nothing, a tuple as its elements.
// The dtype each scalar kind is carried in.
c10::ScalarType CarrierDType(c10::TypeKind kind) {
  switch (kind) {
    case c10::TypeKind::IntType: return c10::kLong;
    case c10::TypeKind::FloatType: return c10::kDouble;
    default: return c10::kBool;
  }
}
bool IsCarriedScalar(c10::TypeKind kind) {
  return kind == c10::TypeKind::IntType || kind == c10::TypeKind::FloatType || kind == c10::TypeKind::BoolType;
}

// Why a value of type `t` cannot cross a cut; empty when it can.
std::string CarryRefusal(const c10::TypePtr& t) {
  if (IsTensor(t) || IsCarriedScalar(t->kind()) || t->kind() == c10::TypeKind::NoneType) return "";
  if (t->kind() == c10::TypeKind::ListType) {
    const auto& elem = t->expectRef<c10::ListType>().getElementType();
    if (IsCarriedScalar(elem->kind())) return "";
    return "a list of " + elem->str() + " has no fixed layout on the wire";
  }
  if (t->kind() == c10::TypeKind::TupleType) {
    for (const auto& e : t->expectRef<c10::TupleType>().elements()) {
      std::string why = CarryRefusal(e);
      if (!why.empty()) return why;
    }
    return "";
  }
  return "a " + t->str() + " is not carried between stages";
}

// The tensors (slots) a value of type `t` takes on the wire, each with the
// type it carries ("Tensor", "int", "float[]", ...) and a name derived from
// `name` (tuple elements get ".0", ".1", ...).
void Slots(const c10::TypePtr& t, const std::string& name, std::vector<std::pair<std::string, std::string>>* out) {
  if (t->kind() == c10::TypeKind::NoneType) return;
  if (t->kind() == c10::TypeKind::TupleType) {
    const auto& elems = t->expectRef<c10::TupleType>().elements();
    for (size_t i = 0; i < elems.size(); ++i) Slots(elems[i], name + "." + std::to_string(i), out);
    return;
  }
  out->emplace_back(name, IsTensor(t) ? "Tensor" : t->str());
}

// Appends to `out` the tensors that carry `v` (at g's insertion point).
void EncodeValue(Graph* g, Value* v, std::vector<Value*>* out) {
  const c10::TypePtr& t = v->type();
  if (IsTensor(t)) {
    out->push_back(v);
  } else if (t->kind() == c10::TypeKind::NoneType) {
  } else if (t->kind() == c10::TypeKind::TupleType) {
    Node* unpack = g->insertNode(g->createTupleUnpack(v));
    for (Value* e : unpack->outputs()) EncodeValue(g, e, out);
  } else {
    const c10::TypeKind scalar =
        t->kind() == c10::TypeKind::ListType ? t->expectRef<c10::ListType>().getElementType()->kind() : t->kind();
    Value* dtype = g->insertConstant(static_cast<int64_t>(CarrierDType(scalar)));
    out->push_back(g->insert(c10::aten::tensor, {v}, {torch::jit::NamedValue("dtype", dtype)}));
  }
}

// Rebuilds a value of type `t` from the tensors EncodeValue made, taking
// them in order from `next` (a new graph input each).
Value* DecodeValue(Graph* g, const c10::TypePtr& t, const std::function<Value*()>& next) {
  if (IsTensor(t)) return next();
  switch (t->kind()) {
    case c10::TypeKind::NoneType: return g->insertConstant(c10::IValue());
    case c10::TypeKind::IntType: return g->insert(c10::aten::Int, {next()});
    case c10::TypeKind::FloatType: return g->insert(c10::aten::Float, {next()});
    case c10::TypeKind::BoolType: return g->insert(c10::aten::Bool, {next()});
    case c10::TypeKind::ListType: {
      const c10::TypeKind elem = t->expectRef<c10::ListType>().getElementType()->kind();
      const int64_t code = elem == c10::TypeKind::IntType ? 0 : elem == c10::TypeKind::FloatType ? 1 : 2;
      Value* x = next();
      Node* n =
          g->insertNode(g->create(c10::prim::tolist, {x, g->insertConstant(int64_t{1}), g->insertConstant(code)}));
      n->output()->setType(t);
      return n->output();
    }
    default: {
      std::vector<Value*> elems;
      for (const auto& e : t->expectRef<c10::TupleType>().elements()) elems.push_back(DecodeValue(g, e, next));
      return g->insertNode(g->createTuple(elems))->output();
    }
  }
}

// Calls f(value) for every input of `n` and of every node nested in its blocks
// (block returns included).
template <typename F>
void ForEachUse(Node* n, const F& f) {
  for (Value* v : n->inputs()) f(v);
  for (Block* b : n->blocks()) {
    for (Node* inner : b->nodes()) ForEachUse(inner, f);
    ForEachUse(b->return_node(), f);
  }
}

// Calls f(node) for `n` and every node nested in its blocks.
template <typename F>
void ForEachNode(Node* n, const F& f) {
  f(n);
  for (Block* b : n->blocks())
    for (Node* inner : b->nodes()) ForEachNode(inner, f);
}

// A sample input: see Model::Load for the values.
Result<HostTensor> SampleTensor(const InputSpec& spec, at::Generator& gen) {
  at::Tensor t;
  const auto opts = at::TensorOptions();
  switch (spec.dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16: t = at::randn(spec.shape, gen, opts.dtype(c10::kFloat)); break;
    case DType::kUInt8: t = at::randint(0, 256, spec.shape, gen, opts.dtype(c10::kLong)); break;
    case DType::kInt8: t = at::randint(-128, 128, spec.shape, gen, opts.dtype(c10::kLong)); break;
    case DType::kBool: t = at::randint(0, 2, spec.shape, gen, opts.dtype(c10::kLong)); break;
    default: t = at::randint(0, 10, spec.shape, gen, opts.dtype(c10::kLong)); break;
  }
  TANDEM_ASSIGN_OR_RETURN(c10::ScalarType type, ToTorchDType(spec.dtype));
  return FromTorch(t.to(type));
}

}  // namespace

struct Model::Impl {
  std::string path;
  std::string hash;
  std::vector<InputSpec> inputs;
  torch::jit::Module original;
  torch::jit::Module frozen;
  std::shared_ptr<Graph> graph;
  std::vector<Node*> nodes;                   // top-level, non-constant, in order
  std::unordered_map<const Value*, int> def;  // value -> defining position (-1: graph input)
  std::vector<std::vector<Value*>> crossing;  // per position 0..N: values crossing it
  std::vector<std::string> invalid_reason;    // per position 0..N: empty when a valid cut
  std::vector<CutPoint> cuts;
  std::vector<HostTensor> sample_inputs;
  std::vector<HostTensor> sample_output;
  std::vector<std::string> output_names;
  std::vector<std::string> input_names;  // forward's arguments

  Status Analyse();
  Status Measure();
  std::shared_ptr<Graph> BuildGraph(int begin, int end, bool model_return,
                                    const std::vector<Value*>& extra_outputs) const;
  Result<torch::jit::Module> BuildModule(std::shared_ptr<Graph> g) const;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Status Model::Impl::Analyse() {
  Node* self_user = nullptr;
  Value* self = graph->inputs().at(0);
  if (self->hasUses()) self_user = self->uses().front().user;
  if (self_user)
    return Status::Unsupported(path + ": after freezing, forward still reads module state (" +
                               self_user->kind().toQualString() +
                               "); tandem cannot split models with mutable attributes");

  for (Node* n : graph->nodes())
    if (!IsFree(n)) nodes.push_back(n);
  const int N = static_cast<int>(nodes.size());
  if (N == 0) return Status::Unsupported(path + ": forward has no operations to split");

  for (size_t i = 1; i < graph->inputs().size(); ++i) def[graph->inputs()[i]] = -1;
  for (int p = 0; p < N; ++p)
    for (Value* o : nodes[p]->outputs()) def[o] = p;

  // Last top-level position that uses each value.
  std::unordered_map<const Value*, int> last_use;
  for (int p = 0; p < N; ++p) {
    ForEachUse(nodes[p], [&](Value* v) {
      auto it = def.find(v);
      if (it != def.end() && it->second < p) last_use[v] = std::max(last_use[v], p);
    });
  }
  for (Value* o : graph->outputs())
    if (def.count(o)) last_use[o] = N;

  // Values ordered by definition, for the calling convention.
  std::vector<Value*> ordered;
  for (size_t i = 1; i < graph->inputs().size(); ++i) ordered.push_back(graph->inputs()[i]);
  for (Node* n : nodes)
    for (Value* o : n->outputs()) ordered.push_back(o);

  crossing.assign(N + 1, {});
  invalid_reason.assign(N + 1, "");
  // Stage 0 takes every input of the model, used or not.
  for (size_t i = 1; i < graph->inputs().size(); ++i) crossing[0].push_back(graph->inputs()[i]);
  for (int c = 1; c <= N; ++c) {
    for (Value* v : ordered) {
      auto lu = last_use.find(v);
      if (def[v] < c && lu != last_use.end() && lu->second >= c) crossing[c].push_back(v);
    }
  }

  // Nodes that write in place to something (after RemoveTensorMutation these
  // are the writes that could not be made functional).
  torch::jit::AliasDb alias_db(graph, /*isFrozen=*/true);
  torch::jit::ValueSet all_values;
  for (Value* v : ordered) all_values.insert(v);
  std::vector<int> writers;
  for (int p = 0; p < N; ++p)
    if (alias_db.writesToAlias(nodes[p], all_values)) writers.push_back(p);

  invalid_reason[0] = "position 0 is the model's start, not a cut";
  invalid_reason[N] = "position " + std::to_string(N) + " is the model's end, not a cut";
  for (int c = 1; c < N; ++c) {
    const auto& live = crossing[c];
    if (live.empty()) {
      invalid_reason[c] = "no value crosses it";
      continue;
    }
    size_t slots = 0;
    std::string refused;  // every value that cannot cross, with the node that makes it
    for (Value* v : live) {
      const std::string why = CarryRefusal(v->type());
      if (!why.empty()) {
        const int d = def[v];  // >= 0: the model's inputs are tensors
        refused += (refused.empty() ? "" : "; ") +
                   ("value '" + v->debugName() + "' of type " + v->type()->str() + " crosses it (made by node " +
                    std::to_string(d) + ", " + nodes[d]->kind().toQualString() + "): " + why);
        continue;
      }
      std::vector<std::pair<std::string, std::string>> s;
      Slots(v->type(), v->debugName(), &s);
      slots += s.size();
    }
    if (!refused.empty()) {
      invalid_reason[c] =
          refused +
          " (tandem carries tensors, int, float, bool, None, lists of int, float or bool, and tuples of those)";
      continue;
    }
    if (slots == 0) {
      invalid_reason[c] = "only None crosses it";
      continue;
    }
    // Each stage gets its own copy of every crossing tensor, which breaks
    // aliasing between them: if two crossing values may share memory and a
    // later node writes to it, the copies would diverge where the original
    // did not. (A write to a crossing value that aliases nothing else that
    // crosses stays within the next stage and is fine.)
    torch::jit::ValueSet aliased;
    for (size_t i = 0; i < live.size(); ++i)
      for (size_t j = i + 1; j < live.size(); ++j)
        if (alias_db.mayAlias(live[i], live[j])) aliased.insert({live[i], live[j]});
    if (aliased.empty()) continue;
    for (int w : writers) {
      if (w >= c && alias_db.writesToAlias(nodes[w], aliased)) {
        invalid_reason[c] = "node " + std::to_string(w) + " (" + nodes[w]->kind().toQualString() +
                            ") later writes in place to tensors that cross it and share memory";
        break;
      }
    }
  }
  return Status::OK();
}

std::shared_ptr<Graph> Model::Impl::BuildGraph(int begin, int end, bool model_return,
                                               const std::vector<Value*>& extra_outputs) const {
  auto g = std::make_shared<Graph>();
  g->addInput("self");
  std::unordered_map<Value*, Value*> env;
  for (Value* v : crossing[begin]) {
    if (IsTensor(v->type())) {
      Value* nv = g->addInput();
      nv->setType(c10::unshapedType(v->type()));
      if (v->hasDebugName()) nv->setDebugName(v->debugName());
      env[v] = nv;
      continue;
    }
    int slot = 0;
    env[v] = DecodeValue(g.get(), v->type(), [&] {
      Value* nv = g->addInput();
      nv->setType(c10::TensorType::get());
      // An argument name of the saved stage: it must read as an identifier.
      std::string base = "v_" + v->debugName();
      for (char& ch : base)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      nv->setDebugName(base + "_" + std::to_string(slot++));
      return nv;
    });
  }
  std::function<Value*(Value*)> lookup = [&](Value* v) -> Value* {
    auto it = env.find(v);
    if (it != env.end()) return it->second;
    TORCH_INTERNAL_ASSERT(IsConstant(v), "value ", v->debugName(), " is not available in stage [", begin, ", ", end,
                          ")");
    Node* c = g->insertNode(g->createClone(v->node(), lookup));
    env[v] = c->output();
    return c->output();
  };
  for (int p = begin; p < end; ++p) {
    Node* n = nodes[p];
    Node* c = g->insertNode(g->createClone(n, lookup));
    for (size_t i = 0; i < n->outputs().size(); ++i) env[n->outputs()[i]] = c->outputs()[i];
  }
  // The model's own return is handed back as it is; values crossing a cut go
  // as the tensors that carry them.
  std::vector<Value*> outs;
  if (model_return) {
    for (Value* o : graph->outputs()) outs.push_back(lookup(o));
  } else {
    for (Value* v : crossing[end]) EncodeValue(g.get(), lookup(v), &outs);
  }
  for (Value* v : extra_outputs) EncodeValue(g.get(), lookup(v), &outs);
  if (outs.size() == 1 && (model_return || extra_outputs.empty())) {
    g->registerOutput(outs[0]);
  } else {
    g->registerOutput(g->insertNode(g->createTuple(outs))->output());
  }
  return g;
}

Result<torch::jit::Module> Model::Impl::BuildModule(std::shared_ptr<Graph> g) const {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module m(c10::QualifiedName("__torch__.tandem.Stage"), cu, /*shouldMangle=*/true);
  g->inputs().at(0)->setType(m.type());
  g->lint();
  auto* fn = cu->create_function(c10::QualifiedName(*m.type()->name(), "forward"), std::move(g));
  m.type()->addMethod(fn);
  m.eval();
  return m;
}

Status Model::Impl::Measure() {
  const int N = static_cast<int>(nodes.size());
  // One probe graph returns the model output and every value crossing a valid
  // cut, so a single run measures them all.
  std::vector<Value*> probe_values;
  std::unordered_set<Value*> seen;
  for (int c = 1; c < N; ++c) {
    if (!invalid_reason[c].empty()) continue;
    for (Value* v : crossing[c])
      if (seen.insert(v).second) probe_values.push_back(v);
  }
  auto probe_graph = BuildGraph(0, N, /*model_return=*/true, probe_values);
  TANDEM_ASSIGN_OR_RETURN(auto probe, BuildModule(probe_graph));

  std::vector<c10::IValue> args;
  {
    at::Generator gen = at::detail::createCPUGenerator(/*seed=*/20261128);
    for (const InputSpec& spec : inputs) {
      TANDEM_ASSIGN_OR_RETURN(HostTensor h, SampleTensor(spec, gen));
      args.emplace_back(ToTorch(h).value());
      sample_inputs.push_back(std::move(h));
    }
  }
  auto fresh = [&] {
    std::vector<c10::IValue> copy;
    for (const auto& a : args) copy.emplace_back(a.toTensor().clone());
    return copy;
  };
  c10::IValue probe_out;
  try {
    c10::InferenceMode guard;
    c10::IValue orig = original.forward(fresh());
    TANDEM_RETURN_IF_ERROR(Flatten(orig, &sample_output).WithContext(path));
    LeafNames(orig, "", &output_names);
    probe_out = probe.forward(fresh());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": model rejects inputs " + InputSpecsToString(inputs) + ": " +
                                   ScriptErrorLine(e));
  }
  // The probe returns the model's output, then the tensors carrying each of
  // probe_values in turn; with at least one probe value that is a tuple.
  std::unordered_map<Value*, std::vector<at::Tensor>> measured;
  if (!probe_values.empty()) {
    const auto& elems = probe_out.toTupleRef().elements();
    size_t next = graph->outputs().size();
    for (Value* v : probe_values) {
      std::vector<std::pair<std::string, std::string>> slots;
      Slots(v->type(), v->debugName(), &slots);
      for (size_t i = 0; i < slots.size(); ++i) measured[v].push_back(elems.at(next++).toTensor());
    }
  }

  for (int c = 1; c < N; ++c) {
    if (!invalid_reason[c].empty()) continue;
    CutPoint cut;
    cut.position = c;
    for (Value* v : crossing[c]) {
      std::vector<std::pair<std::string, std::string>> slots;
      Slots(v->type(), v->debugName(), &slots);
      const auto& tensors = measured[v];
      for (size_t i = 0; i < slots.size(); ++i) {
        const at::Tensor& t = tensors.at(i);
        TensorSpec spec;
        spec.name = slots[i].first;
        if (slots[i].second != "Tensor") spec.carries = slots[i].second;
        auto dt = FromTorchDType(t.scalar_type());
        if (!dt.ok()) {
          invalid_reason[c] = "tensor '" + spec.name + "' crossing it has an unsupported dtype";
          break;
        }
        spec.dtype = dt.value();
        spec.shape.assign(t.sizes().begin(), t.sizes().end());
        spec.bytes = TensorBytes(t);
        cut.tensors.push_back(std::move(spec));
      }
      if (!invalid_reason[c].empty()) break;
    }
    if (invalid_reason[c].empty()) cuts.push_back(std::move(cut));
  }
  return Status::OK();
}

namespace {

// Loads a TorchScript file and checks its forward: `what` names it in errors.
Result<torch::jit::Module> LoadScript(const std::string& path, std::string* hash) {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (hash) *hash = Sha256Hex(bytes);
  torch::jit::Module m;
  try {
    std::istringstream in(bytes);
    bytes.clear();
    bytes.shrink_to_fit();
    m = torch::jit::load(in, c10::Device(c10::kCPU));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not a TorchScript model: " + TorchMessage(e));
  }
  if (!m.find_method("forward")) return Status::InvalidArgument(path + ": the module has no forward method");
  return m;
}

std::vector<std::string> ArgumentNames(const torch::jit::Module& m) {
  const auto& args = m.get_method("forward").function().getSchema().arguments();
  std::vector<std::string> names;
  for (size_t i = 1; i < args.size(); ++i) names.push_back(args[i].name());
  return names;
}

}  // namespace

Result<std::vector<std::string>> Model::InputNames(const std::string& path) {
  try {
    TANDEM_ASSIGN_OR_RETURN(auto m, LoadScript(path, nullptr));
    return ArgumentNames(m);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot read forward's arguments: " + TorchMessage(e));
  }
}

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const std::vector<int64_t>& input_shape) {
  return Load(path, std::vector<InputSpec>{InputSpec{DType::kFloat32, input_shape}});
}

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const std::vector<InputSpec>& inputs) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->inputs = inputs;
  if (inputs.empty()) return Status::InvalidArgument("an input shape is required (e.g. 1,3,224,224)");
  for (const auto& in : inputs)
    if (in.shape.empty() || in.dtype == DType::kNone || DTypeSize(in.dtype) == 0)
      return Status::InvalidArgument("every input needs a shape and a dtype (e.g. 1,3,224,224 or 1,16:int64)");
  try {
    TANDEM_ASSIGN_OR_RETURN(impl->original, LoadScript(path, &impl->hash));
    const auto& schema = impl->original.get_method("forward").function().getSchema();
    const std::vector<std::string> names = ArgumentNames(impl->original);
    impl->input_names = names;
    if (names.size() != inputs.size()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return Status::InvalidArgument(path + ": forward(" + list + ") takes " + std::to_string(names.size()) +
                                     " input(s); " + std::to_string(inputs.size()) +
                                     " given (one SHAPE[:DTYPE] per input, separated by ';')");
    }
    for (size_t i = 0; i < names.size(); ++i)
      if (!IsTensor(schema.arguments()[i + 1].type()))
        return Status::Unsupported(path + ": forward's input '" + names[i] + "' is a " +
                                   schema.arguments()[i + 1].type()->str() + ", not a tensor");
    impl->original.eval();
    impl->frozen = torch::jit::freeze(impl->original);
    impl->graph = impl->frozen.get_method("forward").graph();
    // Warnings a model emits (torchvision's scripted GoogLeNet warns on every
    // call) would repeat in a worker's log for every request: dropped here.
    for (auto it = impl->graph->nodes().begin(); it != impl->graph->nodes().end();) {
      Node* n = *it++;
      if (n->kind() == c10::aten::warn) n->destroy();
    }
    torch::jit::RemoveTensorMutation(impl->graph);
    torch::jit::EliminateDeadCode(impl->graph);
    TANDEM_RETURN_IF_ERROR(impl->Analyse());
    TANDEM_RETURN_IF_ERROR(impl->Measure());
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot analyse the model: " + TorchMessage(e));
  }
  return std::unique_ptr<Model>(new Model(std::move(impl)));
}

const std::string& Model::path() const { return impl_->path; }
const std::string& Model::content_hash() const { return impl_->hash; }
const std::vector<InputSpec>& Model::inputs() const { return impl_->inputs; }
int Model::num_nodes() const { return static_cast<int>(impl_->nodes.size()); }
const std::vector<CutPoint>& Model::cuts() const { return impl_->cuts; }
const std::vector<HostTensor>& Model::sample_inputs() const { return impl_->sample_inputs; }
const std::vector<HostTensor>& Model::sample_output() const { return impl_->sample_output; }
const std::vector<std::string>& Model::output_names() const { return impl_->output_names; }

const std::vector<std::string>& Model::input_names() const { return impl_->input_names; }

std::string Model::NodeKind(int pos) const {
  if (pos < 0 || pos >= num_nodes()) return "";
  return impl_->nodes[pos]->kind().toQualString();
}

Result<CutPoint> Model::FindCut(int position) const {
  const int N = num_nodes();
  if (position < 1 || position >= N)
    return Status::InvalidArgument("cut " + std::to_string(position) + " is out of range: cuts lie in 1.." +
                                   std::to_string(N - 1));
  for (const auto& c : impl_->cuts)
    if (c.position == position) return c;
  return Status::InvalidArgument("cut " + std::to_string(position) +
                                 " is not a valid cut: " + impl_->invalid_reason[position]);
}

uint64_t Model::ParamBytes(int begin, int end) const {
  std::unordered_set<const Node*> constants;
  uint64_t bytes = 0;
  for (int p = std::max(0, begin); p < std::min(end, num_nodes()); ++p) {
    ForEachNode(impl_->nodes[p], [&](Node* n) {
      for (Value* v : n->inputs()) {
        Node* c = v->node();
        if (c->kind() != c10::prim::Constant || !IsTensor(v->type())) continue;
        if (!constants.insert(c).second) continue;
        bytes += TensorBytes(c->t(c10::attr::value));
      }
    });
  }
  return bytes;
}

Result<std::unique_ptr<Stage>> Model::MakeStage(int begin, int end) const {
  const int N = num_nodes();
  auto boundary_ok = [&](int p) { return p == 0 || p == N || FindCut(p).ok(); };
  if (begin < 0 || end > N || begin >= end)
    return Status::InvalidArgument("stage [" + std::to_string(begin) + ", " + std::to_string(end) +
                                   ") is not a range within 0.." + std::to_string(N));
  if (!boundary_ok(begin)) return FindCut(begin).status();
  if (!boundary_ok(end)) return FindCut(end).status();
  try {
    TANDEM_ASSIGN_OR_RETURN(auto m, impl_->BuildModule(impl_->BuildGraph(begin, end, end == N, {})));
    const std::string name = "stage [" + std::to_string(begin) + ", " + std::to_string(end) + ")";
    return StageFromModule(std::move(m), name);
  } catch (const std::exception& e) {
    return Status::Internal("cannot build stage [" + std::to_string(begin) + ", " + std::to_string(end) +
                            "): " + TorchMessage(e));
  }
}

Result<std::vector<HostTensor>> Model::RunOriginal(const std::vector<HostTensor>& inputs) const {
  if (inputs.size() != impl_->inputs.size())
    return Status::InvalidArgument(impl_->path + ": takes " + std::to_string(impl_->inputs.size()) + " input(s), " +
                                   std::to_string(inputs.size()) + " given");
  try {
    c10::InferenceMode guard;
    std::vector<c10::IValue> args;
    for (const auto& h : inputs) {
      TANDEM_ASSIGN_OR_RETURN(at::Tensor x, ToTorch(h));
      args.emplace_back(std::move(x));
    }
    c10::IValue out = impl_->original.forward(args);
    std::vector<HostTensor> result;
    TANDEM_RETURN_IF_ERROR(Flatten(out, &result));
    return result;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->path + ": model raised: " + ScriptErrorLine(e));
  }
}

}  // namespace tandem
