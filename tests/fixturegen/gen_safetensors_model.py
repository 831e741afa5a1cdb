"""A small PyTorch model exported as safetensors, for the state_dict round trip.

tests/fixtures/safetensors/
  mlp_state_dict.safetensors  model.state_dict() of
                              nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)) in
                              float32, written as safetensors.torch.save_file writes it
                              (dtype F32, metadata {"format": "pt"})
  mlp_io.safetensors          input [6, 4], output (float32 model) and output_f64
                              (the same weights in float64), stored as float64
"""
import json
import pathlib
import struct

import torch
import torch.nn as nn


def save_file(tensors, path, metadata):
    """safetensors.torch.save_file for float32 tensors (the package is not installed)."""
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        assert t.dtype == torch.float32
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures"


def generate(ctx):
    torch.manual_seed(1234)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    save_file(state, OUT / "safetensors" / "mlp_state_dict.safetensors", {"format": "pt"})

    g = torch.Generator().manual_seed(99)
    x = torch.rand((6, 4), generator=g) * 2 - 1
    with torch.no_grad():
        y32 = model(x)
        y64 = model.double()(x.double())
    ctx.save("safetensors", "mlp_io", {"input": x, "output": y32, "output_f64": y64},
             {"model": "Sequential(Linear(4, 5), Tanh(), Linear(5, 3))"})
