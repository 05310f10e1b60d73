// Between the Streamer and whoever deploys pipelines: where requests go now
// (a Route) and what the deployer is asked on every turn (a Director).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/net/activation.h"
#include "common/net/codec.h"
#include "common/util/status.h"
#include "dispatcher/hop_sampler.h"

namespace tandem {

// Where requests go now. Every deployment of a pipeline has its own wire
// model version; workers and the Streamer drop messages of other versions.
struct Route {
  uint32_t version = 0;  // the deployment's model version on the wire
  uint32_t num_stages = 1;
  std::string first_hop;      // stage 0's data endpoint
  std::string first_hop_key;  // its worker's public key (with keys)
  std::string last_key;       // the last stage's worker's public key (with keys): who may send results
  CodecSpec codec;            // for the hop dispatcher -> stage 0
  int pipeline = 1;           // deployments so far, for people (1: the first)
  int generation = 1;         // the model: 1 as started, +1 per live update
  std::string model_sha256;   // of that model's file
};

// What the Streamer asks of whoever deploys pipelines (the PipelineManager;
// tests use StaticDirector). Called from the Streamer's thread only.
class Director {
 public:
  virtual ~Director() = default;
  // Called on every turn of the loop (about 20 times a second) with the
  // requests in flight per version. May deploy, which blocks. An error ends
  // the run.
  virtual Status Tick(const std::map<uint32_t, size_t>& in_flight) = 0;
  // Where new requests and replays go; null while there is none (the
  // Streamer keeps every request until there is).
  virtual const Route* route() const = 0;
  // Whether results of `version` may still come. Requests in flight on a
  // version that is no longer live are sent again on the route.
  virtual bool Live(uint32_t version) const = 0;
  // Whether new requests may be sent now (false while a pipeline drains
  // before a model update; replays and resends still go to the route).
  virtual bool AcceptingNew() const { return true; }
  // A result of deployment `version` came back with these per-stage
  // timings (what the stages measured) and the dispatcher's own clock of
  // it: input for a live cost model. Called in the order results arrive.
  virtual void Observe(uint32_t version, const std::vector<StageTiming>& timings, const RequestClock& clock) {
    (void)version;
    (void)timings;
    (void)clock;
  }
};

// One fixed pipeline that never changes.
class StaticDirector : public Director {
 public:
  explicit StaticDirector(Route route) : route_(std::move(route)) {}
  Status Tick(const std::map<uint32_t, size_t>&) override { return Status::OK(); }
  const Route* route() const override { return &route_; }
  bool Live(uint32_t version) const override { return version == route_.version; }

 private:
  Route route_;
};

}  // namespace tandem
