#!/usr/bin/env bash
# Checks that the reproduction pages' numbers trace to runs (issue #15):
#   1. no page cites a temporary output folder (/tmp/...),
#   2. every run record a page links (runs/<paper>/<run>/) exists and is
#      complete (results.json, log.txt, command.txt, commit.txt,
#      machine.txt, wall_seconds.txt; scripts/record_run.sh writes them),
#   3. no results table comes before the page links a run record or says
#      "Record not kept" (the earlier runs whose output was lost).
# It does not match each number against a results.json (not done yet).
#
#   tests/check_run_records.sh [DOCS_DIR]      (default docs/reproductions)
set -euo pipefail
cd "$(dirname "$0")/.."
docs=${1:-docs/reproductions}
fail=0
complain() { echo "check_run_records: $*" >&2; fail=1; }

for page in "$docs"/*.md; do
  if grep -n '/tmp/' "$page" >/dev/null; then
    complain "$page cites a temporary folder: $(grep -n '/tmp/' "$page" | head -n 3 | tr '\n' ' ')"
  fi
  for link in $(grep -o '](runs/[0-9]\{3\}/[A-Za-z0-9_-]*/)' "$page" | sed 's/^](//; s/)$//' | sort -u); do
    dir="$docs/$link"
    [[ -d $dir ]] || { complain "$page links $link, which does not exist"; continue; }
    for f in results.json log.txt command.txt commit.txt machine.txt wall_seconds.txt; do
      [[ -s $dir/$f ]] || complain "$page links $link, which lacks $f"
    done
  done
  # A results table: a Markdown table row holding a digit.
  awk -v page="$page" '
    /\]\(runs\/[0-9][0-9][0-9]\/|Record not kept/ { traced = 1 }
    /^\|/ && !/^\|[-| ]*\|$/ && /[0-9]/ && !traced {
      printf "check_run_records: %s:%d: a results table before any run record link or \"Record not kept\" note\n", page, NR > "/dev/stderr"
      bad = 1
      exit
    }
    END { exit bad }
  ' "$page" || fail=1
done
if [[ $fail -ne 0 ]]; then exit 1; fi
echo "check_run_records: every results section of $docs traces to a run record or says it was not kept"
