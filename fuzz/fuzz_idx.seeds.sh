#!/usr/bin/env bash
# Seed inputs for fuzz_idx: small valid IDX files, raw and gzip-compressed,
# so the fuzzer starts from deep inside the parser. Usage: fuzz_idx.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
# 2 images of 2x3 pixels.
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x03\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xff' >"$dir/images.idx"
# 4 labels.
printf '\x00\x00\x08\x01\x00\x00\x00\x04\x01\x09\x00\x05' >"$dir/labels.idx"
gzip -nc "$dir/images.idx" >"$dir/images.idx.gz"
gzip -nc "$dir/labels.idx" >"$dir/labels.idx.gz"
