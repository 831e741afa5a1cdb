#!/usr/bin/env bash
# Writes seed inputs for fuzz_safetensors into DIR: a few committed fixtures,
# and structure-aware files, valid and crafted: every dtype, F16/BF16, zero-size
# tensors, metadata, and the overflow case (shape product 2^62 + 1 with
# 4 bytes of data), overlapping offsets, a hole, trailing bytes, fractional
# offsets and a duplicate key, so the fuzzer starts next to each check.
set -euo pipefail
dir=$1
mkdir -p "$dir"
n=0
for f in tests/fixtures/*/*.safetensors; do
  cp "$f" "$dir/seed_$n.safetensors"
  n=$((n + 1))
  ((n < 8)) || break
done

# st NAME HEADER DATA_BYTES: an 8-byte little-endian header length, the header, then zeros.
st() {
  local name=$1 header=$2 data=$3 len=${#2} i
  {
    for ((i = 0; i < 8; i++)); do printf "\\$(printf '%03o' $(((len >> (8 * i)) & 255)))"; done
    printf '%s' "$header"
    head -c "$data" /dev/zero
  } >"$dir/$name.safetensors"
}
st dtypes '{"__metadata__":{"format":"pt"},"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1,2],"data_offsets":[16,24]},"c":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},"d":{"dtype":"BF16","shape":[2],"data_offsets":[28,32]},"e":{"dtype":"I64","shape":[],"data_offsets":[32,40]},"f":{"dtype":"I32","shape":[1],"data_offsets":[40,44]},"g":{"dtype":"I16","shape":[1],"data_offsets":[44,46]},"h":{"dtype":"U8","shape":[1],"data_offsets":[46,47]},"i":{"dtype":"BOOL","shape":[1],"data_offsets":[47,48]}}' 48
st empty '{"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"w":{"dtype":"U16","shape":[2],"data_offsets":[0,4]}}' 4
st overflow '{"w":{"dtype":"F32","shape":[242243305,19037413721],"data_offsets":[0,4]}}' 4
st overlap '{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 12
st hole '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}' 12
st trailing '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 12
st fraction '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12.0]}}' 12
st duplicate '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 4
