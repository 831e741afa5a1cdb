#!/usr/bin/env bash
# The main demo: paper 002's 20-layer convolutional autoencoder compressing
# Fashion-MNIST 28x28 images to a 7x7 code (784 -> 49 values) and back, in its
# quick mode (a small training subset, one epoch: a smoke run of a few
# minutes, not the paper's result; docs/reproductions/compression.md has the
# long runs). On a fresh Debian/Ubuntu machine:
#
#   scripts/demo.sh [OUT_DIR]          (default OUT_DIR: build/demo)
#
# 1. scripts/setup.sh installs the compiler, CMake, Eigen, ... and Fashion-MNIST
#    (Debian's dataset-fashion-mnist package, in /usr/share/datasets/fashion-mnist);
#    where that package is unavailable, scripts/download_data.sh fetches the data.
# 2. CMake configures build/ and builds only the example program.
# 3. The program trains in --quick mode on Fashion-MNIST and writes its figures.
# 4. The script prints the reconstruction figure's path and the measured MSE / PSNR.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/demo}
example=cae_mnist_compression

echo "== 1/4 dependencies (scripts/setup.sh)"
scripts/setup.sh

data_args=()
debian_dir=/usr/share/datasets/fashion-mnist
if [[ ! -f $debian_dir/train-images-idx3-ubyte.gz && ! -f $debian_dir/train-images-idx3-ubyte ]]; then
  echo "Fashion-MNIST is not in $debian_dir; downloading it into data/fashion-mnist"
  scripts/download_data.sh data fashion-mnist
  data_args=(--data data)
fi

echo "== 2/4 configure and build $example (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target "$example" -j "$(nproc)"

echo "== 3/4 train and evaluate ($example --quick --dataset fashion)"
mkdir -p "$out"
log="$out/demo.log"
# Passive OpenMP waits keep the threads from spinning when the machine is busy.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
  "build/examples/$example" --quick --dataset fashion "${data_args[@]}" --out "$out" | tee "$log"

# Numbers from results.json (written by the program), e.g. "fashion_test_mse": 0.0873.
value() { sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" "$out/results.json" | head -n 1; }
mse=$(value fashion_test_mse)
psnr=$(value fashion_test_psnr)
figure="$out/fashion_reconstructions.png"
[[ -f $figure && -n $mse && -n $psnr ]] || { echo "demo: the run did not produce $figure and results.json" >&2; exit 1; }

echo "== 4/4 result"
echo "reconstruction figure: $figure (rows: originals, 7x7 codes, reconstructions)"
echo "denoising figure:      $out/fashion_denoising.png"
printf 'Fashion-MNIST test MSE: %s   PSNR: %s dB   (quick mode: %s)\n' "$mse" "$psnr" \
  "1,000 training images, 1 epoch; the paper's 0.0064 needs the full run"
