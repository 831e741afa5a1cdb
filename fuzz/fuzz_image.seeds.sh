#!/usr/bin/env bash
# Seed inputs for fuzz_image: the committed images of fuzz/seeds/image (every
# PNG/BMP/JPEG variant cae accepts, some it refuses, two CIFAR-10 photos; made
# by fuzz/make_image_seeds.py), plus up to 40 CIFAR-10 JPEGs when
# $CAE_DATA/cifar10-jpg is there. Usage: fuzz_image.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cp fuzz/seeds/image/* "$dir/"
cifar=${CAE_DATA:-/nonexistent}/cifar10-jpg/test
if [[ -d $cifar ]]; then
  for cls in "$cifar"/*/; do
    files=("$cls"*.jpg)  # sorted by the glob; no pipe that head could cut short
    for f in "${files[@]:0:4}"; do
      cp "$f" "$dir/cifar_$(basename "$cls")_$(basename "$f")"
    done
  done
fi
