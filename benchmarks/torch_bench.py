#!/usr/bin/python3
"""Times PyTorch on the benchmark models of benchmarks/torch_models.py, the reference
side of cae's side-by-side benchmarks.

    /usr/bin/python3 benchmarks/torch_bench.py --threads 1,2 [--models cae_002,...]
                                               [--repeats 5] [--out results.jsonl]

For every (threads, model, mode) it starts a fresh Python process, so the peak memory
of one model does not leak into the next, and prints one JSON line on stdout:

    {"framework": "torch", "model": "cae_002", "threads": 1, "mode": "train",
     "batch": 128, "images_per_s": ..., "step_ms": ..., "max_rss_mb": ..., ...}

mode "train" is one optimisation step: zero_grad, forward, loss, backward, Adam step
(for the parameter-free max pool: forward, loss, backward). mode "infer" is a forward
pass in eval mode under torch.inference_mode(), for the autoencoders only.
images_per_s = batch / median step time over --repeats timed repeats, each repeat
running enough steps to last about --repeat-seconds, after warm-up steps.
max_rss_mb is the process's peak resident memory (getrusage), baseline_rss_mb the peak
right after `import torch`, before any model exists.

On a busy machine: loadavg_1m and cpu_utilization (CPU time the worker got / (wall time
x threads)) tell whether a number was measured in peace. Multi-threaded torch collapses
when another process holds a core, because its OpenMP threads spin-wait for each other
at every operation (--omp-wait-policy PASSIVE shows how much of that is spinning);
cpu_ms_per_step at 1 thread is barely affected by other processes.

BLAS: Debian's torch calls whatever libblas.so.3 the system alternative provides;
reference BLAS is many times slower than OpenBLAS. Unless --blas system is given, the
worker processes get LD_LIBRARY_PATH pointing at Debian's OpenBLAS (OpenMP build), and
each worker checks which BLAS library is really mapped into it (/proc/self/maps) and
reports it; a run that ends up without OpenBLAS says so loudly. Convolutions do not
use BLAS at all in this torch: they go through the oneDNN (MKL-DNN) library built into
it, except transposed convolutions (im2col + BLAS GEMM) and Linear layers (BLAS GEMM).
Environment details go to stderr, so stdout stays pure JSON lines.
"""
import argparse
import ctypes
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ next to torch_models.py in the source tree
OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def process_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


# ---- what the process really uses ----------------------------------------------------------

def mapped_blas_libraries():
    """Real paths of the BLAS / LAPACK libraries mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if "blas" in name or "lapack" in name:
                libs.add(path)
    return sorted(libs)


def openblas_info(libs):
    """(config string, thread count) from OpenBLAS's own API, or (None, None)."""
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
            get_config = lib.openblas_get_config
        except (OSError, AttributeError):
            continue
        get_config.restype = ctypes.c_char_p
        return get_config().decode(), int(lib.openblas_get_num_threads())
    return None, None


def blas_alternative():
    """Debian's libblas.so.3 alternative (what torch gets without LD_LIBRARY_PATH)."""
    try:
        out = subprocess.run(["update-alternatives", "--query", "libblas.so.3-x86_64-linux-gnu"],
                             capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown (update-alternatives not found)"
    for line in out.splitlines():
        if line.startswith("Value:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def describe_environment(torch, use_openblas):
    lines = ["PyTorch " + torch.__version__ + " configuration (torch.__config__.show()):",
             torch.__config__.show().rstrip(), ""]
    lines.append("System libblas.so.3 alternative: " + blas_alternative())
    lines.append("Benchmark workers use: " + (
        f"OpenBLAS, forced with LD_LIBRARY_PATH={OPENBLAS_DIR}" if use_openblas
        else "the system alternative (--blas system)"))
    lines.append("oneDNN (MKL-DNN) available to torch: " + str(torch.backends.mkldnn.is_available()))
    return "\n".join(lines)


# ---- the worker: one model, one mode, one thread count -------------------------------------

def make_batch(torch, spec, generator):
    x = torch.rand((spec.batch,) + spec.input_shape, generator=generator)
    if spec.loss == "cross_entropy":
        target = torch.randint(0, spec.classes, (spec.batch,), generator=generator)
    elif spec.autoencoder:
        target = x  # reconstruction
    else:
        target = torch.randn((spec.batch,) + spec.output_shape, generator=generator)
    return x, target


def run_worker(args):
    sys.path.insert(0, str(HERE))
    import torch
    import torch_models

    baseline_rss = peak_rss_mb()
    torch.set_num_threads(args.threads)
    spec = torch_models.MODELS[args.worker]
    torch.manual_seed(0)
    model = spec.build()
    generator = torch.Generator().manual_seed(1)
    x, target = make_batch(torch, spec, generator)
    loss_fn = {"mse": torch.nn.MSELoss(), "bce": torch.nn.BCELoss(),
               "cross_entropy": torch.nn.CrossEntropyLoss()}[spec.loss]
    params = [p for p in model.parameters()]
    # A lone block or pool stands for a layer inside a network, which must pass the
    # gradient on to the layer before it; a whole model's input needs none.
    input_grad = spec.inner_layer
    if args.mode == "train":
        model.train()
        optimizer = torch.optim.Adam(params, lr=1e-3) if params else None
        x.requires_grad_(input_grad)

        def step():
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
            x.grad = None
            loss = loss_fn(model(x), target)
            loss.backward()
            if optimizer is not None:
                optimizer.step()
    else:
        model.eval()
        input_grad = False

        def step():
            with torch.inference_mode():
                model(x)

    # Warm-up: the first steps allocate and pick kernels. A step of seconds needs only one.
    warm_start = time.perf_counter()
    warmup_steps = 0
    while warmup_steps < max(1, args.warmup):
        t0 = time.perf_counter()
        step()
        last = time.perf_counter() - t0
        warmup_steps += 1
        if time.perf_counter() - warm_start > 2.0:
            break
    steps_per_repeat = max(1, round(args.repeat_seconds / max(last, 1e-6)))
    repeats = args.repeats
    if repeats * steps_per_repeat * last > args.max_seconds:  # slow models: fewer repeats
        repeats = max(3, int(args.max_seconds / last))
    load_before = os.getloadavg()[0]
    cpu0, wall0 = process_cpu_seconds(), time.perf_counter()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps_per_repeat):
            step()
        times.append((time.perf_counter() - t0) / steps_per_repeat)
    cpu_seconds = process_cpu_seconds() - cpu0
    cpu_utilization = cpu_seconds / ((time.perf_counter() - wall0) * args.threads)

    libs = mapped_blas_libraries()
    config, blas_threads = openblas_info(libs)
    median = statistics.median(times)
    record = {
        "framework": "torch",
        "model": args.worker,
        "threads": args.threads,
        "mode": args.mode,
        "batch": spec.batch,
        "images_per_s": round(spec.batch / median, 3),
        "step_ms": round(median * 1e3, 3),
        "step_ms_min": round(min(times) * 1e3, 3),
        "step_ms_max": round(max(times) * 1e3, 3),
        "repeats": repeats,
        "steps_per_repeat": steps_per_repeat,
        "warmup_steps": warmup_steps,
        "max_rss_mb": round(peak_rss_mb(), 1),
        "baseline_rss_mb": round(baseline_rss, 1),
        "params": sum(p.numel() for p in params),
        "fwd_mflop_per_image": round(torch_models.forward_flops(model, spec.input_shape) / 1e6, 3),
        "loadavg_1m": round(load_before, 2),
        "cpu_utilization": round(cpu_utilization, 3),
        # CPU time per step (all threads): at 1 thread a measure that other processes on
        # the machine barely change; at more threads it includes OpenMP spin-waiting.
        "cpu_ms_per_step": round(cpu_seconds / (repeats * steps_per_repeat) * 1e3, 3),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "loss": spec.loss,
        "input_grad": input_grad,
        "torch_threads": torch.get_num_threads(),
        "blas": config if config else (", ".join(libs) or "none mapped"),
        "blas_threads": blas_threads,
        "openblas": config is not None,
        "cpu_capability": next((l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines()
                                if "CPU capability usage" in l), "unknown"),
        "torch_version": torch.__version__,
    }
    print(json.dumps(record), flush=True)


# ---- the driver -----------------------------------------------------------------------------

def worker_environment(threads, use_openblas):
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    env["PYTHONPATH"] = str(HERE) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if use_openblas:
        env["LD_LIBRARY_PATH"] = OPENBLAS_DIR + os.pathsep + env.get("LD_LIBRARY_PATH", "")
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--models", default="", help="comma-separated model names (default: all benchmarked)")
    parser.add_argument("--modes", default="train,infer", help="train, infer or both (default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats; the median is reported")
    parser.add_argument("--repeat-seconds", type=float, default=0.5,
                        help="approximate length of one timed repeat (default 0.5 s)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps first (default 2; 1 when a step takes over 2 s)")
    parser.add_argument("--max-seconds", type=float, default=20.0,
                        help="cut the repeats (down to 3) of models slower than this in all")
    parser.add_argument("--omp-wait-policy", choices=["PASSIVE", "ACTIVE"],
                        help="set OMP_WAIT_POLICY for the workers (default: torch's default)")
    parser.add_argument("--blas", choices=["openblas", "system"], default="openblas",
                        help="force Debian's OpenBLAS (default) or use the system alternative")
    parser.add_argument("--out", help="also append the JSON lines to this file")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        args.threads = int(args.threads)
        run_worker(args)
        return 0

    sys.path.insert(0, str(HERE))
    import torch
    import torch_models

    benchmarked = [n for n, s in torch_models.MODELS.items() if s.benchmark]
    if args.list:
        for name in benchmarked:
            spec = torch_models.MODELS[name]
            print(f"{name:<16} batch {spec.batch:>3}  input {spec.input_shape}  loss {spec.loss}")
        return 0
    models = args.models.split(",") if args.models else benchmarked
    unknown = [m for m in models if m not in torch_models.MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(torch_models.MODELS)}")
    modes = args.modes.split(",")
    use_openblas = args.blas == "openblas"
    if use_openblas and not os.path.isdir(OPENBLAS_DIR):
        print(f"warning: {OPENBLAS_DIR} not found (install libopenblas0-openmp); "
              "falling back to the system BLAS", file=sys.stderr)
        use_openblas = False
    print(describe_environment(torch, use_openblas), file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"CPU: {os.cpu_count()} logical CPUs; load average {load:.2f}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n", file=sys.stderr)
    if load > 0.5:
        print("WARNING: the machine is busy. Multi-threaded torch collapses when another process\n"
              "holds a core (its OpenMP threads spin-wait for each other at every operation);\n"
              "compare numbers only from quiet runs (fields loadavg_1m, cpu_utilization).\n",
              file=sys.stderr)

    out = open(args.out, "a") if args.out else None
    failures = 0
    for threads in [int(t) for t in args.threads.split(",")]:
        for name in models:
            spec = torch_models.MODELS[name]
            for mode in modes:
                if mode == "infer" and not spec.autoencoder:
                    continue
                cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", name,
                       "--mode", mode, "--threads", str(threads), "--repeats", str(args.repeats),
                       "--repeat-seconds", str(args.repeat_seconds), "--warmup", str(args.warmup),
                       "--max-seconds", str(args.max_seconds)]
                env = worker_environment(threads, use_openblas)
                if args.omp_wait_policy:
                    env["OMP_WAIT_POLICY"] = args.omp_wait_policy
                proc = subprocess.run(cmd, env=env,
                                      capture_output=True, text=True)
                lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
                if proc.returncode != 0 or not lines:
                    failures += 1
                    print(f"FAILED {name} {mode} threads={threads}:\n{proc.stderr}", file=sys.stderr)
                    continue
                record = json.loads(lines[-1])
                print(lines[-1], flush=True)
                if out:
                    print(lines[-1], file=out, flush=True)
                if use_openblas and not record["openblas"]:
                    print(f"WARNING: {name} ran without OpenBLAS: {record['blas']}", file=sys.stderr)
                print(f"  {name:<16} {mode:<5} threads={threads}  {record['images_per_s']:>10.1f} img/s"
                      f"  step {record['step_ms']:>9.2f} ms  peak RSS {record['max_rss_mb']:>7.1f} MB"
                      f"  CPU use {100 * record['cpu_utilization']:3.0f}%  load {record['loadavg_1m']:.1f}"
                      f"  BLAS: {' '.join(record['blas'].split(' ')[:2])} ({record['blas_threads']} threads)",
                      file=sys.stderr)
    if out:
        out.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
