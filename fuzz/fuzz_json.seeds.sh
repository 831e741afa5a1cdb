#!/usr/bin/env bash
# Seed inputs for fuzz_json: a history as fit() stores it in a checkpoint
# (measured, not measured and non-finite values, the older "seconds" key), a
# safetensors header, and JSON's corners (escapes, \u code points, exponents,
# nesting, an integer too large for a double to hold exactly).
# Usage: fuzz_json.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
printf '%s' '[{"epoch":1,"images_per_s":1523.5,"lr":0.001,"test_acc":null,"test_loss":0.0421,"test_seconds":1.25,"train_acc":0.9,"train_loss":0.0532,"train_seconds":10.5},{"epoch":2,"images_per_s":1500,"lr":0.0005,"test_acc":"nan","test_loss":"inf","test_seconds":null,"train_acc":null,"train_loss":"-inf","train_seconds":9.75}]' >"$dir/history.json"
printf '%s' '[{"epoch":3,"train_loss":1e-300,"seconds":2.5}]' >"$dir/history_old.json"
printf '%s' '{"__metadata__":{"format":"pt","quality":"3"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[],"data_offsets":[24,26]}}' >"$dir/safetensors_header.json"
printf '%s' '{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00","n":[-0,1.5e300,-2E-5,123456789012345678901,1e999],"t":true,"f":false,"z":null,"o":{"a":[[[]]],"b":{}}}' >"$dir/corners.json"
printf '  [ 1 , [ 2 , { "k" : [ 3 ] } ] ]  \n' >"$dir/spaces.json"
