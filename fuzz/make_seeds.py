#!/usr/bin/env python3
"""Writes small GGUF seed files for the fuzzer: every metadata type, nested
arrays, custom alignment, v2, quantized tensors. Usage: make_seeds.py OUT_DIR"""
import os
import struct
import sys


def s(x: bytes) -> bytes:
    return struct.pack("<Q", len(x)) + x


def kv(key: str, vtype: int, payload: bytes) -> bytes:
    return s(key.encode()) + struct.pack("<I", vtype) + payload


def arr(item_type: int, items: list) -> bytes:
    return struct.pack("<IQ", item_type, len(items)) + b"".join(items)


def tensor(name: str, shape, ggml_type: int, offset: int) -> bytes:
    return s(name.encode()) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape) + \
        struct.pack("<IQ", ggml_type, offset)


def gguf(version: int, kvs: list, tensors: list, data: bytes, alignment: int = 32) -> bytes:
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)
    head += b"\0" * (-len(head) % alignment)
    return head + data


def main() -> None:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    scalars = [
        kv("u8", 0, struct.pack("<B", 200)), kv("i8", 1, struct.pack("<b", -5)),
        kv("u16", 2, struct.pack("<H", 60000)), kv("i16", 3, struct.pack("<h", -300)),
        kv("u32", 4, struct.pack("<I", 7)), kv("i32", 5, struct.pack("<i", -7)),
        kv("f32", 6, struct.pack("<f", 1e-5)), kv("bool", 7, b"\x01"),
        kv("general.architecture", 8, s(b"llama")), kv("u64", 10, struct.pack("<Q", 1 << 40)),
        kv("i64", 11, struct.pack("<q", -(1 << 40))), kv("f64", 12, struct.pack("<d", 3.5)),
        kv("tokens", 9, arr(8, [s(b"<unk>"), s(b"a"), s(b"")])),
        kv("scores", 9, arr(6, [struct.pack("<f", -1.0)] * 3)),
        kv("nested", 9, arr(9, [arr(4, [struct.pack("<I", 1)]), arr(4, [])])),
    ]
    f32 = struct.pack("<8f", *range(8))
    q8 = b"\x00\x3c" + bytes(range(32))  # one Q8_0 block: f16 scale 1.0, 32 int8
    ts = [tensor("a.weight", [8], 0, 0), tensor("b.weight", [32, 1], 8, 32)]
    data = f32 + b"\0" * 0 + q8 + b"\0" * (64 - len(q8))
    files = {
        "all_types.gguf": gguf(3, scalars, ts, data),
        "v2.gguf": gguf(2, scalars[:3], ts[:1], f32),
        "empty.gguf": gguf(3, [], [], b""),
        "aligned64.gguf": gguf(3, [kv("general.alignment", 4, struct.pack("<I", 64))],
                               [tensor("t", [8], 0, 0), tensor("u", [8], 0, 64)], f32 + b"\0" * 32 + f32, 64),
    }
    for name, blob in files.items():
        with open(os.path.join(out, name), "wb") as fh:
            fh.write(blob)


if __name__ == "__main__":
    main()
