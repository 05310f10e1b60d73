#!/usr/bin/env python3
"""Recovery benchmark: time from a fault to the first result of the new
pipeline, and throughput after recovery against a fresh deployment.

Starts N tandem-worker processes on loopback, streams synthetic inputs with
tandem-dispatcher (the planner chooses the stages), injects a fault into the
worker running stage 1 once the stream is steady, and reads the dispatcher's
results.jsonl. Then it deploys the pipeline the dispatcher recovered to (same
cuts, same workers) afresh with `run --plan` and streams the same requests, to
compare throughput. Each fault is repeated; medians are printed as a Markdown
table.

  bench/recovery-bench.py [--build build] [--model resnet18.traced.pt]
                          [--workers 4] [--requests 1500] [--repeats 5]
                          [--faults kill,stop,cut]

"cut" (a link cut with iptables on loopback) needs root and is skipped
otherwise. Only the standard library is used.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, build, n, tmp):
        self.procs, self.entries, self.ports = [], [], []
        for i in range(n):
            c, d = free_port(), free_port()
            log = open(os.path.join(tmp, f"w{i}.log"), "w")
            p = subprocess.Popen([os.path.join(build, "bin/tandem-worker"), "--listen", f"tcp://127.0.0.1:{c}",
                                  "--data-listen", f"tcp://127.0.0.1:{d}", "--name", f"w{i}", "--threads", "1"],
                                 stdout=log, stderr=subprocess.STDOUT)
            self.procs.append(p)
            self.entries.append({"name": f"w{i}", "endpoint": f"tcp://127.0.0.1:{c}"})
            self.ports.append((c, d))
        time.sleep(1.5)

    def config(self, path, only=None):
        workers = [e for e in self.entries if only is None or e["name"] in only]
        with open(path, "w") as f:
            json.dump({"timeouts": {"connect_s": 10, "result_s": 120}, "workers": workers}, f)
        return path

    def close(self):
        for p in self.procs:
            try:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(5)
            except Exception:
                pass


def iptables(args):
    return subprocess.run(["iptables", "-w", "5"] + args, capture_output=True).returncode == 0


def cut_rules(ports):
    return [["INPUT", "-i", "lo", "-p", "tcp", flag, str(p), "-m", "comment", "--comment", "tandem-bench", "-j", "DROP"]
            for p in ports for flag in ("--dport", "--sport")]


def results(out):
    path = os.path.join(out, "results.jsonl")
    if not os.path.exists(path):
        return []
    rs = []
    with open(path) as f:
        for line in f:
            try:
                rs.append(json.loads(line))
            except ValueError:
                pass
    return rs


def steady_rate(rs, after):
    """Results per second over those received from `after` on."""
    ts = sorted(r["received_unix_s"] for r in rs if r["received_unix_s"] >= after)
    if len(ts) < 20:
        return float("nan")
    return (len(ts) - 1) / (ts[-1] - ts[0])


def run_dispatcher(args, config, out, log, extra=()):
    cmd = [os.path.join(args.build, "bin/tandem-dispatcher"), "run", "-m", args.model, "-c", config,
           "--synthetic", str(args.requests), "-s", args.shape, "-o", out, "--warmup", "1", "--repeats", "3"]
    cmd += list(extra)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), cmd


def one_run(args, fault, tmp):
    cluster = Cluster(args.build, args.workers, tmp)
    out = os.path.join(tmp, "out")
    shutil.rmtree(out, ignore_errors=True)
    logpath = os.path.join(tmp, "dispatcher.log")
    rules = []
    try:
        with open(logpath, "w") as log:
            d, cmd = run_dispatcher(args, cluster.config(os.path.join(tmp, "c.json")), out, log)
            # Steady state: a while after the first result.
            t0 = time.time()
            while len(results(out)) < args.before and d.poll() is None and time.time() - t0 < 120:
                time.sleep(0.02)
            with open(logpath) as f:
                m = re.search(r"pipeline 1 \(model generation 1, (\d+) stage\(s\) on ([^,)]+), ([^,)]+)", f.read())
            if not m or int(m.group(1)) < 2:
                raise RuntimeError("the planner chose fewer than 2 stages; nothing to fail")
            victim = int(m.group(3).strip()[1:])
            rs = results(out)
            before_rate = steady_rate(rs, rs[len(rs) // 3]["received_unix_s"]) if rs else float("nan")
            fault_t = time.time()
            if fault == "kill":
                cluster.procs[victim].kill()
            elif fault == "stop":
                cluster.procs[victim].send_signal(signal.SIGSTOP)
            elif fault == "cut":
                rules = cut_rules(cluster.ports[victim])
                for r in rules:
                    iptables(["-I"] + r)
            d.wait(300)
        rs = results(out)
        if d.returncode != 0 or len(rs) != args.requests or [r["index"] for r in rs] != list(range(args.requests)):
            raise RuntimeError(f"run failed (exit {d.returncode}, {len(rs)} results); see {logpath}")
        new = [r["received_unix_s"] for r in rs if r["pipeline"] > 1]
        if not new:
            raise RuntimeError("the stream ended before the fault was noticed; raise --requests")
        first_new = min(new)
        after_rate = steady_rate([r for r in rs if r["pipeline"] > 1], first_new + 1.0)
        survivors = [e["name"] for i, e in enumerate(cluster.entries) if i != victim]
        with open(logpath) as f:
            text = f.read()
        replayed = re.search(r"(\d+) request\(s\) sent again", text)
        # A fresh deployment of the same pipeline (cuts and workers) on the
        # same worker processes, same requests.
        m2 = re.search(r"pipeline 2 \(model generation 1, \d+ stage\(s\) on ([^)]*), cuts ([^)]*)\)", text)
        if not m2:
            raise RuntimeError("no second pipeline in " + logpath)
        workers = [w.strip() for w in m2.group(1).split(",")]
        cuts = [] if m2.group(2).strip() == "none" else [int(c) for c in m2.group(2).split()]
        plan = os.path.join(tmp, "recovered-plan.json")
        with open(plan, "w") as f:
            json.dump({"cuts": cuts, "workers": workers}, f)
        for r in rules:
            iptables(["-D"] + r)
        rules = []
        cluster.procs[victim].kill()
        fresh_out = os.path.join(tmp, "fresh")
        shutil.rmtree(fresh_out, ignore_errors=True)
        with open(os.path.join(tmp, "fresh.log"), "w") as log:
            f, _ = run_dispatcher(args, cluster.config(os.path.join(tmp, "s.json"), survivors), fresh_out, log,
                                  ["--plan", plan])
            f.wait(300)
        frs = results(fresh_out)
        fresh_rate = steady_rate(frs, frs[0]["received_unix_s"] + 1.0) if frs else float("nan")
        if f.returncode != 0 or len(frs) != args.requests:
            raise RuntimeError(f"the fresh run failed (exit {f.returncode}); see {tmp}/fresh.log")
        return {"recovery_s": first_new - fault_t, "before": before_rate, "after": after_rate, "fresh": fresh_rate,
                "replayed": int(replayed.group(1)) if replayed else 0, "cmd": " ".join(cmd)}
    finally:
        for r in rules:
            iptables(["-D"] + r)
        cluster.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/tandem/fixtures/resnet18.traced.pt"))
    ap.add_argument("--shape", default="1,3,64,64")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--before", type=int, default=300, help="results before the fault")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--faults", default="kill,stop,cut")
    args = ap.parse_args()
    rows = []
    for fault in args.faults.split(","):
        if fault == "cut" and (os.geteuid() != 0 or not iptables(["-L", "INPUT", "-n"])):
            print("skipping 'cut': needs root and iptables", file=sys.stderr)
            continue
        runs = []
        for k in range(args.repeats):
            with tempfile.TemporaryDirectory(prefix="tandem-recovery-") as tmp:
                r = one_run(args, fault, tmp)
            print(f"{fault} #{k + 1}: recovery {r['recovery_s']:.2f} s, {r['replayed']} replayed, throughput "
                  f"before {r['before']:.1f}/s, after {r['after']:.1f}/s, fresh on the survivors {r['fresh']:.1f}/s",
                  file=sys.stderr, flush=True)
            runs.append(r)
        med = lambda key: statistics.median(r[key] for r in runs)
        ratio = statistics.median(r["after"] / r["fresh"] for r in runs)
        rows.append((fault, med("recovery_s"), min(r["recovery_s"] for r in runs), max(r["recovery_s"] for r in runs),
                     med("replayed"), med("before"), med("after"), med("fresh"), ratio))
    print(f"model {os.path.basename(args.model)} {args.shape}, {args.workers} workers on loopback, "
          f"{args.requests} requests, fault after {args.before} results, {args.repeats} runs per fault\n")
    print("| fault | recovery median (min-max) | replayed | throughput before | after recovery | fresh, same pipeline | after / fresh (median of runs) |")
    print("|---|---|---|---|---|---|---|")
    for f, m, lo, hi, rep, b, a, fr, ratio in rows:
        print(f"| {f} | {m:.2f} s ({lo:.2f}-{hi:.2f}) | {rep:.0f} | {b:.1f}/s | {a:.1f}/s | {fr:.1f}/s | {ratio:.2f} |")


if __name__ == "__main__":
    main()
