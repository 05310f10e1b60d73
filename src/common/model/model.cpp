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

bool IsConstant(const Value* v) { return v->node()->kind() == c10::prim::Constant; }

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

}  // namespace

struct Model::Impl {
  std::string path;
  std::string hash;
  std::vector<int64_t> input_shape;
  torch::jit::Module original;
  torch::jit::Module frozen;
  std::shared_ptr<Graph> graph;
  std::vector<Node*> nodes;                   // top-level, non-constant, in order
  std::unordered_map<const Value*, int> def;  // value -> defining position (-1: graph input)
  std::vector<std::vector<Value*>> crossing;  // per position 0..N: values crossing it
  std::vector<std::string> invalid_reason;    // per position 0..N: empty when a valid cut
  std::vector<CutPoint> cuts;
  HostTensor sample_input;
  std::vector<HostTensor> sample_output;

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
    if (n->kind() != c10::prim::Constant) nodes.push_back(n);
  const int N = static_cast<int>(nodes.size());
  if (N == 0) return Status::Unsupported(path + ": forward has no operations to split");

  def[graph->inputs().at(1)] = -1;
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
  ordered.push_back(graph->inputs().at(1));
  for (Node* n : nodes)
    for (Value* o : n->outputs()) ordered.push_back(o);

  crossing.assign(N + 1, {});
  invalid_reason.assign(N + 1, "");
  for (int c = 0; c <= N; ++c) {
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
    for (Value* v : live) {
      if (!v->type()->isSubtypeOf(*c10::TensorType::get())) {
        invalid_reason[c] = "a non-tensor value (" + v->type()->str() + " '" + v->debugName() + "') crosses it";
        break;
      }
    }
    if (!invalid_reason[c].empty()) continue;
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
    Value* nv = g->addInput();
    nv->setType(c10::unshapedType(v->type()));
    if (v->hasDebugName()) nv->setDebugName(v->debugName());
    env[v] = nv;
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
  std::vector<Value*> outs;
  if (model_return) {
    for (Value* o : graph->outputs()) outs.push_back(lookup(o));
  } else {
    for (Value* v : crossing[end]) outs.push_back(lookup(v));
  }
  for (Value* v : extra_outputs) outs.push_back(lookup(v));
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
  TANDEM_ASSIGN_OR_RETURN(auto probe, BuildModule(BuildGraph(0, N, /*model_return=*/false, probe_values)));

  at::Tensor x;
  {
    at::Generator gen = at::detail::createCPUGenerator(/*seed=*/20261128);
    x = at::randn(input_shape, gen, at::TensorOptions().dtype(c10::kFloat));
  }
  TANDEM_ASSIGN_OR_RETURN(sample_input, FromTorch(x));
  c10::IValue probe_out;
  try {
    c10::InferenceMode guard;
    c10::IValue orig = original.forward({x.clone()});
    TANDEM_RETURN_IF_ERROR(Flatten(orig, &sample_output).WithContext(path));
    probe_out = probe.forward({x.clone()});
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": model rejects input shape " + ShapeToString(input_shape) + ": " +
                                   ScriptErrorLine(e));
  }
  // The probe returns crossing[N] (the model's outputs), then probe_values;
  // with at least one probe value that is always a tuple.
  std::unordered_map<Value*, at::Tensor> measured;
  if (!probe_values.empty()) {
    const auto& elems = probe_out.toTupleRef().elements();
    const size_t offset = crossing[N].size();
    for (size_t i = 0; i < probe_values.size(); ++i) measured[probe_values[i]] = elems.at(offset + i).toTensor();
  }

  for (int c = 1; c < N; ++c) {
    if (!invalid_reason[c].empty()) continue;
    CutPoint cut;
    cut.position = c;
    for (Value* v : crossing[c]) {
      const at::Tensor& t = measured.at(v);
      TensorSpec spec;
      spec.name = v->debugName();
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
    if (invalid_reason[c].empty()) cuts.push_back(std::move(cut));
  }
  return Status::OK();
}

Result<std::unique_ptr<Model>> Model::Load(const std::string& path, const std::vector<int64_t>& input_shape) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->input_shape = input_shape;
  if (input_shape.empty()) return Status::InvalidArgument("an input shape is required (e.g. 1,3,224,224)");
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  impl->hash = Sha256Hex(bytes);
  try {
    {
      std::istringstream in(bytes);
      bytes.clear();
      bytes.shrink_to_fit();
      impl->original = torch::jit::load(in, c10::Device(c10::kCPU));
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": not a TorchScript model: " + TorchMessage(e));
  }
  try {
    if (!impl->original.find_method("forward"))
      return Status::InvalidArgument(path + ": the module has no forward method");
    const auto& schema = impl->original.get_method("forward").function().getSchema();
    const size_t n_inputs = schema.arguments().size() - 1;
    if (n_inputs != 1)
      return Status::Unsupported(path + ": forward takes " + std::to_string(n_inputs) +
                                 " inputs; tandem splits single-input models for now");
    if (!schema.arguments()[1].type()->isSubtypeOf(*c10::TensorType::get()))
      return Status::Unsupported(path + ": forward's input '" + schema.arguments()[1].name() + "' is a " +
                                 schema.arguments()[1].type()->str() + ", not a tensor");
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
const std::vector<int64_t>& Model::input_shape() const { return impl_->input_shape; }
int Model::num_nodes() const { return static_cast<int>(impl_->nodes.size()); }
const std::vector<CutPoint>& Model::cuts() const { return impl_->cuts; }
const HostTensor& Model::sample_input() const { return impl_->sample_input; }
const std::vector<HostTensor>& Model::sample_output() const { return impl_->sample_output; }

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
        if (c->kind() != c10::prim::Constant || !v->type()->isSubtypeOf(*c10::TensorType::get())) continue;
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

Result<std::vector<HostTensor>> Model::RunOriginal(const HostTensor& input) const {
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(at::Tensor x, ToTorch(input));
    c10::IValue out = impl_->original.forward({x});
    std::vector<HostTensor> result;
    TANDEM_RETURN_IF_ERROR(Flatten(out, &result));
    return result;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->path + ": model raised: " + ScriptErrorLine(e));
  }
}

}  // namespace tandem
