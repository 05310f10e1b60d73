#include "worker/access.h"

#include <cstring>

#include "common/net/curve_keys.h"

namespace tandem {
namespace {
// User ids given at the handshake: "dispatcher", or "peer:" and the key.
constexpr const char* kDispatcherUser = "dispatcher";
constexpr const char* kPeerPrefix = "peer:";
}  // namespace

Status WorkerAccess::Load(const std::string& secret_key_path, const std::string& authorized_keys_path) {
  if (secret_key_path.empty() && authorized_keys_path.empty()) return Status::OK();
  if (secret_key_path.empty() || authorized_keys_path.empty())
    return Status::InvalidArgument("secret_key and authorized_keys go together: give both, or neither (insecure)");
  TANDEM_ASSIGN_OR_RETURN(CurveKeyPair keys, ReadSecretKey(secret_key_path));
  authorized_path_ = authorized_keys_path;
  TANDEM_RETURN_IF_ERROR(Reload());
  keys_ = keys;
  return Status::OK();
}

Status WorkerAccess::Reload() {
  if (authorized_path_.empty()) return Status::OK();
  TANDEM_ASSIGN_OR_RETURN(auto keys, ReadAuthorizedKeys(authorized_path_));
  std::lock_guard<std::mutex> lock(mu_);
  dispatchers_ = std::move(keys);
  return Status::OK();
}

size_t WorkerAccess::authorized() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dispatchers_.size();
}

void WorkerAccess::SetPeers(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  peers_ = std::set<std::string>(keys.begin(), keys.end());
}

bool WorkerAccess::IsPeer(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return peers_.count(key) > 0;
}

bool WorkerAccess::IsDispatcher(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  return dispatchers_.count(key) > 0;
}

void WorkerAccess::SetDataSenders(const std::set<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mu_);
  data_senders_ = keys;
}

std::string WorkerAccess::Authorize(const std::string& domain, const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (dispatchers_.count(key)) return kDispatcherUser;
  // The data socket takes any worker a trusted dispatcher named: a stage's
  // previous hop may connect before this worker has its DEPLOY (libzmq never
  // retries a refused handshake); each message is then checked against the
  // deployment's previous hop (MaySend).
  if ((domain == kControlDomain || domain == kDataDomain) && (peers_.count(key) || data_senders_.count(key)))
    return kPeerPrefix + key;
  return "";
}

PeerClass WorkerAccess::ClassOf(const std::string& user_id) const {
  if (!keys_ || user_id == kDispatcherUser) return PeerClass::kDispatcher;
  if (user_id.rfind(kPeerPrefix, 0) == 0) return PeerClass::kPeer;
  return PeerClass::kNone;
}

bool WorkerAccess::MaySend(const std::string& user_id, const std::string& prev_key) const {
  switch (ClassOf(user_id)) {
    case PeerClass::kDispatcher: return true;
    case PeerClass::kPeer: return user_id.compare(std::strlen(kPeerPrefix), std::string::npos, prev_key) == 0;
    case PeerClass::kNone: return false;
  }
  return false;
}

}  // namespace tandem
