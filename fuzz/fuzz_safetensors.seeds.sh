#!/usr/bin/env bash
# Writes seed inputs for fuzz_safetensors into DIR: a few committed fixtures.
set -euo pipefail
dir=$1
mkdir -p "$dir"
n=0
for f in tests/fixtures/*/*.safetensors; do
  cp "$f" "$dir/seed_$n.safetensors"
  n=$((n + 1))
  ((n < 8)) || break
done
