// The device a daemon runs on, as Linux describes it in /proc and /sys: how
// many cores and how much memory this process may use, how hot the CPU is,
// and whether it is being throttled. What a Raspberry Pi user would look at
// (`nproc`, `free`, `vcgencmd measure_temp`, `vcgencmd get_throttled`),
// read the same way on any Linux board or PC.
//
// Every reader takes `root`, the directory that holds proc/ and sys/ ("" or
// "/" for this machine; tests give a directory of fake files). A file that is
// absent or unreadable means "not known here", never an error.
#pragma once

#include <cstdint>
#include <string>

namespace tandem {

// CPUs this process may use: its CPU affinity, lowered to the cgroup's CPU
// quota (cgroup v2 cpu.max or v1 cpu.cfs_quota_us / cpu.cfs_period_us), so
// possibly a fraction (0.15 under a 15% quota); > 0.
double UsableCpus(const std::string& root = "");

// UsableCpus rounded up: the threads worth running; at least 1.
int UsableCores(const std::string& root = "");

// CPUs online on the host (every process's, not only this one's); at least 1.
int OnlineCores(const std::string& root = "");

// Names the host this process runs on: the same for every process that
// shares its kernel, and so its cores (network namespaces and containers
// included), and new at every boot. 16 hex characters of a digest of the
// kernel's boot id (else /etc/machine-id, else the host name), not the id
// itself. "" when none can be read.
std::string HostId(const std::string& root = "");

// Bytes of memory available to this process now: MemAvailable from
// /proc/meminfo, lowered to the cgroup's memory limit less its usage (v2
// memory.max - memory.current, v1 memory.limit_in_bytes - usage_in_bytes).
// 0 when nothing says.
uint64_t AvailableMemory(const std::string& root = "");

// Throttling, as bits (these numbers are on the wire: do not renumber).
enum ThrottleFlags : uint32_t {
  kThrottledNow = 1u << 0,         // the CPU runs below its speed now (frequency capped or throttled)
  kThrottledBefore = 1u << 1,      // it has been, since the daemon started (a Pi: since boot)
  kUnderVoltageNow = 1u << 2,      // a Pi's supply is too weak now
  kTemperatureLimitNow = 1u << 3,  // a Pi's soft temperature limit is active now
  kThrottleReported = 1u << 31,    // this device reports throttling at all (else the bits above say nothing)
};

struct DeviceHealth {
  double cpu_temp_c = -1;       // the hottest CPU thermal zone, degrees C; < 0: unknown
  uint32_t throttle_flags = 0;  // ThrottleFlags
  bool throttled_now() const { return (throttle_flags & kThrottledNow) != 0; }
};

// Reads temperature and throttling; keeps what it needs to tell "now" from
// "before" (x86 counts throttle events: an increase since the previous read
// is throttling now). Sources: /sys/class/thermal/thermal_zone*/ (zones whose
// type names the CPU or SoC, else all), a Raspberry Pi's firmware
// (/sys/devices/platform/soc/soc:firmware/get_throttled, the bits
// `vcgencmd get_throttled` prints), x86's
// /sys/devices/system/cpu/cpu*/thermal_throttle/core_throttle_count. Not
// thread-safe.
class DeviceMonitor {
 public:
  explicit DeviceMonitor(std::string root = "");
  DeviceHealth Read();

 private:
  std::string root_;
  bool seen_ = false;        // throttled at some read (or the first x86 count)
  bool have_count_ = false;  // x86: a count read before
  uint64_t last_count_ = 0;
};

// "72.5 C, throttled now (temperature limit)" and the like; "" when nothing
// is known.
std::string DescribeHealth(const DeviceHealth& h);

}  // namespace tandem
