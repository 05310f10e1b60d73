# Sourced by the tests that bring up an emulated cluster: exits 77 (ctest's
# "skipped") with the reason when this machine cannot (not root, no network
# namespaces, no iptables).
if [ "$(id -u)" -ne 0 ]; then echo "skipped: the emulated cluster needs root"; exit 77; fi
if ! ip netns add tdskipprobe$$ 2>/dev/null; then echo "skipped: cannot create network namespaces here"; exit 77; fi
ip netns del tdskipprobe$$
command -v iptables >/dev/null || { echo "skipped: iptables is not installed"; exit 77; }
