#!/usr/bin/env python3
"""make_files.py — writes the damaged safetensors files of tests/bad/files/.

Each file breaks one rule of the layout (core/safetensors.h) and nothing else,
so the reader's message for it is predictable; tests/bad/cases.txt lists the
message each must give. Run from this folder: python3 make_files.py. The files
are committed; this script says how they were made."""
import json
import struct


def sf(header, data=b"", hlen=None, pad=True):
    """8-byte little-endian header length, the header text, the data."""
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    n = len(h) if hlen is None else hlen
    return struct.pack("<Q", n) + h + data


F32 = struct.pack("<4f", 1, 2, 3, 4)  # 16 bytes: one (2, 2) float32 tensor


def t(dtype="F32", shape=(2, 2), off=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(off)}


FILES = {
    "four_bytes": b"\x10\x00\x00\x00",
    "header_past_end": sf({"w": t()}, F32, hlen=1 << 40),
    "header_not_json": sf(b"{\"w\": [1, 2", F32),
    "header_is_array": sf([1, 2, 3], F32),
    "dtype_bf16": sf({"w": t(dtype="BF16", off=(0, 8))}, F32[:8]),
    "dtype_missing": sf({"w": {"shape": [2, 2], "data_offsets": [0, 16]}}, F32),
    "shape_negative": sf({"w": t(shape=(-2, 2))}, F32),
    "shape_fraction": sf({"w": t(shape=(1.5, 2))}, F32),
    "shape_nine_dims": sf({"w": t(shape=(1,) * 9)}, F32),
    "shape_overflows": sf({"w": t(shape=(1 << 40, 1 << 40, 1 << 40), off=(0, 16))}, F32),
    "offsets_reversed": sf({"w": t(off=(16, 0))}, F32),
    "offsets_one_number": sf({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [16]}}, F32),
    "offsets_past_end": sf({"w": t(off=(0, 16))}, F32[:12]),
    "size_mismatch": sf({"w": t(shape=(2, 3), off=(0, 16))}, F32),
    "overlap": sf({"a": t(shape=(2,), off=(0, 8)), "b": t(shape=(2,), off=(4, 12))}, F32[:12]),
    "gap": sf({"a": t(shape=(2,), off=(0, 8)), "b": t(shape=(1,), off=(12, 16))}, F32),
    "trailing_bytes": sf({"w": t()}, F32 + b"\0\0\0\0"),
    "name_twice": sf(b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                     b'"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', F32),
    "tensor_unknown_key": sf({"w": dict(t(), offsets=[0, 16])}, F32),
    "metadata_not_strings": sf({"__metadata__": {"format": 1}, "w": t()}, F32),
    "no_config": sf({"__metadata__": {"format": "pt"}, "w": t()}, F32),
    "config_unknown_key": sf({"__metadata__": {"format": "pt", "hippodrome_config": json.dumps(
        {"task": {"name": "assoc_recall"}, "model": {"layer": "h3", "widht": 3}})}, "w": t()}, F32),
    "hash_mangled": sf({"__metadata__": {"hippodrome_fnv1a64": "zz"}, "w": t()}, F32),
}

for name, blob in FILES.items():
    with open(name + ".safetensors", "wb") as f:
        f.write(blob)
