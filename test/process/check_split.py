#!/usr/bin/python3
"""Stage files written by `tandem-dispatcher split` load in Python's
torch.jit.load and, chained by the calling convention, reproduce the model's
reference output. Usage: check_split.py DISPATCHER FIXTURE_DIR"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if out is None:
        return [None]
    res = []
    for o in out:
        res.extend(flatten(o))
    return res


def check(dispatcher, fixtures, fixture_id, stages):
    meta = json.load(open(os.path.join(fixtures, "fixtures.json")))
    entry = next(e for e in meta["fixtures"] if "%s.%s" % (e["name"], e["variant"]) == fixture_id)
    shape = ",".join(str(d) for d in entry["input_shape"])
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([dispatcher, "split", "-m", os.path.join(fixtures, entry["model"]), "-s", shape,
                        "-k", str(stages), "--repeats", "2", "-o", out], check=True, stdout=subprocess.DEVNULL)
        manifest = json.load(open(os.path.join(out, "manifest.json")))
        assert len(manifest["stages"]) == stages, manifest["cuts"]
        x = torch.from_numpy(np.load(os.path.join(fixtures, entry["input"])))
        args = (x,)
        for s in manifest["stages"]:
            module = torch.jit.load(os.path.join(out, s["file"]))
            result = module(*args)
            if s["index"] < stages - 1:
                args = result if isinstance(result, tuple) else (result,)
                assert len(args) == len(s["outputs"]), (fixture_id, s["index"])
                for a, spec in zip(args, s["outputs"]):
                    assert list(a.shape) == spec["shape"], (fixture_id, s["index"], spec)
    got = flatten(result)
    assert len(got) == len(entry["outputs"]), fixture_id
    for g, ref_file in zip(got, entry["outputs"]):
        if ref_file is None:
            assert g is None, fixture_id
            continue
        ref = np.load(os.path.join(fixtures, ref_file))
        diff = float(np.abs(g.numpy() - ref).max())
        allowed = 1e-4 * float(np.abs(ref).max()) + 1e-5
        assert diff <= allowed, "%s: differs by %g (allowed %g)" % (fixture_id, diff, allowed)
    print("%s: %d stages load in Python and match the reference" % (fixture_id, stages))


def main():
    dispatcher, fixtures = sys.argv[1], sys.argv[2]
    check(dispatcher, fixtures, "googlenet.scripted", 3)   # named tuple output with None elements
    check(dispatcher, fixtures, "resnet18.traced", 4)
    check(dispatcher, fixtures, "irregular.scripted", 3)   # branch, loop, tuple output


if __name__ == "__main__":
    main()
