#!/usr/bin/env bash
# Builds every fuzz/fuzz_*.cpp as a libFuzzer target (clang++ with
# AddressSanitizer and UndefinedBehaviorSanitizer) and runs each for a bounded
# time, then prints the executions and crashes of each.
#   fuzz/run_fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, all targets)
# A target's seed inputs come from fuzz/<target>.seeds.sh DIR when that exists.
# Outputs (binaries, corpora, logs, crash-* inputs) go to $FUZZ_DIR (default build/fuzz).
# The targets are built first, FUZZ_JOBS at a time (default: the core count),
# then run one after the other. Each build and each run has a wall-clock limit
# (FUZZ_BUILD_TIMEOUT, default 900 s; the run's seconds plus FUZZ_GRACE,
# default 120 s), so a hang cannot stall CI. One input that runs longer than
# FUZZ_UNIT_TIMEOUT seconds (default 25: generous, since a busy machine can
# stall a process for seconds) counts as a hang.
# Exits non-zero when a target crashed, hung, ran out of memory, leaked or
# failed to build; the sanitizer's report and each failing input (base64, so
# a CI log carries it) are printed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
out=${FUZZ_DIR:-build/fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
build_timeout=${FUZZ_BUILD_TIMEOUT:-900}
grace=${FUZZ_GRACE:-120}
unit_timeout=${FUZZ_UNIT_TIMEOUT:-25}
cxx=${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14 || echo clang++)}
flags=(-std=c++17 -g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
       -DEIGEN_DONT_PARALLELIZE -Iinclude -isystem /usr/include/eigen3 -isystem /usr/include/stb)
# The image decoders as CMake configures them where the libraries are installed.
libs=(-lz)
if [[ -f /usr/include/jpeglib.h ]]; then flags+=(-DCAE_HAVE_LIBJPEG); libs+=(-ljpeg); fi
if [[ -f /usr/include/png.h ]]; then flags+=(-DCAE_HAVE_LIBPNG); libs+=(-lpng); fi
mkdir -p "$out"

targets=()
for src in fuzz/fuzz_*.cpp; do
  name=$(basename "$src" .cpp)
  if (($#)) && [[ " $* " != *" $name "* ]]; then continue; fi
  targets+=("$name")
done

# Builds run in the background, at most $jobs at once; each leaves
# $out/NAME.build.rc with its exit status (124: it ran past the limit).
build_one() {
  local name=$1 rc=0
  timeout "$build_timeout" "$cxx" "${flags[@]}" "fuzz/$name.cpp" "${libs[@]}" -o "$out/$name" \
    >"$out/$name.build.log" 2>&1 || rc=$?
  echo "$rc" >"$out/$name.build.rc"
}
for name in "${targets[@]}"; do
  rm -f "$out/$name.build.rc"
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  build_one "$name" &
done
wait

failed=0
printf '%-18s %12s %8s %8s  %s\n' target executions seconds crashes log
for name in "${targets[@]}"; do
  if [[ $(cat "$out/$name.build.rc") != 0 ]]; then
    printf '%-18s %12s %8s %8s  %s\n' "$name" "-" "-" "-" "BUILD FAILED: $out/$name.build.log"
    tail -n 30 "$out/$name.build.log"
    failed=1
    continue
  fi
  corpus=$out/corpus/$name
  artifacts=$out/artifacts/$name
  mkdir -p "$corpus" "$artifacts"
  if [[ -x fuzz/$name.seeds.sh ]]; then fuzz/"$name".seeds.sh "$corpus"; fi
  rc=0
  started=$(date +%s)
  timeout -k 10 "$((seconds + grace))" "$out/$name" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout="$unit_timeout" -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$out/$name.log" 2>&1 || rc=$?
  wall=$(($(date +%s) - started))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log" | tail -n 1)
  crashes=$(find "$artifacts" -type f | wc -l)
  printf '%-18s %12s %8s %8s  %s\n' "$name" "${execs:-?}" "$wall" "$crashes" "$out/$name.log"
  if ((rc != 0 || crashes > 0)); then
    failed=1
    if ((rc == 124 || rc == 137)); then echo "  $name: still running after $((seconds + grace)) s, killed"; fi
    echo "  ---- the end of $out/$name.log (exit status $rc) ----"
    tail -n 60 "$out/$name.log" | sed 's/^/  /'
    for input in "$artifacts"/*; do
      [[ -f $input ]] || continue
      echo "  ---- failing input $input ($(stat -c %s "$input") bytes), base64 ----"
      head -c 65536 "$input" | base64 | sed 's/^/  /'
      echo "  reproduce: $out/$name $input"
    done
  fi
done
exit "$failed"
