#!/usr/bin/env bash
# Downloads the data sets cae's examples and tests use, in their official
# formats, and verifies them:
#   DIR/mnist/               MNIST, the four IDX .gz files
#   DIR/fashion-mnist/       Fashion-MNIST, the four IDX .gz files
#   DIR/kannada-mnist/       Kannada-MNIST test split, X_/y_kannada_MNIST_test-idx*-ubyte.gz
#   DIR/cifar-10-batches-bin/ CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin)
#
#   scripts/download_data.sh [DIR] [mnist] [fashion-mnist] [kannada-mnist] [cifar10]
#
# DIR defaults to ./data; with no names, all four are fetched. Files already
# present and correct are kept. Afterwards point cae at DIR with --data DIR or
# CAE_DATA=DIR. IDX files are checked by the MD5 of their decompressed content
# (mirrors recompress them, so the .gz bytes may differ) and size; the CIFAR-10
# archive by its published MD5.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  usage
  exit 0
fi
dir=${1:-data}
if (($#)); then shift; fi
sets=("$@")
if ((${#sets[@]} == 0)); then sets=(mnist fashion-mnist kannada-mnist cifar10); fi

die() {
  echo "download_data: $*" >&2
  exit 1
}

# fetch OUT URL : downloads URL to OUT (replaced only when the download completes).
fetch() {
  local out=$1 url=$2
  echo "  $url"
  if command -v curl >/dev/null; then
    curl -fsSL --retry 3 --connect-timeout 20 -o "$out.part" "$url" && mv "$out.part" "$out" && return 0
  elif command -v wget >/dev/null; then
    wget -q --tries=3 --timeout=20 -O "$out.part" "$url" && mv "$out.part" "$out" && return 0
  else
    die "neither curl nor wget is installed"
  fi
  rm -f "$out.part"
  return 1
}

# gz_ok FILE SIZE MD5 : the decompressed FILE has SIZE bytes and, if MD5 is
# not "-", that MD5.
gz_ok() {
  local file=$1 size=$2 md5=$3 got_size got_md5
  [[ -f "$file" ]] || return 1
  got_size=$(gzip -dc "$file" 2>/dev/null | wc -c) || return 1
  [[ "$got_size" -eq "$size" ]] || return 1
  [[ "$md5" == "-" ]] && return 0
  got_md5=$(gzip -dc "$file" | md5sum | cut -d' ' -f1)
  [[ "$got_md5" == "$md5" ]]
}

# idx_file SUBDIR NAME SIZE MD5 MIRROR... : one verified IDX .gz file, from
# the first mirror that serves the right content.
idx_file() {
  local sub=$1 name=$2 size=$3 md5=$4 base
  shift 4
  mkdir -p "$dir/$sub"
  local file=$dir/$sub/$name
  if gz_ok "$file" "$size" "$md5"; then
    echo "$file: present and verified"
    return 0
  fi
  echo "$file:"
  for base in "$@"; do
    if fetch "$file" "$base/$name"; then
      if gz_ok "$file" "$size" "$md5"; then
        echo "$file: verified"
        return 0
      fi
      echo "  not the expected ${size}-byte file (decompressed MD5 ${md5}); trying the next mirror" >&2
      rm -f "$file"
    fi
  done
  die "$file: no mirror served a correct copy"
}

mnist() {
  local m=(https://ossci-datasets.s3.amazonaws.com/mnist https://storage.googleapis.com/cvdf-datasets/mnist
           https://yann.lecun.com/exdb/mnist)
  idx_file mnist train-images-idx3-ubyte.gz 47040016 6bbc9ace898e44ae57da46a324031adb "${m[@]}"
  idx_file mnist train-labels-idx1-ubyte.gz 60008 a25bea736e30d166cdddb491f175f624 "${m[@]}"
  idx_file mnist t10k-images-idx3-ubyte.gz 7840016 2646ac647ad5339dbf082846283269ea "${m[@]}"
  idx_file mnist t10k-labels-idx1-ubyte.gz 10008 27ae3e4e09519cfbb04c329615203637 "${m[@]}"
}

fashion_mnist() {
  local m=(http://fashion-mnist.s3-website.eu-central-1.amazonaws.com
           https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion)
  idx_file fashion-mnist train-images-idx3-ubyte.gz 47040016 f4a8712d7a061bf5bd6d2ca38dc4d50a "${m[@]}"
  idx_file fashion-mnist train-labels-idx1-ubyte.gz 60008 9018921c3c673c538a1fc5bad174d6f9 "${m[@]}"
  idx_file fashion-mnist t10k-images-idx3-ubyte.gz 7840016 8181f5470baa50b63fa0f6fddb340f0a "${m[@]}"
  idx_file fashion-mnist t10k-labels-idx1-ubyte.gz 10008 15d484375f8d13e6eb1aabb0c3f46965 "${m[@]}"
}

kannada_mnist() {
  # The author's repository; only sizes are checked (no published checksums).
  local m=(https://github.com/vinayprabhu/Kannada_MNIST/raw/07904d4e56fb3af46310e9a3eec3ddc8ba976fa4/data/output_tensors/MNIST_format
           https://github.com/vinayprabhu/Kannada_MNIST/raw/master/data/output_tensors/MNIST_format)
  idx_file kannada-mnist X_kannada_MNIST_test-idx3-ubyte.gz 7840016 - "${m[@]}"
  idx_file kannada-mnist y_kannada_MNIST_test-idx1-ubyte.gz 10008 - "${m[@]}"
}

cifar10() {
  local archive=$dir/cifar-10-binary.tar.gz bin=$dir/cifar-10-batches-bin f ok=1
  local md5=c32a1d4ab5d03f1284b67883e8d87530
  for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    [[ -f "$bin/$f.bin" && $(wc -c <"$bin/$f.bin") -eq 30730000 ]] || ok=0
  done
  if ((ok)); then
    echo "$bin: present"
    return 0
  fi
  mkdir -p "$dir"
  if [[ ! -f "$archive" || $(md5sum "$archive" | cut -d' ' -f1) != "$md5" ]]; then
    echo "$archive:"
    fetch "$archive" https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz ||
      die "$archive: download failed"
  fi
  [[ $(md5sum "$archive" | cut -d' ' -f1) == "$md5" ]] ||
    die "$archive: MD5 is not the published $md5 (corrupt or incomplete download; delete it and retry)"
  tar -xzf "$archive" -C "$dir"
  for f in data_batch_1 data_batch_2 data_batch_3 data_batch_4 data_batch_5 test_batch; do
    [[ $(wc -c <"$bin/$f.bin") -eq 30730000 ]] || die "$bin/$f.bin: wrong size after unpacking"
  done
  rm -f "$archive"
  echo "$bin: verified"
}

for s in "${sets[@]}"; do
  case "$s" in
    mnist) mnist ;;
    fashion-mnist) fashion_mnist ;;
    kannada-mnist) kannada_mnist ;;
    cifar10) cifar10 ;;
    *) die "unknown data set '$s' (known: mnist fashion-mnist kannada-mnist cifar10)" ;;
  esac
done
echo "download_data: done; use --data $dir or export CAE_DATA=$(cd "$dir" && pwd)"
