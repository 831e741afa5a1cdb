#!/usr/bin/env bash
# Runs the full mode of every paper reproduction, one after the other, and can
# be stopped and started again at any time:
#
#   scripts/reproduce_all.sh [OUT_ROOT] [PAPER ...]    (default: runs/full, all papers)
#   scripts/reproduce_all.sh runs/full 002 004         (only these)
#
# Each paper writes into OUT_ROOT/<paper>/; when its program succeeds, the
# script leaves a file `finished` there, and papers with one are skipped (not
# results.json: a quick or shortened run writes one too). The long ones save
# every model after every epoch (--checkpoint yes), so a restarted script
# continues inside the interrupted paper, after its last finished epoch. Wall
# times on 2 cores (AMD EPYC, in docs/reproductions/): 001 15 min, 003 about
# 1 h, 002 4.1 h, 004 2 h 10 min, 000 about 1 h 20 min (measured; 000 in two pieces).
#
# Every finished paper leaves its run record (results.json, the log without
# progress bars, the exact command, the commit, the machine, the wall time;
# scripts/record_run.sh) in docs/reproductions/runs/<paper>/<run>/, where
# <run> is the last part of OUT_ROOT (runs/full -> full): commit it with the
# page that quotes its numbers.
#
#   CAE_QUICK=1 scripts/reproduce_all.sh runs/quick    every --quick mode on tests/data (minutes)
#
# Data: $CAE_DATA, else ../shared/data (see ../shared/data/README.md or
# scripts/download_data.sh); quick: tests/data. Threads: $CAE_THREADS, else all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out_root=${1:-runs/full}
shift || true
papers=("$@")
[[ ${#papers[@]} -gt 0 ]] || papers=(001 003 002 004 000)

threads=${CAE_THREADS:-$(nproc)}
run_name=$(basename "$out_root")
quick_options=""
[[ ${CAE_QUICK:-0} == 1 ]] && quick_options="--quick --data tests/data"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

program_of() {
  case $1 in
    000) echo "cae_cifar320_designs ${quick_options:---checkpoint yes}" ;;
    001) echo "cae_cifar_rate_sweep $quick_options" ;;
    002) echo "cae_mnist_compression ${quick_options:---checkpoint yes}" ;;
    003) echo "cae_kannada_distortion $quick_options" ;;
    004) echo "cae_mnist_denoising ${quick_options:---checkpoint yes}" ;;
    *) echo "unknown paper '$1' (known: 000 001 002 003 004)" >&2; exit 2 ;;
  esac
}

for paper in "${papers[@]}"; do program_of "$paper" >/dev/null; done

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
for paper in "${papers[@]}"; do
  read -r program _ <<<"$(program_of "$paper")"
  cmake --build build --target "$program" -j "$(nproc)"
done

for paper in "${papers[@]}"; do
  read -r program options <<<"$(program_of "$paper")"
  out="$out_root/$paper"
  if [[ -f $out/finished ]]; then
    echo "== $paper: finished earlier ($out/finished), skipped"
    continue
  fi
  mkdir -p "$out"
  record=docs/reproductions/runs/$paper/$run_name
  echo "== $paper: build/examples/$program --threads $threads $options --out $out  (log: $out/log.txt, record: $record, started $(date -u +%H:%M))"
  # shellcheck disable=SC2086  # options are words
  scripts/record_run.sh "$record" "$out" "$program" --threads "$threads" $options || exit 1
  date -u >"$out/finished"
  echo "== $paper done $(date -u +%H:%M): $out/results.json"
done
