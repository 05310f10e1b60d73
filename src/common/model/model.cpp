// The only translation unit of tandem's core that includes LibTorch. See
// model.h for the cut rule and the stage calling convention.
#include "common/model/model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <malloc.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/script.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <dlfcn.h>
#include <unordered_map>
#include <unordered_set>

#include "common/file_util.h"
#include "common/sha256.h"

namespace tandem {

using torch::jit::Block;
using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

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

std::string TorchMessage(const std::exception& e) { return FirstLine(ExceptionText(e)); }

// The first line of the TorchScript error message that names the failure
// ("RuntimeError: ..."), else the first line.
std::string ScriptErrorLine(const std::string& msg) {
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

// Copies a HostTensor into a new torch tensor (the input is never aliased).
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

// The leaves of `v`, tuples and lists opened recursively, in order: the
// values a stage's output hands on (the next stage's positional arguments).
void FlattenValues(const c10::IValue& v, std::vector<c10::IValue>* out) {
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) FlattenValues(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) FlattenValues(e, out);
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
                                 "; tandem handles tensors and tuples or lists of tensors");
    }
  }
  return Status::OK();
}

// Whether a timing loop runs again at iteration `i`: the warm-up runs, then
// until `timed` runs are at least `repeats` and add up to `total_s` >=
// `min_total_s` (at most 100000 timed runs).
bool KeepTiming(int i, int warmup, size_t timed, int repeats, double total_s, double min_total_s) {
  constexpr size_t kMaxTimed = 100000;
  return i < warmup || timed < static_cast<size_t>(repeats) || (total_s < min_total_s && timed < kMaxTimed);
}

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

uint64_t TensorBytes(const at::Tensor& t) { return static_cast<uint64_t>(t.numel()) * t.element_size(); }

std::once_flag g_interop_once;

}  // namespace

uint64_t CutPoint::bytes() const {
  uint64_t b = 0;
  for (const auto& t : tensors) b += t.bytes;
  return b;
}

void KeepActivationMemory() {
#ifdef M_TRIM_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
#endif
#ifdef M_ARENA_MAX
  mallopt(M_ARENA_MAX, 1);
#endif
}

void SetComputeThreads(int n) {
  std::call_once(g_interop_once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already fixed by earlier parallel work; harmless.
    }
  });
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  // OpenBLAS (pthreads build) keeps its own pool of one thread per core and
  // ignores LibTorch's setting; its idle threads spin. Hold it to the same
  // count when it is the BLAS in this process.
  using SetBlasThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetBlasThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

int GetComputeThreads() { return at::get_num_threads(); }

std::string ComputeLibraryVersion() { return std::string("LibTorch ") + TORCH_VERSION; }

// ---------------------------------------------------------------- Stage

struct Stage::Impl {
  torch::jit::Module module;
  std::string name;
  int num_inputs = 0;
};

Stage::Stage(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Stage::~Stage() = default;

namespace {
Result<std::unique_ptr<Stage::Impl>> StageImplFromModule(torch::jit::Module m, const std::string& name) {
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
  return impl;
}
}  // namespace

Result<std::unique_ptr<Stage>> Stage::FromBytes(const std::string& bytes, const std::string& name) {
  try {
    std::istringstream in(bytes);
    torch::jit::Module m = torch::jit::load(in, c10::Device(c10::kCPU));
    TANDEM_ASSIGN_OR_RETURN(auto impl, StageImplFromModule(std::move(m), name));
    return std::unique_ptr<Stage>(new Stage(std::move(impl)));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(name + ": not a TorchScript module: " + TorchMessage(e));
  }
}

Result<std::unique_ptr<Stage>> Stage::Load(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return FromBytes(bytes, path);
}

int Stage::num_inputs() const { return impl_->num_inputs; }

namespace {
Result<std::vector<c10::IValue>> StageInputs(const Stage::Impl& impl, const std::vector<HostTensor>& inputs) {
  if (static_cast<int>(inputs.size()) != impl.num_inputs)
    return Status::InvalidArgument(impl.name + ": stage takes " + std::to_string(impl.num_inputs) +
                                   " input tensor(s), got " + std::to_string(inputs.size()));
  std::vector<c10::IValue> args;
  args.reserve(inputs.size());
  for (const auto& h : inputs) {
    TANDEM_ASSIGN_OR_RETURN(at::Tensor t, ToTorch(h));
    args.emplace_back(std::move(t));
  }
  return args;
}
}  // namespace

Result<std::vector<HostTensor>> Stage::Run(const std::vector<HostTensor>& inputs) {
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto args, StageInputs(*impl_, inputs));
    c10::IValue out = impl_->module.forward(std::move(args));
    std::vector<HostTensor> result;
    TANDEM_RETURN_IF_ERROR(Flatten(out, &result));
    return result;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->name + ": model raised: " + ScriptErrorLine(ExceptionText(e)));
  }
}

Result<std::vector<double>> Stage::Time(const std::vector<HostTensor>& inputs, int warmup, int repeats,
                                        double min_total_s) {
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto args, StageInputs(*impl_, inputs));
    std::vector<double> times;
    double total = 0;
    for (int i = 0; KeepTiming(i, warmup, times.size(), repeats, total, min_total_s); ++i) {
      // Fresh copies: a stage may write to its inputs in place.
      std::vector<c10::IValue> call;
      for (const auto& a : args) call.emplace_back(a.toTensor().clone());
      auto t0 = std::chrono::steady_clock::now();
      c10::IValue out = impl_->module.forward(std::move(call));
      auto t1 = std::chrono::steady_clock::now();
      if (i >= warmup) {
        times.push_back(std::chrono::duration<double>(t1 - t0).count());
        total += times.back();
      }
    }
    return times;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(impl_->name + ": model raised: " + ScriptErrorLine(ExceptionText(e)));
  }
}

Result<std::vector<std::vector<double>>> Stage::TimePasses(const std::vector<Stage*>& chain,
                                                           const std::vector<HostTensor>& inputs, int warmup,
                                                           int repeats, double min_total_s,
                                                           const std::function<void(int)>& on_pass) {
  if (chain.empty()) return std::vector<std::vector<double>>{};
  Stage* current = chain.front();
  try {
    c10::InferenceMode guard;
    TANDEM_ASSIGN_OR_RETURN(auto first, StageInputs(*chain.front()->impl_, inputs));
    std::vector<std::vector<double>> times(chain.size());
    double total = 0;
    for (int pass = 0; KeepTiming(pass, warmup, times[0].size(), repeats, total, min_total_s); ++pass) {
      std::vector<c10::IValue> args;
      for (const auto& a : first) args.emplace_back(a.toTensor().clone());
      for (size_t i = 0; i < chain.size(); ++i) {
        current = chain[i];
        if (static_cast<int>(args.size()) != current->impl_->num_inputs)
          return Status::InvalidArgument(current->impl_->name + ": stage takes " +
                                         std::to_string(current->impl_->num_inputs) + " input(s), the stage before it gives " +
                                         std::to_string(args.size()));
        auto t0 = std::chrono::steady_clock::now();
        c10::IValue out = current->impl_->module.forward(std::move(args));
        auto t1 = std::chrono::steady_clock::now();
        if (pass >= warmup) {
          times[i].push_back(std::chrono::duration<double>(t1 - t0).count());
          total += times[i].back();
        }
        args.clear();
        FlattenValues(out, &args);
      }
      if (on_pass) on_pass(pass + 1);
    }
    return times;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(current->impl_->name + ": model raised: " + ScriptErrorLine(ExceptionText(e)));
  }
}

Result<std::string> Stage::Serialize() const {
  try {
    std::ostringstream out;
    impl_->module.save(out);
    return out.str();
  } catch (const std::exception& e) {
    return Status::Internal(impl_->name + ": cannot serialize stage: " + TorchMessage(e));
  }
}

Status Stage::Save(const std::string& path) const {
  TANDEM_ASSIGN_OR_RETURN(std::string bytes, Serialize());
  return WriteFileAtomic(path, bytes);
}

// ---------------------------------------------------------------- Model

struct Model::Impl {
  std::string path;
  std::string hash;
  std::vector<int64_t> input_shape;
  torch::jit::Module original;
  torch::jit::Module frozen;
  std::shared_ptr<Graph> graph;
  std::vector<Node*> nodes;                     // top-level, non-constant, in order
  std::unordered_map<const Value*, int> def;    // value -> defining position (-1: graph input)
  std::vector<std::vector<Value*>> crossing;    // per position 0..N: values crossing it
  std::vector<std::string> invalid_reason;      // per position 0..N: empty when a valid cut
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
    TORCH_INTERNAL_ASSERT(IsConstant(v), "value ", v->debugName(), " is not available in stage [", begin, ", ", end, ")");
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
                                   ScriptErrorLine(ExceptionText(e)));
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
  return Status::InvalidArgument("cut " + std::to_string(position) + " is not a valid cut: " +
                                 impl_->invalid_reason[position]);
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
    TANDEM_ASSIGN_OR_RETURN(auto simpl, StageImplFromModule(std::move(m), name));
    return std::unique_ptr<Stage>(new Stage(std::move(simpl)));
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
    return Status::InvalidArgument(impl_->path + ": model raised: " + ScriptErrorLine(ExceptionText(e)));
  }
}

}  // namespace tandem
