#!/usr/bin/env bash
# Seed inputs for fuzz_csv: a labelled and an id-first file of 2x2 images.
# Usage: fuzz_csv.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
printf 'label,pixel0,pixel1,pixel2,pixel3\n3,0,255,128,1\r\n0,10,20,30,40\n' >"$dir/train.csv"
printf 'id,pixel0,pixel1,pixel2,pixel3\n1,0,255,128,1\n2,10,20,30,40\n' >"$dir/test.csv"
