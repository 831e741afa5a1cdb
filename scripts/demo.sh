#!/usr/bin/env bash
# The main demo: paper 002's 20-layer convolutional autoencoder compressing
# Fashion-MNIST 28x28 images to a 7x7 code (784 -> 49 values) and back, trained
# for about 2 minutes on 2 idle cores (measured: 30,000 image passes at
# 62-75 images/s on a heavily shared 2-core machine took 444 s; the full run
# measured 243-274 images/s at batch 32 on the same machine alone: an estimate,
# not a measurement, of 2-3 minutes when the machine is idle).
# It prints the test MSE / PSNR / SSIM beside two trivial baselines (the mean
# image, and each image averaged down to 7x7 and scaled back up) and ends with
# the reconstruction figure. On a fresh Debian/Ubuntu machine:
#
#   scripts/demo.sh [OUT_DIR]          (default OUT_DIR: build/demo)
#
# Reduced against the paper (its protocol: all 60,000 images, 20 epochs,
# batch 32; docs/reproductions/compression.md): 15,000 training images,
# 2 epochs, batch 16, 1,000 test images, no experiment 3. Why these: with
# 1,000 images and 1 epoch at batch 32 (31 Adam updates) the network had not
# left the mean image (test MSE 0.087, the data's per-pixel variance): the
# narrow 1-channel code needs more updates, not another learning rate or
# init. 1,875 updates of batch 16 give test MSE 0.016 (mean image 0.087,
# 7x7 average upsampled 0.030), garments plainly recognisable.
#
# 1. scripts/setup.sh installs the compiler, CMake, Eigen, ... and Fashion-MNIST
#    (Debian's dataset-fashion-mnist package, in /usr/share/datasets/fashion-mnist);
#    where that package is unavailable, scripts/download_data.sh fetches the data.
# 2. CMake configures build/ and builds only the example program.
# 3. The program trains and evaluates, and writes its figures and results.json.
# 4. The script prints the numbers beside the baselines and the figure's path.
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

settings=(--dataset fashion --train-images 15000 --epochs 2 --batch 16 --test-images 1000 --val-images 200
          --denoise-epochs 0)
echo "== 3/4 train and evaluate ($example ${settings[*]})"
mkdir -p "$out"
log="$out/demo.log"
# Passive OpenMP waits keep the threads from spinning when the machine is busy.
OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} \
  "build/examples/$example" "${settings[@]}" "${data_args[@]}" --out "$out" | tee "$log"

# Numbers from results.json (written by the program), e.g. "fashion_test_mse": 0.0873.
value() { sed -n "s/.*\"$1\": *\([-0-9.eE+]*\).*/\1/p" "$out/results.json" | head -n 1; }
mse=$(value fashion_test_mse)
psnr=$(value fashion_test_psnr)
figure="$out/fashion_reconstructions.png"
[[ -f $figure && -n $mse && -n $psnr ]] || { echo "demo: the run did not produce $figure and results.json" >&2; exit 1; }

echo "== 4/4 result (Fashion-MNIST, the first 1,000 test images)"
base() { value "fashion_baseline_$1_$2"; }
printf '%-40s %9s %10s %8s\n' "" "MSE" "PSNR" "SSIM"
printf '%-40s %9s %7s dB %8s\n' "this autoencoder (49-value 7x7 code)" "$mse" "$psnr" "$(value fashion_test_ssim)"
printf '%-40s %9s %7s dB %8s\n' "baseline: the mean image" "$(base mean_image mse)" "$(base mean_image psnr)" "$(base mean_image ssim)"
printf '%-40s %9s %7s dB %8s\n' "baseline: 7x7 average, upsampled" "$(base downsampled mse)" "$(base downsampled psnr)" "$(base downsampled ssim)"
sed -n 's/.*"reduced_against_paper": *"\([^"]*\)".*/\1 (the paper reaches 0.0064 training MSE after 20 epochs on all images)/p' "$out/results.json"
echo "denoising figure: none (experiment 3 is skipped in the demo)"
echo "reconstruction figure: $figure (rows: originals, 7x7 codes, reconstructions)"
