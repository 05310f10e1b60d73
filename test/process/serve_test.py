#!/usr/bin/python3
"""`tandem-dispatcher serve` with real clients over HTTP and ZeroMQ.

Four loopback workers, a 3-stage pipeline. Checked: health and metadata; a
JSON request, a binary-extension request and a .npy request (curl), the
Python client over ZeroMQ and the C++ client (tandem-infer, pipelined), each
answer equal to the unsplit model's (PyTorch, here); bad requests answered
400 naming what is wrong, the server serving on; 32 concurrent clients (HTTP
and ZeroMQ) with distinct inputs, each answer equal to the model's output for
that client's own input, through a queue small enough to answer 503 with
Retry-After (clients retry) and a worker killed under that load; a model
update under load (each answer the model of the version it names, versions
never going back); SIGTERM with requests in flight: every accepted request
answered, new ones refused, exit 0. Then a second server over HTTPS with a
bearer token (401 without it), CurveZMQ (a client whose key is not listed
gets nothing) and a deadline no request can meet (504, both transports).
The status page is rendered in headless Chromium (Debian's chromium) where
installed. Last, volume: 32 clients x 200 requests on a small model.

usage: serve_test.py BIN_DIR FIXTURE_DIR
"""
import json
import os
import ssl
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import torch

BIN, FIXTURES = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
import tandem_client  # noqa: E402
SHAPE = (1, 3, 64, 64)
work = tempfile.mkdtemp(prefix="tandem-serve-test-")
procs = []
# The served file (a copy: the update below replaces it) and the update.
MODEL = os.path.join(work, "model.pt")
shutil.copy(os.path.join(FIXTURES, "resnet18.traced.pt"), MODEL)
NEXT_MODEL = os.path.join(FIXTURES, "mobilenet_v2.traced.pt")
scheme, tls = "http", None


def fail(msg):
    print("FAIL:", msg)
    for p in procs:
        if p.poll() is None:
            p.kill()
    for name in sorted(os.listdir(work)):
        if name.endswith(".log"):
            print(f"--- {name} (tail)")
            print(open(os.path.join(work, name), errors="replace").read()[-3000:])
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, log):
    p = subprocess.Popen(argv, stdout=open(os.path.join(work, log), "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def wait_port(port, what, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    fail(f"{what} does not listen on {port}")


# Four workers and their cluster config.
workers = []
for i in range(4):
    control, data = free_port(), free_port()
    p = start([f"{BIN}/tandem-worker", "--listen", f"tcp://127.0.0.1:{control}", "--data-listen",
               f"tcp://127.0.0.1:{data}", "--name", f"w{i}", "--threads", "1"], f"w{i}.log")
    workers.append((p, control))
for _, port in workers:
    wait_port(port, "a worker")
cluster = os.path.join(work, "cluster.json")
with open(cluster, "w") as f:
    json.dump({"timeouts": {"connect_s": 10, "result_s": 120},
               "workers": [{"name": f"w{i}", "endpoint": f"tcp://127.0.0.1:{port}"}
                           for i, (_, port) in enumerate(workers)]}, f)

models = {1: torch.jit.load(MODEL).eval(), 2: torch.jit.load(NEXT_MODEL).eval()}


def reference(x, generation=1):
    with torch.no_grad():
        return models[generation](torch.from_numpy(x)).numpy()


def close(got, ref, what):
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max())):
        fail(f"{what}: the answer differs from the model's (shape {got.shape}, max |diff| "
             f"{float(np.abs(got - ref).max()) if got.shape == ref.shape else 'n/a'})")


def serve(extra, log):
    argv = [f"{BIN}/tandem-dispatcher", "serve", "-m", MODEL, "-c", cluster, "-s", ",".join(map(str, SHAPE)),
            "--listen", "127.0.0.1:0", "--warmup", "0", "--repeats", "1", "--name", "resnet18"] + extra
    p = start(argv, log)
    path = os.path.join(work, log)
    t0 = time.time()
    while time.time() - t0 < 120:
        text = open(path, errors="replace").read()
        for line in text.splitlines():
            if line.startswith("serving ") and "(port " in line:
                return p, int(line.split("(port ")[1].split(")")[0])
        if p.poll() is not None:
            fail(f"serve exited with {p.returncode} before serving")
        time.sleep(0.1)
    fail("serve did not start within 120 s")


def http(port, method, path, body=None, headers=None, timeout=120):
    """(status, headers, body bytes); never raises for an HTTP status."""
    req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=tls) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def infer_json(port, x, headers=None):
    body = json.dumps({"id": "q", "inputs": [{"name": input_name, "shape": list(x.shape), "datatype": "FP32",
                                              "data": x.ravel().tolist()}]}).encode()
    return http(port, "POST", "/v2/models/resnet18/infer", body, dict({"Content-Type": "application/json"},
                                                                       **(headers or {})))


rng = np.random.default_rng(3)
zport = free_port()
zmq_endpoint = f"tcp://127.0.0.1:{zport}"
server, port = serve(["-k", "3", "--max-queued", "8", "--window", "4", "--zmq-listen", zmq_endpoint,
                      "--watch-model"], "serve.log")

# Health and metadata.
for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/resnet18/ready"):
    status, _, _ = http(port, "GET", path)
    if status != 200:
        fail(f"GET {path}: {status}")
status, _, body = http(port, "GET", "/v2/models/resnet18")
meta = json.loads(body)
if status != 200 or meta["name"] != "resnet18" or len(meta["inputs"]) != 1:
    fail(f"metadata: {status} {body[:300]}")
input_name = meta["inputs"][0]["name"]
if meta["inputs"][0]["datatype"] != "FP32" or meta["inputs"][0]["shape"] != list(SHAPE):
    fail(f"metadata inputs: {meta['inputs']}")
if [o["name"] for o in meta["outputs"]] != ["output"] or meta["outputs"][0]["shape"] != [1, 1000]:
    fail(f"metadata outputs: {meta['outputs']}")
print("health and metadata: ok;", json.dumps(meta))

# One request of each kind.
x = rng.standard_normal(SHAPE, dtype=np.float32)
status, _, body = infer_json(port, x)
if status != 200:
    fail(f"JSON infer: {status} {body[:300]}")
answer = json.loads(body)
if answer["id"] != "q" or answer["model_name"] != "resnet18" or answer["outputs"][0]["name"] != "output":
    fail(f"JSON answer: {body[:300]}")
out = answer["outputs"][0]
close(np.array(out["data"], dtype=np.float32).reshape(out["shape"]), reference(x), "JSON request")

header = json.dumps({"inputs": [{"name": input_name, "shape": list(SHAPE), "datatype": "FP32",
                                 "parameters": {"binary_data_size": x.nbytes}}],
                     "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
status, headers, body = http(port, "POST", "/v2/models/resnet18/infer", header + x.tobytes(),
                             {"Inference-Header-Content-Length": str(len(header)),
                              "Content-Type": "application/octet-stream"})
if status != 200 or "Inference-Header-Content-Length" not in headers:
    fail(f"binary infer: {status} {body[:300]}")
n = int(headers["Inference-Header-Content-Length"])
out = json.loads(body[:n])["outputs"][0]
if out["parameters"]["binary_data_size"] != len(body) - n:
    fail(f"binary answer sizes: {out}")
close(np.frombuffer(body[n:], dtype=np.float32).reshape(out["shape"]), reference(x), "binary request")

npy_in, npy_out = os.path.join(work, "x.npy"), os.path.join(work, "y.npy")
np.save(npy_in, x)
curl = subprocess.run(["curl", "-sS", "--fail-with-body", "-H", "Content-Type: application/x-npy", "--data-binary",
                       "@" + npy_in, "-o", npy_out, f"http://127.0.0.1:{port}/v2/models/resnet18/infer"],
                      capture_output=True, text=True)
if curl.returncode != 0:
    fail(f"curl .npy: {curl.returncode} {curl.stderr} {open(npy_out, errors='replace').read()[:300]}")
close(np.load(npy_out), reference(x), ".npy request (curl)")
print("JSON, binary and .npy (curl) requests: answers equal the model's")

# ZeroMQ: the Python client, and the C++ client with requests pipelined.
zclient = tandem_client.ZmqClient(zmq_endpoint)
close(zclient.infer(x), reference(x), "ZeroMQ request (Python)")
try:
    zclient.infer(np.zeros((1, 3, 32, 32), dtype=np.float32))
    fail("ZeroMQ: a wrong shape was answered")
except tandem_client.TandemError as e:
    if e.status != 400 or "takes float32 1x3x64x64" not in e.message:
        fail(f"ZeroMQ: a wrong shape: {e}")
files = []
for k in range(6):
    files.append(os.path.join(work, f"z{k}.npy"))
    np.save(files[-1], rng.standard_normal(SHAPE, dtype=np.float32))
zout = os.path.join(work, "zout")
os.mkdir(zout)
run = subprocess.run([f"{BIN}/tandem-infer", "--endpoint", zmq_endpoint, "--pipeline", "4", "--repeat", "3", "--out",
                      zout] + files, capture_output=True, text=True, timeout=300)
if run.returncode != 0 or "18 answered, 0 failed" not in run.stdout:
    fail(f"tandem-infer: {run.returncode} {run.stdout} {run.stderr}")
for k, path in enumerate(files):
    close(np.load(os.path.join(zout, f"z{k}.npy")), reference(np.load(path)), f"tandem-infer z{k}")
print("ZeroMQ: the Python client's answer and the C++ client's (6 inputs x 3, 4 outstanding) equal the model's; "
      "a wrong shape: 400 naming it;", run.stdout.strip())

# Bad requests: 400 naming the problem; the server goes on.
bad = [
    (json.dumps({"inputs": [{"name": input_name, "shape": [1, 3, 32, 32], "datatype": "FP32",
                             "data": [0.0] * 3072}]}), "takes 1x3x64x64"),
    (json.dumps({"inputs": [{"name": input_name, "shape": list(SHAPE), "datatype": "INT64",
                             "data": [0] * x.size}]}), "is FP32"),
    (json.dumps({"inputs": [{"name": "nope", "shape": list(SHAPE), "datatype": "FP32",
                             "data": [0.0] * x.size}]}), "'nope' is not an input"),
    (json.dumps({"inputs": [{"name": input_name, "shape": list(SHAPE), "datatype": "FP32",
                             "data": [0.0] * 10}]}), "holds 10 element(s)"),
    (json.dumps({"inputs": [{"name": input_name, "shape": list(SHAPE), "datatype": "FP32",
                             "data": ["a"] * x.size}]}), "must be a number"),
    ('{"inputs": [', "not valid JSON"),
    (json.dumps({"inputs": []}), "gives 0 input(s)"),
]
for text, expect in bad:
    status, _, body = http(port, "POST", "/v2/models/resnet18/infer", text.encode(),
                           {"Content-Type": "application/json"})
    message = json.loads(body).get("error", "")
    if status != 400 or expect not in message:
        fail(f"bad request {text[:80]}: {status} {message!r}, expected 400 with {expect!r}")
status, _, body = http(port, "POST", "/v2/models/other/infer", b"{}")
if status != 404:
    fail(f"another model's name: {status}")
# Bodies refused before they are read: no length (chunked), too large for any
# valid request of the model, compressed.
for header, expect in (("Transfer-Encoding: chunked", "411"), ("Content-Length: 99999999", "413"),
                       ("Content-Encoding: gzip", "415")):
    code = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", header, "-H",
                           "Content-Type: application/json", "--data-binary", "{}",
                           f"http://127.0.0.1:{port}/v2/models/resnet18/infer"], capture_output=True, text=True)
    if code.stdout != expect:
        fail(f"a body with {header}: {code.stdout} {code.stderr}, expected {expect}")
print(f"{len(bad)} bad requests: 400 each, naming the problem; another model's name: 404; chunked, oversized "
      "and compressed bodies: 411, 413, 415")

# 32 concurrent clients, each with its own inputs; a worker killed under load.
CLIENTS, EACH = 32, 8
inputs = rng.standard_normal((CLIENTS, EACH) + SHAPE, dtype=np.float32)
answers = [[None] * EACH for _ in range(CLIENTS)]
busy = [0]
errors = []
lock = threading.Lock()


def client(c):
    # Even clients send JSON and retry 503s themselves; odd ones use the
    # Python client (binary tensors, its own 503 retries), every other one
    # over ZeroMQ.
    if c % 4 == 3:
        lib = tandem_client.ZmqClient(zmq_endpoint, retries=2000)
    else:
        lib = tandem_client.HttpClient(f"http://127.0.0.1:{port}", model="resnet18", retries=2000)
    for k in range(EACH):
        if c % 2:
            try:
                answers[c][k] = lib.infer(inputs[c, k])
            except tandem_client.TandemError as e:
                errors.append(f"client {c} request {k}: {e}")
                return
            continue
        for attempt in range(2000):
            status, headers, body = infer_json(port, inputs[c, k])
            if status == 503:
                if headers.get("Retry-After") is None:
                    errors.append(f"client {c}: 503 without Retry-After")
                    return
                with lock:
                    busy[0] += 1
                time.sleep(0.02)
                continue
            break
        if status != 200:
            errors.append(f"client {c} request {k}: {status} {body[:200]}")
            return
        out = json.loads(body)["outputs"][0]
        answers[c][k] = np.array(out["data"], dtype=np.float32).reshape(out["shape"])


threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
t0 = time.time()
for t in threads:
    t.start()
# Under load (a quarter of the answers in), kill w1: it holds a stage of the
# 3-stage pipeline (w0, w1, w2).
while sum(a is not None for row in answers for a in row) < CLIENTS * EACH // 4 and not errors:
    time.sleep(0.01)
workers[1][0].kill()
for t in threads:
    t.join(600)
if errors:
    fail("; ".join(errors[:5]))
elapsed = time.time() - t0
for c in range(CLIENTS):
    for k in range(EACH):
        close(answers[c][k], reference(inputs[c, k]), f"client {c} request {k}")
print(f"{CLIENTS} clients x {EACH} requests in {elapsed:.1f} s with w1 killed: every answer is the model's for "
      f"that client's input; {busy[0]} 503s (queue of 8) retried by the JSON clients")
log = open(os.path.join(work, "serve.log"), errors="replace").read()
if "worker 'w1' failed" not in log:
    fail("the dispatcher did not notice w1's death")
if "adaptation on (--adapt auto: a stream without a known end)" not in log:
    fail("serve did not turn adaptation on by default (--adapt auto)")
time.sleep(0.5)  # /metrics refreshes the pipeline four times a second

# /metrics: what happened, in a format Prometheus takes.
status, _, body = http(port, "GET", "/metrics")
text = body.decode()
if status != 200:
    fail(f"/metrics: {status}")
values = {}
for line in text.splitlines():
    if line and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
expect = {'tandem_worker_up{worker="w1"}': lambda v: v == 0, 'tandem_worker_up{worker="w3"}': lambda v: v == 1,
          'tandem_recoveries_total': lambda v: v >= 1, 'tandem_requests_total{code="200"}': lambda v: v >= CLIENTS * EACH,
          'tandem_requests_total{code="400"}': lambda v: v == len(bad) + 1, 'tandem_requests_total{code="503"}': lambda v: v >= busy[0],
          'tandem_request_duration_seconds_count': lambda v: v >= CLIENTS * EACH,
          'tandem_requests_in_flight': lambda v: v == 0, 'tandem_model_generation': lambda v: v == 1}
for name, ok in expect.items():
    if name not in values or not ok(values[name]):
        fail(f"/metrics: {name} is {values.get(name)}:\n{text}")
if not any(k.startswith("tandem_stage_seconds_total{stage=\"2\"") and v > 0 for k, v in values.items()):
    fail(f"/metrics: no compute time for stage 2:\n{text}")
if shutil.which("promtool"):
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    if check.returncode != 0:
        fail(f"promtool check metrics: {check.stdout.decode()} {check.stderr.decode()}")
    print("/metrics: counts match what the clients saw; promtool check metrics passes")
else:
    print("/metrics: counts match what the clients saw (promtool not installed: format not checked)")

# A model update under load: the file is replaced (MobileNetV2 for
# ResNet-18); each answer is the model of the version it names, and a
# client's versions never go back.
UPDATERS = 6
updates = [[] for _ in range(UPDATERS)]  # (input, version, output)
switched = threading.Event()


def updater(c):
    t_end = time.time() + 240
    while time.time() < t_end and not errors:
        x = inputs[c, len(updates[c]) % EACH]
        status, _, body = infer_json(port, x)
        if status == 503:
            time.sleep(0.02)
            continue
        if status != 200:
            errors.append(f"update client {c}: {status} {body[:200]}")
            return
        answer = json.loads(body)
        out = answer["outputs"][0]
        updates[c].append((x, int(answer["model_version"]),
                           np.array(out["data"], dtype=np.float32).reshape(out["shape"])))
        if switched.is_set() and sum(v == 2 for _, v, _ in updates[c]) >= 3:
            return


threads = [threading.Thread(target=updater, args=(c,)) for c in range(UPDATERS)]
for t in threads:
    t.start()
while sum(len(u) for u in updates) < 12 and not errors:
    time.sleep(0.05)
shutil.copy(NEXT_MODEL, MODEL + ".new")
os.rename(MODEL + ".new", MODEL)
t_update = time.time()
switched.set()
for t in threads:
    t.join(300)
if errors:
    fail("; ".join(errors[:5]))
for c, got in enumerate(updates):
    versions = [v for _, v, _ in got]
    if versions != sorted(versions) or versions[-1] != 2 or versions[0] != 1:
        fail(f"update client {c}: versions {versions}")
    for k, (x, v, y) in enumerate(got):
        close(y, reference(x, v), f"update client {c} request {k} (version {v})")
print(f"model update under load: {sum(len(u) for u in updates)} answers from {UPDATERS} clients, each the model "
      f"of its version; versions never go back; the last clients switched {time.time() - t_update:.1f} s after "
      "the file was replaced")

# The status page: the stages, the events of the run, and in headless
# Chromium no console errors.
status, _, body = http(port, "GET", "/status")
page = json.loads(body)
texts = [e["text"] for e in page["events"]]
if status != 200 or not page["stages"] or sum(st["bottleneck"] for st in page["stages"]) != 1:
    fail(f"/status: {status} {body[:500]}")
for expect in ("worker w1 failed", "model generation 2 serving", "recovered"):
    if not any(expect in t for t in texts):
        fail(f"/status: no event '{expect}' in {texts}")
status, headers, body = http(port, "GET", "/")
if status != 200 or not headers.get("Content-Type", "").startswith("text/html") or b"<script>" not in body:
    fail(f"GET /: {status} {headers.get('Content-Type')}")
CHROMIUM = shutil.which("chromium")


def browse(url, screenshot=None, extra=()):
    """The page's DOM after its script ran, and the browser's console lines."""
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,720",
            "--virtual-time-budget=3000", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={os.path.join(work, 'chromium')}"] + list(extra)
    shown = subprocess.run(argv + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    if screenshot:
        subprocess.run(argv + [f"--screenshot={screenshot}", url], capture_output=True, timeout=120)
    return shown.stdout, [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]


if CHROMIUM:
    dom, console = browse(f"http://127.0.0.1:{port}/", os.environ.get("TANDEM_STATUS_SCREENSHOT"))
    if console:
        fail("the status page logged to the console: " + " | ".join(console))
    boxes = dom.count('data-stage="')
    if boxes != len(page["stages"]) or dom.count('class="stage bottleneck"') != 1 or "worker w1 failed" not in dom:
        fail(f"the status page in Chromium shows {boxes} stage(s), expected {len(page['stages'])}:\n{dom[:3000]}")
    print(f"status page: Chromium shows {boxes} stages, the bottleneck and the events "
          f"({'; '.join(texts)}), no console errors")
else:
    print("status page: /status has the stages and events (chromium not installed: the page was not rendered)")

# SIGTERM with requests in flight: each accepted one answered, then exit 0.
results = []


def late(k):
    x = inputs[k % CLIENTS, 0]
    try:
        status, _, body = infer_json(port, x)
    except OSError as e:  # a connection reset or refused: checked below
        status, body = None, str(e).encode()
    results.append((status, body, k))


threads = [threading.Thread(target=late, args=(k,)) for k in range(12)]
for t in threads:
    t.start()
time.sleep(0.3)
server.send_signal(signal.SIGTERM)
for t in threads:
    t.join(120)
try:
    code = server.wait(60)
except subprocess.TimeoutExpired:
    fail("serve did not exit within 60 s of SIGTERM")
if code != 0:
    fail(f"serve exited {code} after SIGTERM")
if len(results) != 12:
    fail(f"{12 - len(results)} request(s) during SIGTERM got no answer at all")
answered = 0
for status, body, k in results:
    if status == 200:
        out = json.loads(body)["outputs"][0]
        close(np.array(out["data"], dtype=np.float32).reshape(out["shape"]), reference(inputs[k % CLIENTS, 0], 2),
              f"request {k} during SIGTERM")
        answered += 1
    elif status != 503:
        fail(f"request {k} during SIGTERM: {status} {body[:200]}")
if answered == 0:
    fail("no request in flight at SIGTERM was answered")
print(f"SIGTERM: {answered} in-flight request(s) answered, {len(results) - answered} refused with 503; exit 0")

# A second server: HTTPS, a token, CurveZMQ, and a deadline no request meets.
cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                      "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                     capture_output=True, text=True)
if gen.returncode != 0:
    fail(f"openssl: {gen.stderr}")
keys = {}
for who in ("server", "client", "stranger"):
    path = os.path.join(work, who + ".key")
    made = subprocess.run([f"{BIN}/tandem-dispatcher", "keygen", "--secret", path], capture_output=True, text=True)
    if made.returncode != 0:
        fail(f"keygen: {made.stderr}")
    keys[who] = path
clients_file = os.path.join(work, "zmq-clients")
with open(clients_file, "w") as f:
    f.write("# the ZeroMQ clients let in\n" + open(keys["client"] + ".pub").read())
token = os.path.join(work, "token")
with open(token, "w") as f:
    f.write("s3cret-token-0123456789\n")
with open(cluster, "w") as f:  # without w1, killed above
    json.dump({"timeouts": {"connect_s": 10, "result_s": 120},
               "workers": [{"name": f"w{i}", "endpoint": f"tcp://127.0.0.1:{port}"}
                           for i, (_, port) in enumerate(workers) if i != 1]}, f)
MODEL = NEXT_MODEL  # the file the first server ended with
zport = free_port()
zmq_endpoint = f"tcp://127.0.0.1:{zport}"
server, port = serve(["-k", "2", "--token-file", token, "--request-timeout", "0.001", "--tls-cert", cert,
                      "--tls-key", key, "--zmq-listen", zmq_endpoint, "--zmq-secret-key", keys["server"],
                      "--zmq-client-keys", clients_file], "serve2.log")
scheme, tls = "https", ssl.create_default_context(cafile=cert)
status, _, _ = http(port, "GET", "/v2/health/live")
if status != 200:
    fail(f"live without a token: {status}")
status, _, _ = http(port, "GET", "/metrics")
if status != 401:
    fail(f"/metrics without the token: {status}")
status, headers, body = http(port, "GET", "/v2/models/resnet18")
if status != 401 or "Bearer" not in headers.get("WWW-Authenticate", ""):
    fail(f"metadata without the token: {status}")
status, _, body = infer_json(port, x, {"Authorization": "Bearer wrong-token-0123456789"})
if status != 401:
    fail(f"a wrong token: {status}")
status, _, body = infer_json(port, x, {"Authorization": "Bearer s3cret-token-0123456789"})
if status != 504 or "no result within" not in json.loads(body)["error"]:
    fail(f"deadline: {status} {body[:200]}")
if CHROMIUM:  # with a token, the page (which holds no data) asks for it
    dom, console = browse(f"https://127.0.0.1:{port}/", extra=["--ignore-certificate-errors"])
    if console or 'id="auth" style="display: block;"' not in dom or 'data-stage="' in dom:
        fail(f"the status page with a token: {console} {dom[:2000]}")
try:
    tandem_client.ZmqClient(zmq_endpoint, server_key=keys["server"] + ".pub", secret_key_file=keys["client"],
                            timeout=30).infer(x)
    fail("ZeroMQ: a request past its deadline was answered")
except tandem_client.TandemError as e:
    if e.status != 504:
        fail(f"ZeroMQ deadline: {e}")
for who, kwargs in (("a client whose key is not listed", dict(server_key=keys["server"] + ".pub",
                                                              secret_key_file=keys["stranger"])),
                    ("a client without CurveZMQ", {})):
    try:
        tandem_client.ZmqClient(zmq_endpoint, timeout=1, **kwargs).infer(x)
        fail(f"ZeroMQ: {who} was answered")
    except tandem_client.TandemError as e:
        if e.status != 0:
            fail(f"ZeroMQ: {who}: {e}")
server.send_signal(signal.SIGTERM)
if server.wait(60) != 0:
    fail("the second server did not exit 0")
print("HTTPS: token: 401 without it or with another, live open; a passed deadline: 504 over HTTP and ZeroMQ; "
      "CurveZMQ: a listed client is answered, an unlisted or plain one gets nothing")
# Volume: 32 clients sending 200 requests each (half over HTTP, half over
# ZeroMQ), a small model on the three workers left; every answer the model's
# for that client's own input, delivered once.
MODEL = os.path.join(FIXTURES, "small_cnn.traced.pt")
SHAPE = (1, 3, 32, 32)
models[3] = torch.jit.load(MODEL).eval()
with open(cluster, "w") as f:
    json.dump({"timeouts": {"connect_s": 10, "result_s": 120},
               "workers": [{"name": f"w{i}", "endpoint": f"tcp://127.0.0.1:{port}"}
                           for i, (_, port) in enumerate(workers) if i != 1]}, f)
scheme, tls = "http", None
zmq_endpoint = f"tcp://127.0.0.1:{free_port()}"
server, port = serve(["-k", "3", "--name", "small", "--zmq-listen", zmq_endpoint], "serve3.log")
CLIENTS, EACH, DISTINCT = 32, 200, 4
inputs = rng.standard_normal((CLIENTS, DISTINCT) + SHAPE, dtype=np.float32)
refs = [[reference(inputs[c, k], 3) for k in range(DISTINCT)] for c in range(CLIENTS)]
wrong = []
got = [0] * CLIENTS


def volume(c):
    if c % 2:
        lib = tandem_client.ZmqClient(zmq_endpoint, retries=2000)
    else:
        lib = tandem_client.HttpClient(f"http://127.0.0.1:{port}", model="small", retries=2000)
    for k in range(EACH):
        try:
            y = lib.infer(inputs[c, k % DISTINCT])
        except (tandem_client.TandemError, OSError) as e:
            errors.append(f"volume client {c} request {k}: {e}")
            return
        ref = refs[c][k % DISTINCT]
        if y.shape != ref.shape or not np.allclose(y, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max())):
            wrong.append(f"client {c} request {k}")
        got[c] += 1


threads = [threading.Thread(target=volume, args=(c,)) for c in range(CLIENTS)]
t0 = time.time()
for t in threads:
    t.start()
for t in threads:
    t.join(600)
elapsed = time.time() - t0
if errors or wrong:
    fail("; ".join((errors + wrong)[:5]))
if got != [EACH] * CLIENTS:
    fail(f"answers per client: {got}")
server.send_signal(signal.SIGTERM)
if server.wait(60) != 0:
    fail("the third server did not exit 0")
served = open(os.path.join(work, "serve3.log"), errors="replace").read()
if f"served {CLIENTS * EACH} request(s): {CLIENTS * EACH} answered, 0 failed" not in served:
    fail("the third server's count differs from the clients'")
print(f"volume: {CLIENTS} clients x {EACH} requests (HTTP and ZeroMQ) in {elapsed:.1f} s "
      f"({CLIENTS * EACH / elapsed:.0f}/s), each answer the model's for that client's input, each request answered "
      "once")
for p in procs:
    if p.poll() is None:
        p.terminate()
        p.wait(10)
print("serve: ok")
