// Key pairs for CurveZMQ (the encryption and authentication of every tandem
// link): making them, the files they live in, fingerprints for people.
//
// A key is 32 bytes, written as 40 characters of Z85 (ZeroMQ's text form).
// The secret key file holds the secret key on one line; it must be readable
// by its owner only (mode 0600 or stricter), as ssh requires of private keys.
// The public key file holds the public key. An authorized-keys file lists
// public keys one per line; '#' starts a comment, blank lines are skipped,
// and anything after the key on its line is a name for people.
//
// Thread safety: functions; the files are read when called.
#pragma once

#include <set>
#include <string>

#include "common/util/status.h"

namespace tandem {

constexpr size_t kCurveKeyZ85Len = 40;

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// A fresh key pair from libsodium's random source.
Result<CurveKeyPair> GenerateCurveKeyPair();
// Writes `secret_path` (mode 0600, refused if it exists) and `public_path`
// (mode 0644). Errors name the file.
Status WriteCurveKeyPair(const CurveKeyPair& keys, const std::string& secret_path, const std::string& public_path);
// `keygen` for both programs: makes a key pair and writes it, or with
// `if_missing` keeps the secret key already at `secret_path` (writing its
// public file when that is missing). Returns the pair.
Result<CurveKeyPair> EnsureCurveKeyFiles(const std::string& secret_path, const std::string& public_path,
                                         bool if_missing);
// Reads a secret key file and derives its public key. Refused when the file
// is readable by group or others, or does not hold a key.
Result<CurveKeyPair> ReadSecretKey(const std::string& path);
// A public key: the Z85 text itself, or a file holding it.
Result<std::string> ReadPublicKey(const std::string& text_or_path);
// The keys of an authorized-keys file (errors name the file and the line).
Result<std::set<std::string>> ReadAuthorizedKeys(const std::string& path);
// The same from the file's text; `source` names it in errors.
Result<std::set<std::string>> ParseAuthorizedKeys(const std::string& text, const std::string& source);
// Whether `z85` is a well-formed key.
bool IsCurveKey(const std::string& z85);
// "SHA256:" and the first 16 bytes of the SHA-256 of the key's 32 bytes, in
// hex: what logs and errors show of a key.
std::string KeyFingerprint(const std::string& z85);

}  // namespace tandem
