"""hippo_ref.py — float64 PyTorch reference of the authors' `lm_simple` language model.

Written from the formulas in spec/h3.md and tests/fixtures/reference/README.md (sections 4, 5
and 7), not from the reference repositories. Four mixers: H3 (shift SSM + diagonal SSM, any
head_dim, bilinear or zoh, S4D-Lin or S4D-Inv init, and the ablations of models/h3.c: either SSM
kind in either slot, k·v and q gates replaced by sums), S4D (safari's s4d: one A shared by all
channels, ZOH, exact GELU, output linear), causal attention (1 or more heads, learned absolute
position embeddings), Gated State Spaces (GSS, spec/h3.md §2.2: GELU gates around a DSS
kernel with Δ = 1; it has no authors' counterpart, so its names are hippodrome's own) and the
order-2 Hyena operator (models/hyena.c and models/hyena.h state it: short conv on three
projections, an implicit MLP filter with a decay window, one long convolution between two gates).
Parameter names are exactly safari's `named_parameters()` names.

Convolutions are direct causal sums in time (no FFT): at L <= a few hundred this is exact to
float64 round-off and its autograd gives every gradient. Letters: B batch, L length, D width,
H SSM channels (heads), N2 = N/2 stored complex modes.

Used by check_reference.py (agreement with the authors' fixtures) and make_fixtures.py (our
extra fixtures). Developer tool only: nothing in the C build needs torch.
"""

import json
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn.functional as F

KINDS = ("h3", "s4d", "attention", "gss", "hyena")


@dataclass
class Config:
    kind: str                    # "h3", "s4d", "attention", "gss" or "hyena"
    d_model: int = 32
    n_layer: int = 2
    d_inner: int = 128
    vocab_size: int = 20
    d_state: int = 64            # N; the diagonal SSMs store N/2 complex modes
    head_dim: int = 1            # H3 only
    disc: str = "bilinear"       # H3 diagonal SSM: "bilinear" or "zoh" (S4D is always zoh)
    measure: str = "diag-lin"    # SSM A init: "diag-lin" (S4D-Lin) or "diag-inv" (S4D-Inv)
    ssm: str = "shift+diag"      # H3 only: SSM kinds of slot 1 (on k) + slot 2 (on k~v)
    gate_kv: bool = True         # H3 only: k~ * v (False: k~ + v)
    gate_q: bool = True          # H3 only: q * y (False: y + q)
    n_heads: int = 1             # attention only
    max_position_embeddings: int = 0  # attention only (0: no position table)
    expand: int = 4              # GSS only: E = expand·d_model
    d_ssm: int = 32              # GSS only: H, the DSS channels
    filter_order: int = 64       # Hyena only (as models/hyena.c's knobs, same defaults): MLP width W
    emb_dim: int = 3             # Hyena: positional features (odd)
    inner_mlps: int = 2          # Hyena: hidden W x W layers of the filter MLP
    short_filter: int = 3        # Hyena: taps of the short depthwise conv
    w: float = 1.0               # Hyena: initial sine frequency
    decay_target: float = 1e-2   # Hyena: the decay window (hyena.h)
    fast_decay_pct: float = 0.3
    slow_decay_pct: float = 1.5
    l_max: int = 0               # Hyena: feature layout length (0: the input length)
    init: str = "torch"          # Hyena: "torch" (PyTorch module defaults) or "lm" (lm_simple re-draw)
    layer_norm_eps: float = 1e-5
    short_conv: int = 0          # any kind: taps of a depthwise causal conv in front of the mixer (0: none)

    def to_json(self):
        d = asdict(self)
        if not d["short_conv"]:  # only when set: files from before this knob keep their bytes
            del d["short_conv"]
        if self.kind != "h3":
            del d["head_dim"]
        for k in H3_ABLATION_DEFAULTS:  # only when set: files from before these knobs keep their bytes
            if self.kind != "h3" or d[k] == H3_ABLATION_DEFAULTS[k]:
                del d[k]
        if self.kind != "gss":
            del d["expand"], d["d_ssm"]
        if self.kind != "hyena":
            for k in HYENA_KNOBS:
                del d[k]
        if self.kind in ("attention", "gss", "hyena"):
            for k in ("disc", "measure") + (("d_state",) if self.kind != "gss" else ()):
                del d[k]
        if self.kind != "attention":
            del d["n_heads"]
        d["tied_embeddings"] = True
        d["mlp_activation"] = "gelu_tanh"
        d["embed_dropout"] = d["resid_dropout"] = 0.0
        if self.kind == "attention":
            d["attn_dropout"] = 0.0
            d["attn_mask_value"] = -10000.0
        if self.kind == "s4d":
            d["n_ssm"] = 1
            d["activation"] = "gelu_exact"
        if self.kind == "gss":
            d["activation"] = "gelu_exact"
            d["dss_layer_norm_eps"] = 1e-5
            d["dss_dt"] = 1.0
        return json.dumps(d, sort_keys=True)


HYENA_KNOBS = ("filter_order", "emb_dim", "inner_mlps", "short_filter", "w", "decay_target",
               "fast_decay_pct", "slow_decay_pct", "l_max", "init")

# The H3 ablation knobs at their defaults (H3 itself); absent from a config = these values.
H3_ABLATION_DEFAULTS = {"ssm": "shift+diag", "gate_kv": True, "gate_q": True}
H3_SSM_VARIANTS = ("shift+diag", "diag+diag", "shift+shift")


def config_from_metadata(model_config):
    """Build a Config from a fixture's `model_config` JSON: the authors' constructor arguments
    (layer._name_, attn_layer_idx, attn_cfg) or our flat form (key "kind")."""
    m = json.loads(model_config) if isinstance(model_config, str) else dict(model_config)
    if "kind" in m:
        fields = Config.__dataclass_fields__
        return Config(**{k: v for k, v in m.items() if k in fields})
    base = dict(d_model=m["d_model"], n_layer=m["n_layer"], d_inner=m["d_inner"],
                vocab_size=m["vocab_size"])
    if m.get("attn_layer_idx"):
        if sorted(m["attn_layer_idx"]) != list(range(m["n_layer"])):
            raise ValueError("hybrid models are not implemented")
        return Config(kind="attention", n_heads=m.get("attn_cfg", {}).get("num_heads", 1),
                      max_position_embeddings=m.get("max_position_embeddings", 0), **base)
    layer = m["layer"]
    if layer["_name_"] == "h3":
        return Config(kind="h3", d_state=layer.get("d_state", 64), head_dim=layer.get("head_dim", 1),
                      disc=layer.get("disc", "bilinear"), measure=layer.get("measure", "diag-lin"),
                      **base)
    if layer["_name_"] == "s4d":
        return Config(kind="s4d", d_state=layer.get("d_state", 64), disc="zoh", measure="diag-inv",
                      **base)
    raise ValueError("unknown layer %r" % layer["_name_"])


# ---------------------------------------------------------------- small pieces

def linear(x, p, name):
    """x·Wᵀ + b with W stored (out, in)."""
    b = p.get(name + ".bias")
    y = x @ p[name + ".weight"].transpose(0, 1)
    return y if b is None else y + b


def layer_norm(x, p, name, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)  # biased
    return (x - mu) / torch.sqrt(var + eps) * p[name + ".weight"] + p[name + ".bias"]


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_exact(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def causal_conv(x, K):
    """y[b, t, c...] = Σ_{j<=t} K[c..., j] · x[b, t-j, c...].
    x: (B, L, *C); K: (*C, Lk) broadcastable, Lk >= L (taps beyond L are never reached)."""
    L = x.shape[1]
    y = torch.zeros_like(x)
    for j in range(L):
        tap = K[..., j]  # (*C)
        y = y + F.pad(tap * x[:, : L - j], (0, 0) * (x.dim() - 2) + (j, 0))
    return y


def cplx(t):
    """Real view (..., 2) -> complex."""
    return torch.complex(t[..., 0], t[..., 1])


# ---------------------------------------------------------------- SSM kernels

def shift_kernel(B, C, L):
    """Shift SSM: K[c, j] = Σ_{n<N-j} B[c, n] C[0, c, n+j] for j < min(N, L), else 0.
    B: (D, N); C: (1, D, N) -> (D, L)."""
    N = B.shape[1]
    cols = [(B[:, : N - j] * C[0, :, j:]).sum(-1) for j in range(min(N, L))]
    K = torch.stack(cols, dim=1)
    if L > N:
        K = F.pad(K, (0, L - N))
    return K


def diag_discretise(p, pre, disc):
    """Diagonal SSM pieces: (Ā, C̄ = B·C·(B̄/B) folded, B̄) each (H, N2) complex."""
    dt = torch.exp(p[pre + "log_dt"])[:, None]                            # (H, 1)
    A = torch.complex(-torch.exp(p[pre + "inv_A_real"]), p[pre + "A_imag"])  # (H, N2)
    Bc = cplx(p[pre + "B"])                                               # (H, N2)
    Cc = cplx(p[pre + "C"])[0]                                            # (H, N2)
    dtA = dt * A
    if disc == "bilinear":
        Abar = (1 + dtA / 2) / (1 - dtA / 2)
        Bbar = Bc * dt / (1 - dtA / 2)
    elif disc == "zoh":
        Abar = torch.exp(dtA)
        Bbar = Bc * (torch.exp(dtA) - 1) / A
    else:
        raise ValueError("disc %r" % disc)
    return Abar, Bbar, Cc


def vandermonde(Cbar, logAbar, L):
    """K[h, l] = 2·Re Σ_n C̄[h, n] · exp(l · log Ā[h, n]), l = 0..L-1."""
    ls = torch.arange(L, dtype=torch.float64)
    powers = torch.exp(logAbar[..., None] * ls)                # (H, N2, L)
    return 2 * torch.real((Cbar[..., None] * powers).sum(-2))  # (H, L)


def diag_kernel(p, pre, disc, L):
    Abar, Bbar, Cc = diag_discretise(p, pre, disc)
    if disc == "zoh":  # log Ā = Δ·A exactly, no branch cut
        dt = torch.exp(p[pre + "log_dt"])[:, None]
        logA = dt * torch.complex(-torch.exp(p[pre + "inv_A_real"]), p[pre + "A_imag"])
    else:
        logA = torch.log(Abar)
    return vandermonde(Bbar * Cc, logA, L)


def h3_slot_kinds(cfg):
    """("shift" | "diag") for slot 1 (on k) and slot 2 (on k~v)."""
    if cfg.ssm not in H3_SSM_VARIANTS:
        raise ValueError("ssm %r; known: %s" % (cfg.ssm, ", ".join(H3_SSM_VARIANTS)))
    return tuple(cfg.ssm.split("+"))


def h3_slot_tags(cfg):
    """Names of the slots' kernel and state tensors: H3's own kinds keep the authors' names
    ("shift" in slot 1, "diag" in slot 2); a swapped slot is "slot1_diag" or "slot2_shift"."""
    k1, k2 = h3_slot_kinds(cfg)
    return ("shift" if k1 == "shift" else "slot1_" + k1, "diag" if k2 == "diag" else "slot2_" + k2)


def h3_slot_kernel(cfg, p, pre, kind, L):
    """Kernel (C, L) of one slot whose tensors are under pre ("...ssm_k_kernel.kernel." or
    "...kernel.kernel."): a shift SSM (B, C) or a diagonal SSM (C, log_dt, B, inv_A_real, A_imag)."""
    if kind == "shift":
        return shift_kernel(p[pre + "B"], p[pre + "C"], L)
    return diag_kernel(p, pre, cfg.disc, L)


def s4d_kernel(p, pre, L):
    """S4D (ZOH, one A for all channels): K[h, l] = 2·Re Σ_n C[h,n](e^{ΔA}-1)/A · e^{ΔA·l}."""
    dt = torch.exp(p[pre + "log_dt"])[:, None]                                   # (H, 1)
    A = torch.complex(-torch.exp(p[pre + "log_w_real"]), p[pre + "w_imag"])       # (1, N2)
    dtA = dt * A                                                                 # (H, N2)
    Cbar = cplx(p[pre + "C"])[0] * (torch.exp(dtA) - 1) / A
    return vandermonde(Cbar, dtA, L)


def gss_kernel(p, pre, L):
    """GSS's DSS kernel (Δ = 1, every mode stored, no conjugate-pair halving):
    K[h, l] = Re Σ_n C[h,n](e^Λ_n − 1)/Λ_n · e^{Λ_n·l}, Λ = −exp(Lambda_re_log) + i·Lambda_im."""
    lam = torch.complex(-torch.exp(p[pre + "Lambda_re_log"]), p[pre + "Lambda_im"])   # (N)
    Cbar = cplx(p[pre + "C"]) * (torch.exp(lam) - 1) / lam                           # (H, N)
    ls = torch.arange(L, dtype=torch.float64)
    return torch.real(Cbar @ torch.exp(lam[:, None] * ls))                          # (H, L)


def hyena_tables(cfg, l_max):
    """Hyena's fixed tables over l_max positions: the positional features z (l_max, emb_dim) =
    (t, Re e^{-i f ω}, Im e^{-i f ω}) and the decay window (l_max, D) = exp(-t |δ|)."""
    t = torch.linspace(0, 1, l_max, dtype=torch.float64)
    bands = (cfg.emb_dim - 1) // 2
    omega = 2 * math.pi * torch.arange(l_max, dtype=torch.float64) / l_max
    f = torch.linspace(1e-4, bands - 1, bands, dtype=torch.float64)
    z = torch.exp(-1j * f[None, :] * omega[:, None])
    feat = torch.cat([t[:, None], z.real, z.imag], dim=-1)
    slow = math.log(cfg.decay_target) / cfg.slow_decay_pct
    fast = math.log(cfg.decay_target) / cfg.fast_decay_pct
    deltas = torch.linspace(slow, fast, cfg.d_model, dtype=torch.float64)
    return feat, torch.exp(-t[:, None] * deltas.abs()[None, :])


def hyena_filter(cfg, p, pre, L, l_max):
    """The implicit filter h (D, L): a sine MLP over the first L feature rows (one freq shared by
    every sine), times the window. pre: "...mixer.filter_fn."."""
    feat, window = hyena_tables(cfg, l_max)
    a = feat[:L]
    freq = p[pre + "implicit_filter.1.freq"]
    for i in range(cfg.inner_mlps + 1):
        a = torch.sin(freq * linear(a, p, pre + "implicit_filter.%d" % (2 * i)))
    r = linear(a, p, pre + "implicit_filter.%d" % (2 * cfg.inner_mlps + 2))  # no bias
    return (r * window[:L]).transpose(0, 1)


# ---------------------------------------------------------------- mixers

def h3_mixer(cfg, p, pre, a, trace, i):
    """H3: out = W_O (q ⊙ SSM_2(SSM_1(k) ⊙ v)) + b_O, SSM_1 shift and SSM_2 diagonal unless
    cfg.ssm swaps them; without gate_kv / gate_q the products become sums (head_dim 1 only).
    a: (B, L, D)."""
    Bsz, L, D = a.shape
    dh = cfg.head_dim
    H = D // dh
    k1, k2 = h3_slot_kinds(cfg)
    q, k, v = (linear(a, p, pre + n) for n in ("q_proj", "k_proj", "v_proj"))
    Ks = h3_slot_kernel(cfg, p, pre + "ssm_k_kernel.kernel.", k1, L)          # (D, L)
    kt = causal_conv(k, Ks) + p[pre + "ssm_k_D"] * k
    Kd = h3_slot_kernel(cfg, p, pre + "kernel.kernel.", k2, L)                # (H, L)
    Dd = p[pre + "D"]
    if dh == 1:
        kv = kt * v if cfg.gate_kv else kt + v
        y = causal_conv(kv, Kd) + Dd * kv
        o = q * y if cfg.gate_q else y + q
    elif not (cfg.gate_kv and cfg.gate_q):
        raise ValueError("gate_kv / gate_q off need head_dim 1 (as models/h3.c)")
    else:  # channel c = h·dh + i; output channel j·H + h (safari's PyTorch path)
        kv = kt.view(Bsz, L, H, dh, 1) * v.view(Bsz, L, H, 1, dh)            # (B, L, H, i, j)
        y = causal_conv(kv, Kd[:, None, None, :]) + Dd[:, None, None] * kv
        o = torch.einsum("blhi,blhij->bljh", q.view(Bsz, L, H, dh), y).reshape(Bsz, L, D)
    t1, t2 = h3_slot_tags(cfg)
    trace["kernel/layer%d/%s" % (i, t1)] = Ks
    trace["kernel/layer%d/%s" % (i, t2)] = Kd
    return linear(o, p, pre + "output_linear")


def s4d_mixer(cfg, p, pre, a, trace, i):
    """S4D: out = W (GELU_exact(K * a + D ⊙ a)) + b. a: (B, L, D)."""
    K = s4d_kernel(p, pre + "kernel.kernel.", a.shape[1])
    trace["kernel/layer%d/s4d" % i] = K
    y = causal_conv(a, K) + p[pre + "D"][0] * a
    return linear(gelu_exact(y), p, pre + "output_linear")


def attention_mixer(cfg, p, pre, a, trace, i):
    """Causal multi-head attention; Wqkv rows: q, k, v blocks, each head h owns rows h·dh..."""
    Bsz, L, D = a.shape
    nh = cfg.n_heads
    dh = D // nh
    q, k, v = linear(a, p, pre + "Wqkv").split(D, dim=-1)
    q, k, v = (t.reshape(Bsz, L, nh, dh) for t in (q, k, v))
    s = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(dh)
    mask = torch.triu(torch.full((L, L), -10000.0, dtype=a.dtype), diagonal=1)
    prob = torch.softmax(s + mask, dim=-1)
    o = torch.einsum("bhts,bshd->bthd", prob, v).reshape(Bsz, L, D)
    return linear(o, p, pre + "out_proj")


def gss_mixer(cfg, p, pre, a, trace, i):
    """GSS: out = W_o (GELU(W_u a) ⊙ W_g DSS(GELU(W_v a))) + b_o,
    DSS(v) = K * LN(v) + D ⊙ LN(v). a: (B, L, D)."""
    u = gelu_exact(linear(a, p, pre + "to_u"))
    v = gelu_exact(linear(a, p, pre + "to_v"))
    w = layer_norm(v, p, pre + "dss.norm", 1e-5)
    K = gss_kernel(p, pre + "dss.", a.shape[1])
    trace["kernel/layer%d/gss" % i] = K
    y = causal_conv(w, K) + p[pre + "dss.D"] * w
    return linear(linear(y, p, pre + "to_gate") * u, p, pre + "out_proj")


def hyena_mixer(cfg, p, pre, a, trace, i):
    """Order-2 Hyena: z = short_conv(in_proj(a)) (PyTorch's depthwise Conv1d, padding S-1, cut to
    L), x0, x1, v = split(z); out = out_proj(x0 ⊙ (h * (v ⊙ x1) + β ⊙ v ⊙ x1)). a: (B, L, D)."""
    Bsz, L, D = a.shape
    S = cfg.short_filter
    z = linear(a, p, pre + "in_proj").transpose(1, 2)                     # (B, 3D, L)
    z = F.conv1d(z, p[pre + "short_filter.weight"], p[pre + "short_filter.bias"], padding=S - 1,
                 groups=3 * D)[..., :L].transpose(1, 2)
    x0, x1, v = z.split(D, dim=-1)
    h = hyena_filter(cfg, p, pre + "filter_fn.", L, cfg.l_max or L)      # (D, L)
    trace["kernel/layer%d/hyena" % i] = h
    g = v * x1
    u = causal_conv(g, h) + p[pre + "filter_fn.bias"] * g
    return linear(u * x0, p, pre + "out_proj")


def short_conv(cfg, p, pre, a):
    """The short-conv front (models/short_conv.c): PyTorch's Conv1d(D, D, k, groups=D,
    padding=k-1) cut to the first L outputs, on a (B, L, D); a itself when cfg.short_conv is 0."""
    if not cfg.short_conv:
        return a
    L = a.shape[1]
    y = F.conv1d(a.transpose(1, 2), p[pre + "short_conv.weight"], p[pre + "short_conv.bias"],
                 padding=cfg.short_conv - 1, groups=a.shape[2])
    return y[..., :L].transpose(1, 2)


MIXERS = {"h3": h3_mixer, "s4d": s4d_mixer, "attention": attention_mixer, "gss": gss_mixer,
          "hyena": hyena_mixer}


# ---------------------------------------------------------------- the model

def forward(cfg, p, ids, targets):
    """Full lm_simple forward. p: name -> float64 tensor; ids, targets: (B, L) int64.
    Returns (loss, trace) with trace holding every stored fixture tensor name."""
    trace = {}
    L = ids.shape[1]
    x = p["backbone.embeddings.word_embeddings.weight"][ids]
    if cfg.kind == "attention" and cfg.max_position_embeddings > 0:
        x = x + p["backbone.embeddings.position_embeddings.weight"][:L]
    trace["hidden/embed"] = x
    for i in range(cfg.n_layer):
        pre = "backbone.layers.%d." % i
        a = layer_norm(x, p, pre + "norm1", cfg.layer_norm_eps)
        m = MIXERS[cfg.kind](cfg, p, pre + "mixer.", short_conv(cfg, p, pre + "mixer.", a), trace, i)
        r = x + m
        h = layer_norm(r, p, pre + "norm2", cfg.layer_norm_eps)
        f = linear(gelu_tanh(linear(h, p, pre + "mlp.fc1")), p, pre + "mlp.fc2")
        x = r + f
        trace["mixer/layer%d/in" % i] = a
        trace["mixer/layer%d/out" % i] = m
        trace["mlp/layer%d/out" % i] = f
        trace["hidden/block%d" % i] = x
    z = layer_norm(x, p, "backbone.ln_f", cfg.layer_norm_eps)
    logits = z @ p["backbone.embeddings.word_embeddings.weight"].transpose(0, 1)  # tied head
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    trace["hidden/ln_f"] = z
    trace["output/logits"] = logits
    trace["output/loss"] = loss
    return loss, trace


def h3_slot_stepper(cfg, p, pre, kind, skip):
    """Recurrent form of one slot (tensors under pre, skip weights (C,)): returns step(x, u) ->
    (x, y) for u (B, C), and zero_state(B). Shift: x (B, C, N) real, the newest input entering
    slot 0; diagonal: x (B, C, N2) complex, x = Ā x + B̄ u, y = 2·Re(C x)."""
    if kind == "shift":
        Bs, Cs = p[pre + "B"], p[pre + "C"][0]       # (C, N) each

        def step(x, u):
            x = F.pad(x[..., :-1], (1, 0)) + Bs * u[..., None]
            return x, (Cs * x).sum(-1) + skip * u
        return step, lambda b: torch.zeros(b, *Bs.shape, dtype=torch.float64)
    Abar, Bbar, Cc = diag_discretise(p, pre, cfg.disc)  # (C, N2)

    def step(x, u):
        x = Abar * x + Bbar * u[..., None]
        return x, 2 * torch.real((Cc * x).sum(-1)) + skip * u
    return step, lambda b: torch.zeros(b, *Abar.shape, dtype=Abar.dtype)


def h3_step(cfg, p, pre, u):
    """H3 recurrent mode (head_dim 1, any ssm / gates), token by token from a zero state.
    u: (B, L, D) mixer input. Returns out (B, L, D) and the final states by tag (h3_slot_tags):
    a shift state (B, C, N), a diagonal one as real view (B, C, N2, 2)."""
    if cfg.head_dim != 1:
        raise ValueError("recurrent mode is implemented for head_dim 1 only")
    Bsz, L, D = u.shape
    kinds = h3_slot_kinds(cfg)
    steps = [h3_slot_stepper(cfg, p, pre + sub, kind, p[pre + skip]) for sub, kind, skip in
             zip(("ssm_k_kernel.kernel.", "kernel.kernel."), kinds, ("ssm_k_D", "D"))]
    xs = [zero(Bsz) for _, zero in steps]
    outs = []
    for t in range(L):
        ut = u[:, t]
        q, k, v = (linear(ut, p, pre + n) for n in ("q_proj", "k_proj", "v_proj"))
        xs[0], kt = steps[0][0](xs[0], k)
        kv = kt * v if cfg.gate_kv else kt + v
        xs[1], y = steps[1][0](xs[1], kv)
        o = q * y if cfg.gate_q else y + q
        outs.append(linear(o, p, pre + "output_linear"))
    states = {tag: (torch.view_as_real(x) if x.is_complex() else x) for tag, x in zip(h3_slot_tags(cfg), xs)}
    return torch.stack(outs, dim=1), states


def step_trace(cfg, p, trace):
    """step/layer{i}/out and step/layer{i}/state_{tag} per slot (state_shift and state_diag for
    H3 itself) for every layer, fed the conv-mode LN1 outputs."""
    out = {}
    for i in range(cfg.n_layer):
        y, states = h3_step(cfg, p, "backbone.layers.%d.mixer." % i, trace["mixer/layer%d/in" % i])
        out["step/layer%d/out" % i] = y
        for tag, x in states.items():
            out["step/layer%d/state_%s" % (i, tag)] = x
    return out


# ---------------------------------------------------------------- parameters

def h3_slot_shapes(pre, kind, C, N):
    """One H3 slot's tensors (C channels) in SSKernel's named_parameters() order: shift B, C;
    diagonal C, log_dt, B, inv_A_real, A_imag."""
    if kind == "shift":
        return [(pre + "B", (C, N)), (pre + "C", (1, C, N))]
    N2 = N // 2
    return [(pre + "C", (1, C, N2, 2)), (pre + "log_dt", (C,)), (pre + "B", (C, N2, 2)),
            (pre + "inv_A_real", (C, N2)), (pre + "A_imag", (C, N2))]


def hyena_shapes(cfg, m):
    """The Hyena operator's tensors under m, in the reference's named_parameters() order."""
    D, W, f = cfg.d_model, cfg.filter_order, m + "filter_fn.implicit_filter."
    out = [(m + "in_proj.weight", (3 * D, D)), (m + "in_proj.bias", (3 * D,)),
           (m + "out_proj.weight", (D, D)), (m + "out_proj.bias", (D,)),
           (m + "short_filter.weight", (3 * D, 1, cfg.short_filter)),
           (m + "short_filter.bias", (3 * D,)), (m + "filter_fn.bias", (D,)),
           (f + "0.weight", (W, cfg.emb_dim)), (f + "0.bias", (W,)), (f + "1.freq", (1, W))]
    for i in range(1, cfg.inner_mlps + 1):
        out += [(f + "%d.weight" % (2 * i), (W, W)), (f + "%d.bias" % (2 * i), (W,))]
    return out + [(f + "%d.weight" % (2 * cfg.inner_mlps + 2), (D, W))]


def param_shapes(cfg):
    """Ordered list of (name, shape) in safari's named_parameters() order."""
    D, N2, N = cfg.d_model, cfg.d_state // 2, cfg.d_state
    out = [("backbone.embeddings.word_embeddings.weight", (cfg.vocab_size, D))]
    if cfg.kind == "attention" and cfg.max_position_embeddings > 0:
        out.append(("backbone.embeddings.position_embeddings.weight", (cfg.max_position_embeddings, D)))
    for i in range(cfg.n_layer):
        m = "backbone.layers.%d.mixer." % i
        if cfg.kind == "h3":
            H = D // cfg.head_dim
            k1, k2 = h3_slot_kinds(cfg)
            out += [(m + "ssm_k_D", (D,)), (m + "D", (H,))]
            for n in ("q_proj", "k_proj", "v_proj"):
                out += [(m + n + ".weight", (D, D)), (m + n + ".bias", (D,))]
            out += h3_slot_shapes(m + "ssm_k_kernel.kernel.", k1, D, N)
            out += h3_slot_shapes(m + "kernel.kernel.", k2, H, N)
            out += [(m + "output_linear.weight", (D, D)), (m + "output_linear.bias", (D,))]
        elif cfg.kind == "s4d":
            out += [(m + "D", (1, D)), (m + "kernel.kernel.C", (1, D, N2, 2)),
                    (m + "kernel.kernel.log_dt", (D,)), (m + "kernel.kernel.log_w_real", (1, N2)),
                    (m + "kernel.kernel.w_imag", (1, N2)),
                    (m + "output_linear.weight", (D, D)), (m + "output_linear.bias", (D,))]
        elif cfg.kind == "hyena":
            out += hyena_shapes(cfg, m)
        elif cfg.kind == "gss":
            E, H = cfg.expand * D, cfg.d_ssm
            out += [(m + "to_u.weight", (E, D)), (m + "to_v.weight", (H, D)),
                    (m + "dss.norm.weight", (H,)), (m + "dss.norm.bias", (H,)),
                    (m + "dss.Lambda_re_log", (N,)), (m + "dss.Lambda_im", (N,)),
                    (m + "dss.C", (H, N, 2)), (m + "dss.D", (H,)),
                    (m + "to_gate.weight", (E, H)),
                    (m + "out_proj.weight", (D, E)), (m + "out_proj.bias", (D,))]
        else:
            out += [(m + "Wqkv.weight", (3 * D, D)), (m + "Wqkv.bias", (3 * D,)),
                    (m + "out_proj.weight", (D, D)), (m + "out_proj.bias", (D,))]
        if cfg.short_conv:
            out += [(m + "short_conv.weight", (D, 1, cfg.short_conv)), (m + "short_conv.bias", (D,))]
        b = "backbone.layers.%d." % i
        out += [(b + "norm1.weight", (D,)), (b + "norm1.bias", (D,)),
                (b + "mlp.fc1.weight", (cfg.d_inner, D)), (b + "mlp.fc1.bias", (cfg.d_inner,)),
                (b + "mlp.fc2.weight", (D, cfg.d_inner)), (b + "mlp.fc2.bias", (D,)),
                (b + "norm2.weight", (D,)), (b + "norm2.bias", (D,))]
    out += [("backbone.ln_f.weight", (D,)), ("backbone.ln_f.bias", (D,))]
    return out


# Names of the SSM parameters that get their own optimiser group (lr min(1e-3, lr), wd 0).
SSM_GROUP_SUFFIXES = ("kernel.kernel.log_dt", "kernel.kernel.B", "kernel.kernel.inv_A_real",
                      "kernel.kernel.A_imag", "ssm_k_kernel.kernel.B",
                      "kernel.kernel.log_w_real", "kernel.kernel.w_imag",
                      "dss.Lambda_re_log", "dss.Lambda_im")


def is_ssm_group(name):
    """Hyena's filter MLP (freq included) is in the group too: its own lr, no weight decay."""
    return name.endswith(SSM_GROUP_SUFFIXES) or ".filter_fn.implicit_filter." in name


def a_imag_init(measure, N, rows):
    """Im A for n = 0..N/2-1, computed in float32: S4D-Lin πn or S4D-Inv (N/π)(N/(2n+1) - 1)."""
    n = torch.arange(N // 2, dtype=torch.float32)
    if measure == "diag-lin":
        im = math.pi * n
    elif measure == "diag-inv":
        im = N / math.pi * (N / (2 * n + 1) - 1)
    else:
        raise ValueError("measure %r" % measure)
    return im.repeat(rows, 1)


def log_dt_init(H):
    """log Δ ~ U[log 0.001, log 0.1] per channel."""
    return torch.rand(H) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)


def h3_slot_init(cfg, kind, leaf, shape):
    """Init of the H3 slot tensor `leaf` (B, C, log_dt, ...) by the SSM kind of its slot, so a
    kind draws the same way in either slot (h3.md §1.4, §1.5)."""
    N = cfg.d_state
    if kind == "shift":
        if leaf == "B":  # e1: the shift SSM starts as K = C
            B = torch.zeros(shape)
            B[:, 0] = 1.0
            return B
        return (torch.rand(shape) * 2 - 1) / math.sqrt(N)  # C: kaiming_uniform(a=√5), fan_in N
    if leaf == "log_dt":
        return log_dt_init(shape[0])
    if leaf == "inv_A_real":
        return torch.full(shape, math.log(0.5))
    if leaf == "A_imag":
        return a_imag_init(cfg.measure, N, shape[0])
    if leaf == "B":  # ones (already folded into C)
        B = torch.zeros(shape)
        B[..., 0] = 1.0
        return B
    return torch.view_as_real(torch.randn(shape[:-1], dtype=torch.complex64).conj().resolve_conj())


def hyena_init(cfg, leaf, shape):
    """A Hyena mixer tensor (leaf: its name after "mixer."), as models/hyena.c states: Linear
    weights and biases U(±1/sqrt(fan_in)) ("torch") or N(0, 0.02²) and 0 ("lm", out_proj.weight
    N(0, 0.02²/(2 n_layer))); short_filter U(±1/sqrt(S)) both; filter_fn.bias N(0, 1); freq = w."""
    if leaf == "filter_fn.bias":
        return torch.randn(shape)
    if leaf.endswith(".freq"):
        return torch.full(shape, cfg.w)
    if leaf.startswith("short_filter."):
        return (torch.rand(shape) * 2 - 1) / math.sqrt(cfg.short_filter)
    fan_in = {"in_proj": cfg.d_model, "out_proj": cfg.d_model, "filter_fn.implicit_filter.0": cfg.emb_dim}
    fan_in = fan_in.get(leaf.rsplit(".", 1)[0], cfg.filter_order)
    if cfg.init == "torch":
        return (torch.rand(shape) * 2 - 1) / math.sqrt(fan_in)
    if cfg.init != "lm":
        raise ValueError("init %r" % cfg.init)
    if leaf.endswith(".bias"):
        return torch.zeros(shape)
    std = 0.02 / math.sqrt(2 * cfg.n_layer) if leaf == "out_proj.weight" else 0.02
    return torch.randn(shape) * std


def init_one(cfg, name, shape):
    """Draw one float32 parameter from the inits of h3.md §1.5, §1.6, §2.1 (Hyena: hyena_init)."""
    N = cfg.d_state
    if name.endswith(("mixer.short_conv.weight", "mixer.short_conv.bias")):  # Conv1d's default: fan_in k
        bound = 1 / math.sqrt(cfg.short_conv)
        return (torch.rand(shape) * 2 - 1) * bound
    if cfg.kind == "hyena" and ".mixer." in name:
        return hyena_init(cfg, name.split(".mixer.")[1], shape)
    if cfg.kind == "h3":
        for tag, kind in zip(("mixer.ssm_k_kernel.kernel.", "mixer.kernel.kernel."), h3_slot_kinds(cfg)):
            if tag in name:
                return h3_slot_init(cfg, kind, name.split(tag)[1], shape)
    std_resid = 0.02 / math.sqrt(2 * cfg.n_layer)
    if name.endswith(("norm1.weight", "norm2.weight", "ln_f.weight", "dss.norm.weight")):
        return torch.ones(shape)
    if name.endswith(".bias"):
        return torch.zeros(shape)
    if name.endswith(("mlp.fc2.weight", "out_proj.weight")):
        return torch.randn(shape) * std_resid
    if name.endswith((".weight",)):  # every other linear / embedding
        return torch.randn(shape) * 0.02
    if name.endswith(("ssm_k_D", "mixer.D", "dss.D")):
        return torch.randn(shape)
    if name.endswith("kernel.kernel.log_dt"):  # S4D
        return log_dt_init(shape[0])
    if name.endswith("kernel.kernel.log_w_real"):
        return torch.full(shape, math.log(0.5 + 1e-4))
    if name.endswith("kernel.kernel.w_imag"):
        return a_imag_init("diag-inv", N, 1)
    if name.endswith("dss.Lambda_re_log"):  # GSS: S4D-Lin with Δ = 1, Re Λ = −0.5, Im Λ = πn
        return torch.full(shape, math.log(0.5))
    if name.endswith("dss.Lambda_im"):
        return math.pi * torch.arange(shape[0], dtype=torch.float32)
    if name.endswith("dss.C"):  # complex normal, each part N(0, 1/2)
        return torch.view_as_real(torch.randn(shape[:-1], dtype=torch.complex64)).contiguous()
    raise KeyError(name)


def s4d_C_init(shape, A_re, A_im):
    """S4D: random complex B (one per mode, shared), normalised by sqrt(ζ), ζ = 2Σ|B/A|²,
    folded into C ~ randn complex. shape = (1, H, N2, 2)."""
    N2 = shape[2]
    B = torch.randn(1, N2, dtype=torch.complex64)
    A = torch.complex(-torch.exp(A_re), A_im)
    zeta = 2 * (B.abs() ** 2 / A.abs() ** 2).sum(-1, keepdim=True)
    B = B / zeta.sqrt()
    C = torch.randn(shape[:-1], dtype=torch.complex64) * B[:, None, :]
    return torch.view_as_real(C).contiguous()


def init_params(cfg, seed):
    """All parameters, drawn in float32 after torch.manual_seed(seed), in named_parameters()
    order. Returns name -> float32 tensor (convert with .double(): exact)."""
    torch.manual_seed(seed)
    p = {}
    for name, shape in param_shapes(cfg):
        if cfg.kind == "s4d" and name.endswith("kernel.kernel.C"):
            pre = name[: -len("C")]
            p[pre + "log_w_real"] = init_one(cfg, pre + "log_w_real", (1, shape[2]))
            p[pre + "w_imag"] = init_one(cfg, pre + "w_imag", (1, shape[2]))
            p[name] = s4d_C_init(shape, p[pre + "log_w_real"][0], p[pre + "w_imag"][0])
        elif name not in p:
            p[name] = init_one(cfg, name, shape)
        assert tuple(p[name].shape) == tuple(shape), name
    order = [n for n, _ in param_shapes(cfg)]
    return {n: p[n].float().contiguous() for n in order}
