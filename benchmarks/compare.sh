#!/usr/bin/env bash
# cae against PyTorch, side by side, in one run:
#
#   benchmarks/compare.sh [--threads 1,2] [--models cae_002,...] [--quick] [--out DIR]
#
# 1. builds cae_bench, peak_flops and bench_layers with g++ (the flags of the
#    CMake targets; or set CAE_BENCH_BIN to a directory that holds them),
# 2. measures this machine's fp32 peak (peak_flops),
# 3. for each thread count and model, runs PyTorch (torch_bench.py) and then
#    cae (cae_bench) on it, back to back, so both see the same machine load,
# 4. times the GEMM-heavy layers (bench_layers, 1 thread),
# 5. prints the joined table: model, mode, threads, cae img/s, torch img/s,
#    their ratio, peak RSS of both, and the GEMM-heavy layers as a fraction of
#    the peak; then which targets are met.
#
# The raw JSON lines and logs stay in the output directory (default
# /tmp/cae-compare-<date>). --quick: 2 repeats of 0.2 s instead of 5 of 0.5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

threads=1,2
models=""
repeats=5
repeat_seconds=0.5
out=""
while (($#)); do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --quick) repeats=2; repeat_seconds=0.2; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
out=${out:-/tmp/cae-compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

# ---- build ---------------------------------------------------------------------
bin=${CAE_BENCH_BIN:-$out/bin}
if [[ -z "${CAE_BENCH_BIN:-}" ]]; then
  mkdir -p "$bin"
  flags=(-std=c++17 -O3 -march=native -fopenmp -DEIGEN_DONT_PARALLELIZE -Iinclude -Iexamples
         -isystem /usr/include/eigen3 -isystem /usr/include/stb)
  echo "building into $bin ..." >&2
  g++ "${flags[@]}" benchmarks/cae_bench.cpp -lz -o "$bin/cae_bench" 2> "$out/build.log"
  g++ -O3 -march=native -fopenmp benchmarks/peak_flops.cpp -o "$bin/peak_flops" 2>> "$out/build.log"
  if [[ -f /usr/include/benchmark/benchmark.h ]]; then
    g++ "${flags[@]}" benchmarks/bench_layers.cpp -lbenchmark -lpthread -o "$bin/bench_layers" \
      2>> "$out/build.log"
  fi
fi

# ---- the machine -----------------------------------------------------------------
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) logical CPUs)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
} | tee "$out/machine.txt" >&2

"$bin/peak_flops" 1 2 > "$out/peak.txt"
grep '^{' "$out/peak.txt" > "$out/peak.jsonl"

# ---- the models, PyTorch then cae, back to back ----------------------------------
if [[ -z "$models" ]]; then
  models=$(/usr/bin/python3 benchmarks/torch_bench.py --list | awk '{print $1}' | paste -sd, -)
fi
: > "$out/torch.jsonl"
: > "$out/cae.jsonl"
IFS=, read -r -a thread_list <<< "$threads"
IFS=, read -r -a model_list <<< "$models"
for t in "${thread_list[@]}"; do
  for m in "${model_list[@]}"; do
    echo "== $m, $t thread(s)" >&2
    /usr/bin/python3 benchmarks/torch_bench.py --threads "$t" --models "$m" --repeats "$repeats" \
      --repeat-seconds "$repeat_seconds" >> "$out/torch.jsonl" 2>> "$out/torch.log" ||
      echo "   torch_bench failed (see $out/torch.log)" >&2
    "$bin/cae_bench" --threads "$t" --models "$m" --repeats "$repeats" \
      --repeat-seconds "$repeat_seconds" >> "$out/cae.jsonl" 2>> "$out/cae.log" ||
      echo "   cae_bench failed (see $out/cae.log)" >&2
  done
done

# ---- GEMM-heavy layers -------------------------------------------------------------
if [[ -x "$bin/bench_layers" ]]; then
  "$bin/bench_layers" --threads=1 --benchmark_min_time=0.3 \
    --benchmark_filter='conv1x1|conv2x2|conv3x3_(128|64|512)|linear' \
    --benchmark_format=json > "$out/layers.json" 2>> "$out/layers.log" || true
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt" >&2

# ---- the table ---------------------------------------------------------------------
/usr/bin/python3 - "$out" <<'PY' | tee "$out/table.md"
import json, os, sys
out = sys.argv[1]

def lines(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.startswith("{")]

torch = {(r["model"], r["mode"], r["threads"]): r for r in lines("torch.jsonl")}
cae = {(r["model"], r["mode"], r["threads"]): r for r in lines("cae.jsonl")}
print(open(os.path.join(out, "machine.txt")).read().strip().replace("\n", "  \n"))
print()
print("| model | mode | threads | cae img/s | torch img/s | ratio | ratio of CPU time | cae max RSS MB | torch max RSS MB | cae allocs/step | load |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
misses = []
order = list(dict.fromkeys(list(cae) + list(torch)))  # order of the runs
for key in sorted(order, key=lambda k: k[2]):
    model, mode, threads = key
    c, t = cae.get(key), torch.get(key)
    ratio = c["images_per_s"] / t["images_per_s"] if c and t else None
    # CPU seconds per image: insensitive to the load at 1 thread (at 2, torch's
    # spinning OpenMP threads count too).
    def cpu_per_image(r):
        return r["step_ms"] * r["cpu_utilization"] * r["threads"] / r["batch"]
    cpu_ratio = cpu_per_image(t) / cpu_per_image(c) if c and t and cpu_per_image(c) > 0 else None
    fmt = lambda v, f="{:.1f}": f.format(v) if v is not None else "-"
    print(f"| {model} | {mode} | {threads} | {fmt(c and c['images_per_s'])} | "
          f"{fmt(t and t['images_per_s'])} | {fmt(ratio, '{:.2f}x')} | {fmt(cpu_ratio, '{:.2f}x')} | "
          f"{fmt(c and c['max_rss_mb'])} | {fmt(t and t['max_rss_mb'])} | "
          f"{fmt(c and c.get('allocations_per_step'), '{:.0f}')} | {fmt(c and c['loadavg_1m'], '{:.1f}')} |")
    if mode == "train" and ratio is not None:
        need = 20.0 if model.startswith("maxpool") else 1.5
        if ratio < need:
            misses.append(f"{model} train, {threads} thread(s): {ratio:.2f}x < {need}x")
    if c and t and c["max_rss_mb"] > t["max_rss_mb"]:
        misses.append(f"{model} {mode}, {threads} thread(s): peak RSS {c['max_rss_mb']} MB > torch's {t['max_rss_mb']} MB")

peaks = {(p["isa"], p["threads"]): p for p in lines("peak.jsonl")}
best = max((p for p in peaks.values() if p["threads"] == 1), key=lambda p: p["gflops"] / max(p["cpu_share"], 1e-9), default=None)
print()
if best:
    core_peak = best["flop_per_cycle_per_core"] * best["ghz_est"]
    print(f"fp32 peak (peak_flops, {best['isa']}): {best['flop_per_cycle_per_core']:.1f} FLOP/cycle x "
          f"{best['ghz_est']:.2f} GHz = {core_peak:.1f} GFLOP/s per core while running "
          f"({best['gflops']:.1f} GFLOP/s of wall time at {100 * best['cpu_share']:.0f}% CPU share); "
          + ", ".join(f"{p['threads']} threads {p['gflops']:.1f}" for p in peaks.values() if p["isa"] == best["isa"] and p["threads"] > 1))
    layers_path = os.path.join(out, "layers.json")
    if os.path.exists(layers_path) and os.path.getsize(layers_path) > 0:
        try:
            layers = json.load(open(layers_path))["benchmarks"]
        except ValueError:
            layers = []
        print()
        print("| GEMM-heavy layer (1 thread, CPU time) | ms | GFLOP/s | of peak |")
        print("|---|---|---|---|")
        for b in layers:
            g = b.get("GFLOP/s")
            if g is None:
                continue
            frac = g / core_peak
            print(f"| {b['name']} | {b['cpu_time']:.2f} | {g:.1f} | {100 * frac:.0f}% |")
            if frac < 0.6:
                misses.append(f"{b['name']}: {100 * frac:.0f}% of peak < 60%")
print()
print("targets missed:" if misses else "all targets met")
for m in misses:
    print("  - " + m)
PY
echo "results in $out" >&2
