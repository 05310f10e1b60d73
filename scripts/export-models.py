#!/usr/bin/python3
"""Export tandem's test fixtures: TorchScript models with random weights.

Run with Debian's interpreter (/usr/bin/python3), which has python3-torch and
python3-torchvision. Nothing is downloaded: every model is built from its
torchvision definition with random weights drawn from a fixed seed.

For each model NAME and each variant (traced, scripted) it writes into OUTDIR:
  NAME.traced.pt / NAME.scripted.pt    the TorchScript module (not frozen)
  NAME.input.npy                       the reference input (float32), or
  NAME.input.K.npy                     input K of a model with several inputs
                                       or another dtype
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

from typing import Dict, Optional, Tuple

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


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.body(x)


class UNet(nn.Module):
    """Scripted nn.Upsample raises in a branch: prim::Uninitialized values."""

    def __init__(self):
        super().__init__()
        self.e1, self.e2, self.mid = Block(3, 8), Block(8, 16), Block(16, 16)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.d2, self.d1 = Block(32, 8), Block(16, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(self.pool(a))
        c = self.mid(self.pool(b))
        d = self.d2(torch.cat([self.up(c), b], 1))
        return self.head(self.d1(torch.cat([self.up(d), a], 1)))


class MaskedSegmenter(nn.Module):
    """Two inputs: an image and a boolean mask of the pixels to keep."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(Block(3, 8), nn.MaxPool2d(2), Block(8, 16))
        self.mask_proj = nn.Conv2d(1, 16, 1)
        self.head = nn.Conv2d(16, 3, 1)

    def forward(self, image, mask):
        m = mask.float()
        f = self.enc(image * m)
        f = f + self.mask_proj(nn.functional.max_pool2d(m, 2))
        return self.head(f)


class TinyEncoder(nn.Module):
    """BERT-style: int64 token ids and an attention mask; the sizes taken at
    the start are used by every layer."""

    def __init__(self, vocab=100, dim=32, heads=4, layers=3):
        super().__init__()
        self.heads = heads
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(64, dim)
        self.qkv = nn.ModuleList([nn.Linear(dim, 3 * dim) for _ in range(layers)])
        self.out = nn.ModuleList([nn.Linear(dim, dim) for _ in range(layers)])
        self.ff = nn.ModuleList([nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
                                 for _ in range(layers)])
        self.norm1 = nn.ModuleList([nn.LayerNorm(dim) for _ in range(layers)])
        self.norm2 = nn.ModuleList([nn.LayerNorm(dim) for _ in range(layers)])
        self.cls = nn.Linear(dim, 4)

    def forward(self, ids, attention_mask):
        b, t = ids.shape[0], ids.shape[1]
        d = self.emb.embedding_dim
        hd = d // self.heads
        positions = torch.arange(t).unsqueeze(0).expand(b, t)
        x = self.emb(ids) + self.pos(positions)
        bias = (1.0 - attention_mask.float()).view(b, 1, 1, t) * -1e4
        for qkv, out, ff, n1, n2 in zip(self.qkv, self.out, self.ff, self.norm1, self.norm2):
            q, k, v = qkv(x).split(d, dim=2)
            q = q.view(b, t, self.heads, hd).transpose(1, 2)
            k = k.view(b, t, self.heads, hd).transpose(1, 2)
            v = v.view(b, t, self.heads, hd).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(2, 3) / (hd ** 0.5) + bias, dim=-1)
            y = (att @ v).transpose(1, 2).reshape(b, t, d)
            x = n1(x + out(y))
            x = n2(x + ff(x))
        return self.cls(x[:, 0])


class Uint8Images(nn.Module):
    """Takes camera frames as uint8 and normalises them inside."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.body = nn.Sequential(Block(3, 8), nn.MaxPool2d(2), Block(8, 16), nn.AdaptiveAvgPool2d(1),
                                  nn.Flatten(), nn.Linear(16, 10))

    def forward(self, frame):
        x = (frame.float() / 255.0 - self.mean) / self.std
        return self.body(x)


class DictOutput(nn.Module):
    """Returns a dict: the result files must say which element is which."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(Block(3, 8), nn.MaxPool2d(2), Block(8, 16))
        self.cls = nn.Linear(16, 10)

    def forward(self, x) -> Dict[str, torch.Tensor]:
        f = self.body(x)
        pooled = f.mean(dim=(2, 3))
        return {"logits": self.cls(pooled), "features": f}


class MixedDtypes(nn.Module):
    """Activations of every dtype cross cuts, and a float16 output."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.lin = nn.Linear(4, 6)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        h = y.to(torch.float16) * 2.0
        b = y.to(torch.bfloat16) + 1.0
        d = y.double() / 3.0
        q = (y * 10.0).to(torch.int32)
        i = q.to(torch.int64) + 1
        m = y > 0.5
        u = (y * 40.0).clamp(0, 255).to(torch.uint8)
        z = h.float() + b.float() + d.float() + i.float() + m.float() + u.float()
        return self.lin(z.mean(dim=(2, 3))), h


class TwoInputs(nn.Module):
    def forward(self, x, y):
        return x + y


class Uncarried(nn.Module):
    """Values tandem does not carry across a cut: a str and an Optional[int]."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        scale: Optional[int] = None
        if bool(x.max() > 1):
            scale = 3
        y = torch.relu(self.c1(x))
        mode = "double" if bool(y.mean() > 0) else "same"
        y = torch.relu(self.c2(y))
        if mode == "double":
            y = y * 2.0
        if scale is not None:
            y = y * float(scale)
        return y


class StrOutput(nn.Module):
    def forward(self, x) -> Tuple[torch.Tensor, str]:
        return x * 2.0, "label"


class IntArgument(nn.Module):
    def forward(self, x, n: int):
        return x * n


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
    "unet": UNet,
    "masked_segmenter": MaskedSegmenter,
    "tiny_encoder": TinyEncoder,
    "uint8_images": Uint8Images,
    "dict_output": DictOutput,
    "mixed_dtypes": MixedDtypes,
}

# Inputs other than one float32 1x3x224x224 image: (dtype, shape, low, high)
# per input; low/high bound random integers.
INPUTS = {
    "unet": [(torch.float32, (1, 3, 64, 64), None, None)],
    "masked_segmenter": [(torch.float32, (1, 3, 64, 64), None, None), (torch.bool, (1, 1, 64, 64), 0, 2)],
    "tiny_encoder": [(torch.int64, (2, 16), 0, 100), (torch.int64, (2, 16), 0, 2)],
    "uint8_images": [(torch.uint8, (1, 3, 64, 64), 0, 256)],
    "dict_output": [(torch.float32, (1, 3, 32, 32), None, None)],
    "mixed_dtypes": [(torch.float32, (1, 3, 32, 32), None, None)],
}

# Models whose control flow tracing would freeze into one path, or whose
# outputs tracing cannot return.
SCRIPT_ONLY = {"irregular", "unet", "tiny_encoder", "dict_output"}

DTYPE_NAMES = {torch.float32: "float32", torch.int64: "int64", torch.bool: "bool", torch.uint8: "uint8"}


def random_inputs(specs, batch=None):
    out = []
    for dtype, shape, low, high in specs:
        if batch is not None:
            shape = (batch,) + tuple(shape[1:])
        if low is None:
            out.append(torch.randn(*shape).to(dtype))
        else:
            out.append(torch.randint(low, high, shape).to(dtype))
    return out


def recompute_batchnorm(model, specs, batches=2, batch_size=8):
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(*random_inputs(specs, batch_size))
    model.eval()


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        res = []
        for o in out.values():
            res.extend(flatten(o))
        return res
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
    specs = INPUTS.get(name, [(torch.float32, INPUT_SHAPE, None, None)])
    torch.manual_seed(SEED)
    model = MODELS[name]()
    recompute_batchnorm(model, specs)
    model.eval()
    torch.manual_seed(SEED + 1)
    xs = random_inputs(specs)
    if len(xs) == 1 and xs[0].dtype == torch.float32:
        input_files = ["%s.input.npy" % name]
    else:
        input_files = ["%s.input.%d.npy" % (name, k) for k in range(len(xs))]
    for f, x in zip(input_files, xs):
        np.save(os.path.join(outdir, f), x.numpy())
    entries = []
    for variant in variants:
        if variant == "traced" and name in SCRIPT_ONLY:
            continue
        with torch.no_grad():
            if variant == "traced":
                module = torch.jit.trace(model, tuple(xs))
            else:
                module = torch.jit.script(model)
            module.eval()
            stem = "%s.%s" % (name, variant)
            path = os.path.join(outdir, stem + ".pt")
            module.save(path)
            # The reference is what the saved file computes, reloaded.
            out = torch.jit.load(path)(*xs)
        entries.append({
            "name": name, "variant": variant, "model": stem + ".pt",
            "input": input_files[0], "input_shape": list(xs[0].shape),
            "inputs": [{"file": f, "dtype": DTYPE_NAMES[x.dtype], "shape": list(x.shape)}
                       for f, x in zip(input_files, xs)],
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
    torch.jit.script(IntArgument()).save(os.path.join(args.outdir, "int_argument.pt"))
    torch.jit.script(Uncarried()).save(os.path.join(args.outdir, "uncarried.pt"))
    torch.jit.script(StrOutput()).save(os.path.join(args.outdir, "str_output.pt"))
    NoForward().save(os.path.join(args.outdir, "no_forward.pt"))
    with open(os.path.join(args.outdir, "not_a_model.pt"), "wb") as f:
        f.write(b"PK\x03\x04 this is not a TorchScript archive" * 10)
    bad = {"two_inputs": "two_inputs.pt", "no_forward": "no_forward.pt", "not_a_model": "not_a_model.pt",
           "int_argument": "int_argument.pt", "uncarried": "uncarried.pt", "str_output": "str_output.pt"}
    with open(os.path.join(args.outdir, "fixtures.json"), "w") as f:
        json.dump({"seed": SEED, "fixtures": entries, "bad": bad}, f, indent=1)


if __name__ == "__main__":
    main()
