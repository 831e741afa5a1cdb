#!/usr/bin/python3
"""The codec's analysis and synthesis networks in PyTorch, timed: the reference side of
benchmarks/codec_bench.cpp (run both with benchmarks/codec_compare.sh).

    /usr/bin/python3 benchmarks/torch_codec.py --model q3.safetensors --tensors dump.safetensors
                                               [--threads 1,2] [--repeats 5] [--warmup 1]

g_a and g_s are built from plain torch ops (conv2d, conv_transpose2d, and GDN written out
as CompressAI defines it, with its reparametrized beta and gamma), and their weights are
read by name from the same safetensors file cae loads (F32 or F16). The input is the
padded image that `codec_bench --dump` wrote (x), and the synthesis runs on cae's
dequantized latents (y_hat), so both sides compute the same thing; the worker reports
the largest absolute difference between torch's g_a(x) and cae's y, and between torch's
g_s(y_hat) and cae's x_hat.

For each thread count a fresh Python process (torch.set_num_threads, OMP_NUM_THREADS)
times torch.no_grad() forward passes, median over --repeats after --warmup, and prints
one JSON line per network on stdout:

    {"framework": "torch", "task": "analysis", "threads": 1, "ms": ..., "ms_per_megapixel": ...,
     "max_abs_diff": ..., "max_rss_mb": ..., ...}

ms_per_megapixel divides by the unpadded image's pixels (the metadata of the dump), as
codec_bench does. As torch_bench.py, the workers get Debian's OpenBLAS through
LD_LIBRARY_PATH unless --blas system (transposed convolutions go through BLAS in this
torch; convolutions through its oneDNN).
"""
import argparse
import json
import math
import os
import pathlib
import resource
import statistics
import struct
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.dont_write_bytecode = True
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
PEDESTAL = 2.0 ** -36  # CompressAI's reparam_offset ** 2


def read_safetensors(path):
    """(name -> float32 torch tensor, metadata) of a safetensors file (F32 / F16 / F64).

    Integer tensors (a released model's CDF tables, I32) are the entropy coder's, which
    this script does not time: they are left out."""
    import numpy as np
    import torch
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    meta = header.pop("__metadata__", {})
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, e in header.items():
        if e["dtype"] == "I32":
            continue
        if e["dtype"] not in dtypes:
            sys.exit(f"{path}: tensor {name} has dtype {e['dtype']}, which this script does not read")
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[base + b:base + end], dtype=np.dtype(dtypes[e["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(e["shape"]).copy())
    return out, meta


def nonnegative(stored, minimum):
    import torch
    bound = math.sqrt(minimum + PEDESTAL)
    return torch.clamp(stored, min=bound) ** 2 - PEDESTAL


def gdn(x, beta, gamma, inverse):
    """CompressAI's GDN: x / sqrt(beta + conv1x1(x^2, gamma)), or x * sqrt(...) inverse."""
    import torch.nn.functional as F
    b = nonnegative(beta, 1e-6)
    g = nonnegative(gamma, 0.0)
    C = b.shape[0]
    norm = F.conv2d(x * x, g.reshape(C, C, 1, 1), b)
    return x * norm.sqrt() if inverse else x * norm.rsqrt()


def analysis(w, x):
    import torch.nn.functional as F
    for k in (0, 2, 4):
        x = F.conv2d(x, w[f"g_a.{k}.weight"], w[f"g_a.{k}.bias"], stride=2, padding=2)
        x = gdn(x, w[f"g_a.{k + 1}.beta"], w[f"g_a.{k + 1}.gamma"], inverse=False)
    return F.conv2d(x, w["g_a.6.weight"], w["g_a.6.bias"], stride=2, padding=2)


def synthesis(w, y):
    import torch.nn.functional as F
    for k in (0, 2, 4):
        y = F.conv_transpose2d(y, w[f"g_s.{k}.weight"], w[f"g_s.{k}.bias"], stride=2, padding=2,
                               output_padding=1)
        y = gdn(y, w[f"g_s.{k + 1}.beta"], w[f"g_s.{k + 1}.gamma"], inverse=True)
    return F.conv_transpose2d(y, w["g_s.6.weight"], w["g_s.6.bias"], stride=2, padding=2,
                              output_padding=1)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_seconds():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run_worker(args):
    import torch
    baseline = peak_rss_mb()  # as torch_bench.py: the peak right after importing torch
    torch.set_num_threads(args.threads)
    weights, meta = read_safetensors(args.model)
    tensors, dump_meta = read_safetensors(args.tensors)
    width, height = int(dump_meta.get("width", 0)), int(dump_meta.get("height", 0))
    if width <= 0 or height <= 0:
        sys.exit(f"{args.tensors}: no width / height in its metadata (written by codec_bench --dump?)")
    megapixels = width * height / 1e6
    cases = [("analysis", lambda: analysis(weights, tensors["x"]), tensors["y"]),
             ("synthesis", lambda: synthesis(weights, tensors["y_hat"]), tensors["x_hat"])]
    for task, run, expected in cases:
        with torch.no_grad():
            for _ in range(args.warmup):
                run()
            load = os.getloadavg()[0]
            c0, w0 = cpu_seconds(), time.perf_counter()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = run()
                times.append(time.perf_counter() - t0)
            util = (cpu_seconds() - c0) / ((time.perf_counter() - w0) * args.threads)
        if out.shape != expected.shape:
            sys.exit(f"{task}: torch's output {tuple(out.shape)} but cae's {tuple(expected.shape)}")
        diff = (out - expected).abs().max().item()
        ms = 1e3 * statistics.median(times)
        print(json.dumps({
            "framework": "torch", "task": task, "threads": args.threads, "width": width, "height": height,
            "ms": round(ms, 4), "ms_per_megapixel": round(ms / megapixels, 4),
            "max_abs_diff": diff, "max_abs_reference": expected.abs().max().item(),
            "max_rss_mb": round(peak_rss_mb(), 1), "baseline_rss_mb": round(baseline, 1),
            "repeats": args.repeats, "warmup": args.warmup, "loadavg_1m": round(load, 2),
            "cpu_utilization": round(util, 3), "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__}), flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the cae model file (.safetensors)")
    parser.add_argument("--tensors", required=True, help="codec_bench --dump's file (x, y, y_hat, x_hat)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--blas", choices=["openblas", "system"], default="openblas",
                        help="force Debian's OpenBLAS (default) or use the system alternative")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.threads = int(args.threads)
        return run_worker(args)
    use_openblas = args.blas == "openblas" and os.path.isdir(OPENBLAS_DIR)
    failures = 0
    for threads in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        if use_openblas:
            env["LD_LIBRARY_PATH"] = OPENBLAS_DIR + os.pathsep + env.get("LD_LIBRARY_PATH", "")
        cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--model", args.model,
               "--tensors", args.tensors, "--threads", str(threads), "--repeats", str(args.repeats),
               "--warmup", str(args.warmup)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or len(lines) != 2:
            failures += 1
            print(f"FAILED threads={threads}:\n{proc.stdout}{proc.stderr}", file=sys.stderr)
            continue
        for line in lines:
            print(line, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
