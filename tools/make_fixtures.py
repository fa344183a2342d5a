#!/usr/bin/env python3
"""make_fixtures.py — write our golden fixtures to tests/fixtures/ours/ with tools/hippo_ref.py.

They cover cases the authors' fixtures (tests/fixtures/reference/) do not: H3 head_dim 2, H3 with
zero-order-hold discretisation, H3 with a large mixer output, two-head attention, S4D at
vocabulary 10 / length 22, H3 with d_state 16 < L (zero shift-kernel tail), Gated State Spaces
(GSS, our own layer: no authors' counterpart), the order-2 Hyena operator (emb_dim 5, w 10 and
l_max = L + 2 as the Hyena long-recall config), H3 behind a 4-tap short-conv front, the H3 ablations (diag+diag, shift+shift, both
gates off) and one AdamW step plus the two LR schedules. Same tensor names
as the authors' files; float64 (ids int64); parameters drawn in float32 so they load exactly.

Run check_reference.py first: these numbers are only as good as hippo_ref's agreement with the
authors' fixtures. Usage: python3 tools/make_fixtures.py [--out tests/fixtures/ours] [--only NAME ...]
The output is deterministic: rerunning rewrites identical files.
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hippo_ref  # noqa: E402
from hippo_ref import Config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, config, param seed, data generator, vocab, input_seq_len, batch, extra
CASES = [
    ("h3_headdim2", Config(kind="h3", head_dim=2), 1, "induction_head", 20, 22, 3, {}),
    ("h3_zoh", Config(kind="h3", disc="zoh"), 2, "induction_head", 20, 19, 2, {}),
    ("h3_big", Config(kind="h3"), 3, "induction_head", 20, 26, 2, {"qkvo_scale": 4.5}),
    ("attention_2heads", Config(kind="attention", n_heads=2, max_position_embeddings=18), 4,
     "induction_head", 20, 16, 3, {}),
    ("s4d_v10", Config(kind="s4d", vocab_size=10, disc="zoh", measure="diag-inv"), 5,
     "assoc_recall", 10, 20, 2, {}),
    ("h3_n16", Config(kind="h3", d_state=16), 6, "induction_head", 20, 20, 2, {}),
    ("gss", Config(kind="gss"), 7, "induction_head", 20, 18, 2, {"gss_proj_scale": 4.5}),
    # The ablations: batches and lengths chosen to keep each file under 1 MB with its step states.
    ("h3_diag_diag", Config(kind="h3", ssm="diag+diag"), 8, "induction_head", 20, 18, 1,
     {"qkvo_scale": 4.5}),
    ("h3_shift_shift", Config(kind="h3", ssm="shift+shift"), 9, "induction_head", 20, 16, 2,
     {"qkvo_scale": 4.5}),
    ("h3_nogates", Config(kind="h3", gate_kv=False, gate_q=False), 10, "induction_head", 20, 20, 1,
     {"qkvo_scale": 4.5}),
    # Inputs of 19 tokens, features laid out for 21 (L + 2); PyTorch's default inits.
    ("hyena", Config(kind="hyena", emb_dim=5, w=10.0, l_max=21), 11, "induction_head", 20, 18, 2, {}),
    # The short-conv front (4 taps) in front of H3; no recurrent-mode tensors (step_trace is H3's alone).
    ("h3_short_conv", Config(kind="h3", short_conv=4), 12, "induction_head", 20, 18, 2, {"qkvo_scale": 4.5}),
]

# GSS projection weights enlarged by `gss_proj_scale` so the mixer output reaches the logits.
GSS_PROJ = ("to_u.weight", "to_v.weight", "to_gate.weight", "out_proj.weight")

OPTIM = dict(lr=5e-4, weight_decay=0.1, ssm_lr=min(1e-3, 5e-4), ssm_weight_decay=0.0,
             betas=(0.9, 0.999), eps=1e-8)
COSINE = dict(lr=5e-4, warmup_lr_init=1e-6, warmup_t=10, t_initial=100, lr_min=0.1 * 5e-4, steps=121)
LINEAR = dict(lr=5e-4, warmup=10, total=100, steps=121)


# ---------------------------------------------------------------- data (safari's rules, our RNG)

def vocab_ids(V):
    """Token strings '0'..'V-3', '=>', '.' sorted lexicographically -> id."""
    toks = sorted([str(i) for i in range(V - 2)] + ["=>", "."])
    return {t: i for i, t in enumerate(toks)}


def induction_head(V, seq_len, rng):
    ids = vocab_ids(V)
    seq = [str(x) for x in rng.integers(0, V - 2, size=seq_len)] + ["=>"]
    p = int(rng.integers(0, seq_len - 2))
    seq[p] = "=>"
    seq.append(seq[p + 1])
    return [ids[t] for t in seq]                           # seq_len + 2 tokens


def assoc_recall(V, seq_len, rng):
    ids = vocab_ids(V)
    ordinary = sorted(str(i) for i in range(V - 2))
    keys, values = ordinary[: len(ordinary) // 2], ordinary[len(ordinary) // 2:]
    kv = {k: values[int(rng.integers(0, len(values)))] for k in keys}
    used = [keys[int(rng.integers(0, len(keys)))] for _ in range(seq_len // 2)]
    seq = [t for k in used for t in (k, kv[k])]
    q = used[int(rng.integers(0, len(used)))]
    seq += ["=>", q, kv[q]]
    return [ids[t] for t in seq]                           # seq_len + 3 tokens


def make_data(gen, V, seq_len, batch, seed):
    rng = np.random.default_rng(seed)
    fn = {"induction_head": induction_head, "assoc_recall": assoc_recall}[gen]
    seqs = torch.tensor([fn(V, seq_len, rng) for _ in range(batch)], dtype=torch.int64)
    return seqs[:, :-1].contiguous(), seqs[:, 1:].contiguous()


# ---------------------------------------------------------------- one model fixture

def build_params(cfg, seed, extra):
    p32 = hippo_ref.init_params(cfg, seed)
    s = extra.get("qkvo_scale")
    if s is not None:  # enlarge the H3 mixer output (scaled in float32, so still exact there)
        for name in p32:
            if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight",
                              "output_linear.weight")):
                p32[name] = p32[name] * torch.tensor(s, dtype=torch.float32)
    s = extra.get("gss_proj_scale")
    if s is not None:  # likewise for the GSS mixer (exact in float32 too)
        for name in p32:
            if name.endswith(GSS_PROJ):
                p32[name] = p32[name] * torch.tensor(s, dtype=torch.float32)
    return {k: v.double().requires_grad_(True) for k, v in p32.items()}


def run_model(cfg, params, ids, targets):
    loss, trace = hippo_ref.forward(cfg, params, ids, targets)
    loss.backward()
    out = {"input/ids": ids, "input/targets": targets}
    out.update({"param/" + k: v.detach() for k, v in params.items()})
    out.update({"grad/" + k: v.grad.detach() for k, v in params.items()})
    out.update({k: v.detach() for k, v in trace.items()})
    if cfg.kind == "h3" and cfg.head_dim == 1 and not cfg.short_conv:
        with torch.no_grad():
            out.update(hippo_ref.step_trace(cfg, params, trace))
        for i in range(cfg.n_layer):  # recurrence vs convolution: an independent check
            ref = out["mixer/layer%d/out" % i]
            err = (out["step/layer%d/out" % i] - ref).abs().max() / ref.abs().max()
            assert err < 1e-12, "step mode disagrees with conv mode: %.3g" % err
    return out


def metadata(cfg, name, seed, gen, V, seq_len, batch, extra):
    init = "torch.manual_seed(%d); parameters drawn in float32 from spec/h3.md inits " \
           "(tools/hippo_ref.py init_params), then converted to float64" % seed
    if extra.get("qkvo_scale"):
        init += "; then q_proj, k_proj, v_proj and output_linear weights multiplied by %g in float32" \
                % extra["qkvo_scale"]
    if extra.get("gss_proj_scale"):
        init += "; then to_u, to_v, to_gate and out_proj weights multiplied by %g in float32" \
                % extra["gss_proj_scale"]
    return {
        "generator": "tools/make_fixtures.py (hippodrome), fixture %s" % name,
        "implementation": "tools/hippo_ref.py: float64 re-implementation from spec/h3.md, checked "
                          "against the authors' fixtures by tools/check_reference.py",
        "torch_version": torch.__version__,
        "compute": "float64 on CPU (complex128 for SSM kernels), direct causal convolution",
        "model": "lm_simple",
        "model_config": cfg.to_json(),
        "init": init,
        "data": json.dumps({"generator": gen, "vocab_size": V, "input_seq_len": seq_len,
                            "numpy_default_rng_seed": seed, "examples": batch,
                            "rules": "safari ICL generator rules, our own RNG"}, sort_keys=True),
        "loss": "mean cross-entropy over all %dx%d positions, all dropout 0" % (
            batch, seq_len + (1 if gen == "induction_head" else 2)),
        "tied": "lm_head.weight is tied to backbone.embeddings.word_embeddings.weight (stored once)",
    }


def write(path, tensors, meta):
    """safetensors layout, written here so the bytes are deterministic: __metadata__ first, then
    the tensors in the given order with contiguous offsets; header padded with spaces to 8 bytes."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in tensors.items():
        dtype = {torch.float64: "F64", torch.int64: "I64"}[v.dtype]
        b = v.contiguous().numpy().astype("<" + v.numpy().dtype.str[1:]).tobytes()
        header[k] = {"dtype": dtype, "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(8 + len(h)) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(path + ".tmp", path)
    back = load_file(path)  # read back with the safetensors library
    assert list(back) and all(torch.equal(back[k], tensors[k]) for k in tensors), path
    print("wrote %-40s %4d tensors %8d bytes" % (os.path.relpath(path, ROOT), len(tensors),
                                                 os.path.getsize(path)))


def make_case(outdir, case):
    name, cfg, seed, gen, V, seq_len, batch, extra = case
    ids, targets = make_data(gen, V, seq_len, batch, seed)
    params = build_params(cfg, seed, extra)
    tensors = run_model(cfg, params, ids, targets)
    for i in range(cfg.n_layer):
        print("  %s layer %d: max|mixer out| %.3g" % (
            name, i, tensors["mixer/layer%d/out" % i].abs().max().item()))
    write(os.path.join(outdir, name + ".safetensors"), tensors,
          metadata(cfg, name, seed, gen, V, seq_len, batch, extra))
    return cfg, tensors


# ---------------------------------------------------------------- optimiser and schedules

def adamw_step(params, grads):
    """One torch.optim.AdamW step with the two parameter groups; returns name -> new value."""
    ps = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    for k, p in ps.items():
        p.grad = grads[k].clone()
    normal = [p for k, p in ps.items() if not hippo_ref.is_ssm_group(k)]
    ssm = [p for k, p in ps.items() if hippo_ref.is_ssm_group(k)]
    opt = torch.optim.AdamW([
        {"params": normal, "lr": OPTIM["lr"], "weight_decay": OPTIM["weight_decay"]},
        {"params": ssm, "lr": OPTIM["ssm_lr"], "weight_decay": OPTIM["ssm_weight_decay"]},
    ], betas=OPTIM["betas"], eps=OPTIM["eps"], foreach=False)
    opt.step()
    return {k: p.detach() for k, p in ps.items()}


def cosine_lr(t, c=COSINE):
    if t < c["warmup_t"]:
        return c["warmup_lr_init"] + t * (c["lr"] - c["warmup_lr_init"]) / c["warmup_t"]
    if t < c["t_initial"]:
        return c["lr_min"] + 0.5 * (c["lr"] - c["lr_min"]) * (1 + math.cos(math.pi * t / c["t_initial"]))
    return c["lr_min"]


def linear_lr(t, c=LINEAR):
    if t < c["warmup"]:
        return c["lr"] * t / c["warmup"]
    return c["lr"] * max(0.0, (c["total"] - t) / (c["total"] - c["warmup"]))


def make_optim(outdir, big_cfg, big):
    params = {k[6:]: v for k, v in big.items() if k.startswith("param/")}
    grads = {k[5:]: v for k, v in big.items() if k.startswith("grad/")}
    after = adamw_step(params, grads)
    tensors = {"input/ids": big["input/ids"], "input/targets": big["input/targets"]}
    tensors.update({"param/" + k: v for k, v in params.items()})
    tensors.update({"grad/" + k: v for k, v in grads.items()})
    tensors.update({"param_after/" + k: v for k, v in after.items()})
    tensors["sched/cosine"] = torch.tensor([cosine_lr(t) for t in range(COSINE["steps"])],
                                           dtype=torch.float64)
    tensors["sched/linear"] = torch.tensor([linear_lr(t) for t in range(LINEAR["steps"])],
                                           dtype=torch.float64)
    meta = {
        "generator": "tools/make_fixtures.py (hippodrome), fixture optim_h3",
        "torch_version": torch.__version__,
        "model_config": big_cfg.to_json(),
        "source": "param/ and grad/ are h3_big.safetensors' (same ids/targets); param_after/ is "
                  "one torch.optim.AdamW step (foreach=False) in float64 from zero moments",
        "optimizer": json.dumps({"name": "AdamW", **OPTIM, "ssm_group": sorted(
            k for k in params if hippo_ref.is_ssm_group(k))}, sort_keys=True),
        "sched_cosine": json.dumps(COSINE, sort_keys=True),
        "sched_linear": json.dumps(LINEAR, sort_keys=True),
    }
    write(os.path.join(outdir, "optim_h3.safetensors"), tensors, meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/fixtures/ours"))
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="write only these fixtures (optim_h3 needs h3_big)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    made = {}
    names = [c[0] for c in CASES] + ["optim_h3"]
    for n in args.only or []:
        if n not in names:
            ap.error("unknown fixture %r; known: %s" % (n, ", ".join(names)))
    want = set(args.only or names)
    if "optim_h3" in want:
        want.add("h3_big")
    for case in CASES:
        if case[0] in want:
            made[case[0]] = make_case(args.out, case)
    if "optim_h3" in want:
        make_optim(args.out, *made["h3_big"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
