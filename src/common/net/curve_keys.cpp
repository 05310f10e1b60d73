#include "common/net/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/util/digest.h"
#include "common/util/files.h"

namespace tandem {
namespace {

// Z85 has '#' among its characters, so a comment is told from a key by its
// form: a line whose first word is a key is a key line (anything after the
// key is a name for people); a line starting with '#' otherwise is a comment.
enum class LineKind { kBlank, kKey, kComment, kJunk };
LineKind ClassifyLine(const std::string& line, std::string* key) {
  std::istringstream words(line);
  if (!(words >> *key)) return LineKind::kBlank;
  if (IsCurveKey(*key)) return LineKind::kKey;
  return (*key)[0] == '#' ? LineKind::kComment : LineKind::kJunk;
}

// The first key line of a key file.
std::string KeyToken(const std::string& text) {
  std::istringstream in(text);
  std::string line, key;
  while (std::getline(in, line))
    if (ClassifyLine(line, &key) == LineKind::kKey) return key;
  return "";
}

Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return Status::IOError(path + ": cannot create: " + std::strerror(errno) +
                           (errno == EEXIST ? " (a key is never overwritten; move the old one away first)" : ""));
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  ::fchmod(fd, mode);  // whatever the umask said
  if (::close(fd) != 0 || n != static_cast<ssize_t>(text.size()))
    return Status::IOError(path + ": write failed: " + std::strerror(n < 0 ? err : EIO));
  return Status::OK();
}

}  // namespace

bool IsCurveKey(const std::string& z85) {
  if (z85.size() != kCurveKeyZ85Len) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, z85.c_str()) != nullptr;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[kCurveKeyZ85Len + 1], sec[kCurveKeyZ85Len + 1];
  if (zmq_curve_keypair(pub, sec) != 0)
    return Status::Unsupported(std::string("cannot make a CurveZMQ key pair: ") + zmq_strerror(zmq_errno()) +
                               " (libzmq built without CURVE?)");
  return CurveKeyPair{pub, sec};
}

Status WriteCurveKeyPair(const CurveKeyPair& keys, const std::string& secret_path, const std::string& public_path) {
  const std::string fingerprint = KeyFingerprint(keys.public_key);
  TANDEM_RETURN_IF_ERROR(WriteNew(
      secret_path, "# tandem secret key (" + fingerprint + "): keep it on this machine only\n" + keys.secret_key + "\n",
      0600));
  const Status pub = WriteNew(public_path, keys.public_key + "  # tandem public key " + fingerprint + "\n", 0644);
  if (!pub.ok()) ::unlink(secret_path.c_str());  // no half pair left behind
  return pub;
}

Result<CurveKeyPair> EnsureCurveKeyFiles(const std::string& secret_path, const std::string& public_path,
                                         bool if_missing) {
  struct stat st;
  if (if_missing && ::stat(secret_path.c_str(), &st) == 0) {
    TANDEM_ASSIGN_OR_RETURN(CurveKeyPair keys, ReadSecretKey(secret_path));
    if (::stat(public_path.c_str(), &st) != 0)
      TANDEM_RETURN_IF_ERROR(WriteNew(
          public_path, keys.public_key + "  # tandem public key " + KeyFingerprint(keys.public_key) + "\n", 0644));
    return keys;
  }
  TANDEM_ASSIGN_OR_RETURN(CurveKeyPair keys, GenerateCurveKeyPair());
  TANDEM_RETURN_IF_ERROR(WriteCurveKeyPair(keys, secret_path, public_path));
  return keys;
}

Result<CurveKeyPair> ReadSecretKey(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound(path + ": " + std::strerror(errno));
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidArgument(path + ": a secret key must be readable by its owner only, this file's mode is " +
                                   mode + " (chmod 600 " + path + ")");
  }
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 64 << 10));
  CurveKeyPair keys;
  keys.secret_key = KeyToken(text);
  if (!IsCurveKey(keys.secret_key))
    return Status::InvalidArgument(path + ": does not hold a secret key (40 characters of Z85, as keygen writes)");
  char pub[kCurveKeyZ85Len + 1];
  if (zmq_curve_public(pub, keys.secret_key.c_str()) != 0)
    return Status::InvalidArgument(path + ": cannot derive the public key: " + zmq_strerror(zmq_errno()));
  keys.public_key = pub;
  return keys;
}

Result<std::string> ReadPublicKey(const std::string& text_or_path) {
  if (IsCurveKey(text_or_path)) return text_or_path;
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(text_or_path, 64 << 10));
  const std::string key = KeyToken(text);
  if (!IsCurveKey(key))
    return Status::InvalidArgument(text_or_path + ": does not hold a public key (40 characters of Z85)");
  return key;
}

Result<std::set<std::string>> ReadAuthorizedKeys(const std::string& path) {
  TANDEM_ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  return ParseAuthorizedKeys(text, path);
}

Result<std::set<std::string>> ParseAuthorizedKeys(const std::string& text, const std::string& path) {
  std::set<std::string> keys;
  std::istringstream in(text);
  std::string line, key;
  for (int number = 1; std::getline(in, line); ++number) {
    switch (ClassifyLine(line, &key)) {
      case LineKind::kKey: keys.insert(key); break;
      case LineKind::kJunk:
        return Status::InvalidArgument(path + ": line " + std::to_string(number) +
                                       ": not a public key (40 characters of Z85)");
      default: break;
    }
  }
  return keys;
}

std::string KeyFingerprint(const std::string& z85) {
  uint8_t raw[32];
  if (!IsCurveKey(z85) || zmq_z85_decode(raw, z85.c_str()) == nullptr) return "SHA256:(not a key)";
  return "SHA256:" + Sha256Hex(raw, sizeof raw).substr(0, 32);
}

}  // namespace tandem
