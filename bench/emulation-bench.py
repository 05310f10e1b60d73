#!/usr/bin/env python3
"""tandem on an emulated edge cluster against one emulated device.

For each model, brings up 1, 2, 4, 6 and 8 emulated nodes of one profile
(scripts/emulate-cluster.py), lets the planner place the model, streams
synthetic inputs and records the dispatcher's report (throughput, latency,
prediction, per-hop bytes and transfer times, per-stage times), the
emulation's counters (cgroup CPU time and throttling, qdisc drops) and the
CPU the dispatcher and the delayers used. Then, on --codec-nodes nodes, each
codec in turn on the same inputs: bytes per hop, codec time, and how often a
lossy codec's top-1 class agrees with the lossless one's.

Run as root from the source tree, after building, with Debian's python3
(numpy; python3-matplotlib for the plots):

  /usr/bin/python3 bench/emulation-bench.py --build build \\
      --fixtures ~/.cache/tandem/fixtures --out /tmp/emulation-bench
  /usr/bin/python3 bench/emulation-bench.py --report-only --out /tmp/emulation-bench \\
      --plots docs/bench

Results accumulate in OUT/results.json (a run whose report exists is not
repeated); --report-only prints the Markdown tables and writes the PNG plots.
"""
import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
EMULATE = os.path.join(SRC, "scripts", "emulate-cluster.py")
SHAPE = "1,3,224,224"
CODECS = ["raw", "lz4", "zfp+lz4", "zfp+lz4:accuracy=0.01"]


def log(*a):
    print("emulation-bench:", *a, file=sys.stderr, flush=True)


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def profile_model(args, model):
    """Profiles the whole model once here at 1 thread: the reference the
    planner scales by each node's speed (CPU share per thread)."""
    path = os.path.join(args.out, f"{model}.profile.json")
    if not os.path.exists(path):
        log(f"profiling {model} (1 thread)")
        subprocess.run([os.path.join(args.build, "bin", "tandem-dispatcher"), "profile", "-m",
                        os.path.join(args.fixtures, f"{model}.traced.pt"), "-s", SHAPE, "-t", "1", "--warmup", "3",
                        "--repeats", "10", "--move-codec", args.codec, "-o", path], check=True,
                       stdout=subprocess.DEVNULL)
    return path


def calibrate(args, model, prof_path):
    """Profiles the model as an emulated node runs it: in a cgroup with the
    profile's CPU quota and period (as emulate-cluster.py sets them), 1
    thread, reporting the mean of back-to-back runs (`profile --mean`: the
    runs that meet the throttle count). Throttled slices start with cold
    caches, so a node is slower than its CPU share says, and not uniformly:
    memory-bound layers suffer more. The planner gets this profile for every
    node. Returns (profile path, speed: whole model here / there)."""
    path = os.path.join(args.out, f"{model}.calibration.json")
    out = os.path.join(args.out, f"{model}.node-profile.json")
    cal = load(path)
    if cal:
        return out, cal["speed"]
    share = load(args.profile)["node"]["cpu_share"]
    period = max(4000, int(1000 / share) + 1)
    cg = "/sys/fs/cgroup/cpu/tandem-bench-calibrate"
    os.makedirs(cg, exist_ok=True)
    try:
        with open(os.path.join(cg, "cpu.cfs_period_us"), "w") as f:
            f.write(str(period))
        with open(os.path.join(cg, "cpu.cfs_quota_us"), "w") as f:
            f.write(str(int(period * share)))
        # Passes through the model (the profile's default timing) for
        # --min-time at least, 3 at least: many CFS periods, so the throttle
        # meets each segment as often as in a pipeline.
        log(f"profiling {model} on an emulated node (CPU share {share}, {args.min_time} s of passes)")
        subprocess.run(["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$0" "$@"',
                        os.path.join(args.build, "bin", "tandem-dispatcher"), "profile", "-m",
                        os.path.join(args.fixtures, f"{model}.traced.pt"), "-s", SHAPE, "-t", "1", "--warmup", "1",
                        "--repeats", "3", "--mean", "--min-time", str(args.min_time), "--move-codec",
                        args.codec, "-o", out],
                       check=True, stdout=subprocess.DEVNULL)
    finally:
        os.rmdir(cg)
    here = load(prof_path)["model_compute_s"]
    throttled = load(out)["model_compute_s"]
    cal = {"cpu_share": share, "period_us": period, "whole_model_s_here": here, "whole_model_s_throttled": throttled,
           "speed": here / throttled}
    save(path, cal)
    log(f"{model}: {throttled * 1e3:.0f} ms on a node, {here * 1e3:.1f} ms here: speed {cal['speed']:.3f}")
    return out, cal["speed"]


def emulate(args, run_dir, nodes, inner):
    """Runs the shell script `inner` on an emulated cluster of `nodes` nodes."""
    script = os.path.join(run_dir, "inner.sh")
    with open(script, "w") as f:
        f.write(inner)
    cmd = [sys.executable, EMULATE, "up", "--profile", args.profile, "--nodes", str(nodes), "--dir",
           os.path.join(run_dir, "emu"), "--build", args.build] + (["--insecure"] if args.insecure else []) + [
               "--", "bash", script]
    with open(os.path.join(run_dir, "emulate.log"), "w") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        try:
            return p.wait(timeout=args.run_timeout)
        except BaseException:
            # Ctrl-C, SIGTERM or the timeout: let the emulator tear its
            # cluster down (SIGINT), never kill it outright.
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                log(f"the emulator did not stop; tear down with: {EMULATE} down --dir {run_dir}/emu")
            raise


def dispatcher_script(args, run_dir, model, prof, node_prof, extra):
    """The command run inside the emulation: the cluster config with each
    node's measured profile, counters, the timed dispatcher, counters again."""
    emu = os.path.join(run_dir, "emu")
    cluster = os.path.join(run_dir, "cluster.json")
    disp = [os.path.join(args.build, "bin", "tandem-dispatcher"), "run", "-m",
            os.path.join(args.fixtures, f"{model}.traced.pt"), "-c", cluster, "--profile", prof,
            "--threads", "1", "--heartbeat-timeout", str(args.heartbeat_timeout),
            "--report", os.path.join(run_dir, "report.json")] + extra
    stats = f"{sys.executable} {EMULATE} stats --dir {emu}"
    return f"""set -e
{sys.executable} -c "import json, os; c = json.load(open(os.environ['TANDEM_CLUSTER']))
for w in c['workers']: w['profile'] = '{node_prof}'
json.dump(c, open('{cluster}', 'w'), indent=1)"
{stats} > {run_dir}/stats-before.json
TIMEFORMAT='%U %S %R'
{{ time {' '.join(disp)} > {run_dir}/dispatcher.out 2> {run_dir}/dispatcher.err ; }} 2> {run_dir}/time.txt
{stats} > {run_dir}/stats-after.json
"""


def collect(args, run_dir, nodes):
    """The run's figures: the report plus the counters, as deltas."""
    rep = load(os.path.join(run_dir, "report.json"))
    before = load(os.path.join(run_dir, "stats-before.json"), {})
    after = load(os.path.join(run_dir, "stats-after.json"), {})
    user, sys_, real = (float(x) for x in open(os.path.join(run_dir, "time.txt")).read().split()[-3:])
    delta = {}
    for name, a in after.get("nodes", {}).items():
        b = before.get("nodes", {}).get(name, {})
        delta[name] = {k: a.get(k, 0) - b.get(k, 0) for k in
                       ("cpu_s", "delayer_cpu_s", "nr_periods", "nr_throttled", "throttled_time", "qdisc_drops",
                                 "delayer_dropped")}
    prof = load(args.profile)["node"]
    return {"report": rep, "nodes": nodes, "node_cpu_share": prof["cpu_share"], "counters": delta,
            "cluster": load(os.path.join(run_dir, "cluster.json")),
            "dispatcher": {"cpu_s": user + sys_, "wall_s": real},
            "delayers_cpu_s": sum(d["delayer_cpu_s"] for d in delta.values()) +
            after.get("dispatcher_delayer_cpu_s", 0) - before.get("dispatcher_delayer_cpu_s", 0)}


def requests_for(args, prof_path, speed, nodes):
    """Enough requests for about --seconds of streaming at the expected rate."""
    prof = load(prof_path)
    per_node = speed / max(prof["model_compute_s"], 1e-6) * 0.8
    window = nodes + 2
    return max(window * 3, math.ceil(args.seconds * per_node * nodes)), window


def scaling(args, results):
    for model in args.models:
        prof = profile_model(args, model)
        node_prof, speed = calibrate(args, model, prof)
        for n in args.nodes:
            key = f"{model}/{n}"
            if key in results["scaling"]:
                continue
            run_dir = os.path.join(args.out, "scaling", model, str(n))
            shutil.rmtree(run_dir, ignore_errors=True)
            os.makedirs(run_dir)
            reqs, window = requests_for(args, prof, speed, n)
            log(f"{model} on {n} node(s): {reqs} requests, window {window}")
            t = time.time()
            rc = emulate(args, run_dir, n, dispatcher_script(
                args, run_dir, model, prof, node_prof,
                ["--synthetic", str(reqs), "-s", SHAPE, "--window", str(window), "--codec", args.codec]))
            if rc != 0 or not os.path.exists(os.path.join(run_dir, "report.json")):
                log(f"{key}: failed (exit {rc}); see {run_dir}")
                continue
            r = collect(args, run_dir, n)
            q = r["report"]["requests"]
            p = r["report"]["predicted"] or {}
            log(f"{key}: {q['steady_throughput_per_s']:.3f}/s measured, {p.get('throughput_per_s', 0):.3f}/s "
                f"predicted, {len(r['report']['pipeline']['workers'])} stage(s), {time.time() - t:.0f} s")
            results["scaling"][key] = r
            save(os.path.join(args.out, "results.json"), results)


def write_inputs(path, count, seed):
    import numpy as np
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        np.save(os.path.join(path, f"in-{i:04d}.npy"), rng.standard_normal((1, 3, 224, 224)).astype(np.float32))


def top1(out_dir, count):
    import numpy as np
    return [int(np.argmax(np.load(os.path.join(out_dir, f"in-{i:04d}.out.npy")))) for i in range(count)]


def codecs(args, results):
    inputs = os.path.join(args.out, "codec-inputs")
    if not os.path.isdir(inputs):
        write_inputs(inputs, args.codec_inputs, 20261128)
    for model in args.models:
        prof = profile_model(args, model)
        node_prof, _ = calibrate(args, model, prof)
        n = args.codec_nodes
        for codec in CODECS:
            key = f"{model}/{codec}"
            if key in results["codecs"]:
                continue
            run_dir = os.path.join(args.out, "codecs", model, codec.replace(":", "_").replace("+", "-"))
            shutil.rmtree(run_dir, ignore_errors=True)
            os.makedirs(run_dir)
            log(f"{model}, codec {codec}, {n} nodes")
            # The stage count is fixed so that every codec crosses the same cuts.
            rc = emulate(args, run_dir, n, dispatcher_script(
                args, run_dir, model, prof, node_prof, ["-i", inputs, "-o", os.path.join(run_dir, "out"), "-k", str(n),
                                             "--codec", codec, "--window", str(n + 2)]))
            if rc != 0 or not os.path.exists(os.path.join(run_dir, "report.json")):
                log(f"{key}: failed (exit {rc}); see {run_dir}")
                continue
            r = collect(args, run_dir, n)
            r["top1"] = top1(os.path.join(run_dir, "out"), args.codec_inputs)
            results["codecs"][key] = r
            save(os.path.join(args.out, "results.json"), results)


# ---- tables and plots --------------------------------------------------------

def stage_breakdown(rep):
    """Per stage (ms): compute, codec (decode + encode), queue, and the
    transfer of the hop into it."""
    rows = []
    for i, s in enumerate(rep["stages"]):
        t = rep["hops"][i]["transfer_ms"] or {}
        rows.append({"compute": s["compute_ms"], "codec": s["decode_ms"] + s["encode_ms"], "queue": s["queue_ms"],
                     "transfer_in": t.get("p50", 0)})
    return rows


def report(args, results):
    lines = []
    sc = results["scaling"]
    lines.append("| model | nodes | stages | inferences/s | speed-up | predicted/s | measured / predicted | p50 latency (ms) "
                 "| predicted bottleneck | CPU: nodes + dispatcher + delayers | throttled | drops: qdisc + delayer |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        base = sc.get(f"{model}/1")
        base_tp = base["report"]["requests"]["steady_throughput_per_s"] if base else 0
        for n in args.nodes:
            r = sc.get(f"{model}/{n}")
            if not r:
                continue
            rep = r["report"]
            q = rep["requests"]
            p = rep["predicted"] or {}
            tp = q["steady_throughput_per_s"]
            wall = r["dispatcher"]["wall_s"]
            cpu = sum(c["cpu_s"] for c in r["counters"].values()) / wall
            disp = r["dispatcher"]["cpu_s"] / wall
            dly = r["delayers_cpu_s"] / wall
            periods = sum(c["nr_periods"] for c in r["counters"].values())
            thr = sum(c["nr_throttled"] for c in r["counters"].values())
            drops = sum(c["qdisc_drops"] for c in r["counters"].values())
            ddrops = (sum(c["delayer_dropped"] for c in r["counters"].values())
                      if all("delayer_dropped" in c for c in r["counters"].values()) else "-")
            lines.append(
                f"| {model} | {n} | {len(rep['pipeline']['workers'])} | {tp:.3f} | "
                f"{tp / base_tp if base_tp else 0:.2f}x | {p.get('throughput_per_s', 0):.3f} | "
                f"{tp / p['throughput_per_s'] * 100 if p.get('throughput_per_s') else 0:.0f}% | "
                f"{q['latency_ms']['p50']:.0f} | {p.get('bottleneck', '-')} | "
                f"{cpu:.2f} + {disp:.2f} + {dly:.2f} = {cpu + disp + dly:.2f} cores | "
                f"{thr / periods * 100 if periods else 0:.0f}% of periods | {drops} + {ddrops} |")
    lines.append("")
    cd = results["codecs"]
    lines.append("| model | codec | bytes per hop (mean over hops, raw = 100%) | encode + decode ms per stage (mean) "
                 "| max abs error | top-1 agrees with lossless | inferences/s |")
    lines.append("|---|---|---|---|---|---|---|")
    for model in args.models:
        ref = cd.get(f"{model}/raw")
        for codec in CODECS:
            r = cd.get(f"{model}/{codec}")
            if not r:
                continue
            rep = r["report"]
            hops = rep["hops"][1:-1] or rep["hops"]
            sent = sum(h["bytes_per_request"] for h in hops)
            raw = sum(h["raw_bytes"] for h in hops)
            codec_ms = sum(s["encode_ms"] + s["decode_ms"] for s in rep["stages"]) / len(rep["stages"])
            err = max(h["max_abs_error"] for h in rep["hops"])
            agree = "-"
            if ref and "top1" in ref:
                same = sum(a == b for a, b in zip(r["top1"], ref["top1"]))
                agree = f"{same}/{len(ref['top1'])}"
            lines.append(f"| {model} | {codec} | {sent / len(hops) / 1e3:.0f} kB ({sent / raw * 100:.0f}%) | "
                         f"{codec_ms:.2f} | {err:.2g} | {agree} | "
                         f"{rep['requests']['steady_throughput_per_s']:.3f} |")
    lines.append("")
    lines.append("| model | nodes | stage | worker | compute ms predicted | compute ms measured | codec ms | queue ms "
                 "| transfer in ms predicted | transfer in ms measured (p50) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models:
        for n in args.breakdown_nodes:
            r = sc.get(f"{model}/{n}")
            if not r:
                continue
            rep = r["report"]
            p = rep["predicted"] or {}
            for i, (row, st) in enumerate(zip(stage_breakdown(rep), rep["stages"])):
                pc = p.get("compute_s", [])
                pt = p.get("transfer_s", [])
                lines.append(f"| {model} | {n} | {i} | {st['worker']} | "
                             f"{pc[i] * 1e3 if i < len(pc) else 0:.1f} | {row['compute']:.1f} | {row['codec']:.1f} | "
                             f"{row['queue']:.1f} | {pt[i] * 1e3 if i < len(pt) else 0:.1f} | {row['transfer_in']:.1f} |")
    print("\n".join(lines))
    if args.plots:
        plot(args, results)


def plot(args, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(args.plots, exist_ok=True)
    sc = results["scaling"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for model in args.models:
        base = sc.get(f"{model}/1")
        if not base:
            continue
        b = base["report"]["requests"]["steady_throughput_per_s"]
        ns = [n for n in args.nodes if f"{model}/{n}" in sc]
        ax.plot(ns, [sc[f"{model}/{n}"]["report"]["requests"]["steady_throughput_per_s"] / b for n in ns], "o-",
                label=f"{model} measured")
        ax.plot(ns, [(sc[f"{model}/{n}"]["report"]["predicted"] or {}).get("throughput_per_s", 0) / b for n in ns],
                "x--", alpha=0.6, label=f"{model} predicted")
    ax.plot(args.nodes, args.nodes, ":", color="gray", label="linear")
    ax.set_xlabel("emulated nodes")
    ax.set_ylabel("throughput / one node's")
    ax.set_title("Throughput against nodes (" + load(args.profile)["name"] + ")", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(args.plots, "emulation-throughput.png"), dpi=110)
    plt.close(fig)

    n = max(args.nodes)
    models = [m for m in args.models if f"{m}/{n}" in sc]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        rows = stage_breakdown(sc[f"{model}/{n}"]["report"])
        x = range(len(rows))
        bottom = [0.0] * len(rows)
        for part, color in (("compute", "C0"), ("codec", "C1"), ("transfer_in", "C2"), ("queue", "C7")):
            vals = [r[part] for r in rows]
            ax.bar(x, vals, bottom=bottom, color=color, label=part.replace("_in", " in"))
            bottom = [b + v for b, v in zip(bottom, vals)]
        pc = (sc[f"{model}/{n}"]["report"]["predicted"] or {}).get("compute_s", [])
        if len(pc) == len(rows):
            ax.scatter(list(x), [c * 1e3 for c in pc], marker="_", s=300, color="k", zorder=3,
                       label="compute predicted")
        ax.set_title(f"{model}, {n} nodes", fontsize=9)
        ax.set_xlabel("stage")
        ax.set_ylabel("ms per request")
        ax.set_xticks(list(x))
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(args.plots, "emulation-stages.png"), dpi=110)
    plt.close(fig)
    log(f"plots in {args.plots}")


def interrupt(signum, frame):
    raise KeyboardInterrupt()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--fixtures", default=os.path.expanduser("~/.cache/tandem/fixtures"))
    ap.add_argument("--profile", default=os.path.join(SRC, "configs", "emulation", "pi4-ethernet.json"))
    ap.add_argument("--cpu-share", type=float, help="override the profile's CPU share per node")
    ap.add_argument("--models", default="resnet50,vgg16,mobilenet_v2")
    ap.add_argument("--nodes", default="1,2,4,6,8")
    ap.add_argument("--seconds", type=float, default=25, help="streaming time to aim for per run")
    ap.add_argument("--heartbeat-timeout", type=float, default=1.0,
                    help="run --heartbeat-timeout (the results in docs/BENCHMARKS.md used 60)")
    ap.add_argument("--min-time", type=float, default=20,
                    help="profiling on an emulated node: seconds of timed passes through the model at least")
    ap.add_argument("--codec", default="raw", help="every hop's codec in the scaling runs")
    ap.add_argument("--codec-nodes", type=int, default=4)
    ap.add_argument("--codec-inputs", type=int, default=16)
    ap.add_argument("--skip-codecs", action="store_true")
    ap.add_argument("--run-timeout", type=float, default=900)
    ap.add_argument("--insecure", action="store_true",
                    help="plain links without keys (CurveZMQ on every link otherwise): the cost of encryption")
    ap.add_argument("--out", required=True, help="results directory (kept between runs)")
    ap.add_argument("--breakdown-nodes", default="2,8", help="node counts in the per-stage table")
    ap.add_argument("--report-only", action="store_true", help="print the tables (and plots) from OUT")
    ap.add_argument("--plots", help="write the PNG plots here")
    args = ap.parse_args()
    args.models = args.models.split(",")
    args.nodes = [int(n) for n in args.nodes.split(",")]
    args.breakdown_nodes = [int(n) for n in args.breakdown_nodes.split(",")]
    args.build = os.path.abspath(args.build)
    args.profile = os.path.abspath(args.profile)
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.abspath(args.out)
    if args.cpu_share:
        # The profile with another CPU share per node, kept with the results.
        prof = load(args.profile)
        prof["node"]["cpu_share"] = args.cpu_share
        prof["name"] += f", {args.cpu_share} CPU per node"
        args.profile = os.path.join(args.out, "emulation-profile.json")
        save(args.profile, prof)
    # SIGTERM ends the run like Ctrl-C: the current cluster is torn down.
    signal.signal(signal.SIGTERM, interrupt)
    results = load(os.path.join(args.out, "results.json"), {"scaling": {}, "codecs": {}})
    if not args.report_only:
        if os.geteuid() != 0:
            sys.exit("emulation-bench: needs root (the emulated cluster does)")
        results["profile"] = load(args.profile)
        scaling(args, results)
        if not args.skip_codecs:
            codecs(args, results)
    report(args, results)


if __name__ == "__main__":
    main()
