#!/usr/bin/env python3
"""train_ref.py — train our PyTorch model (hippo_ref.py) with torch.optim.AdamW on hippodrome's data.

The training loop of the paper configs written once more in PyTorch: AdamW with the reference's two
parameter groups (SSM parameters at min(ssm_lr, lr), no weight decay), the per-step timm cosine
schedule with linear warm-up (h3.md §4.2), batch 32, embedding dropout, test accuracy at the answer
position. Data comes from `hippodrome data TASK --out FILE`, so both programs see the same examples.

Two uses:
  * compare learning curves with `hippodrome train` (same data, same inits if you pass --init):
        build/hippodrome data induction_head --out /tmp/ih.safetensors
        python3 tools/train_ref.py --data /tmp/ih.safetensors --epochs 150
  * write the deterministic training fixture the C suite checks (no dropout, batches in file
    order, float64): the loss of every step for --steps steps from hippo_ref's seed-0 init:
        python3 tools/train_ref.py --data /tmp/ih.safetensors --fixture tests/fixtures/ours/train_h3_ih.safetensors
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import hippo_ref as R  # noqa: E402


def load_data(path):
    d = load_file(path)
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    return {k: v.long() for k, v in d.items()}, meta


def cosine_lr(t, base, steps_per_epoch, epochs, warmup_epochs, lr_init=1e-6, min_ratio=0.1):
    W, T = steps_per_epoch * warmup_epochs, steps_per_epoch * epochs
    if t < W:
        return lr_init + t * (base - lr_init) / W
    lr_min = min_ratio * base
    return lr_min if t >= T else lr_min + 0.5 * (base - lr_min) * (1 + math.cos(math.pi * t / T))


def forward(cfg, p, ids, dropout):
    """hippo_ref's forward with embedding dropout (the only dropout of the H3/S4D configs)."""
    E = "backbone.embeddings.word_embeddings.weight"
    x = p[E][ids]
    if dropout > 0:
        x = F.dropout(x, dropout, True)
    for i in range(cfg.n_layer):
        pre = "backbone.layers.%d." % i
        a = R.layer_norm(x, p, pre + "norm1", cfg.layer_norm_eps)
        r = x + R.MIXERS[cfg.kind](cfg, p, pre + "mixer.", a, {}, i)
        h = R.layer_norm(r, p, pre + "norm2", cfg.layer_norm_eps)
        x = r + R.linear(R.gelu_tanh(R.linear(h, p, pre + "mlp.fc1")), p, pre + "mlp.fc2")
    return R.layer_norm(x, p, "backbone.ln_f", cfg.layer_norm_eps) @ p[E].t()


def make_optimizer(p, lr, ssm_lr, wd):
    ssm = [k for k in p if R.is_ssm_group(k)]
    return torch.optim.AdamW([{"params": [p[k] for k in p if k not in ssm], "weight_decay": wd, "base": lr},
                              {"params": [p[k] for k in ssm], "weight_decay": 0.0, "base": min(ssm_lr, lr)}],
                             lr=lr, betas=(0.9, 0.999), eps=1e-8)


def train(a):
    data, meta = load_data(a.data)
    V = int(json.loads(meta["keys"])["vocab_size"])
    cfg = R.Config(kind=a.layer, vocab_size=V)
    init = R.init_params(cfg, a.init_seed) if not a.init else load_file(a.init)
    p = {k: init[k].double().clone().requires_grad_(True) for k in init}
    opt = make_optimizer(p, a.lr, a.ssm_lr, a.wd)
    x, y, xt, yt = data["train/x"], data["train/y"], data["test/x"], data["test/y"]
    n, B = x.shape[0], 32
    spe = (n + B - 1) // B
    fixture = a.fixture is not None
    g = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    step, losses, t0 = 0, [], time.time()
    for ep in range(a.epochs):
        order = torch.arange(n) if fixture else torch.randperm(n, generator=g)
        total = 0.0
        for b in range(spe):
            idx = order[b * B:(b + 1) * B]
            for grp in opt.param_groups:
                grp["lr"] = cosine_lr(step, grp["base"], spe, a.schedule_epochs, a.warmup_epochs)
            logits = forward(cfg, p, x[idx], 0.0 if fixture else a.dropout)
            loss = F.cross_entropy(logits.reshape(-1, V), y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            total += loss.item() * len(idx)
            step += 1
            if fixture and step == a.steps:
                return cfg, init, losses, meta
        with torch.no_grad():
            acc = (forward(cfg, p, xt, 0.0)[:, -1].argmax(-1) == yt[:, -1]).double().mean().item()
        print("epoch %d loss %.5f test acc %.3f  %.0f s" % (ep + 1, total / n, acc, time.time() - t0), flush=True)
        if a.stop_acc and acc >= a.stop_acc:
            break
    return cfg, init, losses, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="from `hippodrome data TASK --out FILE`")
    ap.add_argument("--layer", default="h3", choices=["h3", "s4d", "attention"])
    ap.add_argument("--init", help="start from these parameters (safetensors, PyTorch names)")
    ap.add_argument("--init-seed", type=int, default=0, help="hippo_ref.init_params seed when no --init")
    ap.add_argument("--seed", type=int, default=0, help="shuffle and dropout seed")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ssm-lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=400, help="epochs to run")
    ap.add_argument("--schedule-epochs", type=int, default=400, help="length of the cosine schedule")
    ap.add_argument("--warmup-epochs", type=int, default=40)
    ap.add_argument("--stop-acc", type=float, default=0.0)
    ap.add_argument("--fixture", help="write the deterministic-run fixture here")
    ap.add_argument("--steps", type=int, default=400, help="fixture: steps recorded")
    a = ap.parse_args()
    if a.fixture:
        a.epochs = a.steps // 157 + 1
    cfg, init, losses, meta = train(a)
    if a.fixture:
        t = {"param/" + k: v.double().contiguous() for k, v in init.items()}
        t["loss/steps"] = torch.tensor(losses, dtype=torch.float64)
        md = {"generator": "tools/train_ref.py --fixture (hippodrome)", "model_config": cfg.to_json(),
              "data_train_hash": meta["train_hash"], "data_task": meta["task"], "data_keys": meta["keys"],
              "training": json.dumps({"lr": a.lr, "ssm_lr": a.ssm_lr, "weight_decay": a.wd, "batch": 32,
                                      "order": "file order", "dropout": 0, "schedule": "cosine",
                                      "schedule_epochs": a.schedule_epochs, "warmup_epochs": a.warmup_epochs,
                                      "warmup_lr_init": 1e-6, "min_lr_ratio": 0.1, "steps": a.steps,
                                      "optimizer": "torch.optim.AdamW betas (0.9, 0.999) eps 1e-8, float64"})}
        save_file(t, a.fixture, metadata=md)
        print("fixture: %s (%d steps, loss %.6f -> %.6f)" % (a.fixture, len(losses), losses[0], losses[-1]))


if __name__ == "__main__":
    main()
