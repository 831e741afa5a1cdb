#!/usr/bin/python3
"""Writes the PyTorch golden fixtures under tests/fixtures/.

Run with Debian's PyTorch (package python3-torch):  /usr/bin/python3 tests/make_fixtures.py
Only regenerating fixtures needs PyTorch; the C++ tests read the committed files.

Each tests/fixturegen/gen_*.py module defines generate(ctx) and calls
ctx.module_case(...) / ctx.loss_case(...) / ctx.save(...). File layout is
described in tests/parity.hpp.
"""
import importlib.util
import json
import pathlib
import struct
import sys

import torch

ROOT = pathlib.Path(__file__).resolve().parent
OUT = ROOT / "fixtures"


def write_safetensors(path, tensors, metadata=None):
    """Minimal safetensors writer (float64 / int64), so no extra package is needed."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        if t.dtype.is_floating_point:
            t, dtype = t.to(torch.float64), "F64"
        else:
            t, dtype = t.to(torch.int64), "I64"
        data = t.numpy().astype("<f8" if dtype == "F64" else "<i8").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Context:
    def __init__(self):
        self.count = 0

    def save(self, group, case, tensors, config):
        write_safetensors(OUT / group / f"{case}.safetensors", tensors, {"config": json.dumps(config)})
        self.count += 1

    def module_case(self, group, case, module, input_shape, config, training=True, seed=0,
                    input_fn=None, need_input_grad=True):
        """Runs module in float64 on a seeded random input and records everything.

        input_fn(generator, shape) may replace the default uniform(-1, 1) input.
        """
        g = torch.Generator().manual_seed(seed)
        module = module.double()
        module.train(training)
        for p in module.parameters():  # random, not default, values so every weight matters
            with torch.no_grad():
                p.copy_(torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1)
        if input_fn is None:
            x = torch.rand(input_shape, generator=g, dtype=torch.float64) * 2 - 1
        else:
            x = input_fn(g, input_shape).to(torch.float64)
        x.requires_grad_(need_input_grad)
        tensors = {"input": x}
        for name, p in module.named_parameters():
            tensors["param." + name] = p.detach().clone()
        for name, b in module.named_buffers():
            tensors["buffer." + name] = b.detach().clone()
        y = module(x)
        dy = torch.rand(y.shape, generator=g, dtype=torch.float64) * 2 - 1
        y.backward(dy)
        tensors["output"] = y.detach()
        tensors["grad_output"] = dy
        if need_input_grad:
            tensors["grad_input"] = x.grad
        for name, p in module.named_parameters():
            tensors["grad." + name] = p.grad
        for name, b in module.named_buffers():
            tensors["buffer_after." + name] = b.detach().clone()
        self.save(group, case, tensors, dict(config, training=training))

    def loss_case(self, group, case, loss_fn, prediction, target, config):
        prediction = prediction.to(torch.float64).detach().requires_grad_(True)
        loss = loss_fn(prediction, target)
        loss.backward()
        self.save(group, case, {"prediction": prediction, "target": target.to(torch.float64),
                                "loss": loss.detach().reshape(1), "grad_prediction": prediction.grad},
                  config)


def main():
    torch.set_num_threads(1)
    ctx = Context()
    only = set(sys.argv[1:])
    for path in sorted((ROOT / "fixturegen").glob("gen_*.py")):
        if only and path.stem not in only:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.generate(ctx)
        print(f"{path.stem}: done")
    print(f"wrote {ctx.count} fixture files under {OUT}")


if __name__ == "__main__":
    main()
