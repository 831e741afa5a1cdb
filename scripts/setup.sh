#!/usr/bin/env bash
# Installs everything cae needs on a fresh Debian/Ubuntu machine.
#   scripts/setup.sh            build and test dependencies, Fashion-MNIST
#   scripts/setup.sh --torch    also PyTorch + OpenBLAS (to regenerate fixtures, run side-by-side benchmarks)
set -euo pipefail

packages=(build-essential cmake libeigen3-dev catch2 libstb-dev zlib1g-dev libbenchmark-dev)
# The JPEG and WebP baselines of the image codec (cae/codec/baselines.hpp).
packages+=(libjpeg62-turbo-dev libwebp-dev)
# Fashion-MNIST is a Debian package; where it cannot be had, scripts/download_data.sh fetches it.
optional=(dataset-fashion-mnist)
# The learned codec's photographs (scripts/get_photos.py); CI needs only tests/data/photos.
optional+=(plasma-workspace-wallpapers mate-backgrounds python3-pil)
if [[ "${1:-}" == "--torch" ]]; then
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
