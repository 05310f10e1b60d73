#include "common/model/profile.h"
#include "common/model/profiler.h"
#include "common/model/runtime.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

int CountKind(const Model& m, const std::string& part) {
  int n = 0;
  for (int p = 0; p < m.num_nodes(); ++p) n += m.NodeKind(p).find(part) != std::string::npos;
  return n;
}

TEST_CASE("resnet50 profile: segments, cut sizes, weights", "[profile]") {
  // The traced model is timed in passes (the default), the scripted one in loops.
  for (const char* id : {"resnet50.traced", "resnet50.scripted"}) {
    INFO(id);
    const bool loops = std::string(id) == "resnet50.scripted";
    auto f = test::LoadFixture(id);
    SetComputeThreads(1);
    auto model = Model::Load(f.model, f.input_shape);
    REQUIRE(model.ok());
    const Model& m = *model.value();
    // ResNet-50 after freezing: 53 convolutions (batch norm folded in), 16 residual adds.
    CHECK(CountKind(m, "conv") == 53);
    CHECK(CountKind(m, "aten::add") == 16);
    CHECK(CountKind(m, "batch_norm") == 0);

    ProfileOptions po;
    po.warmup = 1;
    po.repeats = 2;
    if (loops) po.timing = SegmentTiming::kLoops;
    // Loops: one step per segment and one for the whole model. Passes: one
    // per segment (built and run once), one per pass, one for the whole model.
    const int nseg = static_cast<int>(m.cuts().size()) + 1;
    const int steps = loops ? nseg + 1 : nseg + po.warmup + po.repeats + 1;
    int last_done = 0;
    std::vector<uint64_t> cut_bytes;
    po.on_cut = [&](const std::vector<HostTensor>& tensors) {
      uint64_t b = 0;
      for (const auto& t : tensors) b += t.nbytes();
      cut_bytes.push_back(b);
    };
    po.progress = [&](int done, int total) {
      CHECK(done == last_done + 1);
      last_done = done;
      CHECK(total == steps);
    };
    auto p = ProfileModel(m, po);
    REQUIRE(p.ok());
    CHECK(last_done == steps);
    CHECK(p->timing == (loops ? "loops" : "passes"));
    REQUIRE(p->segments.size() == p->cuts.size() + 1);
    // on_cut saw the real tensors crossing every cut, in order.
    REQUIRE(cut_bytes.size() == p->cuts.size());
    for (size_t i = 0; i < cut_bytes.size(); ++i) CHECK(cut_bytes[i] == p->cuts[i].bytes());
    CHECK(p->model_hash == m.content_hash());
    CHECK(p->model_hash.size() == 64);
    CHECK(p->input_bytes == 1 * 3 * 224 * 224 * 4);
    CHECK(p->output_bytes == 1000 * 4);

    uint64_t params = 0;
    double sum = 0;
    for (size_t i = 0; i < p->segments.size(); ++i) {
      const auto& s = p->segments[i];
      CHECK(s.compute_s > 0);
      CHECK(s.compute_min_s <= s.compute_s);
      params += s.param_bytes;
      sum += s.compute_s;
      // The bytes a segment hands on are the bytes crossing the cut after it.
      if (i < p->cuts.size()) CHECK(s.output_bytes == p->cuts[i].bytes());
    }
    // Weights: ResNet-50 has 25,557,032 parameters; folding 53 batch norms
    // into their convolutions leaves conv weights plus one bias per output
    // channel. Each weight is counted in exactly one segment.
    CHECK(params == m.ParamBytes(0, m.num_nodes()));
    CHECK(params > 25000000ull * 4);
    CHECK(params < 25700000ull * 4);
    CHECK(sum > 0.3 * p->model_compute_s);
    // In passes each segment runs once per pass as it would inside a stage,
    // so the segments add up to about the whole model (loose bounds: this is
    // a shared 2-core machine).
    if (!loops) CHECK(sum < 2.5 * p->model_compute_s);

    bool saw_stem = false, saw_pool = false;
    for (const auto& c : p->cuts) {
      for (const auto& t : c.tensors) {
        int64_t numel = 1;
        for (auto d : t.shape) numel *= d;
        CHECK(t.bytes == static_cast<uint64_t>(numel) * DTypeSize(t.dtype));
        // The scripted model's flatten keeps sizes for later: those cross as
        // small int64 tensors; every activation is float32.
        if (t.carries.empty()) CHECK(t.dtype == DType::kFloat32);
        if (!t.carries.empty()) CHECK(t.bytes <= 64);
        saw_stem |= t.shape == std::vector<int64_t>{1, 64, 112, 112};
        saw_pool |= t.shape == std::vector<int64_t>{1, 64, 56, 56} && c.tensors.size() == 1;
      }
    }
    CHECK(saw_stem);
    CHECK(saw_pool);

    // JSON round trip, and the reader refuses a profile whose segments do not tile the cuts.
    test::TempDir dir;
    const std::string path = dir.path() + "/p.json";
    REQUIRE(WriteProfile(path, p.value()).ok());
    auto back = ReadProfile(path);
    REQUIRE(back.ok());
    CHECK(back->segments.size() == p->segments.size());
    CHECK(back->cuts[5].bytes() == p->cuts[5].bytes());
    CHECK(back->segments[7].compute_s == p->segments[7].compute_s);
    CHECK(back->timing == p->timing);
    CHECK(back->move_codec.empty());
    // The activation move figure round-trips; a negative one is refused.
    ModelProfile moved = p.value();
    moved.move_codec = "raw";
    moved.move_s_per_byte = 2.5e-9;
    moved.move_sample_bytes = 802816;
    REQUIRE(WriteProfile(path, moved).ok());
    back = ReadProfile(path);
    REQUIRE(back.ok());
    CHECK(back->move_codec == "raw");
    CHECK(back->move_s_per_byte == Approx(2.5e-9));
    CHECK(back->move_sample_bytes == 802816);
    CHECK(FormatProfile(moved).find("2.500 ms per MB") != std::string::npos);
    auto j = nlohmann::json::parse(ReadFile(path).value());
    j["activation_move"]["s_per_mb"] = -1;
    REQUIRE(WriteFileAtomic(path, j.dump()).ok());
    CHECK(ReadProfile(path).status().message().find("activation_move") != std::string::npos);
    j.erase("activation_move");
    j["timing"] = "sometimes";
    REQUIRE(WriteFileAtomic(path, j.dump()).ok());
    CHECK(ReadProfile(path).status().message().find("timing") != std::string::npos);
    j["timing"] = "passes";
    j["segments"].erase(3);
    REQUIRE(WriteFileAtomic(path, j.dump()).ok());
    auto bad = ReadProfile(path);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().find(path) != std::string::npos);
    CHECK(bad.status().message().find("segments") != std::string::npos);
    REQUIRE(WriteFileAtomic(path, "{\"format\": \"tandem-profile\", \"format_version\": 1}").ok());
    CHECK(ReadProfile(path).status().message().find("model") != std::string::npos);
  }
}

}  // namespace
}  // namespace tandem
