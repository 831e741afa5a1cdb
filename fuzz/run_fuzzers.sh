#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp as a libFuzzer target (clang++ with
# AddressSanitizer and UndefinedBehaviorSanitizer) and runs each for a bounded
# time, then prints the executions and crashes of each.
#   fuzz/run_fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
# A target's seed inputs come from fuzz/<target>.seeds.sh DIR when that exists.
# Outputs (binaries, corpora, logs, crash-* inputs) go to $FUZZ_DIR (default build/fuzz).
# Exits non-zero when a target crashed or failed to build.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
out=${FUZZ_DIR:-build/fuzz}
cxx=${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || echo clang++)}
flags=(-std=c++17 -g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
       -DEIGEN_DONT_PARALLELIZE -Iinclude -isystem /usr/include/eigen3 -isystem /usr/include/stb)
# The image decoders as CMake configures them where the libraries are installed.
libs=(-lz)
if [[ -f /usr/include/jpeglib.h ]]; then flags+=(-DCAE_HAVE_LIBJPEG); libs+=(-ljpeg); fi
if [[ -f /usr/include/png.h ]]; then flags+=(-DCAE_HAVE_LIBPNG); libs+=(-lpng); fi
mkdir -p "$out"

failed=0
printf '%-16s %14s %8s  %s\n' target executions crashes log
for src in fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  if (($#)) && [[ " $* " != *" $name "* ]]; then continue; fi
  if ! "$cxx" "${flags[@]}" "$src" "${libs[@]}" -o "$out/$name" 2>"$out/$name.build.log"; then
    printf '%-16s %14s %8s  %s\n' "$name" "-" "-" "BUILD FAILED: $out/$name.build.log"
    failed=1
    continue
  fi
  corpus=$out/corpus/$name
  artifacts=$out/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  if [[ -x fuzz/$name.seeds.sh ]]; then fuzz/"$name".seeds.sh "$corpus"; fi
  rc=0
  "$out/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$corpus" >"$out/$name.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -n 1)
  crashes=$(find "$artifacts" -type f | wc -l)
  printf '%-16s %14s %8s  %s\n' "$name" "${execs:-?}" "$crashes" "$out/$name.log"
  if ((rc != 0 || crashes > 0)); then
    failed=1
    find "$artifacts" -type f -exec echo "  reproduce: $out/$name {}" \;
  fi
done
exit "$failed"
