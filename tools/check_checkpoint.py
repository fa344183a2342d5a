#!/usr/bin/env python3
"""check_checkpoint.py — a hippodrome checkpoint in our PyTorch model of the authors' code.

Trains nothing: given a checkpoint written by `hippodrome train --save FILE` and a token
sequence, it loads the float32 tensors by their PyTorch names into tools/hippo_ref.py (the
model checked against the authors' fixtures by check_reference.py), computes next-token
probabilities there in float64, runs `hippodrome predict` on the same tokens, and compares.
Exit status 1 when they differ by more than --tol (absolute, on probabilities).

    python3 tools/check_checkpoint.py --checkpoint model.safetensors --tokens "1 5 2 6 9 1"
"""
import argparse
import json
import subprocess
import sys

import torch
from safetensors.torch import load_file
from safetensors import safe_open

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import hippo_ref  # noqa: E402


def model_config(path):
    """Our Config from the checkpoint's resolved hippodrome config."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    c = json.loads(meta["hippodrome_config"])
    model, opts = c["model"], c["model"].get("layer_options", {})
    kind = model["layer"]
    cfg = hippo_ref.Config(kind=kind, d_model=model["d_model"], n_layer=model["n_layer"],
                           d_inner=model["d_inner"], vocab_size=c["task"]["vocab_size"],
                           layer_norm_eps=model.get("ln_eps", 1e-5))
    if kind == "h3":
        cfg.d_state, cfg.head_dim = opts["d_state"], opts["head_dim"]
        cfg.disc, cfg.measure = opts["disc"], opts["measure"]
    elif kind == "s4d":
        cfg.d_state, cfg.disc = opts["d_state"], "zoh"
    else:
        cfg.n_heads = opts["n_heads"]
    return cfg


def torch_probs(path, ids):
    cfg = model_config(path)
    p = {k: v.double() for k, v in load_file(path).items()}
    if cfg.kind == "attention":
        cfg.max_position_embeddings = p["backbone.embeddings.position_embeddings.weight"].shape[0]
    x = torch.tensor([ids], dtype=torch.int64)
    _, trace = hippo_ref.forward(cfg, p, x, x)
    return torch.softmax(trace["output/logits"][0], dim=-1)


def hippodrome_probs(binary, path, ids):
    out = subprocess.run([binary, "predict", "--checkpoint", path, "--tokens", " ".join(map(str, ids))],
                         check=True, capture_output=True, text=True).stdout
    return torch.tensor([pos["probs"] for pos in json.loads(out)["positions"]], dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokens", required=True, help='token ids, e.g. "1 5 2 6 9 1"')
    ap.add_argument("--binary", default="build/hippodrome")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    ids = [int(t) for t in a.tokens.split()]
    ours, theirs = hippodrome_probs(a.binary, a.checkpoint, ids), torch_probs(a.checkpoint, ids)
    err = (ours - theirs).abs().max().item()
    print("max |p_hippodrome - p_pytorch| = %.3g over %d positions (tolerance %.1g)" % (err, len(ids), a.tol))
    return 0 if err <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
