#!/usr/bin/env bash
# Installs everything cae needs on a fresh Debian/Ubuntu machine.
#   scripts/setup.sh            build and test dependencies, Fashion-MNIST
#   scripts/setup.sh --torch    also PyTorch + OpenBLAS (to regenerate fixtures, run side-by-side benchmarks)
#   scripts/setup.sh --codec    also the wallpaper photographs the codec trains on (scripts/get_photos.py)
set -euo pipefail

packages=(build-essential cmake libeigen3-dev catch2 libstb-dev zlib1g-dev libbenchmark-dev)
# JPEG/PNG decoding (libjpeg-turbo, libpng); the codec's JPEG and WebP baselines
# (cae/codec/baselines.hpp); clang's libFuzzer and sanitizer runtimes for
# scripts/ci_sanitize_fuzz.sh.
packages+=(libjpeg62-turbo-dev libpng-dev libwebp-dev clang-14 libclang-rt-14-dev)
# Fashion-MNIST is a Debian package; where it cannot be had, scripts/download_data.sh fetches it.
# fonts-dejavu-core: the figures' text (include/cae/figures.hpp falls back to a bitmap font without it).
optional=(dataset-fashion-mnist fonts-dejavu-core)
# The learned codec's training photographs (scripts/get_photos.py): only with --codec,
# since CI needs only tests/data/photos.
if [[ " $* " == *" --codec "* ]]; then
  optional+=(plasma-workspace-wallpapers gnome-backgrounds mate-backgrounds python3-pil)
fi
if [[ " $* " == *" --torch "* ]]; then
  packages+=(python3-torch libopenblas0-openmp python3-matplotlib)
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}" "${optional[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${optional[@]}" || echo "setup: ${optional[*]} not available; use scripts/download_data.sh"
fi
echo "setup: dependencies installed"
