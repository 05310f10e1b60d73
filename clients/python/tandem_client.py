"""A client of `tandem-dispatcher serve` (docs/serving.md): the standard
library and NumPy only.

    from tandem_client import HttpClient
    client = HttpClient("http://127.0.0.1:8000", model="resnet18")
    logits = client.infer(image)          # a NumPy array in, a NumPy array out

Tensors travel as raw bytes (the v2 binary tensor data extension), not as
JSON numbers. A model with several inputs takes them in forward's order
(`infer(a, b)`); a model with several outputs answers a dict by output name.
Errors raise TandemError with the HTTP status and the server's message; a
full queue (503) is retried after a short backoff (growing, at most the
server's Retry-After), up to `retries` times.
"""
import json
import time
import urllib.error
import urllib.request

import numpy as np

__all__ = ["HttpClient", "TandemError"]

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
    def __init__(self, url="http://127.0.0.1:8000", model=None, token=None, timeout=300.0, retries=20):
        """`model`: the served model's name (serve's --name; required for
        metadata and infer). `token`: the bearer token when the server has
        one. `timeout`: seconds per HTTP request (longer than the server's
        --request-timeout, which answers 504 itself). `retries`: times a 503
        (queue full) is tried again."""
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.model = model
        self._metadata = None

    def _request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as r:
                    return r.headers, r.read()
            except urllib.error.HTTPError as e:
                text = e.read()
                try:
                    message = json.loads(text).get("error", "")
                except ValueError:
                    message = text.decode(errors="replace")
                if e.code == 503 and attempt < self.retries:
                    time.sleep(min(float(e.headers.get("Retry-After", "1")), 0.05 * (attempt + 1)))
                    continue
                raise TandemError(e.code, message) from None
        raise AssertionError("unreachable")

    def ready(self):
        """Whether the server takes requests now."""
        try:
            self._request("GET", "/v2/health/ready")
            return True
        except (TandemError, OSError):
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
