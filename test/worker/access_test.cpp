#include "worker/access.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "common/net/curve_keys.h"
#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

TEST_CASE("worker access: without keys everyone is the dispatcher", "[access]") {
  WorkerAccess a;
  REQUIRE(a.Load("", "").ok());
  CHECK_FALSE(a.secure());
  CHECK(a.ClassOf("") == PeerClass::kDispatcher);
  CHECK(a.MaySend("", "any"));
  CHECK(a.Load("w.key", "").message().find("give both") != std::string::npos);
  CHECK(a.Load("", "authorized_keys").message().find("give both") != std::string::npos);
}

TEST_CASE("worker access: dispatchers from authorized_keys, peers a dispatcher named, reloads", "[access]") {
  test::TempDir dir;
  const std::string d = dir.path();
  const CurveKeyPair worker = GenerateCurveKeyPair().value(), dispatcher = GenerateCurveKeyPair().value(),
                     peer = GenerateCurveKeyPair().value(), stranger = GenerateCurveKeyPair().value();
  REQUIRE(WriteCurveKeyPair(worker, d + "/w.key", d + "/w.key.pub").ok());
  const std::string authorized = d + "/authorized_keys";
  REQUIRE(WriteFileAtomic(authorized, "# the dispatcher on the laptop\n" + dispatcher.public_key + "\n\n").ok());
  WorkerAccess a;
  REQUIRE(a.Load(d + "/w.key", authorized).ok());
  CHECK(a.secure());
  CHECK(a.public_key() == worker.public_key);
  CHECK(a.authorized() == 1);

  // Handshakes (ZAP): the dispatcher anywhere; a peer only once named, only
  // on the control and data sockets; a stranger never.
  CHECK(a.Authorize(kControlDomain, dispatcher.public_key) == "dispatcher");
  CHECK(a.Authorize(kDataDomain, dispatcher.public_key) == "dispatcher");
  CHECK(a.Authorize(kControlDomain, stranger.public_key).empty());
  CHECK(a.Authorize(kDataDomain, peer.public_key).empty());
  a.SetPeers({peer.public_key});
  CHECK(a.IsPeer(peer.public_key));
  CHECK_FALSE(a.IsDispatcher(peer.public_key));
  const std::string peer_user = a.Authorize(kDataDomain, peer.public_key);
  CHECK(peer_user == "peer:" + peer.public_key);
  CHECK(a.Authorize(kControlDomain, peer.public_key) == peer_user);
  CHECK(a.Authorize("elsewhere", peer.public_key).empty());
  a.SetPeers({});
  CHECK(a.Authorize(kDataDomain, peer.public_key).empty());
  a.SetDataSenders({peer.public_key});  // a running stage's previous hop
  CHECK(a.Authorize(kDataDomain, peer.public_key) == peer_user);

  // Messages: classed by the user id their handshake got.
  CHECK(a.ClassOf("dispatcher") == PeerClass::kDispatcher);
  CHECK(a.ClassOf(peer_user) == PeerClass::kPeer);
  CHECK(a.ClassOf("") == PeerClass::kNone);
  CHECK(a.ClassOf("mallory") == PeerClass::kNone);
  // Data: a peer feeds only the stage whose previous hop it is.
  CHECK(a.MaySend(peer_user, peer.public_key));
  CHECK_FALSE(a.MaySend(peer_user, stranger.public_key));
  CHECK(a.MaySend("dispatcher", stranger.public_key));
  CHECK_FALSE(a.MaySend("", peer.public_key));

  // SIGHUP: the new file replaces the old; a bad file keeps the old keys.
  REQUIRE(WriteFileAtomic(authorized, stranger.public_key + "  # rotated\n").ok());
  REQUIRE(a.Reload().ok());
  CHECK(a.Authorize(kControlDomain, dispatcher.public_key).empty());
  CHECK(a.Authorize(kControlDomain, stranger.public_key) == "dispatcher");
  REQUIRE(WriteFileAtomic(authorized, "not a key\n").ok());
  const Status bad = a.Reload();
  CHECK_FALSE(bad.ok());
  CHECK(bad.message().find(authorized) != std::string::npos);
  CHECK(a.Authorize(kControlDomain, stranger.public_key) == "dispatcher");

  // A secret key others can read is refused, as ssh does.
  REQUIRE(::chmod((d + "/w.key").c_str(), 0644) == 0);
  WorkerAccess b;
  CHECK_FALSE(b.Load(d + "/w.key", authorized).ok());
}

}  // namespace
}  // namespace tandem
