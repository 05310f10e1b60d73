#include "common/net/protocol.h"

#include <catch2/catch.hpp>
#include <cmath>

#include "common/util/device.h"

namespace tandem {
namespace {

Reader BodyOf(const std::string& msg) { return Reader(msg.data() + kHeaderSize, msg.size() - kHeaderSize); }

TEST_CASE("header layout is fixed little-endian", "[protocol]") {
  const std::string m = EncodeMessage(MessageType::kDeploy, 0x0102030405060708ull, "xyz");
  REQUIRE(m.size() == kHeaderSize + 3);
  CHECK(m.substr(0, 4) == "TNDM");
  CHECK(static_cast<uint8_t>(m[4]) == kProtocolMajor);
  CHECK(static_cast<uint8_t>(m[6]) == 3);  // type, low byte first
  CHECK(static_cast<uint8_t>(m[7]) == 0);
  CHECK(static_cast<uint8_t>(m[12]) == 0x08);  // id, low byte first
  CHECK(static_cast<uint8_t>(m[19]) == 0x01);
  CHECK(static_cast<uint8_t>(m[20]) == 3);  // body length
  auto h = DecodeHeader(m.data(), m.size());
  REQUIRE(h.ok());
  CHECK(h->type == MessageType::kDeploy);
  CHECK(h->id == 0x0102030405060708ull);
  CHECK(h->body_len == 3);
}

TEST_CASE("bad headers are refused with the reason", "[protocol]") {
  const std::string m = EncodeMessage(MessageType::kPing, 1, "");
  CHECK(DecodeHeader(m.data(), 10).status().code() == Status::Code::kCorruption);
  std::string magic = m;
  magic[0] = 'X';
  CHECK(DecodeHeader(magic.data(), magic.size()).status().code() == Status::Code::kCorruption);
  std::string major = m;
  major[4] = 2;
  auto v = DecodeHeader(major.data(), major.size());
  CHECK(v.status().code() == Status::Code::kVersionMismatch);
  CHECK(v.status().message().find("protocol 2.") != std::string::npos);
  std::string minor = m;
  minor[5] = 200;  // a newer minor version is accepted
  CHECK(DecodeHeader(minor.data(), minor.size()).ok());
  std::string type = m;
  type[6] = 99;
  CHECK(DecodeHeader(type.data(), type.size()).status().message().find("unknown message type") != std::string::npos);
  const std::string longer = m + "extra";
  CHECK(DecodeHeader(longer.data(), longer.size()).status().code() == Status::Code::kCorruption);
}

TEST_CASE("control bodies round-trip", "[protocol]") {
  DeployBody d;
  d.model_id = "abc";
  d.model_version = 7;
  d.stage_index = 1;
  d.num_stages = 3;
  d.next_hop = "tcp://127.0.0.1:5561";
  d.codec = ParseCodec("zfp+lz4:accuracy=0.01").value();
  d.num_inputs = 2;
  d.activation_bytes = 123456;
  d.stage_sha256 = std::string(64, 'f');
  d.stage = std::string("\0\1\2stage", 8);
  const std::string m = EncodeMessage(MessageType::kDeploy, 5, d.Encode());
  Reader r = BodyOf(m);
  auto back = DeployBody::Decode(r);
  REQUIRE(back.ok());
  CHECK(back->next_hop == d.next_hop);
  CHECK(back->codec.ToString() == "zfp+lz4:accuracy=0.01");
  CHECK(back->stage == d.stage);
  CHECK(back->num_inputs == 2);

  StatusBody s;
  s.name = "pi-1";
  s.state = WorkerState::kReady;
  s.received = 10;
  s.bytes_out = 1ull << 40;
  s.compute_s = 0.25;
  s.last_error = "none";
  std::string sb = s.Encode();
  Reader sr(sb);
  auto sback = StatusBody::Decode(sr);
  REQUIRE(sback.ok());
  CHECK(sback->bytes_out == s.bytes_out);
  CHECK(sback->compute_s == 0.25);
  CHECK(sback->state == WorkerState::kReady);
  s.refused = 7;
  sb = s.Encode();
  Reader sr7(sb);
  CHECK(StatusBody::Decode(sr7)->refused == 7);
  s.cpu_temp_c = 48.25;
  s.throttle_flags = kThrottleReported | kThrottledBefore;
  sb = s.Encode();
  Reader sr8(sb);
  auto s8 = StatusBody::Decode(sr8);
  REQUIRE(s8.ok());
  CHECK(s8->cpu_temp_c == 48.25);
  CHECK(s8->throttle_flags == s.throttle_flags);
  // A worker before minor 7 sends no `refused` (nor minor 8's 12 bytes): read as 0.
  const std::string before = sb.substr(0, sb.size() - 20);
  Reader sr6(before);
  auto old = StatusBody::Decode(sr6);
  REQUIRE(old.ok());
  CHECK(old->refused == 0);
  CHECK(old->last_error == "none");

  ErrorBody e{Status::Code::kVersionMismatch, "old"};
  std::string eb = e.Encode();
  Reader er(eb);
  CHECK(ErrorBody::Decode(er)->ToStatus().code() == Status::Code::kVersionMismatch);
}

TEST_CASE("link measurement bodies round-trip and are bounded", "[protocol]") {
  const std::string probe = EncodeProbe(42, 1000, 300);
  auto h = DecodeHeader(probe.data(), probe.size());
  REQUIRE(h.ok());
  CHECK(h->type == MessageType::kProbe);
  CHECK(h->id == 42);
  CHECK(h->body_len == 4 + 300);
  Reader pr = BodyOf(probe);
  auto reply_bytes = DecodeProbe(pr);
  REQUIRE(reply_bytes.ok());
  CHECK(reply_bytes.value() == 1000);
  const std::string too_big = EncodeProbe(1, kMaxProbeBytes + 1, 0);
  Reader tr = BodyOf(too_big);
  CHECK(DecodeProbe(tr).status().code() == Status::Code::kInvalidArgument);
  Reader empty("", 0);
  CHECK_FALSE(DecodeProbe(empty).ok());

  MeasureLinksBody m;
  m.probe_bytes = 4096;
  m.rounds = 5;
  m.timeout_s = 2.5;
  m.peers = {{"a", "tcp://10.0.0.1:5550", ""}, {"b", "tcp://10.0.0.2:5550", ""}};
  const std::string mb = m.Encode();
  Reader mr(mb);
  auto md = MeasureLinksBody::Decode(mr);
  REQUIRE(md.ok());
  CHECK(md->probe_bytes == 4096);
  CHECK(md->rounds == 5);
  CHECK(md->timeout_s == 2.5);
  REQUIRE(md->peers.size() == 2);
  CHECK(md->peers[1].name == "b");
  CHECK(md->peers[1].endpoint == "tcp://10.0.0.2:5550");
  // A 1.3 body ends before the peers' keys (one empty str each here).
  const size_t v13 = mb.size() - 4 * m.peers.size();
  for (size_t n = 0; n < mb.size(); ++n) {
    Reader r(mb.data(), n);
    CHECK(MeasureLinksBody::Decode(r).ok() == (n == v13));
  }
  auto refused = [](MeasureLinksBody b) {
    const std::string e = b.Encode();
    Reader r(e);
    return MeasureLinksBody::Decode(r).status().code() == Status::Code::kInvalidArgument;
  };
  MeasureLinksBody b = m;
  b.probe_bytes = 0;
  CHECK(refused(b));
  b = m;
  b.probe_bytes = kMaxProbeBytes + 1;
  CHECK(refused(b));
  b = m;
  b.rounds = kMaxProbeRounds + 1;
  CHECK(refused(b));
  b = m;
  b.timeout_s = -1;
  CHECK(refused(b));
  b = m;
  b.peers.assign(kMaxLinkPeers + 1, LinkPeer{"p", "tcp://h:1", ""});
  CHECK(refused(b));

  LinksReportBody rep;
  rep.links.push_back({"a", Status::Code::kOk, "", 0.001, 1e8, 2e8});
  rep.links.push_back({"b", Status::Code::kTimeout, "did not answer", 0, 0, 0});
  const std::string rb = rep.Encode();
  Reader rr(rb);
  auto rd = LinksReportBody::Decode(rr);
  REQUIRE(rd.ok());
  REQUIRE(rd->links.size() == 2);
  CHECK(rd->links[0].in_bytes_per_s == 2e8);
  CHECK(rd->links[1].code == Status::Code::kTimeout);
  CHECK(rd->links[1].message == "did not answer");
  for (size_t n = 0; n < rb.size(); ++n) {
    Reader r(rb.data(), n);
    CHECK_FALSE(LinksReportBody::Decode(r).ok());
  }
  LinksReportBody negative;
  negative.links.push_back({"a", Status::Code::kOk, "", -1, 1, 1});
  const std::string nb = negative.Encode();
  Reader nr(nb);
  CHECK_FALSE(LinksReportBody::Decode(nr).ok());
}

TEST_CASE("truncated and oversized bodies are refused", "[protocol]") {
  DeployBody d;
  d.model_id = "m";
  d.next_hop = "tcp://h:1";
  d.stage = std::string(100, 's');
  const std::string body = d.Encode();
  // A 1.0 DEPLOY ends before the flags byte, a 1.1 one before the two key
  // strs (empty here: 4 bytes each), a 1.5 one before the u64 upload size;
  // every other cut is refused.
  const size_t v15_size = body.size() - 8, v11_size = v15_size - 8, v10_size = v11_size - 1;
  for (size_t n = 0; n < body.size(); ++n) {
    Reader r(body.data(), n);
    CHECK(DeployBody::Decode(r).ok() == (n == v10_size || n == v11_size || n == v15_size));
  }
  {
    Reader r(body.data(), v10_size);
    auto v10 = DeployBody::Decode(r);
    REQUIRE(v10.ok());
    CHECK_FALSE(v10->beside);
  }
  {
    std::string bad = body.substr(0, v11_size);
    bad.back() = 7;  // unknown flags
    Reader r(bad);
    CHECK_FALSE(DeployBody::Decode(r).ok());
  }
  // A name longer than its bound.
  HelloBody h{PeerRole::kWorker, std::string(kMaxNameLen + 1, 'n'), {}};
  std::string hb = h.Encode();
  Reader hr(hb);
  CHECK_FALSE(HelloBody::Decode(hr).ok());
  // A stage length beyond the remaining bytes (a lying length field).
  std::string lying = body;
  lying[lying.size() - 8 - 8 - 100 - 8 + 5] = 0x7f;  // past the upload size, the two empty key strs, the stage
  Reader lr(lying);
  CHECK_FALSE(DeployBody::Decode(lr).ok());
  // Counts beyond their bounds.
  DeployBody bad_index = d;
  bad_index.stage_index = 3;
  bad_index.num_stages = 3;
  std::string bb = bad_index.Encode();
  Reader br(bb);
  CHECK_FALSE(DeployBody::Decode(br).ok());
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST_CASE("1.1 bodies round-trip and accept their 1.0 forms", "[protocol]") {
  PongBody p{0x0123456789abcdefull, 3};
  std::string pb = p.Encode().substr(0, 12);  // 1.1 to 1.7: no temperature or throttling
  Reader pr(pb);
  auto pong = PongBody::Decode(pr);
  REQUIRE(pong.ok());
  CHECK(pong->instance == p.instance);
  CHECK(pong->deployments == 3);
  Reader empty("", 0);
  CHECK(PongBody::Decode(empty).value().instance == 0);  // a 1.0 PONG
  CHECK(pong->cpu_temp_c < 0);                           // unknown
  CHECK(pong->throttle_flags == 0);
  Reader short_pong(pb.data(), 5);
  CHECK_FALSE(PongBody::Decode(short_pong).ok());
  // 1.8: temperature and throttling; a temperature no CPU has is refused.
  p.cpu_temp_c = 71.5;
  p.throttle_flags = kThrottledNow | kThrottleReported;
  pb = p.Encode();
  Reader pr8(pb);
  pong = PongBody::Decode(pr8);
  REQUIRE(pong.ok());
  CHECK(pong->cpu_temp_c == 71.5);
  CHECK(pong->throttle_flags == p.throttle_flags);
  for (double bad : {1e6, std::nan("")}) {
    p.cpu_temp_c = bad;
    pb = p.Encode();
    Reader hot(pb);
    CHECK_FALSE(PongBody::Decode(hot).ok());
  }

  UndeployBody u{77};
  std::string ub = u.Encode();
  Reader ur(ub);
  CHECK(UndeployBody::Decode(ur).value().model_version == 77);
  Reader none("", 0);
  CHECK(UndeployBody::Decode(none).value().model_version == 0);  // 1.0: every deployment

  DeployBody d;
  d.model_id = "m";
  d.next_hop = "tcp://h:1";
  d.stage_sha256 = "abc";
  d.beside = true;  // and no stage: reuse
  std::string db = d.Encode();
  Reader dr(db);
  auto back = DeployBody::Decode(dr);
  REQUIRE(back.ok());
  CHECK(back->beside);
  CHECK(back->stage.empty());
  CHECK(back->stage_sha256 == "abc");
  d.stage_sha256.clear();  // neither a stage nor a hash to reuse
  db = d.Encode();
  Reader nothing(db);
  CHECK_FALSE(DeployBody::Decode(nothing).ok());
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST_CASE("HELLO_ACK carries the worker's queue depth from 1.4, and decodes a 1.3 one without it", "[protocol]") {
  HelloAckBody a;
  a.name = "w";
  a.software = "tandem 0.1.0";
  a.data_port = 5551;
  a.memory_budget = 1 << 20;
  a.threads = 4;
  a.max_message_bytes = 64 << 20;
  a.queue_depth = 5;
  const std::string body = a.Encode();
  Reader r(body);
  auto back = HelloAckBody::Decode(r);
  REQUIRE(back.ok());
  CHECK(back->queue_depth == 5);
  CHECK(back->max_message_bytes == a.max_message_bytes);
  // 1.10 appended the host (an empty str here), CPUs and host cores: 16 bytes.
  const size_t tail = 16;
  // 1.3: the same body without the depth and the key (an empty str here),
  // nor 1.8's temperature and throttling (12 bytes).
  Reader old(body.data(), body.size() - tail - 20);
  auto older = HelloAckBody::Decode(old);
  REQUIRE(older.ok());
  CHECK(older->queue_depth == 0);
  CHECK(older->threads == 4);
  // Cut inside the depth or the key: refused.
  Reader cut(body.data(), body.size() - tail - 18);
  CHECK_FALSE(HelloAckBody::Decode(cut).ok());
  Reader cut_key(body.data(), body.size() - tail - 14);
  CHECK_FALSE(HelloAckBody::Decode(cut_key).ok());
  Reader cut_health(body.data(), body.size() - tail - 4);
  CHECK_FALSE(HelloAckBody::Decode(cut_health).ok());
  a.cpu_temp_c = 55;
  a.throttle_flags = kThrottleReported;
  const std::string body8 = a.Encode();
  Reader r8(body8.data(), body8.size() - tail);  // a 1.8 worker's
  auto eight = HelloAckBody::Decode(r8);
  REQUIRE(eight.ok());
  CHECK(eight->cpu_temp_c == 55);
  CHECK(eight->host_id.empty());
  CHECK(eight->cpus == 0);
}

TEST_CASE("1.10: HELLO_ACK says which host the worker shares and its CPUs, bounded", "[protocol]") {
  HelloAckBody a;
  a.name = "w";
  a.host_id = "0123456789abcdef";
  a.cpus = 0.15;
  a.host_cores = 4;
  const std::string body = a.Encode();
  Reader r(body);
  auto back = HelloAckBody::Decode(r);
  REQUIRE(back.ok());
  CHECK(back->host_id == a.host_id);
  CHECK(back->cpus == 0.15);
  CHECK(back->host_cores == 4);
  Reader cut(body.data(), body.size() - 2);
  CHECK_FALSE(HelloAckBody::Decode(cut).ok());
  for (double bad : {-1.0, 1e9, std::nan("")}) {
    a.cpus = bad;
    const std::string b = a.Encode();
    Reader rb(b);
    CHECK_FALSE(HelloAckBody::Decode(rb).ok());
  }
  a.cpus = 1;
  a.host_cores = kMaxCpus + 1;
  const std::string many = a.Encode();
  Reader rm(many);
  CHECK_FALSE(HelloAckBody::Decode(rm).ok());
  a.host_cores = 4;
  a.host_id = std::string(kMaxNameLen + 1, 'h');
  const std::string long_id = a.Encode();
  Reader rl(long_id);
  CHECK_FALSE(HelloAckBody::Decode(rl).ok());
}

}  // namespace
}  // namespace tandem

namespace tandem {
namespace {

TEST_CASE("1.6: a DEPLOY announces its archive's pieces, and DEPLOY_CHUNK is bounded", "[protocol]") {
  DeployBody d;
  d.model_id = "abc";
  d.model_version = 3;
  d.num_stages = 2;
  d.next_hop = "tcp://127.0.0.1:5561";
  d.stage_sha256 = std::string(64, 'f');
  d.upload_bytes = 5u << 20;
  const std::string body = d.Encode();
  Reader r(body);
  auto back = DeployBody::Decode(r);
  REQUIRE(back.ok());
  CHECK(back->upload_bytes == 5u << 20);
  CHECK(back->archive().empty());
  // A 1.5 DEPLOY ends before the upload size: none.
  Reader old(body.data(), body.size() - 8);
  auto older = DeployBody::Decode(old);
  REQUIRE(older.ok());
  CHECK(older->upload_bytes == 0);
  Reader cut(body.data(), body.size() - 3);
  CHECK_FALSE(DeployBody::Decode(cut).ok());
  // Pieces beside an inline archive, or more than any stage: refused.
  d.stage = "inline";
  const std::string both = d.Encode();
  Reader rb(both);
  CHECK(DeployBody::Decode(rb).status().code() == Status::Code::kCorruption);
  d.stage.clear();
  d.upload_bytes = kMaxStageBytes + 1;
  const std::string huge = d.Encode();
  Reader rh(huge);
  CHECK_FALSE(DeployBody::Decode(rh).ok());

  const std::string piece(1000, 'x');
  const std::string m = EncodeDeployChunk(9, 4096, piece);
  auto h = DecodeHeader(m.data(), m.size());
  REQUIRE(h.ok());
  CHECK(h->type == MessageType::kDeployChunk);
  CHECK(h->id == 9);
  Reader cr = BodyOf(m);
  auto c = DecodeDeployChunk(cr);
  REQUIRE(c.ok());
  CHECK(c->offset == 4096);
  CHECK(c->bytes == piece);
  // No bytes, too many bytes, or a truncated offset: refused.
  const std::string empty = EncodeDeployChunk(9, 0, "");
  Reader er = BodyOf(empty);
  CHECK_FALSE(DecodeDeployChunk(er).ok());
  const std::string big = EncodeDeployChunk(9, 0, std::string(kMaxDeployChunkBytes + 1, 'y'));
  Reader br = BodyOf(big);
  CHECK_FALSE(DecodeDeployChunk(br).ok());
  Reader tr(m.data() + kHeaderSize, 5);
  CHECK_FALSE(DecodeDeployChunk(tr).ok());
}

}  // namespace
}  // namespace tandem
