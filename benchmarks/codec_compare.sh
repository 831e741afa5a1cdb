#!/usr/bin/env bash
# The learned codec's speed beside PyTorch's and JPEG's, in one run:
#
#   benchmarks/codec_compare.sh --model q3.safetensors --image photo.png
#                               [--threads 1,2] [--repeats 5] [--out DIR]
#
# 1. measures this machine's fp32 peak (peak_flops, 1 and 2 threads),
# 2. runs codec_bench (cae's encode and decode, and libjpeg-turbo at the
#    matched bpp) and dumps the networks' tensors,
# 3. runs the same analysis and synthesis networks in PyTorch on those tensors
#    (benchmarks/torch_codec.py), which also checks that both compute the same,
# 4. prints the joined table (table.md): per thread count, milliseconds and
#    milliseconds per megapixel of each side, the ratios, peak memory.
#
# The binaries come from build/benchmarks (or CAE_BENCH_BIN); build them with
#   cmake --build build --target codec_bench peak_flops
# The raw JSON lines stay in the output directory (default /tmp/cae-codec-compare-<date>).
set -euo pipefail
cd "$(dirname "$0")/.."

model="" image="" threads=1,2 repeats=5 out=""
while (($#)); do
  case "$1" in
    --model) model=$2; shift 2 ;;
    --image) image=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $model && -n $image ]] || { echo "codec_compare: --model and --image are required" >&2; exit 2; }
bin=${CAE_BENCH_BIN:-build/benchmarks}
for b in codec_bench peak_flops; do
  [[ -x $bin/$b ]] || { echo "codec_compare: $bin/$b not built (cmake --build build --target $b)" >&2; exit 2; }
done
out=${out:-/tmp/cae-codec-compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) logical CPUs)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "model: $model"
  echo "image: $image"
} | tee "$out/machine.txt" >&2

"$bin/peak_flops" 1 2 > "$out/peak.txt"
grep '^{' "$out/peak.txt" > "$out/peak.jsonl"
"$bin/codec_bench" --model "$model" --image "$image" --threads "$threads" --repeats "$repeats" \
  --dump "$out/tensors.safetensors" --out "$out/cae.jsonl" > "$out/cae.log" 2>&1
/usr/bin/python3 benchmarks/torch_codec.py --model "$model" --tensors "$out/tensors.safetensors" \
  --threads "$threads" --repeats "$repeats" > "$out/torch.jsonl" 2> "$out/torch.log"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt" >&2

/usr/bin/python3 - "$out" <<'PY' | tee "$out/table.md"
import json, os, sys
out = sys.argv[1]

def lines(name):
    return [json.loads(l) for l in open(os.path.join(out, name)) if l.startswith("{")]

cae = {(r["task"], r["threads"]): r for r in lines("cae.jsonl")}
torch = {(r["task"], r["threads"]): r for r in lines("torch.jsonl")}
peak = {}
for r in lines("peak.jsonl"):  # one line per ISA: keep the fastest
    if r["threads"] not in peak or r["gflops"] > peak[r["threads"]]["gflops"]:
        peak[r["threads"]] = r
print(open(os.path.join(out, "machine.txt")).read().strip().replace("\n", "  \n"))
print()
print("fp32 peak measured in this run: " + ", ".join(
    f"{t} thread(s) {p['gflops']:.0f} GFLOP/s ({p['isa']})" for t, p in sorted(peak.items())))
print()
print("| threads | step | cae ms | cae ms/MP | PyTorch ms (network only) | PyTorch ms/MP | cae faster by | JPEG ms | cae max RSS MB | PyTorch max RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
misses = []
for t in sorted({k[1] for k in cae}):
    both_cae = both_torch = 0.0
    for task, net, jpeg in (("encode", "analysis", "jpeg_encode"), ("decode", "synthesis", "jpeg_decode")):
        c, p, j = cae.get((task, t)), torch.get((net, t)), cae.get((jpeg, t))
        if not c or not p:
            continue
        both_cae += c["total_ms"]
        both_torch += p["ms"]
        print(f"| {t} | {task} (cae: whole call; PyTorch: {net} network) | {c['total_ms']:.1f} | "
              f"{c['total_ms_per_megapixel']:.0f} | {p['ms']:.1f} | {p['ms_per_megapixel']:.0f} | "
              f"{p['ms'] / c['total_ms']:.2f}x | {j['total_ms'] if j else float('nan'):.1f} | "
              f"{c['max_rss_mb']:.0f} | {p['max_rss_mb']:.0f} |")
    if both_cae and both_torch:
        ratio = both_torch / both_cae
        print(f"| {t} | encode + decode | {both_cae:.1f} | | {both_torch:.1f} | | **{ratio:.2f}x** | | | |")
        if ratio < 2:
            misses.append(f"{t} thread(s): encode + decode {ratio:.2f}x PyTorch's networks (target 2x)")
print()
diffs = [r["max_abs_diff"] for r in torch.values()]
print(f"Largest difference between PyTorch's and cae's network outputs: {max(diffs):.3g}")
print("Targets missed: " + ("; ".join(misses) if misses else "none"))
PY
