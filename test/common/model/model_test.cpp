// Splits every fixture model at every single cut and at random sets of cuts,
// and checks the chained stages against the reference output that Python
// computed with the unsplit model.
#include "common/model/model.h"
#include "common/model/runtime.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "common/model/chain.h"
#include "common/model/split.h"
#include "support.h"

namespace tandem {
namespace {

using test::Fixture;
using test::LoadFixture;

std::unique_ptr<Model> LoadModel(const Fixture& f) {
  SetComputeThreads(1);
  auto m = Model::Load(f.model, f.specs);
  INFO(f.id << ": " << m.status().ToString());
  REQUIRE(m.ok());
  return std::move(m).value();
}

void CheckSplit(const Model& model, const Fixture& f, const std::vector<int>& cuts) {
  auto stages = BuildStages(model, cuts);
  INFO(f.id << " cuts " << Catch::Detail::stringify(cuts));
  REQUIRE(stages.ok());
  std::vector<Stage*> chain;
  for (auto& s : stages.value()) chain.push_back(s.get());
  auto out = RunChain(chain, f.inputs);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  auto diff = CheckOutputs(out.value(), f.outputs);
  INFO(diff.status().ToString());
  REQUIRE(diff.ok());
}

void CheckEverySingleCut(const std::string& id) {
  Fixture f = LoadFixture(id);
  auto model = LoadModel(f);
  REQUIRE_FALSE(model->cuts().empty());
  // The unsplit model agrees with Python's reference, and its output depends on its input.
  auto orig = model->RunOriginal(f.inputs);
  REQUIRE(orig.ok());
  REQUIRE(CheckOutputs(orig.value(), f.outputs).ok());
  std::vector<HostTensor> zeros;
  for (const auto& s : f.specs) zeros.push_back(HostTensor::Zeros(s.dtype, s.shape));
  auto zero_out = model->RunOriginal(zeros);
  REQUIRE(zero_out.ok());
  CHECK_FALSE(CheckOutputs(zero_out.value(), f.outputs).ok());

  CheckSplit(*model, f, {});
  for (const auto& cut : model->cuts()) CheckSplit(*model, f, {cut.position});
}

void CheckRandomSplits(const std::string& id) {
  Fixture f = LoadFixture(id);
  auto model = LoadModel(f);
  std::vector<int> positions;
  for (const auto& c : model->cuts()) positions.push_back(c.position);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 8; ++trial) {
    const int k = 2 + static_cast<int>(rng() % std::min<size_t>(7, positions.size()));
    std::vector<int> cuts = positions;
    std::shuffle(cuts.begin(), cuts.end(), rng);
    cuts.resize(std::min<size_t>(k, cuts.size()));
    std::sort(cuts.begin(), cuts.end());
    CheckSplit(*model, f, cuts);
  }
  // Every segment its own stage.
  CheckSplit(*model, f, positions);
}

void CheckSaveAndReload(const std::string& id) {
  Fixture f = LoadFixture(id);
  auto model = LoadModel(f);
  const auto& cuts = model->cuts();
  std::vector<int> chosen{cuts[cuts.size() / 3].position};
  if (cuts.size() > 2) chosen.push_back(cuts[2 * cuts.size() / 3].position);
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());

  test::TempDir dir;
  auto manifest = WriteSplit(*model, chosen, dir.path());
  INFO(manifest.status().ToString());
  REQUIRE(manifest.ok());
  auto reread = ReadManifest(dir.path() + "/manifest.json");
  REQUIRE(reread.ok());
  REQUIRE(reread->stages.size() == chosen.size() + 1);
  std::vector<std::unique_ptr<Stage>> loaded;
  std::vector<Stage*> chain;
  for (const auto& s : reread->stages) {
    auto st = Stage::Load(dir.path() + "/" + s.file);
    REQUIRE(st.ok());
    CHECK(st.value()->num_inputs() == static_cast<int>(s.inputs.size()));
    chain.push_back(st.value().get());
    loaded.push_back(std::move(st).value());
  }
  // Reloaded stages on the reference input (not the sample input used by WriteSplit).
  auto out = RunChain(chain, f.inputs);
  REQUIRE(out.ok());
  CHECK(CheckOutputs(out.value(), f.outputs).ok());
  // Each intermediate stage returns what the manifest says.
  std::vector<HostTensor> cur = f.inputs;
  for (size_t i = 0; i < chain.size(); ++i) {
    auto o = chain[i]->Run(cur);
    REQUIRE(o.ok());
    REQUIRE(o->size() == reread->stages[i].outputs.size());
    for (size_t j = 0; j < o->size(); ++j) {
      CHECK((*o)[j].shape == reread->stages[i].outputs[j].shape);
      CHECK((*o)[j].nbytes() == reread->stages[i].outputs[j].bytes);
    }
    cur = std::move(o).value();
  }
}

// The single-cut sweep of the large models (a full model run per cut, and
// every cut is also exercised by the all-segments split of the random-split
// test) carries [sweep]: ctest label `sweep`, outside the default test run.
#define TANDEM_FIXTURE_TESTS(id, sweep_tag)                                                      \
  TEST_CASE("every single cut reproduces " id, "[model]" sweep_tag) { CheckEverySingleCut(id); } \
  TEST_CASE("random multi-cut splits reproduce " id, "[model]") { CheckRandomSplits(id); }       \
  TEST_CASE("saved stages reload and reproduce " id, "[model]") { CheckSaveAndReload(id); }

TANDEM_FIXTURE_TESTS("small_cnn.traced", "")
TANDEM_FIXTURE_TESTS("small_cnn.scripted", "")
TANDEM_FIXTURE_TESTS("irregular.scripted", "")
TANDEM_FIXTURE_TESTS("resnet18.traced", "")
TANDEM_FIXTURE_TESTS("resnet18.scripted", "")
TANDEM_FIXTURE_TESTS("resnet50.traced", "[sweep]")
TANDEM_FIXTURE_TESTS("resnet50.scripted", "[sweep]")
TANDEM_FIXTURE_TESTS("mobilenet_v2.traced", "[sweep]")
TANDEM_FIXTURE_TESTS("mobilenet_v2.scripted", "[sweep]")
TANDEM_FIXTURE_TESTS("googlenet.traced", "[sweep]")
TANDEM_FIXTURE_TESTS("googlenet.scripted", "[sweep]")
// VGG-16 is a plain chain of convolutions, pools and linear layers that the
// models above cover; what sets it apart is its 553 MB, which makes each of
// its cases take 15-22 s. All three run with the sweeps; its 500 MB stage is
// deployed in the default run by the emulation test.
#define TANDEM_LARGE_FIXTURE_TESTS(id)                                                            \
  TEST_CASE("every single cut reproduces " id, "[model][sweep]") { CheckEverySingleCut(id); }     \
  TEST_CASE("random multi-cut splits reproduce " id, "[model][sweep]") { CheckRandomSplits(id); } \
  TEST_CASE("saved stages reload and reproduce " id, "[model][sweep]") { CheckSaveAndReload(id); }
TANDEM_LARGE_FIXTURE_TESTS("vgg16.traced")
TANDEM_LARGE_FIXTURE_TESTS("vgg16.scripted")
// Models beyond one float32 image: scripted code that raises in a branch,
// several inputs of other dtypes, non-tensor values across cuts, dict output.
TANDEM_FIXTURE_TESTS("unet.scripted", "")
TANDEM_FIXTURE_TESTS("masked_segmenter.traced", "")
TANDEM_FIXTURE_TESTS("masked_segmenter.scripted", "")
TANDEM_FIXTURE_TESTS("tiny_encoder.scripted", "")
TANDEM_FIXTURE_TESTS("uint8_images.traced", "")
TANDEM_FIXTURE_TESTS("uint8_images.scripted", "")
TANDEM_FIXTURE_TESTS("dict_output.scripted", "")
TANDEM_FIXTURE_TESTS("mixed_dtypes.traced", "")
TANDEM_FIXTURE_TESTS("mixed_dtypes.scripted", "")

TEST_CASE("cuts carrying several tensors exist and are exact", "[model]") {
  Fixture f = LoadFixture("resnet18.traced");
  auto model = LoadModel(f);
  int multi = 0;
  for (const auto& c : model->cuts()) multi += c.tensors.size() > 1;
  CHECK(multi > 0);  // residual blocks: the skip and the branch both cross
}

TEST_CASE("stages timed pass by pass: chained through multi-tensor cuts", "[model]") {
  Fixture f = LoadFixture("resnet18.traced");
  auto model = LoadModel(f);
  // Three stages whose cuts carry several tensors where there are such cuts.
  std::vector<int> bounds{0};
  for (const auto& c : model->cuts())
    if (c.tensors.size() > 1 && (bounds.size() == 1 || c.position > bounds.back() + 5)) bounds.push_back(c.position);
  bounds.resize(std::min<size_t>(bounds.size(), 3));
  REQUIRE(bounds.size() == 3);
  bounds.push_back(model->num_nodes());
  std::vector<std::unique_ptr<Stage>> owned;
  std::vector<Stage*> chain;
  for (size_t i = 0; i + 1 < bounds.size(); ++i) {
    auto s = model->MakeStage(bounds[i], bounds[i + 1]);
    REQUIRE(s.ok());
    chain.push_back(s.value().get());
    owned.push_back(std::move(s.value()));
  }
  const auto before = f.input.data;
  int passes = 0;
  auto t = Stage::TimePasses(chain, {f.input}, 1, 3, 0, [&](int done) { passes = done; });
  REQUIRE(t.ok());
  CHECK(passes == 4);
  REQUIRE(t->size() == chain.size());
  for (const auto& per_stage : t.value()) {
    CHECK(per_stage.size() == 3);
    for (double s : per_stage) CHECK(s > 0);
  }
  CHECK(f.input.data == before);  // copied for each pass, never modified
  // A chain whose stages do not fit together is refused, naming the stage.
  std::vector<Stage*> wrong{chain[0], chain[2], chain[1]};
  auto bad = Stage::TimePasses(wrong, {f.input}, 0, 1);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("stage") != std::string::npos);
  CHECK(Stage::TimePasses({}, {f.input}, 0, 1).ok());
}

TEST_CASE("irregular graph: an int crosses as a tensor, in-place hazards make cuts invalid", "[model]") {
  Fixture f = LoadFixture("irregular.scripted");
  auto model = LoadModel(f);
  int int_crossing = 0, write_hazard = 0;
  for (int p = 1; p < model->num_nodes(); ++p) {
    auto c = model->FindCut(p);
    if (c.ok()) {
      for (const auto& t : c->tensors) {
        CHECK(t.bytes > 0);
        if (t.carries == "int") {
          ++int_crossing;
          CHECK(t.dtype == DType::kInt64);
          CHECK(t.shape.empty());
        }
      }
      continue;
    }
    const std::string& why = c.status().message();
    CHECK(why.find("cut " + std::to_string(p) + " is not a valid cut") == 0);
    write_hazard += why.find("writes in place") != std::string::npos;
  }
  CHECK(int_crossing > 0);  // `n = a.size(1)` is live across several cuts
  CHECK(write_hazard > 0);
  CHECK_FALSE(model->FindCut(0).ok());
  CHECK_FALSE(model->FindCut(model->num_nodes()).ok());
  CHECK(model->FindCut(-3).status().message().find("out of range") != std::string::npos);
}

TEST_CASE("scripted upsampling: prim::Uninitialized does not block the analysis", "[model]") {
  Fixture f = LoadFixture("unet.scripted");
  auto model = LoadModel(f);
  // The raising branch of each upsampling keeps its placeholder: the stage
  // that owns the branch gets its own copy, like a constant.
  for (int p = 0; p < model->num_nodes(); ++p) CHECK(model->NodeKind(p) != "prim::Uninitialized");
  int carrying = 0, lists_of_tensors = 0;
  for (int p = 1; p < model->num_nodes(); ++p) {
    auto c = model->FindCut(p);
    if (c.ok()) {
      for (const auto& t : c->tensors) carrying += !t.carries.empty();
      continue;
    }
    // torch.cat's list of tensors is the one value that cannot cross.
    const std::string& why = c.status().message();
    INFO(why);
    CHECK(why.find("of type Tensor[] crosses it (made by node") != std::string::npos);
    CHECK(why.find("prim::ListConstruct") != std::string::npos);
    ++lists_of_tensors;
  }
  CHECK(carrying > 0);  // the upsampling's sizes and scale factors
  CHECK(lists_of_tensors == 2);
}

TEST_CASE("several inputs of other dtypes; non-tensor values across cuts", "[model]") {
  Fixture seg = LoadFixture("masked_segmenter.scripted");
  auto model = LoadModel(seg);
  REQUIRE(model->inputs().size() == 2);
  CHECK(model->inputs()[1].dtype == DType::kBool);
  REQUIRE(model->sample_inputs().size() == 2);
  CHECK(model->sample_inputs()[1].dtype == DType::kBool);
  // Fewer inputs than forward takes: refused before anything runs.
  CHECK_FALSE(model->RunOriginal({seg.inputs[0]}).ok());

  Fixture enc = LoadFixture("tiny_encoder.scripted");
  auto encoder = LoadModel(enc);
  CHECK(encoder->inputs()[0].dtype == DType::kInt64);
  CHECK(encoder->input_names() == std::vector<std::string>{"ids", "attention_mask"});
  int carrying = 0;
  for (const auto& c : encoder->cuts()) {
    bool any = false;
    for (const auto& t : c.tensors) {
      if (t.carries.empty()) continue;
      any = true;
      CHECK((t.carries == "int" || t.carries == "int[]" || t.carries == "float" || t.carries == "bool"));
      CHECK((t.dtype == DType::kInt64 || t.dtype == DType::kFloat64 || t.dtype == DType::kBool));
    }
    carrying += any;
  }
  // The batch and sequence sizes taken at the start are used by every layer.
  CHECK(carrying * 2 > static_cast<int>(encoder->cuts().size()));

  Fixture frames = LoadFixture("uint8_images.traced");
  auto camera = LoadModel(frames);
  CHECK(camera->inputs()[0].dtype == DType::kUInt8);
  CHECK(camera->sample_inputs()[0].dtype == DType::kUInt8);
}

TEST_CASE("dict outputs: flattened in key order, named by key", "[model]") {
  Fixture f = LoadFixture("dict_output.scripted");
  auto model = LoadModel(f);
  CHECK(model->output_names() == std::vector<std::string>{"logits", "features"});
  REQUIRE(model->sample_output().size() == 2);
  CHECK(model->sample_output()[0].shape == std::vector<int64_t>{1, 10});
  Fixture t = LoadFixture("irregular.scripted");
  CHECK(LoadModel(t)->output_names() == std::vector<std::string>{"0", "1"});
  Fixture one = LoadFixture("small_cnn.traced");
  CHECK(LoadModel(one)->output_names() == std::vector<std::string>{""});
  // A named tuple: its fields.
  Fixture named = LoadFixture("googlenet.scripted");
  CHECK(LoadModel(named)->output_names() == std::vector<std::string>{"logits", "aux_logits2", "aux_logits1"});
}

TEST_CASE("activations of every dtype cross cuts", "[model]") {
  Fixture f = LoadFixture("mixed_dtypes.scripted");
  auto model = LoadModel(f);
  std::set<DType> seen;
  for (const auto& c : model->cuts())
    for (const auto& t : c.tensors) seen.insert(t.dtype);
  for (DType d : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32, DType::kInt64,
                  DType::kBool, DType::kUInt8})
    CHECK(seen.count(d) == 1);
  CHECK(f.outputs.at(1).dtype == DType::kFloat16);  // outputs keep the model's dtype
}

TEST_CASE("values that cannot cross a cut are named with the node that makes them", "[model][errors]") {
  auto model = Model::Load(test::FixturePath("uncarried.pt"), std::vector<int64_t>{1, 3, 16, 16});
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  bool optional = false, str = false;
  for (int p = 1; p < model.value()->num_nodes(); ++p) {
    auto c = model.value()->FindCut(p);
    if (c.ok()) continue;
    const std::string& why = c.status().message();
    optional = optional || why.find("value 'scale' of type int? crosses it (made by node") != std::string::npos;
    str = str || why.find("value 'mode' of type str crosses it (made by node") != std::string::npos;
    if (why.find("crosses it") != std::string::npos)
      CHECK(why.find("tandem carries tensors, int, float, bool, None") != std::string::npos);
  }
  CHECK(optional);
  CHECK(str);
  CHECK_FALSE(model.value()->cuts().empty());  // before either value exists
}

TEST_CASE("bad models are refused with the file named", "[model][errors]") {
  struct Case {
    std::string file;
    std::vector<int64_t> shape;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"/nonexistent/model.pt", {1, 3, 8, 8}, "No such file"},
      {test::FixturePath("not_a_model.pt"), {1, 3, 8, 8}, "not a TorchScript model"},
      {test::FixturePath("small_cnn.input.npy"), {1, 3, 8, 8}, "not a TorchScript model"},
      {test::FixturePath("no_forward.pt"), {1, 3, 8, 8}, "no forward method"},
      {test::FixturePath("str_output.pt"),
       {1, 3, 8, 8},
       "model returns a value of type str; tandem handles tensors and None, in tuples, lists and dicts"},
      {test::FixturePath("two_inputs.pt"), {1, 3, 8, 8}, "forward(x, y) takes 2 input(s); 1 given"},
      {test::FixturePath("small_cnn.traced.pt"), {1, 4, 32, 32}, "rejects inputs 1x4x32x32"},
      {test::FixturePath("resnet18.scripted.pt"), {1, 3, 224}, "rejects inputs 1x3x224"},
      {test::FixtureDir(), {1, 3, 8, 8}, "is a directory"},
  };
  for (const auto& c : cases) {
    auto m = Model::Load(c.file, c.shape);
    INFO(c.file << " -> " << m.status().ToString());
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message().find(c.file) != std::string::npos);
    CHECK(m.status().message().find(c.expect) != std::string::npos);
    CHECK(m.status().message().find('\n') == std::string::npos);
  }
  // Specs per input: a non-tensor argument, a dtype the model rejects.
  const std::string int_arg = test::FixturePath("int_argument.pt");
  auto m = Model::Load(int_arg, std::vector<InputSpec>{{DType::kFloat32, {1, 3}}, {DType::kInt64, {1}}});
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message().find(int_arg + ": forward's input 'n' is a int, not a tensor") == 0);
  const std::string enc = test::FixturePath("tiny_encoder.scripted.pt");
  m = Model::Load(enc, std::vector<InputSpec>{{DType::kFloat32, {2, 16}}, {DType::kInt64, {2, 16}}});
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message().find(enc + ": model rejects inputs 2x16:float32; 2x16:int64") == 0);
  CHECK(Model::InputNames(enc).value() == std::vector<std::string>{"ids", "attention_mask"});
}

TEST_CASE("stage errors: wrong inputs and corrupt stage bytes", "[model][errors]") {
  Fixture f = LoadFixture("small_cnn.scripted");
  auto model = LoadModel(f);
  auto stage = model->MakeStage(0, model->num_nodes());
  REQUIRE(stage.ok());
  auto& s = *stage.value();
  CHECK_FALSE(s.Run({}).ok());
  CHECK_FALSE(s.Run({f.input, f.input}).ok());
  auto bad_shape = s.Run({HostTensor::Zeros(DType::kFloat32, {1, 5, 9, 9})});
  REQUIRE_FALSE(bad_shape.ok());
  CHECK(bad_shape.status().message().find("model raised") != std::string::npos);
  HostTensor short_data = f.input;
  short_data.data.resize(10);
  CHECK_FALSE(s.Run({short_data}).ok());
  CHECK_FALSE(model->MakeStage(3, 2).ok());
  CHECK_FALSE(model->MakeStage(0, model->num_nodes() + 1).ok());

  auto bytes = s.Serialize();
  REQUIRE(bytes.ok());
  CHECK(Stage::FromBytes(bytes.value(), "ok").ok());
  std::string corrupt = bytes.value();
  corrupt.resize(corrupt.size() / 2);
  auto c = Stage::FromBytes(corrupt, "half-stage");
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().message().find("half-stage") != std::string::npos);
  CHECK_FALSE(Stage::FromBytes("garbage", "garbage").ok());
}

}  // namespace
}  // namespace tandem
