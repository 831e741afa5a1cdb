#!/usr/bin/env bash
# Writes seed inputs for fuzz_checkpoint into DIR: the example checkpoint of
# docs/file-format.md without its 4-byte CRC trailer (the target appends it).
set -euo pipefail
dir=$1
mkdir -p "$dir"
python3 - "$dir" <<'PY'
import struct, sys
def s(x): return struct.pack("<I", len(x)) + x
def tensor(name, dims, values):
    return s(name) + bytes([1, len(dims)]) + b"".join(struct.pack("<Q", d) for d in dims) + \
        b"".join(struct.pack("<f", v) for v in values)
payload = struct.pack("<I", 1) + s(b"epoch") + s(b"1")
payload += struct.pack("<I", 2) + tensor(b"0.weight", [1, 2], [0.25, -1.25]) + tensor(b"0.bias", [1], [1.75])
with_opt = payload + s(b"SGD") + struct.pack("<d", 0.25) + struct.pack("<Q", 1) + struct.pack("<I", 2) + \
    tensor(b"0.weight.momentum_buffer", [1, 2], [1, 1]) + tensor(b"0.bias.momentum_buffer", [1], [1])
for name, flags, body in [("model_only", 0, payload), ("with_optimizer", 1, with_opt)]:
    head = b"\x89CAECKPT" + struct.pack("<IIQ", 1, flags, len(body))
    open(f"{sys.argv[1]}/{name}", "wb").write(head + body)
PY
