#!/usr/bin/env bash
# Seed inputs for fuzz_cifar: one 3073-byte record (label 3, then pixels) and
# a batches.meta.txt. Usage: fuzz_cifar.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
{ printf '\x03'; head -c 3072 /dev/zero | tr '\0' '\200'; } >"$dir/record.bin"
printf 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n' >"$dir/batches.meta.txt"
