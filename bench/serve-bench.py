#!/usr/bin/python3
"""Serving benchmark: `serve` under N concurrent clients against `run`, on the
same workers, plan and profile.

Starts W tandem-worker processes on loopback, profiles the model once and
plans once (both files reused by every run below), then measures:

  1. `run --synthetic` for about SECONDS, before and after serve (the
     baseline is their mean: this machine's speed drifts): its steady
     throughput and latency (report.json);
  2. `serve` with N client threads sending requests back to back for SECONDS,
     over HTTP (the v2 binary extension) and over ZeroMQ: answers per second,
     latency p50/p95/p99 as the clients saw it; every answer is checked
     against the model's (PyTorch) for its input;
  3. the per-request overhead of each transport: one client, one request at
     a time (the client's p50 latency), against `run --window 1` (its
     seconds per request: its own latency figure leaves out the input's
     encoding), same pipeline.

Prints a Markdown table. Needs Debian's python3-torch, python3-numpy and
python3-zmq (/usr/bin/python3).

  bench/serve-bench.py [--build build] [--fixtures DIR] [--model resnet18.traced.pt]
                       [--shape 1,3,224,224] [--workers 3] [--clients 8] [--seconds 60]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
import tandem_client  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--fixtures", default=os.path.expanduser("~/.cache/tandem/fixtures"))
    ap.add_argument("--model", default="resnet18.traced.pt")
    ap.add_argument("--shape", default="1,3,224,224")
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--window", type=int, default=8)
    a = ap.parse_args()
    bin_dir = os.path.join(a.build, "bin")
    dispatcher = os.path.join(bin_dir, "tandem-dispatcher")
    model_path = os.path.join(a.fixtures, a.model)
    shape = tuple(int(d) for d in a.shape.split(","))
    work = tempfile.mkdtemp(prefix="tandem-serve-bench-")
    procs = []

    def start(argv, log):
        p = subprocess.Popen(argv, stdout=open(os.path.join(work, log), "w"), stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    try:
        ports = []
        for i in range(a.workers):
            control, data = free_port(), free_port()
            start([os.path.join(bin_dir, "tandem-worker"), "--listen", f"tcp://127.0.0.1:{control}", "--data-listen",
                   f"tcp://127.0.0.1:{data}", "--name", f"w{i}", "--threads", "1"], f"w{i}.log")
            ports.append(control)
        for port in ports:
            wait_port(port)
        cluster = os.path.join(work, "cluster.json")
        with open(cluster, "w") as f:
            json.dump({"workers": [{"name": f"w{i}", "endpoint": f"tcp://127.0.0.1:{p}"} for i, p in enumerate(ports)]},
                      f)
        profile, plan = os.path.join(work, "profile.json"), os.path.join(work, "plan.json")
        subprocess.run([dispatcher, "profile", "-m", model_path, "-s", a.shape, "--threads", "1", "--out", profile],
                       check=True, capture_output=True)
        subprocess.run([dispatcher, "plan", "-p", profile, "-c", cluster, "-o", plan], check=True, capture_output=True)
        common = ["-m", model_path, "-c", cluster, "-s", a.shape, "--profile", profile, "--plan", plan]

        def run(n, window):
            report = os.path.join(work, f"run-{n}-{window}.json")
            subprocess.run([dispatcher, "run"] + common + ["--synthetic", str(n), "--window", str(window), "--report",
                                                           report], check=True, capture_output=True)
            return json.load(open(report))["requests"]

        # 1. run: a short one to size the long one.
        probe = run(100, a.window)
        n = max(200, int(probe["throughput_per_s"] * a.seconds))
        before = run(n, a.window)
        single = run(max(50, int(probe["throughput_per_s"] * 10 / a.window)), 1)

        # 2. serve under load, then 3. one client at a time.
        zmq_port, http_port = free_port(), free_port()
        server = start([dispatcher, "serve"] + common + ["--window", str(a.window), "--listen",
                                                         f"127.0.0.1:{http_port}", "--zmq-listen",
                                                         f"tcp://127.0.0.1:{zmq_port}", "--name", "m",
                                                         "--max-queued", str(max(64, 2 * a.clients))], "serve.log")
        t0 = time.time()
        while "serving " not in open(os.path.join(work, "serve.log")).read():
            if server.poll() is not None or time.time() - t0 > 300:
                sys.exit("serve did not start: " + open(os.path.join(work, "serve.log")).read()[-2000:])
            time.sleep(0.2)
        model = torch.jit.load(model_path).eval()
        rng = np.random.default_rng(0)
        inputs = rng.standard_normal((16,) + shape, dtype=np.float32)
        with torch.no_grad():
            refs = [model(torch.from_numpy(x)).numpy() for x in inputs]

        def client_factory(transport):
            if transport == "http":
                return tandem_client.HttpClient(f"http://127.0.0.1:{http_port}", model="m", retries=1000)
            return tandem_client.ZmqClient(f"tcp://127.0.0.1:{zmq_port}", retries=1000)

        def load(transport, clients, seconds):
            latencies, wrong, lock = [], [0], threading.Lock()
            end = time.time() + seconds

            def one(c):
                lib = client_factory(transport)
                k = c
                while time.time() < end:
                    t = time.perf_counter()
                    y = lib.infer(inputs[k % len(inputs)])
                    dt = time.perf_counter() - t
                    ok = np.allclose(y, refs[k % len(inputs)], rtol=1e-4, atol=1e-4 * float(np.abs(refs[k % len(inputs)]).max()))
                    with lock:
                        latencies.append(dt)
                        wrong[0] += not ok
                    k += clients

            threads = [threading.Thread(target=one, args=(c,)) for c in range(clients)]
            start_t = time.time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return len(latencies) / (time.time() - start_t), latencies, wrong[0]

        load("zmq", a.clients, 5)  # warm up
        rows = []
        for transport in ("http", "zmq"):
            rate, lat, wrong = load(transport, a.clients, a.seconds)
            rows.append((transport, rate, lat, wrong))
        overhead = {}
        for transport in ("http", "zmq"):
            _, lat, wrong = load(transport, 1, min(20.0, a.seconds / 3))
            overhead[transport] = (statistics.median(lat), wrong)
        # The C++ client, one request at a time.
        npy = os.path.join(work, "x.npy")
        np.save(npy, inputs[0])
        count = max(20, int(min(20.0, a.seconds / 3) / max(single["latency_ms"]["p50"] / 1e3, 1e-3)))
        out = subprocess.run([os.path.join(bin_dir, "tandem-infer"), "--endpoint", f"tcp://127.0.0.1:{zmq_port}",
                              "--pipeline", "1", "--repeat", str(count), npy], capture_output=True, text=True)
        cpp_p50 = float(out.stdout.split("latency p50 ")[1].split(" ms")[0]) if out.returncode == 0 else float("nan")
        server.send_signal(signal.SIGTERM)
        server.wait(120)
        # run again: this machine's speed drifts; the baseline is the mean of
        # a run before serve and one after.
        after = run(n, a.window)

        stages = len(json.load(open(plan))["cuts"]) + 1
        print(f"model {a.model} {a.shape}, {a.workers} loopback workers (1 thread each), {stages} stages "
              f"(same plan and profile for every row), window {a.window}; {a.clients} clients, {a.seconds:.0f} s each\n")
        print("| what | inferences/s | vs run | latency p50 | p95 | p99 | wrong answers |")
        print("|---|---|---|---|---|---|---|")
        # run's steady rate (without its start and end): the clients below
        # measure a stream already running.
        def steady_rate(r):
            return r["steady_throughput_per_s"] or r["throughput_per_s"]

        steady = (steady_rate(before) + steady_rate(after)) / 2
        for label, r in (("before serve", before), ("after serve", after)):
            lat = r["latency_ms"]
            print(f"| run --synthetic {n}, {label} | {steady_rate(r):.1f} | {steady_rate(r) / steady:.2f} | "
                  f"{lat['p50']:.1f} ms | {lat['p95']:.1f} ms | - | - |")
        for transport, rate, l, wrong in rows:
            print(f"| serve, {a.clients} {transport.upper() if transport == 'http' else 'ZeroMQ'} clients | {rate:.1f} | "
                  f"{rate / steady:.2f} | {1e3 * pct(l, 0.5):.1f} ms | {1e3 * pct(l, 0.95):.1f} ms | "
                  f"{1e3 * pct(l, 0.99):.1f} ms | {wrong} of {len(l)} |")
        print()
        # run's latency runs from its send to the result, leaving out the
        # input's encoding before the send; one request at a time, its whole
        # cost per request is its cycle: seconds / requests.
        one = 1e3 * single["seconds"] / max(1, single["completed"])
        print("| one request at a time | per request (p50) | overhead vs run --window 1 |")
        print("|---|---|---|")
        print(f"| run --window 1: seconds / requests (its send-to-result latency p50: "
              f"{single['latency_ms']['p50']:.1f} ms) | {one:.1f} ms | - |")
        for transport, (median, wrong) in overhead.items():
            name = "serve, HTTP (Python client, binary)" if transport == "http" else "serve, ZeroMQ (Python client)"
            print(f"| {name} | {1e3 * median:.1f} ms | {1e3 * median - one:+.1f} ms |")
        print(f"| serve, ZeroMQ (C++ client, tandem-infer) | {cpp_p50:.1f} ms | {cpp_p50 - one:+.1f} ms |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
