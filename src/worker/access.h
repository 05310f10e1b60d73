// Who may do what to a worker: its own keys, the dispatchers it trusts
// (authorized_keys, reloaded on SIGHUP), the peer workers a trusted
// dispatcher named (HELLO: who may connect and PROBE; DEPLOY: who feeds a
// stage), and the ZAP policy that applies them to every CurveZMQ handshake.
//
// Without keys (insecure mode) nobody is checked: every connection is taken
// as the dispatcher's.
//
// Thread-safe: the ZAP handler's thread asks while the control thread updates.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/net/zap.h"
#include "common/util/status.h"

namespace tandem {

// What a connection is, by the user id its handshake got.
enum class PeerClass { kNone, kDispatcher, kPeer };

class WorkerAccess {
 public:
  // Reads the secret key and the authorized keys when both paths are set
  // (errors name the file); with neither, insecure mode.
  Status Load(const std::string& secret_key_path, const std::string& authorized_keys_path);
  // Reads authorized_keys again; on an error the old keys stay.
  Status Reload();

  bool secure() const { return keys_.has_value(); }
  const LinkKeys& keys() const { return keys_; }
  std::string public_key() const { return keys_ ? keys_->public_key : ""; }
  size_t authorized() const;

  // The workers a trusted dispatcher's HELLO named (replacing earlier ones).
  void SetPeers(const std::vector<std::string>& keys);
  bool IsPeer(const std::string& key) const;
  bool IsDispatcher(const std::string& key) const;
  // The keys that may send to the data socket besides the dispatchers': the
  // previous hops of the deployments running now.
  void SetDataSenders(const std::set<std::string>& keys);

  // The ZAP decision: both sockets take the trusted dispatchers and the
  // workers they named (HELLO, and the deployments' previous hops).
  std::string Authorize(const std::string& domain, const std::string& key) const;
  // The class of a message's sender from its User-Id (insecure: dispatcher).
  PeerClass ClassOf(const std::string& user_id) const;
  // Whether a data message from `user_id` may feed the deployment whose
  // previous hop has `prev_key`: a dispatcher's always, a worker's only if it
  // is that previous hop.
  bool MaySend(const std::string& user_id, const std::string& prev_key) const;

 private:
  LinkKeys keys_;
  std::string authorized_path_;
  mutable std::mutex mu_;
  std::set<std::string> dispatchers_, peers_, data_senders_;
};

constexpr const char* kControlDomain = "control";
constexpr const char* kDataDomain = "data";

}  // namespace tandem
