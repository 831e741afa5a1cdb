#!/usr/bin/env bash
# Runs one example and keeps the record of the run that the pages in
# docs/reproductions/ cite, so that every documented number can be checked:
#
#   scripts/record_run.sh RECORD_DIR OUT_DIR PROGRAM [OPTIONS ...]
#   scripts/record_run.sh docs/reproductions/runs/002/quick build/runs/002 cae_mnist_compression --quick --data tests/data
#
# The program (build/examples/PROGRAM) writes into OUT_DIR (--out OUT_DIR is
# added); its stdout and stderr go to OUT_DIR/log.txt. On success RECORD_DIR
# gets: results.json, log.txt (without the progress bar's carriage-return
# updates), command.txt (the exact command), commit.txt (git describe of the
# build, "-dirty" when the tree had changes), machine.txt (lscpu model, cores,
# threads used, load average before the run) and wall_seconds.txt. No weights,
# checkpoints or figures: a few tens of KB per run.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 3 ]] || { sed -n '2,14p' "$0" >&2; exit 2; }
record=$1 out=$2 program=$3
shift 3
binary=build/examples/$program
[[ -x $binary ]] || { echo "record_run: $binary not built (cmake --build build --target $program)" >&2; exit 2; }
mkdir -p "$out" "$record"

command=("$binary" "$@" --out "$out")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
status=0
"${command[@]}" >"$out/log.txt" 2>&1 || status=$?
end=$(date +%s.%N)
if [[ $status -ne 0 ]]; then
  echo "record_run: $program failed (exit $status); the end of $out/log.txt:" >&2
  tail -n 20 "$out/log.txt" >&2
  exit "$status"
fi

cp "$out/results.json" "$record/results.json"
# A progress bar redraws its line with \r; keep only each line's final state.
sed 's/.*\r//' "$out/log.txt" >"$record/log.txt"
printf '%q ' "${command[@]}" | sed 's/ $/\n/' >"$record/command.txt"
{
  git describe --always --dirty 2>/dev/null || echo "not a git checkout"
  echo "built from: $(git log -1 --format='%H %cd' --date=iso-strict 2>/dev/null || echo unknown)"
} >"$record/commit.txt"
{
  echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1)"
  echo "cores (nproc): $(nproc)"
  echo "OMP_WAIT_POLICY: ${OMP_WAIT_POLICY:-unset}"
  echo "load average before the run (1, 5, 15 min): $load_before"
  echo "date: $(date -u -d "@${start%.*}" '+%Y-%m-%d %H:%M:%S UTC')"
} >"$record/machine.txt"
awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", b - a }' >"$record/wall_seconds.txt"
echo "record_run: $program finished in $(cat "$record/wall_seconds.txt") s; record in $record"
