#include "common/util/files.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

namespace tandem {

namespace fs = std::filesystem;

Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Status::NotFound(path + ": " + (ec ? ec.message() : "No such file or directory"));
  if (fs::is_directory(st)) return Status::InvalidArgument(path + ": is a directory, not a file");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Status::IOError(path + ": " + ec.message());
  if (size > max_bytes)
    return Status::InvalidArgument(path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path + ": cannot open: " + std::strerror(errno));
  std::string data;
  data.resize(static_cast<size_t>(size));
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
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return Status::IOError(path + ": write failed: " + std::strerror(errno));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return Status::IOError(path + ": rename failed: " + ec.message());
  }
  return Status::OK();
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::OK();
  std::error_code ec;
  if (fs::exists(path, ec) && !fs::is_directory(path, ec))
    return Status::InvalidArgument(path + ": exists and is not a directory");
  fs::create_directories(path, ec);
  if (ec) return Status::IOError(path + ": cannot create directory: " + ec.message());
  return Status::OK();
}

Result<std::vector<std::string>> ListFiles(const std::string& dir, const std::string& suffix) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::NotFound(dir + ": cannot open directory: " + ec.message());
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError(dir + ": " + ec.message());
    const std::string name = it->path().filename().string();
    if (!it->is_regular_file(ec) || name.size() <= suffix.size()) continue;
    if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace tandem
