#include "common/file_util.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace tandem {

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound(path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": is a directory, not a file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Status::InvalidArgument(path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  std::string data;
  data.resize(static_cast<size_t>(st.st_size));
  in.read(&data[0], static_cast<std::streamsize>(data.size()));
  if (static_cast<size_t>(in.gcount()) != data.size()) return Status::IOError(path + ": short read");
  return data;
}

Status WriteFileAtomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError(path + ": cannot create: " + std::strerror(errno));
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return Status::IOError(path + ": write failed: " + std::strerror(errno));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::IOError(path + ": rename failed: " + std::strerror(errno));
  }
  return Status::OK();
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::OK();
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (path[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return Status::IOError(cur + ": cannot create directory: " + std::strerror(errno));
    struct stat st;
    if (::stat(cur.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Status::InvalidArgument(cur + ": exists and is not a directory");
    cur += "/";
  }
  return Status::OK();
}

}  // namespace tandem
