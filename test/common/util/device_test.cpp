#include "common/util/device.h"

#include <catch2/catch.hpp>

#include "common/util/files.h"
#include "support.h"

namespace tandem {
namespace {

// A file under the fake root, its directories made.
void Put(const std::string& root, const std::string& path, const std::string& text) {
  const std::string full = root + path;
  REQUIRE(MakeDirs(full.substr(0, full.rfind('/'))).ok());
  REQUIRE(WriteFileAtomic(full, text).ok());
}

TEST_CASE("device: cores from affinity and the cgroup's CPU quota", "[device]") {
  test::TempDir dir;
  const std::string r = dir.path();
  CHECK(UsableCores(r) == 1);  // nothing known: one
  Put(r, "/sys/devices/system/cpu/online", "0-3\n");
  CHECK(UsableCores(r) == 4);
  Put(r, "/proc/self/cgroup", "0::/tandem.slice\n");
  Put(r, "/sys/fs/cgroup/tandem.slice/cpu.max", "150000 100000\n");
  CHECK(UsableCores(r) == 2);  // 1.5 CPUs, rounded up
  CHECK(UsableCpus(r) == Approx(1.5));
  CHECK(OnlineCores(r) == 4);  // the host's, whatever the quota
  Put(r, "/sys/fs/cgroup/tandem.slice/cpu.max", "max 100000\n");
  CHECK(UsableCores(r) == 4);
  // cgroup v1, as the emulated cluster sets it: a 0.15 CPU quota.
  Put(r, "/proc/self/cgroup", "5:cpu,cpuacct:/node1\n");
  Put(r, "/sys/fs/cgroup/cpu,cpuacct/node1/cpu.cfs_quota_us", "600\n");
  Put(r, "/sys/fs/cgroup/cpu,cpuacct/node1/cpu.cfs_period_us", "4000\n");
  CHECK(UsableCores(r) == 1);
  CHECK(UsableCpus(r) == Approx(0.15));
  CHECK(UsableCores() >= 1);  // this machine
  CHECK(UsableCpus() <= OnlineCores());
}

TEST_CASE("device: the host id is a digest of the boot id, else the machine-id", "[device]") {
  test::TempDir dir;
  const std::string r = dir.path();
  Put(r, "/proc/sys/kernel/hostname", "pi-3\n");
  const std::string by_name = HostId(r);
  CHECK(by_name.size() == 16);
  Put(r, "/etc/machine-id", "5d2e1c0b9a8f4e3d2c1b0a9f8e7d6c5b\n");
  const std::string by_machine = HostId(r);
  CHECK(by_machine.size() == 16);
  CHECK(by_machine != by_name);
  CHECK(by_machine.find("5d2e1c0b") == std::string::npos);  // not the id itself
  // Two Pis from one image share a machine-id, not a boot id: the boot id wins.
  Put(r, "/proc/sys/kernel/random/boot_id", "0f3c2a8e-5a8d-4a63-9c55-4d1bba1c1e11\n");
  const std::string by_boot = HostId(r);
  CHECK(by_boot != by_machine);
  CHECK(HostId(r) == by_boot);  // stable
  CHECK(HostId() == HostId());  // this machine
}

TEST_CASE("device: available memory, lowered to the cgroup's limit", "[device]") {
  test::TempDir dir;
  const std::string r = dir.path();
  CHECK(AvailableMemory(r) == 0);
  Put(r, "/proc/meminfo", "MemTotal:        3884000 kB\nMemFree:          100000 kB\nMemAvailable:    3000000 kB\n");
  CHECK(AvailableMemory(r) == 3000000ull * 1024);
  Put(r, "/proc/self/cgroup", "0::/w\n");
  Put(r, "/sys/fs/cgroup/w/memory.max", "2147483648\n");
  Put(r, "/sys/fs/cgroup/w/memory.current", "1073741824\n");
  CHECK(AvailableMemory(r) == 1073741824ull);
  Put(r, "/sys/fs/cgroup/w/memory.max", "max\n");
  CHECK(AvailableMemory(r) == 3000000ull * 1024);
  CHECK(AvailableMemory() > 0);  // this machine
}

TEST_CASE("device: temperature and a Raspberry Pi's throttling bits", "[device]") {
  test::TempDir dir;
  const std::string r = dir.path();
  DeviceMonitor none(r);
  DeviceHealth h = none.Read();
  CHECK(h.cpu_temp_c < 0);
  CHECK(h.throttle_flags == 0);
  CHECK(DescribeHealth(h).empty());

  Put(r, "/sys/class/thermal/thermal_zone0/type", "acpitz\n");
  Put(r, "/sys/class/thermal/thermal_zone0/temp", "75000\n");
  Put(r, "/sys/class/thermal/thermal_zone1/type", "cpu-thermal\n");
  Put(r, "/sys/class/thermal/thermal_zone1/temp", "61234\n");
  Put(r, "/sys/devices/platform/soc/soc:firmware/get_throttled", "0x0\n");
  DeviceMonitor pi(r);
  h = pi.Read();
  CHECK(h.cpu_temp_c == Approx(61.234));  // the CPU's zone, not the hotter other one
  CHECK(h.throttle_flags == kThrottleReported);
  CHECK(DescribeHealth(h) == "61.2 C, not throttled");
  // Throttled now for heat, with under-voltage since boot.
  Put(r, "/sys/devices/platform/soc/soc:firmware/get_throttled", "0x5000c\n");
  h = pi.Read();
  CHECK(h.throttled_now());
  CHECK((h.throttle_flags & kTemperatureLimitNow) != 0);
  CHECK((h.throttle_flags & kUnderVoltageNow) == 0);
  CHECK((h.throttle_flags & kThrottledBefore) != 0);
  CHECK(DescribeHealth(h) == "61.2 C, throttled now (temperature limit)");
  Put(r, "/sys/devices/platform/soc/soc:firmware/get_throttled", "0x0\n");
  h = pi.Read();
  CHECK_FALSE(h.throttled_now());
  CHECK(DescribeHealth(h) == "61.2 C, throttled before, not now");
  Put(r, "/sys/devices/platform/soc/soc:firmware/get_throttled", "0x1\n");
  CHECK(DescribeHealth(pi.Read()) == "61.2 C, throttled before, not now (under-voltage)");
}

TEST_CASE("device: x86 throttle counts, more than last time is throttling now", "[device]") {
  test::TempDir dir;
  const std::string r = dir.path();
  Put(r, "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "5\n");
  Put(r, "/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "0\n");
  DeviceMonitor m(r);
  DeviceHealth h = m.Read();
  CHECK(h.throttle_flags == kThrottleReported);  // the first count is the baseline
  Put(r, "/sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count", "2\n");
  h = m.Read();
  CHECK(h.throttled_now());
  h = m.Read();
  CHECK_FALSE(h.throttled_now());
  CHECK((h.throttle_flags & kThrottledBefore) != 0);
}

}  // namespace
}  // namespace tandem
