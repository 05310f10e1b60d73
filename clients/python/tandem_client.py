"""A client of `tandem-dispatcher serve` (docs/serving.md): the standard
library and NumPy, plus python3-zmq for the ZeroMQ transport.

    from tandem_client import HttpClient, ZmqClient
    client = HttpClient("http://127.0.0.1:8000", model="resnet18")
    logits = client.infer(image)          # a NumPy array in, a NumPy array out
    fast = ZmqClient("tcp://127.0.0.1:8001")   # serve --zmq-listen
    logits = fast.infer(image)

Tensors travel as raw bytes (the v2 binary tensor data extension), not as
JSON numbers. A model with several inputs takes them in forward's order
(`infer(a, b)`); a model with several outputs answers a dict by output name.
Errors raise TandemError with the HTTP status and the server's message; a
full queue (503) is retried after a short backoff (growing, at most the
server's Retry-After), up to `retries` times. ZmqClient raises the same
statuses for the same causes.
"""
import http.client
import json
import ssl
import struct
import time
import urllib.parse

import numpy as np

__all__ = ["HttpClient", "ZmqClient", "TandemError"]

_DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}


class TandemError(Exception):
    """A request the server refused or could not answer."""

    def __init__(self, status, message):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class HttpClient:
    def __init__(self, url="http://127.0.0.1:8000", model=None, token=None, timeout=300.0, retries=20,
                 cafile=None):
        """`model`: the served model's name (serve's --name; required for
        metadata and infer). `token`: the bearer token when the server has
        one. `timeout`: seconds per HTTP request (longer than the server's
        --request-timeout, which answers 504 itself). `retries`: times a 503
        (queue full) is tried again. `cafile`: for https, the certificate(s)
        to trust (default: the system's). One connection is kept open and
        reused; not thread-safe: one client per thread."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url}: give http://HOST:PORT or https://HOST:PORT")
        self.url = url.rstrip("/")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._tls = ssl.create_default_context(cafile=cafile) if self._https else None
        self._conn = None
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.model = model
        self._metadata = None

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(self, method, path, body, headers):
        """(status, headers, body) over the kept connection, opened again
        once if the server had closed it."""
        for fresh in (False, True):
            if self._conn is None:
                if self._https:
                    self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                                             context=self._tls)
                else:
                    self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
                fresh = True
            try:
                self._conn.request(method, path, body=body, headers=headers)
                r = self._conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, r.headers, data
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.close()
                if fresh:
                    raise
        raise AssertionError("unreachable")

    def _request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in range(self.retries + 1):
            status, response_headers, text = self._send(method, path, body, headers)
            if status == 200:
                return response_headers, text
            try:
                message = json.loads(text).get("error", "")
            except ValueError:
                message = text.decode(errors="replace")
            if status == 503 and attempt < self.retries:
                time.sleep(min(float(response_headers.get("Retry-After", "1")), 0.05 * (attempt + 1)))
                continue
            raise TandemError(status, message)
        raise AssertionError("unreachable")

    def ready(self):
        """Whether the server takes requests now."""
        try:
            self._request("GET", "/v2/health/ready")
            return True
        except (TandemError, OSError, http.client.HTTPException):
            return False

    def metadata(self):
        """The model's metadata: name, versions, inputs and outputs."""
        if self._metadata is None:
            if self.model is None:
                raise ValueError("give the model's name (HttpClient(..., model=NAME))")
            _, body = self._request("GET", "/v2/models/" + self.model)
            self._metadata = json.loads(body)
        return self._metadata

    def infer(self, *arrays):
        """Runs the model on one request: one array per model input, in
        forward's order. Returns the output array, or a dict by output name
        when the model has several."""
        meta = self.metadata()
        if len(arrays) != len(meta["inputs"]):
            raise ValueError(f"the model takes {len(meta['inputs'])} input(s); {len(arrays)} given")
        inputs, blobs = [], []
        for spec, a in zip(meta["inputs"], arrays):
            a = np.ascontiguousarray(a, dtype=np.dtype(_DTYPES[spec["datatype"]]).newbyteorder("<"))
            blob = a.tobytes()
            inputs.append({"name": spec["name"], "shape": list(a.shape), "datatype": spec["datatype"],
                           "parameters": {"binary_data_size": len(blob)}})
            blobs.append(blob)
        header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
        headers, body = self._request("POST", f"/v2/models/{self.model}/infer", header + b"".join(blobs), {
            "Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))})
        n = int(headers.get("Inference-Header-Content-Length", len(body)))
        answer = json.loads(body[:n])
        offset, outputs = n, {}
        for out in answer["outputs"]:
            if out["datatype"] == "BF16":  # NumPy has none: widened to float32, which holds every value
                size = out["parameters"]["binary_data_size"]
                bits = np.frombuffer(body[offset:offset + size], dtype="<u2").astype("<u4") << 16
                outputs[out["name"]] = bits.view("<f4").reshape(out["shape"])
                offset += size
                continue
            dtype = np.dtype(_DTYPES[out["datatype"]]).newbyteorder("<")
            if "data" in out:
                outputs[out["name"]] = np.array(out["data"], dtype=dtype).reshape(out["shape"])
                continue
            size = out["parameters"]["binary_data_size"]
            outputs[out["name"]] = np.frombuffer(body[offset:offset + size], dtype=dtype).reshape(out["shape"])
            offset += size
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs


# ---- ZeroMQ ---------------------------------------------------------------
# The wire (docs/protocol.md, src/common/net/inference.h): one ZeroMQ frame
# per message, a 24-byte header (magic, version, type, flags, id, body
# length), little-endian.
_HEADER = struct.Struct("<4sBBHIQI")
_INFER_REQUEST, _INFER_REPLY, _ERROR = 22, 23, 9
_WIRE_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 3, np.dtype(np.int64): 4,
                np.dtype(np.int32): 5, np.dtype(np.int16): 6, np.dtype(np.int8): 7, np.dtype(np.uint8): 8,
                np.dtype(np.bool_): 9}
_FROM_WIRE = {code: dtype for dtype, code in _WIRE_DTYPES.items()}
# ERROR's codes (Status::Code) as HTTP statuses.
_STATUS = {1: 400, 5: 503, 6: 504, 9: 500}


def _read_key(path):
    """The key in a file keygen wrote: the first word of its first line that
    is not a comment ('#' may occur inside a Z85 key)."""
    with open(path) as f:
        for line in f:
            words = line.split()
            if words and not words[0].startswith("#") and len(words[0]) == 40:
                return words[0]
    raise ValueError(f"{path}: holds no key (40 characters of Z85, as keygen writes)")


class ZmqClient:
    def __init__(self, endpoint="tcp://127.0.0.1:8001", server_key=None, secret_key_file=None, timeout=60.0,
                 retries=20):
        """`endpoint`: serve's --zmq-listen. With CurveZMQ: `server_key`
        (the server's public key, Z85 text or a file) and this client's
        `secret_key_file` (tandem-dispatcher keygen). `timeout`: seconds per
        request, also sent as its deadline. `retries`: times a 503 (queue
        full) is tried again. Not thread-safe: one client per thread."""
        import zmq  # python3-zmq: only this transport needs it
        self._zmq = zmq
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.linger = 0
        if (server_key is None) != (secret_key_file is None):
            raise ValueError("CurveZMQ needs both server_key and secret_key_file (or neither)")
        if server_key is not None:
            if len(server_key) != 40:
                server_key = _read_key(server_key)
            secret = _read_key(secret_key_file).encode()
            self._sock.curve_secretkey = secret
            self._sock.curve_publickey = zmq.curve_public(secret)
            self._sock.curve_serverkey = server_key.encode()
        self._sock.connect(endpoint)
        self._next_id = 1

    def close(self):
        self._sock.close()

    def _encode(self, request_id, arrays):
        body = [struct.pack("<II", int(self.timeout * 1000), len(arrays))]
        for a in arrays:
            a = np.ascontiguousarray(a)
            code = _WIRE_DTYPES.get(a.dtype.newbyteorder("="))
            if code is None:
                raise ValueError(f"dtype {a.dtype} cannot be sent")
            a = a.astype(a.dtype.newbyteorder("<"), copy=False)
            body.append(struct.pack(f"<BB{a.ndim}qQ", code, a.ndim, *a.shape, a.nbytes))
            body.append(a.tobytes())
        body = b"".join(body)
        return _HEADER.pack(b"TNDM", 1, 9, _INFER_REQUEST, 0, request_id, len(body)) + body

    def _receive(self, request_id):
        deadline = time.monotonic() + self.timeout + 1.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000)):
                raise TandemError(0, f"{self.endpoint}: no answer within {self.timeout} s")
            msg = self._sock.recv()
            if len(msg) < _HEADER.size:
                continue
            magic, major, _, kind, _, got_id, length = _HEADER.unpack_from(msg)
            if magic != b"TNDM" or got_id != request_id or length != len(msg) - _HEADER.size:
                continue  # not an answer to this request (a late one, say)
            return kind, memoryview(msg)[_HEADER.size:]

    def infer(self, *arrays):
        """Runs the model on one request: one array per model input, in
        forward's order, in the dtypes the model takes. Returns the output
        array, or a dict by output name when the model has several."""
        for attempt in range(self.retries + 1):
            request_id = self._next_id
            self._next_id += 1
            self._sock.send(self._encode(request_id, arrays))
            kind, body = self._receive(request_id)
            if kind == _ERROR:
                code, n = struct.unpack_from("<BI", body)
                message = bytes(body[5:5 + n]).decode(errors="replace")
                status = _STATUS.get(code, 400)
                if status == 503 and attempt < self.retries:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise TandemError(status, message)
            if kind != _INFER_REPLY:
                raise TandemError(500, f"the server answered with message type {kind}")
            _, count = struct.unpack_from("<II", body)
            offset, outputs = 8, {}
            for _ in range(count):
                (n,) = struct.unpack_from("<I", body, offset)
                name = bytes(body[offset + 4:offset + 4 + n]).decode()
                offset += 4 + n
                code, rank = struct.unpack_from("<BB", body, offset)
                shape = struct.unpack_from(f"<{rank}q", body, offset + 2)
                (size,) = struct.unpack_from("<Q", body, offset + 2 + 8 * rank)
                offset += 2 + 8 * rank + 8
                data = bytes(body[offset:offset + size])
                offset += size
                if code == 10:  # BF16: widened to float32, which holds every value
                    bits = np.frombuffer(data, dtype="<u2").astype("<u4") << 16
                    outputs[name] = bits.view("<f4").reshape(shape)
                else:
                    outputs[name] = np.frombuffer(data, dtype=_FROM_WIRE[code].newbyteorder("<")).reshape(shape)
            return next(iter(outputs.values())) if len(outputs) == 1 else outputs
        raise AssertionError("unreachable")
