#include "common/util/device.h"

#include <dirent.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/util/digest.h"

namespace tandem {

namespace {

std::string PathIn(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") return path;
  return root + path;
}

// The first line of a small file; false when it cannot be read.
bool ReadLine(const std::string& path, std::string* line) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, *line);
  return true;
}

bool ReadNumber(const std::string& path, double* value) {
  std::string line;
  if (!ReadLine(path, &line)) return false;
  char* end = nullptr;
  const double v = std::strtod(line.c_str(), &end);
  if (end == line.c_str() || !std::isfinite(v)) return false;
  *value = v;
  return true;
}

// Entries of a directory whose names start with `prefix`.
std::vector<std::string> Entries(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// The cgroup (v2, or v1 for `controller`) directory of this process, under root.
std::vector<std::string> CgroupDirs(const std::string& root, const std::string& controller) {
  std::vector<std::string> dirs;
  std::ifstream in(PathIn(root, "/proc/self/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    // "0::/system.slice/x.service" (v2) or "4:cpu,cpuacct:/user.slice" (v1).
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      dirs.push_back(PathIn(root, "/sys/fs/cgroup" + path));
    } else {
      std::stringstream ss(controllers);
      std::string c;
      while (std::getline(ss, c, ','))
        if (c == controller) dirs.push_back(PathIn(root, "/sys/fs/cgroup/" + controllers + path));
    }
  }
  return dirs;
}

// CPUs in a list such as "0-3,6" (/sys/devices/system/cpu/online).
int CountCpuList(const std::string& list) {
  int cores = 0;
  std::stringstream ss(list);
  std::string range;
  while (std::getline(ss, range, ',')) {
    int lo = 0, hi = 0;
    if (std::sscanf(range.c_str(), "%d-%d", &lo, &hi) == 2 && hi >= lo)
      cores += hi - lo + 1;
    else if (std::sscanf(range.c_str(), "%d", &lo) == 1)
      ++cores;
  }
  return cores;
}

int FakeOnlineCores(const std::string& root) {
  std::string online;
  return ReadLine(PathIn(root, "/sys/devices/system/cpu/online"), &online) ? CountCpuList(online) : 0;
}

}  // namespace

double UsableCpus(const std::string& root) {
  int cores = 0;
  if (root.empty() || root == "/") {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  } else {
    cores = FakeOnlineCores(root);  // a fake root's online CPUs stand for the affinity
  }
  double cpus = std::max(cores, 1);
  for (const std::string& dir : CgroupDirs(root, "cpu")) {
    double quota = -1, period = 0;
    std::string max;
    if (ReadLine(dir + "/cpu.max", &max)) {  // "400000 100000" or "max 100000"
      std::stringstream ss(max);
      std::string q;
      ss >> q >> period;
      if (q != "max") quota = std::strtod(q.c_str(), nullptr);
    } else {
      ReadNumber(dir + "/cpu.cfs_quota_us", &quota);
      ReadNumber(dir + "/cpu.cfs_period_us", &period);
    }
    if (quota > 0 && period > 0) cpus = std::min(cpus, quota / period);
  }
  return cpus;
}

int UsableCores(const std::string& root) { return std::max(1, static_cast<int>(std::ceil(UsableCpus(root) - 1e-9))); }

int OnlineCores(const std::string& root) {
  int cores = 0;
  if (root.empty() || root == "/") {
    cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  } else {
    cores = FakeOnlineCores(root);
  }
  return std::max(cores, 1);
}

std::string HostId(const std::string& root) {
  // boot_id is the running kernel's: the same for every process that shares
  // its cores (network namespaces and containers included), and differs
  // between machines even where they run one image with one machine-id.
  // machine-id where there is none; the host name last.
  std::string id;
  for (const char* path : {"/proc/sys/kernel/random/boot_id", "/etc/machine-id", "/var/lib/dbus/machine-id"})
    if (ReadLine(PathIn(root, path), &id) && !id.empty()) break;
  if (id.empty()) {
    char name[256] = {};
    if (root.empty() || root == "/") {
      if (::gethostname(name, sizeof name - 1) == 0) id = name;
    } else {
      ReadLine(PathIn(root, "/proc/sys/kernel/hostname"), &id);
    }
  }
  if (id.empty()) return "";
  // A digest: neither id is to be published (machine-id(5)).
  return Sha256Hex("tandem host " + id).substr(0, 16);
}

uint64_t AvailableMemory(const std::string& root) {
  uint64_t available = 0;
  std::ifstream in(PathIn(root, "/proc/meminfo"));
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") {
      available = kb * 1024;
      break;
    }
  }
  for (const std::string& dir : CgroupDirs(root, "memory")) {
    double limit = 0, usage = 0;
    std::string max;
    bool have = false;
    if (ReadLine(dir + "/memory.max", &max)) {
      have = max != "max" && ReadNumber(dir + "/memory.max", &limit) && ReadNumber(dir + "/memory.current", &usage);
    } else {
      have = ReadNumber(dir + "/memory.limit_in_bytes", &limit) && ReadNumber(dir + "/memory.usage_in_bytes", &usage);
    }
    // v1 writes "no limit" as a huge number.
    if (!have || limit <= 0 || limit >= 9.0e18) continue;
    const uint64_t left = limit > usage ? static_cast<uint64_t>(limit - usage) : 0;
    available = available == 0 ? left : std::min(available, left);
  }
  return available;
}

DeviceMonitor::DeviceMonitor(std::string root) : root_(std::move(root)) {}

DeviceHealth DeviceMonitor::Read() {
  DeviceHealth h;
  // Temperature: the hottest zone that is the CPU's or the SoC's (a Pi's
  // "cpu-thermal", x86's "x86_pkg_temp"), else the hottest of all.
  const std::string thermal = PathIn(root_, "/sys/class/thermal");
  double cpu_max = -1, any_max = -1;
  for (const std::string& zone : Entries(thermal, "thermal_zone")) {
    double milli = 0;
    if (!ReadNumber(thermal + "/" + zone + "/temp", &milli)) continue;
    const double c = milli / 1000.0;
    std::string type;
    ReadLine(thermal + "/" + zone + "/type", &type);
    const bool cpu = type.find("cpu") != std::string::npos || type.find("x86_pkg") != std::string::npos ||
                     type.find("soc") != std::string::npos;
    any_max = std::max(any_max, c);
    if (cpu) cpu_max = std::max(cpu_max, c);
  }
  h.cpu_temp_c = cpu_max >= 0 ? cpu_max : any_max;

  // A Raspberry Pi's firmware: bits 0-3 now, 16-19 since boot.
  std::string pi;
  if (ReadLine(PathIn(root_, "/sys/devices/platform/soc/soc:firmware/get_throttled"), &pi)) {
    const unsigned long bits = std::strtoul(pi.c_str(), nullptr, 16);
    h.throttle_flags |= kThrottleReported;
    if (bits & 0x6u) h.throttle_flags |= kThrottledNow;  // frequency capped, or throttled
    if (bits & 0x1u) h.throttle_flags |= kUnderVoltageNow;
    if (bits & 0x8u) h.throttle_flags |= kTemperatureLimitNow;
    if (bits & 0xf0000u) seen_ = true;
  } else {
    // x86: thermal throttle events per core; more than at the last read
    // means throttling now.
    const std::string cpus = PathIn(root_, "/sys/devices/system/cpu");
    uint64_t count = 0;
    bool any = false;
    for (const std::string& cpu : Entries(cpus, "cpu")) {
      double n = 0;
      if (ReadNumber(cpus + "/" + cpu + "/thermal_throttle/core_throttle_count", &n)) {
        count += static_cast<uint64_t>(n);
        any = true;
      }
    }
    if (any) {
      h.throttle_flags |= kThrottleReported;
      if (have_count_ && count > last_count_) h.throttle_flags |= kThrottledNow;
      have_count_ = true;
      last_count_ = count;
    }
  }
  if (h.throttle_flags & (kThrottledNow | kTemperatureLimitNow | kUnderVoltageNow)) seen_ = true;
  if (seen_) h.throttle_flags |= kThrottledBefore;
  return h;
}

std::string DescribeHealth(const DeviceHealth& h) {
  std::string out;
  if (h.cpu_temp_c >= 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f C", h.cpu_temp_c);
    out = buf;
  }
  if (!(h.throttle_flags & kThrottleReported)) return out;
  std::string what = h.throttle_flags & kThrottledNow      ? "throttled now"
                     : h.throttle_flags & kThrottledBefore ? "throttled before, not now"
                                                           : "not throttled";
  std::string why;
  if (h.throttle_flags & kTemperatureLimitNow) why += "temperature limit";
  if (h.throttle_flags & kUnderVoltageNow) why += std::string(why.empty() ? "" : ", ") + "under-voltage";
  if (!why.empty()) what += " (" + why + ")";
  return out.empty() ? what : out + ", " + what;
}

}  // namespace tandem
