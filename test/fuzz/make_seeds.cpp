// Writes the seed corpora of the fuzz targets: one valid input of each kind
// they read (messages of every type, frames of every codec, .npy files, each
// text file). Its output is committed in corpus/; run it again when a format
// changes: make_seeds DIR.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/config/measured_links.h"
#include "common/model/manifest.h"
#include "common/model/profile.h"
#include "common/net/activation.h"
#include "common/net/curve_keys.h"
#include "common/net/inference.h"
#include "common/net/protocol.h"
#include "common/tensor/npy.h"
#include "common/util/files.h"

using namespace tandem;

namespace {

int count = 0;

void Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  if (!MakeDirs(dir).ok() || !WriteFileAtomic(dir + "/" + name, bytes).ok()) {
    std::fprintf(stderr, "cannot write %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
  ++count;
}

HostTensor Ramp(DType dtype, std::vector<int64_t> shape) {
  HostTensor t = HostTensor::Zeros(dtype, std::move(shape));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(i * 7 % 13);
  if (dtype == DType::kFloat32)
    for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = 0.5f * static_cast<float>(i % 17) - 3.0f;
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds DIR\n");
    return 2;
  }
  const std::string root = argv[1];
  const std::string key = GenerateCurveKeyPair().value().public_key;

  // Messages.
  const std::string p = root + "/fuzz_protocol";
  HelloBody hello{PeerRole::kDispatcher, "tandem-dispatcher", {key}};
  Write(p, "hello", EncodeMessage(MessageType::kHello, 1, hello.Encode()));
  HelloAckBody ack{"pi-1", "tandem 0.1.0", 5551, 1 << 30, 4, 64 << 20, 2, key};
  ack.host_id = "0123456789abcdef";
  ack.cpus = 1.5;
  ack.host_cores = 4;
  Write(p, "hello_ack", EncodeMessage(MessageType::kHelloAck, 1, ack.Encode()));
  DeployBody d;
  d.model_id = std::string(64, 'a');
  d.model_version = 7;
  d.stage_index = 1;
  d.num_stages = 3;
  d.next_hop = "tcp://10.0.0.2:5551";
  d.stage = "PK archive";
  d.stage_sha256 = std::string(64, 'b');
  d.prev_key = key;
  d.next_key = key;
  Write(p, "deploy", EncodeMessage(MessageType::kDeploy, 2, d.Encode()));
  d.stage.clear();
  d.upload_bytes = 5 << 20;
  Write(p, "deploy_upload", EncodeMessage(MessageType::kDeploy, 2, d.Encode()));
  Write(p, "deploy_ack",
        EncodeMessage(MessageType::kDeployAck, 2, DeployAckBody{Status::Code::kOk, "", 9, 0.5}.Encode()));
  StatusBody st;
  st.name = "pi-1";
  st.last_error = "none";
  Write(p, "status", EncodeMessage(MessageType::kStatusReply, 3, st.Encode()));
  Write(p, "pong", EncodeMessage(MessageType::kPong, 4, PongBody{42, 1}.Encode()));
  Write(p, "error", EncodeMessage(MessageType::kError, 5, ErrorBody{Status::Code::kTimeout, "late"}.Encode()));
  Write(p, "undeploy", EncodeMessage(MessageType::kUndeploy, 6, UndeployBody{7}.Encode()));
  Write(p, "probe", EncodeProbe(8, 100, 50));
  Write(p, "deploy_chunk", EncodeDeployChunk(2, 4096, "stage bytes"));
  MeasureLinksBody m;
  m.peers = {{"pi-2", "tcp://10.0.0.2:5550", key}};
  Write(p, "measure_links", EncodeMessage(MessageType::kMeasureLinks, 9, m.Encode()));
  LinksReportBody lr;
  lr.links.push_back(LinkResult{"pi-2", Status::Code::kOk, "", 0.001, 1e8, 1e8});
  Write(p, "links_report", EncodeMessage(MessageType::kLinksReport, 9, lr.Encode()));
  Write(p, "key_reply", EncodeMessage(MessageType::kKeyReply, 1, KeyReplyBody{"pi-1", key}.Encode()));
  Write(p, "request_failed",
        EncodeMessage(MessageType::kRequestFailed, 10, RequestFailedBody{7, 1, "raised"}.Encode()));
  InferRequestBody ir{250, {Ramp(DType::kFloat32, {1, 3, 4, 4}), Ramp(DType::kInt64, {2})}};
  Write(p, "infer_request", EncodeMessage(MessageType::kInferRequest, 12, ir.Encode().value()));
  InferReplyBody rep{3, {"output_0", "output_1"}, {Ramp(DType::kFloat32, {1, 10}), Ramp(DType::kUInt8, {2, 2})}};
  Write(p, "infer_reply", EncodeMessage(MessageType::kInferReply, 12, rep.Encode().value()));

  // Activations and frames of every codec.
  const std::vector<HostTensor> tensors = {Ramp(DType::kFloat32, {1, 4, 8, 8}), Ramp(DType::kInt64, {3}),
                                           HostTensor::None()};
  StageTiming t{0, 1, 2, 3, 4, 100, 0.0};
  for (const char* codec : {"raw", "lz4", "zfp", "zfp+lz4", "zfp+lz4:accuracy=0.01"}) {
    const CodecSpec spec = ParseCodec(codec).value();
    const std::string name = std::string(codec).substr(0, std::string(codec).find(':'));
    auto msg = EncodeActivation(11, ActivationHeader{7, 1}, tensors, spec, {t});
    Write(root + "/fuzz_activation", name + (spec.lossless() ? "" : "_lossy"), msg.value());
    std::string frame;
    if (!EncodeTensor(tensors[0], spec, &frame).ok()) return 1;
    Write(root + "/fuzz_codec_frame", name + (spec.lossless() ? "" : "_lossy"), frame);
  }

  // .npy files.
  Write(root + "/fuzz_npy", "float32", SerializeNpy(Ramp(DType::kFloat32, {2, 3})));
  Write(root + "/fuzz_npy", "int64", SerializeNpy(Ramp(DType::kInt64, {4})));
  Write(root + "/fuzz_npy", "uint8_scalar", SerializeNpy(Ramp(DType::kUInt8, {})));

  // Text files, the first byte picking the reader (fuzz_files.cpp).
  const std::string f = root + "/fuzz_files";
  Write(f, "cluster", std::string(1, '\0') + R"({"dispatcher": {"results_bind": "tcp://127.0.0.1:*"}, "codec": "lz4",
 "timeouts": {"connect_s": 5}, "network": {"bandwidth_mbps": 100, "latency_matrix_ms": [[0, 1], [1, 0]]},
 "workers": [{"name": "a", "endpoint": "tcp://127.0.0.1:5550", "memory_mb": 100, "speed": 1.5}]})");
  MeasuredLinks links;
  links.measured_at = "2026-12-01T00:00:00Z";
  links.links.push_back({"dispatcher", "a", 940.5, 0.2});
  Write(f, "links", std::string(1, '\1') + MeasuredLinksToJson(links));
  Write(f, "worker", std::string(1, '\2') + R"({"listen": "tcp://127.0.0.1:5550", "threads": 2, "queue_depth": 3,
 "secret_key": "/var/lib/tandem/worker.key", "authorized_keys": "/etc/tandem/authorized_keys"})");
  ModelProfile prof;
  prof.model_path = "m.pt";
  prof.model_hash = std::string(64, 'c');
  prof.inputs = {InputSpec{DType::kFloat32, {1, 3, 8, 8}}};
  prof.num_nodes = 4;
  CutPoint cut;
  cut.position = 2;
  cut.tensors.push_back(TensorSpec{"x", DType::kFloat32, {1, 8, 8, 8}, 2048, ""});
  prof.cuts = {cut};
  prof.segments = {SegmentProfile{0, 0, 2, "aten::conv2d", "aten::relu", 0.001, 0.001, 100, 2048},
                   SegmentProfile{1, 2, 4, "aten::conv2d", "aten::linear", 0.002, 0.002, 200, 40}};
  Write(f, "profile", std::string(1, '\3') + nlohmann::json(prof).dump());
  SplitManifest man;
  man.model_path = "m.pt";
  man.model_hash = prof.model_hash;
  man.inputs = prof.inputs;
  man.num_nodes = 4;
  man.cuts = {2};
  StageManifest s0;
  s0.file = "stage-0.pt";
  s0.end = 2;
  s0.outputs = cut.tensors;
  StageManifest s1 = s0;
  s1.index = 1;
  s1.file = "stage-1.pt";
  s1.begin = 2;
  s1.end = 4;
  man.stages = {s0, s1};
  Write(f, "manifest", std::string(1, '\4') + nlohmann::json(man).dump());
  Write(f, "plan",
        std::string(1, '\5') + R"({"format": "tandem-plan", "cuts": [2, 5], "workers": ["a", "b", "c"],
 "model_sha256": ")" +
            prof.model_hash + "\"}");
  Write(f, "authorized_keys", std::string(1, '\6') + "# dispatchers\n" + key + "  laptop\n");
  Write(f, "serve_config", std::string(1, '\7') + R"({"model": "/var/lib/tandem/resnet50.pt", "listen": "0.0.0.0:8000",
 "max-queued": 128, "request-timeout": 2.5, "adapt": "off", "zmq-client-keys": ["a.pub", "b.pub"], "insecure": true})");
  std::printf("wrote %d seeds under %s\n", count, root.c_str());
  return 0;
}
