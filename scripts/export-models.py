#!/usr/bin/python3
"""Export tandem's test fixtures: TorchScript models with random weights.

Run with Debian's interpreter (/usr/bin/python3), which has python3-torch and
python3-torchvision. Nothing is downloaded: every model is built from its
torchvision definition with random weights drawn from a fixed seed.

For each model NAME and each variant (traced, scripted) it writes into OUTDIR:
  NAME.traced.pt / NAME.scripted.pt    the TorchScript module (not frozen)
  NAME.input.npy                       the reference input (float32)
  NAME.traced.out.npy / NAME.scripted.out.K.npy
                                       the reference output: one file for a
                                       tensor, one per tensor element of a tuple
and OUTDIR/fixtures.json describing all of them, plus models tandem must
refuse (two inputs, no forward, not TorchScript) under "bad".

Batch-norm statistics are recomputed on random data before export: with the
default running statistics (mean 0, variance 1) on random weights, activations
explode or vanish and some outputs stop depending on the input, so split
comparisons would prove nothing.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision.models as tvm

SEED = 20261128
INPUT_SHAPE = (1, 3, 224, 224)


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))


class Irregular(nn.Module):
    """Not a torchvision model: the graph shapes a split must handle."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        n = a.size(1)                 # an int: no cut while it is live
        a = a * (float(n) / 8.0)
        b = torch.relu(self.c2(a))
        v = b[:, :4]                  # a view of b ...
        w = torch.sigmoid(v)
        v.mul_(0.5)                   # ... written in place: b changes too
        c = self.c3(b) + a + w.mean() # a long skip: a crosses every cut between
        if bool(c.mean() > 0):        # a data-dependent branch
            c = c * 2.0
        else:
            c = c - 1.0
        i = 0
        while i < int(c.shape[0]) + 1:  # a data-dependent loop
            c = torch.tanh(c) + b
            i += 1
        pooled = c.mean(dim=(2, 3))
        return self.head(pooled), b.sum(dim=1)


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class NoForward(torch.jit.ScriptModule):
    @torch.jit.script_method
    def helper(self, x):
        return x + 1


MODELS = {
    "small_cnn": small_cnn,
    "irregular": Irregular,
    "resnet18": lambda: tvm.resnet18(weights=None),
    "resnet50": lambda: tvm.resnet50(weights=None),
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
    "googlenet": lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True),
    "vgg16": lambda: tvm.vgg16(weights=None),
}


# Models whose control flow tracing would freeze into one path.
SCRIPT_ONLY = {"irregular"}


def recompute_batchnorm(model, shape, batches=2, batch_size=8):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(batch_size, *shape[1:]))
    model.eval()


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(flatten(o))
        return res
    if out is None:
        return [None]
    raise TypeError("unsupported output type %s" % type(out))


def save_outputs(outdir, stem, out):
    files = []
    elems = flatten(out)
    single = isinstance(out, torch.Tensor)
    for i, t in enumerate(elems):
        if t is None:
            files.append(None)
            continue
        name = "%s.out.npy" % stem if single else "%s.out.%d.npy" % (stem, i)
        np.save(os.path.join(outdir, name), t.detach().contiguous().numpy())
        files.append(name)
    return files


def export(name, outdir, variants):
    torch.manual_seed(SEED)
    model = MODELS[name]()
    recompute_batchnorm(model, INPUT_SHAPE)
    model.eval()
    torch.manual_seed(SEED + 1)
    x = torch.randn(*INPUT_SHAPE)
    np.save(os.path.join(outdir, "%s.input.npy" % name), x.numpy())
    entries = []
    for variant in variants:
        if variant == "traced" and name in SCRIPT_ONLY:
            continue
        with torch.no_grad():
            if variant == "traced":
                module = torch.jit.trace(model, x)
            else:
                module = torch.jit.script(model)
            module.eval()
            stem = "%s.%s" % (name, variant)
            path = os.path.join(outdir, stem + ".pt")
            module.save(path)
            # The reference is what the saved file computes, reloaded.
            out = torch.jit.load(path)(x)
        entries.append({
            "name": name, "variant": variant, "model": stem + ".pt",
            "input": "%s.input.npy" % name, "input_shape": list(INPUT_SHAPE),
            "outputs": save_outputs(outdir, stem, out),
        })
        print("exported %s" % stem, file=sys.stderr, flush=True)
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--models", default=",".join(MODELS),
                    help="comma-separated subset of: " + ", ".join(MODELS))
    ap.add_argument("--variants", default="traced,scripted")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    entries = []
    for name in args.models.split(","):
        if name not in MODELS:
            ap.error("unknown model %r" % name)
        entries += export(name, args.outdir, args.variants.split(","))
    # Models tandem must refuse with a clear error.
    torch.jit.script(TwoInputs()).save(os.path.join(args.outdir, "two_inputs.pt"))
    NoForward().save(os.path.join(args.outdir, "no_forward.pt"))
    with open(os.path.join(args.outdir, "not_a_model.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a TorchScript archive" * 10)
    bad = {"two_inputs": "two_inputs.pt", "no_forward": "no_forward.pt", "not_a_model": "not_a_model.pt"}
    with open(os.path.join(args.outdir, "fixtures.json"), "w") as f:
        json.dump({"seed": SEED, "fixtures": entries, "bad": bad}, f, indent=1)


if __name__ == "__main__":
    main()
