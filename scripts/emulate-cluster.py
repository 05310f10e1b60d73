#!/usr/bin/env python3
"""Emulates a cluster of edge devices on this machine: each node a
tandem-worker in its own network namespace on a private bridge, with its own
CPU share (cgroup v1 cpu quota; with io_cpu_share, a second quota for the
worker's ZeroMQ I/O thread, as a core of its own on a multi-core board),
memory budget, uplink and downlink bandwidth (tc tbf) and packet loss
(iptables statistic). Writes the cluster config that
`tandem-dispatcher run --cluster` takes.

  emulate-cluster.py up --profile configs/emulation/pi4-ethernet.json --nodes 3 --dir DIR [--build build]
                        [-- COMMAND ...]
      brings the cluster up and writes DIR/cluster.json; runs COMMAND (with
      $TANDEM_CLUSTER set to it) and tears down when it ends, or holds until
      Ctrl-C / SIGTERM and tears down then.
  emulate-cluster.py fault --dir DIR (kill|stop|cont|cut|heal) NODE...
  emulate-cluster.py fault --dir DIR partition NODE...   (those nodes reach only each other)
  emulate-cluster.py fault --dir DIR heal-all
  emulate-cluster.py fault --dir DIR shape NODE... [--cpu SHARE] [--uplink MBPS] [--downlink MBPS]
                                                        (a running node slows or speeds up; nothing restarts)
  emulate-cluster.py stats --dir DIR                    (cgroup CPU time and throttling, qdisc drops per node)
  emulate-cluster.py down --dir DIR                     (tears down what DIR/state.json names)

Needs root, network namespaces, iproute2, iptables and the cgroup v1 cpu
controller; refuses clearly otherwise. It creates only interfaces,
namespaces and cgroups named after its own tag and touches no other
interface (its only rule in the root namespace names its own veth). Added
latency: every node's incoming packets, and the dispatcher's from the
emulated network, are held latency_ms by tandem-delayer (NFQUEUE).
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

CGROUP_CPU = "/sys/fs/cgroup/cpu"
CONTROL_PORT = 5550
NODE_FIELDS = {"cpu_share", "io_cpu_share", "memory_mb", "uplink_mbps", "downlink_mbps", "latency_ms", "loss",
               "threads"}


class Refused(Exception):
    pass


PROCS = {}  # node name -> Popen of its worker (this process's children)


def sh(*args, check=True, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def load_profile(path):
    try:
        with open(path) as f:
            p = json.load(f)
    except (OSError, ValueError) as e:
        raise Refused(f"{path}: {e}")
    if not isinstance(p, dict) or not isinstance(p.get("node"), dict):
        raise Refused(f"{path}: needs a \"node\" object with the per-node settings")
    for key in p["node"]:
        if key not in NODE_FIELDS:
            raise Refused(f"{path}: node.{key}: unknown field (known: {', '.join(sorted(NODE_FIELDS))})")
    node = {"cpu_share": 1.0, "memory_mb": 0, "uplink_mbps": 1000, "downlink_mbps": 1000, "latency_ms": 0.2,
            "loss": 0.0, "threads": 1, "io_cpu_share": 0}
    node.update(p["node"])
    for key in ("cpu_share", "uplink_mbps", "downlink_mbps"):
        if not (isinstance(node[key], (int, float)) and node[key] > 0):
            raise Refused(f"{path}: node.{key}: must be a positive number")
    if not (0 <= node["loss"] < 1):
        raise Refused(f"{path}: node.loss: must be in [0, 1)")
    if not (isinstance(node["io_cpu_share"], (int, float)) and node["io_cpu_share"] >= 0):
        raise Refused(f"{path}: node.io_cpu_share: must be a number, 0 or more (0: no share of its own)")
    return p.get("name", os.path.basename(path)), node


def preflight():
    if os.geteuid() != 0:
        raise Refused("needs root (network namespaces, tc, iptables, cgroups)")
    for tool in ("ip", "tc", "iptables"):
        if shutil.which(tool) is None:
            raise Refused(f"'{tool}' is not installed (scripts/install-deps.sh installs it)")
    if not os.path.isdir(CGROUP_CPU) or not os.path.exists(os.path.join(CGROUP_CPU, "cpu.cfs_quota_us")):
        raise Refused(f"no cgroup v1 cpu controller at {CGROUP_CPU}")
    probe = f"tdprobe{os.getpid()}"
    if sh("ip", "netns", "add", probe, check=False).returncode != 0:
        raise Refused("cannot create network namespaces here")
    sh("ip", "netns", "del", probe, check=False)


def up(args):
    preflight()
    name, node = load_profile(args.profile)
    if not 1 <= args.nodes <= 64:
        raise Refused("--nodes must be in 1..64")
    worker_bin = os.path.abspath(os.path.join(args.build, "bin/tandem-worker"))
    if not os.access(worker_bin, os.X_OK):
        raise Refused(f"{worker_bin}: not built")
    delayer_bin = os.path.abspath(os.path.join(args.build, "bin/tandem-delayer"))
    if node["latency_ms"] > 0 and not os.access(delayer_bin, os.X_OK):
        raise Refused(f"latency_ms needs {delayer_bin} (built when libnetfilter-queue-dev is installed)")
    os.makedirs(args.dir, exist_ok=True)
    for stale in ("cluster.json", "state.json"):
        if os.path.exists(os.path.join(args.dir, stale)):
            os.remove(os.path.join(args.dir, stale))
    if not args.insecure:
        # CurveZMQ on every link (docs/security.md): the dispatcher's key pair
        # and the file of keys the workers obey; the workers' own pairs below.
        dispatcher_bin = os.path.abspath(os.path.join(args.build, "bin/tandem-dispatcher"))
        keygen(dispatcher_bin, os.path.join(args.dir, "dispatcher.key"))
        shutil.copyfile(os.path.join(args.dir, "dispatcher.key.pub"), os.path.join(args.dir, "authorized_keys"))
    tag = "td%04x" % random.randrange(0x10000)
    subnet = f"10.213.{random.randrange(1, 255)}"
    state = {"tag": tag, "subnet": subnet, "profile": name, "hub": f"{tag}-hub", "root_veth": f"{tag}-d",
             "cgroup": os.path.join(CGROUP_CPU, tag), "nodes": [], "dir": os.path.abspath(args.dir)}
    state_path = os.path.join(args.dir, "state.json")

    def save():
        with open(state_path, "w") as f:
            json.dump(state, f, indent=1)

    save()
    try:
        hub = state["hub"]
        sh("ip", "netns", "add", hub)
        sh("ip", "-n", hub, "link", "set", "lo", "up")
        sh("ip", "-n", hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", hub, "link", "set", "br0", "up")
        rv = state["root_veth"]
        sh("ip", "link", "add", rv, "type", "veth", "peer", "name", f"{tag}-dh")
        sh("ip", "link", "set", f"{tag}-dh", "netns", hub)
        sh("ip", "-n", hub, "link", "set", f"{tag}-dh", "master", "br0", "up")
        sh("ip", "addr", "add", f"{subnet}.1/24", "dev", rv)
        sh("ip", "link", "set", rv, "up")
        if node["latency_ms"] > 0:
            # The dispatcher's incoming traffic from the emulated network is
            # delayed too; the rule names our interface only.
            state["root_queue"] = 40000 + random.randrange(20000)
            state["root_delayer_pid"] = spawn_delayer(delayer_bin, None, state["root_queue"], node["latency_ms"],
                                                      os.path.join(args.dir, "delayer-dispatcher.log"))
            sh("iptables", "-I", "INPUT", "-i", rv, "-j", "NFQUEUE", "--queue-num", str(state["root_queue"]),
               "--queue-bypass")
            save()
        os.makedirs(state["cgroup"], exist_ok=True)
        for i in range(args.nodes):
            n = {"name": f"n{i}", "ns": f"{tag}-n{i}", "ip": f"{subnet}.{10 + i}", "hub_veth": f"{tag}-h{i}",
                 "cgroup": os.path.join(state["cgroup"], f"n{i}"), "pid": 0}
            state["nodes"].append(n)
            save()
            ns = n["ns"]
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "link", "add", n["hub_veth"], "type", "veth", "peer", "name", f"{tag}-e{i}")
            sh("ip", "link", "set", f"{tag}-e{i}", "netns", ns)
            sh("ip", "-n", ns, "link", "set", f"{tag}-e{i}", "name", "eth0")
            sh("ip", "-n", ns, "addr", "add", f"{n['ip']}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "link", "set", n["hub_veth"], "netns", hub)
            sh("ip", "-n", hub, "link", "set", n["hub_veth"], "master", "br0", "up")
            # Bandwidth: the node's uplink leaves eth0; its downlink leaves
            # the hub's port towards it.
            for dev, rate, where in (("eth0", node["uplink_mbps"], ns), (n["hub_veth"], node["downlink_mbps"], hub)):
                set_rate(dev, rate, where)
            if node["loss"] > 0:
                sh("iptables", "-A", "INPUT", "-i", "eth0", "-m", "statistic", "--mode", "random", "--probability",
                   str(node["loss"]), "-j", "DROP", ns=ns)
            if node["latency_ms"] > 0:
                # Delay on the receiving side (in a sender's OUTPUT chain it
                # would throttle TCP). --queue-bypass: no delayer, no delay.
                n["delayer_pid"] = spawn_delayer(delayer_bin, ns, 0, node["latency_ms"],
                                                 os.path.join(args.dir, f"delayer-n{i}.log"))
                sh("iptables", "-A", "INPUT", "-i", "eth0", "-j", "NFQUEUE", "--queue-num", "0", "--queue-bypass",
                   ns=ns)
            os.makedirs(n["cgroup"], exist_ok=True)
            set_cpu_share(n["cgroup"], node["cpu_share"])
            if node["io_cpu_share"] > 0:
                # A sibling group, not a child: a child's quota would come
                # out of the node's own.
                n["io_cgroup"] = n["cgroup"] + "-io"
                n["io_ratio"] = node["io_cpu_share"] / node["cpu_share"]
                os.makedirs(n["io_cgroup"], exist_ok=True)
                set_cpu_share(n["io_cgroup"], node["io_cpu_share"])
            log = open(os.path.join(args.dir, f"n{i}.log"), "w")
            if args.insecure:
                security = "--insecure"
            else:
                key = os.path.join(args.dir, f"n{i}.key")
                keygen(worker_bin, key)
                security = f"--secret-key {key} --authorized-keys {os.path.join(args.dir, 'authorized_keys')}"
            # nsenter, not `ip netns exec`: that mounts a fresh /sys without
            # the cgroup hierarchy, and the worker reads its CPU quota there
            # (it reports it to the dispatcher's planner).
            cmd = (f"echo $$ > {n['cgroup']}/cgroup.procs && exec nsenter --net=/run/netns/{ns} {worker_bin} "
                   f"--listen tcp://{n['ip']}:{CONTROL_PORT} --name n{i} --threads {node['threads']} "
                   f"--memory-mb {node['memory_mb']} {security}")
            p = subprocess.Popen(["sh", "-c", cmd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            PROCS[n["name"]] = p
            n["pid"] = p.pid
            save()
        wait_workers(state)
        for n in state["nodes"]:
            if n.get("io_cgroup"):
                move_io_threads(n)
        cluster = {
            "dispatcher": {"results_bind": f"tcp://{subnet}.1:*"},
            "timeouts": {"connect_s": 20, "deploy_s": 300, "result_s": 120},
            "workers": [{"name": n["name"], "endpoint": f"tcp://{n['ip']}:{CONTROL_PORT}",
                         "memory_mb": node["memory_mb"], "speed": node["cpu_share"] / node["threads"],
                         "bandwidth_mbps": min(node["uplink_mbps"], node["downlink_mbps"]),
                         # A link's latency is the sum of its ends' (cluster
                         # config); every hop here is delayed once, on receipt.
                         "latency_ms": node["latency_ms"] / 2} for n in state["nodes"]],
            "network": {"dispatcher_latency_ms": node["latency_ms"] / 2},
        }
        if args.insecure:
            cluster["insecure"] = True
        else:
            # Absolute paths: tools copy this config elsewhere (emulation-bench does).
            cluster["dispatcher"]["secret_key"] = os.path.abspath(os.path.join(args.dir, "dispatcher.key"))
            for n in cluster["workers"]:
                n["public_key"] = os.path.abspath(os.path.join(args.dir, f"{n['name']}.key.pub"))
        # Written once every worker listens: its presence means "up".
        tmp = os.path.join(args.dir, "cluster.json.tmp")
        with open(tmp, "w") as f:
            json.dump(cluster, f, indent=1)
        os.replace(tmp, os.path.join(args.dir, "cluster.json"))
    except BaseException:
        down_state(state)
        raise
    print(f"emulate-cluster: {args.nodes} node(s) of '{name}' up; cluster config {args.dir}/cluster.json",
          file=sys.stderr)
    return state


def keygen(binary, secret):
    """A key pair (tandem keygen) unless one is there: secret 0600, SECRET.pub."""
    subprocess.run([binary, "keygen", "--secret", secret, "--if-missing"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def spawn_delayer(delayer_bin, ns, queue, delay_ms, log_path):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + [delayer_bin, "--queue", str(queue), "--delay-ms",
                                                         str(delay_ms)]
    p = subprocess.Popen(cmd, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    time.sleep(0.05)
    if p.poll() is not None:
        raise RuntimeError(f"the delayer exited at once; see {log_path}")
    return p.pid


def wait_workers(state, timeout=60):
    """Until every worker's control port accepts a connection inside its namespace."""
    t0 = time.time()
    for n in state["nodes"]:
        while True:
            r = sh("ss", "-ltnH", f"sport = :{CONTROL_PORT}", ns=n["ns"], check=False)
            if r.returncode == 0 and r.stdout.strip():
                break
            if PROCS[n["name"]].poll() is not None:
                raise RuntimeError(f"worker {n['name']} exited; see {state['dir']}/{n['name']}.log")
            if time.time() - t0 > timeout:
                raise RuntimeError(f"worker {n['name']} did not start listening within {timeout} s")
            time.sleep(0.1)


def move_io_threads(n, timeout=10):
    """Moves the worker's ZeroMQ I/O threads (named ZMQbg/IO/N; they exist
    once it listens) into the node's I/O group: on a multi-core board they
    run on a core that LibTorch's threads leave free, and there they
    encrypt, decrypt and copy what the node sends and receives."""
    t0 = time.time()
    while True:
        moved = 0
        try:
            for tid in os.listdir(f"/proc/{n['pid']}/task"):
                try:
                    with open(f"/proc/{n['pid']}/task/{tid}/comm") as f:
                        if not f.read().startswith("ZMQbg/IO"):
                            continue
                    with open(os.path.join(n["io_cgroup"], "tasks"), "w") as f:
                        f.write(tid)
                    moved += 1
                except OSError:
                    pass  # the thread ended meanwhile
        except OSError as e:
            raise RuntimeError(f"worker {n['name']}: cannot list its threads: {e}")
        if moved:
            return
        if time.time() - t0 > timeout:
            raise RuntimeError(f"worker {n['name']}: no ZeroMQ I/O thread (ZMQbg/IO) to move within {timeout} s")
        time.sleep(0.1)


def down_state(state):
    pids = [state.get("root_delayer_pid")]
    for n in state.get("nodes", []):
        pids += [n.get("pid"), n.get("delayer_pid")]
    for pid in pids:
        if pid:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
    if state.get("root_queue"):
        sh("iptables", "-D", "INPUT", "-i", state["root_veth"], "-j", "NFQUEUE", "--queue-num",
           str(state["root_queue"]), "--queue-bypass", check=False)
    time.sleep(0.2)
    for n in state.get("nodes", []):
        sh("ip", "netns", "del", n["ns"], check=False)
    sh("ip", "netns", "del", state["hub"], check=False)
    sh("ip", "link", "del", state["root_veth"], check=False)
    for n in state.get("nodes", []):
        for group in (n["cgroup"], n.get("io_cgroup")):
            for _ in range(50):
                try:
                    if group and os.path.isdir(group):
                        os.rmdir(group)
                    break
                except OSError:
                    time.sleep(0.1)  # its processes are still exiting
    try:
        if os.path.isdir(state["cgroup"]):
            os.rmdir(state["cgroup"])
    except OSError as e:
        print(f"emulate-cluster: cannot remove {state['cgroup']}: {e}", file=sys.stderr)


def read_state(d):
    try:
        with open(os.path.join(d, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise Refused(f"{d}/state.json: {e}; is an emulated cluster up there?")


def node_of(state, name):
    for n in state["nodes"]:
        if n["name"] == name:
            return n
    raise Refused(f"no node '{name}' (nodes: {', '.join(n['name'] for n in state['nodes'])})")


def fault(args):
    state = read_state(args.dir)
    if args.action == "heal-all":
        for n in state["nodes"]:
            sh("ip", "-n", state["hub"], "link", "set", n["hub_veth"], "up", check=False)
            sh("iptables", "-F", "TANDEM-PARTITION", ns=n["ns"], check=False)
        return
    nodes = [node_of(state, x) for x in args.nodes]
    if not nodes:
        raise Refused(f"fault {args.action}: name at least one node")
    if args.action == "shape":
        shape(state, nodes, args)
        return
    for n in nodes:
        if args.action in ("kill", "stop", "cont"):
            sig = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP, "cont": signal.SIGCONT}[args.action]
            os.kill(n["pid"], sig)
        elif args.action in ("cut", "heal"):
            sh("ip", "-n", state["hub"], "link", "set", n["hub_veth"], "down" if args.action == "cut" else "up")
        elif args.action == "partition":
            inside = {m["ip"] for m in nodes}
            sh("iptables", "-N", "TANDEM-PARTITION", ns=n["ns"], check=False)
            sh("iptables", "-F", "TANDEM-PARTITION", ns=n["ns"])
            sh("iptables", "-C", "INPUT", "-j", "TANDEM-PARTITION", ns=n["ns"], check=False).returncode == 0 or \
                sh("iptables", "-I", "INPUT", "-j", "TANDEM-PARTITION", ns=n["ns"])
            sh("iptables", "-A", "TANDEM-PARTITION", "-i", "lo", "-j", "RETURN", ns=n["ns"])
            for ip in sorted(inside):
                sh("iptables", "-A", "TANDEM-PARTITION", "-s", ip, "-j", "RETURN", ns=n["ns"])
            sh("iptables", "-A", "TANDEM-PARTITION", "-j", "DROP", ns=n["ns"])


def set_cpu_share(cgroup, share):
    """A node's CPU quota: `share` of one CPU, with a period short enough that
    bursts are throttled too (the kernel's smallest quota is 1 ms)."""
    period = min(1000000, max(4000, int(1000 / share) + 1))  # the kernel's bounds: 1 ms quota, 1 s period
    with open(os.path.join(cgroup, "cpu.cfs_period_us"), "w") as f:
        f.write(str(period))
    with open(os.path.join(cgroup, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(int(period * share)))


def set_rate(dev, rate, ns):
    burst = max(32, int(rate * 1000 / 8 / 250))  # kbit: about 4 ms at the rate
    sh("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{rate}mbit", "burst", f"{burst}kb",
       "latency", "100ms", ns=ns)


def shape(state, nodes, args):
    """Changes running nodes without stopping them: CPU share, link rates."""
    if args.cpu is None and args.uplink is None and args.downlink is None:
        raise Refused("fault shape: give --cpu, --uplink and/or --downlink")
    if args.cpu is not None and not 0.001 <= args.cpu <= 64:
        raise Refused("fault shape: --cpu must be in 0.001..64 (CPUs)")
    for rate in (args.uplink, args.downlink):
        if rate is not None and not 0.01 <= rate <= 100000:
            raise Refused("fault shape: --uplink and --downlink must be in 0.01..100000 Mbit/s")
    for n in nodes:
        if args.cpu is not None:
            set_cpu_share(n["cgroup"], args.cpu)
            if n.get("io_cgroup"):
                # A board that slows (heat, a neighbour) slows on every core.
                set_cpu_share(n["io_cgroup"], args.cpu * n["io_ratio"])
        if args.uplink is not None:
            set_rate("eth0", args.uplink, n["ns"])
        if args.downlink is not None:
            set_rate(n["hub_veth"], args.downlink, state["hub"])
        print(f"emulate-cluster: {n['name']} shaped: " + ", ".join(
            f"{k} {v}" for k, v in (("cpu", args.cpu), ("uplink Mbit/s", args.uplink),
                                    ("downlink Mbit/s", args.downlink)) if v is not None), file=sys.stderr)


def process_cpu_seconds(pid):
    """CPU time (user + system) a process has used so far; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def nfqueue_dropped(ns):
    """Packets the kernel dropped from a namespace's NFQUEUE queues (queue
    full, or the delayer's socket full)."""
    r = sh("cat", "/proc/net/netfilter/nfnetlink_queue", ns=ns, check=False)
    total = 0
    for line in (r.stdout or "").splitlines():
        f = line.split()
        if len(f) >= 7:
            total += int(f[5]) + int(f[6])  # queue_dropped, user_dropped
    return total


def stop_group(p, sig, wait_s):
    """Sends `sig` to the process group `p` leads; True once the group is
    gone (or was already) within wait_s."""
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.time() + wait_s
    while time.time() < deadline:
        p.poll()
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def cgroup_cpu_seconds(cgroup):
    """CPU time (user + system) used so far by the processes in a cgroup."""
    try:
        with open(os.path.join(cgroup, "cgroup.procs")) as f:
            pids = [line.strip() for line in f if line.strip()]
    except OSError:
        return 0.0
    return sum(process_cpu_seconds(pid) for pid in pids)


def stats(args):
    state = read_state(args.dir)
    out = {}
    for n in state["nodes"]:
        s = {}
        try:
            with open(os.path.join(n["cgroup"], "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    s[k] = int(v)
        except OSError:
            pass
        s["cpu_s"] = cgroup_cpu_seconds(n["cgroup"])
        s["delayer_dropped"] = nfqueue_dropped(n["ns"])
        if n.get("delayer_pid"):
            s["delayer_cpu_s"] = process_cpu_seconds(n["delayer_pid"])
        drops = 0
        for dev, ns in (("eth0", n["ns"]), (n["hub_veth"], state["hub"])):
            r = sh("tc", "-s", "-j", "qdisc", "show", "dev", dev, ns=ns, check=False)
            try:
                drops += sum(q.get("drops", 0) for q in json.loads(r.stdout or "[]"))
            except ValueError:
                pass
        s["qdisc_drops"] = drops
        out[n["name"]] = s
    root = state.get("root_delayer_pid")
    json.dump({"nodes": out, "dispatcher_delayer_cpu_s": process_cpu_seconds(root) if root else 0.0}, sys.stdout,
              indent=1)
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up")
    u.add_argument("--profile", required=True)
    u.add_argument("--nodes", type=int, required=True)
    u.add_argument("--dir", required=True)
    u.add_argument("--build", default="build")
    u.add_argument("--insecure", action="store_true",
                   help="plain links, no keys (every link is CurveZMQ otherwise)")
    u.add_argument("command", nargs=argparse.REMAINDER)
    f = sub.add_parser("fault")
    f.add_argument("--dir", required=True)
    f.add_argument("action", choices=["kill", "stop", "cont", "cut", "heal", "partition", "heal-all", "shape"])
    f.add_argument("nodes", nargs="*")
    f.add_argument("--cpu", type=float, help="shape: the node's CPU share (0.05: a twentieth of a CPU)")
    f.add_argument("--uplink", type=float, help="shape: its uplink, Mbit/s")
    f.add_argument("--downlink", type=float, help="shape: its downlink, Mbit/s")
    for name in ("stats", "down"):
        s = sub.add_parser(name)
        s.add_argument("--dir", required=True)
    args = ap.parse_args()
    try:
        if args.cmd == "up":
            command = args.command[1:] if args.command[:1] == ["--"] else args.command
            state = up(args)
            stop = {"now": False}

            def on_signal(signum, _frame):
                stop["now"] = True

            signal.signal(signal.SIGINT, on_signal)
            signal.signal(signal.SIGTERM, on_signal)
            rc = 0
            try:
                if command:
                    env = dict(os.environ, TANDEM_CLUSTER=os.path.join(args.dir, "cluster.json"))
                    # Its own process group, so that stopping it stops what it
                    # started too (a shell script's dispatcher, say).
                    p = subprocess.Popen(command, env=env, start_new_session=True)
                    while p.poll() is None and not stop["now"]:
                        time.sleep(0.1)
                    if p.poll() is None:
                        stop_group(p, signal.SIGTERM, 30) or stop_group(p, signal.SIGKILL, 10)
                    else:
                        stop_group(p, signal.SIGTERM, 5)  # what it left running
                    rc = p.returncode
                else:
                    while not stop["now"]:
                        time.sleep(0.2)
            finally:
                down_state(state)
                print("emulate-cluster: torn down", file=sys.stderr)
            return rc
        if args.cmd == "down":
            down_state(read_state(args.dir))
        elif args.cmd == "fault":
            fault(args)
        elif args.cmd == "stats":
            stats(args)
        return 0
    except Refused as e:
        print(f"emulate-cluster: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"emulate-cluster: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
