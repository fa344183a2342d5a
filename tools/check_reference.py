#!/usr/bin/env python3
"""check_reference.py — check tools/hippo_ref.py against golden fixtures, tensor by tensor.

For each fixture file: load its parameters and inputs, run our float64 forward pass (and the H3
recurrent mode where the file holds step/* tensors), backpropagate the loss with autograd, and
compare every stored output, hidden state, kernel, step tensor and gradient (and, in an optimiser
fixture, the parameters after one AdamW step and the LR schedule tables, from the written-out
formulas) by the scaled error
max|c - r| / max|r| (abs error when r is all zero). Exits 1 if any tensor exceeds the limit
(default 1e-10) or if a stored tensor is not produced by our implementation.

Usage: python3 tools/check_reference.py [--tol 1e-10] [--verbose] [files...]
       (no files: the four authors' fixtures in tests/fixtures/reference/)
"""

import argparse
import json
import math
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hippo_ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = [os.path.join(ROOT, "tests/fixtures/reference", f + ".safetensors")
             for f in ("h3", "h3_headdim8", "s4d", "attention")]


def scaled_error(c, r):
    diff = (c.detach().double() - r.double()).abs().max().item() if r.numel() else 0.0
    scale = r.abs().max().item() if r.numel() else 0.0
    return (diff / scale if scale > 0 else diff), diff


def run_file(path):
    """Returns (config, dict name -> our tensor) for every tensor our model can produce."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    cfg = hippo_ref.config_from_metadata(meta["model_config"])
    st = load_file(path)
    params = {k[len("param/"):]: v.clone().double().requires_grad_(True)
              for k, v in st.items() if k.startswith("param/")}
    loss, trace = hippo_ref.forward(cfg, params, st["input/ids"], st["input/targets"])
    loss.backward()
    ours = dict(trace)
    for name, t in params.items():
        ours["grad/" + name] = t.grad
    if any(k.startswith("step/") for k in st):
        with torch.no_grad():
            ours.update(hippo_ref.step_trace(cfg, params, trace))
    return cfg, st, ours


def adamw_expected(st, opt):
    """One AdamW step from zero moments, written out: m = (1-b1) g, v = (1-b2) g²,
    p' = p (1 - lr wd) - lr (m / (1-b1)) / (sqrt(v / (1-b2)) + eps)."""
    b1, b2 = opt["betas"]
    out = {}
    for key in st:
        if not key.startswith("param_after/"):
            continue
        name = key[len("param_after/"):]
        p, g = st["param/" + name], st["grad/" + name]
        ssm = name in opt["ssm_group"]
        lr = opt["ssm_lr"] if ssm else opt["lr"]
        wd = opt["ssm_weight_decay"] if ssm else opt["weight_decay"]
        m, v = (1 - b1) * g, (1 - b2) * g * g
        out[key] = p * (1 - lr * wd) - lr * (m / (1 - b1)) / (torch.sqrt(v / (1 - b2)) + opt["eps"])
    return out


def schedules_expected(meta):
    """sched/cosine (timm cosine with linear warmup) and sched/linear (HF linear with warmup)."""
    c, li = json.loads(meta["sched_cosine"]), json.loads(meta["sched_linear"])
    cos = []
    for t in range(c["steps"]):
        if t < c["warmup_t"]:
            cos.append(c["warmup_lr_init"] + t * (c["lr"] - c["warmup_lr_init"]) / c["warmup_t"])
        elif t < c["t_initial"]:
            cos.append(c["lr_min"] + 0.5 * (c["lr"] - c["lr_min"]) *
                       (1 + math.cos(math.pi * t / c["t_initial"])))
        else:
            cos.append(c["lr_min"])
    lin = [li["lr"] * (t / li["warmup"] if t < li["warmup"] else
                       max(0.0, (li["total"] - t) / (li["total"] - li["warmup"])))
           for t in range(li["steps"])]
    return {"sched/cosine": torch.tensor(cos, dtype=torch.float64),
            "sched/linear": torch.tensor(lin, dtype=torch.float64)}


def check_file(path, tol, verbose):
    cfg, st, ours = run_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    if "optimizer" in meta:
        ours.update(adamw_expected(st, json.loads(meta["optimizer"])))
    if "sched_cosine" in meta:
        ours.update(schedules_expected(meta))
    name = os.path.basename(path)
    worst = {}  # group -> (err, tensor name)
    failures = []
    for key, ref in st.items():
        if key.startswith(("input/", "param/")):
            continue
        if key not in ours:
            failures.append("%s: %s not produced by hippo_ref" % (name, key))
            continue
        c = ours[key]
        if c is None or tuple(c.shape) != tuple(ref.shape):
            failures.append("%s: %s shape %s vs stored %s" % (
                name, key, None if c is None else tuple(c.shape), tuple(ref.shape)))
            continue
        err, diff = scaled_error(c, ref)
        group = key.split("/")[0]
        if group not in worst or err > worst[group][0]:
            worst[group] = (err, key)
        if verbose:
            print("  %-70s scaled %.2e  abs %.2e" % (key, err, diff))
        if not err <= tol:  # also catches NaN
            failures.append("%s: %s scaled error %.3e > %.0e" % (name, key, err, tol))
    loss = ours["output/loss"].item()
    print("%s (%s, L=%d, B=%d, loss %.16g):" % (name, cfg.kind, st["input/ids"].shape[1],
                                                st["input/ids"].shape[0], loss))
    for group in sorted(worst):
        err, key = worst[group]
        print("  worst %-7s %.2e  (%s)" % (group, err, key))
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="*", default=REFERENCE)
    ap.add_argument("--tol", type=float, default=1e-10)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    failures = []
    for path in args.files:
        failures += check_file(path, args.tol, args.verbose)
    for f in failures:
        print("FAIL", f)
    print("%s: %d file(s), %d failure(s), limit %.0e scaled" % (
        "FAILED" if failures else "OK", len(args.files), len(failures), args.tol))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
