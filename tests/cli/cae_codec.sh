#!/usr/bin/env bash
# cae-codec end to end (ctest cli.cae_codec):
#   tests/cli/cae_codec.sh CAE_CODEC MAKE_TEST_FILES WORK_DIR PHOTOS_DIR
# Small models and images are made at test time (make_codec_test_files), so it
# runs anywhere. Round trips: export, encode, decode, eval, info on the test
# photographs, a greyscale PNG, an odd-sized BMP and a small JPEG, bit-exact across thread counts; failures: truncated and corrupted
# .cae files, the wrong model, missing files, folders given as files, bad
# command lines. Every failure must exit non-zero with one line on stderr
# that names the file.
set -uo pipefail
codec=$1
make_files=$2
work=$3
photos=$4

rm -rf "$work"
mkdir -p "$work"
failures=0
checks=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# ok DESCRIPTION COMMAND...: the command must succeed.
ok() {
  local what=$1
  shift
  checks=$((checks + 1))
  if ! "$@" >"$work/out.txt" 2>"$work/err.txt"; then
    fail "$what: '$*' exited $?: $(cat "$work/err.txt")"
    return 1
  fi
}

# fails DESCRIPTION STATUS 'TEXT1|TEXT2|...' COMMAND...: the command must exit
# with STATUS, print exactly one line on stderr, and that line must hold
# every TEXT.
fails() {
  local what=$1 status=$2 wanted=$3
  shift 3
  checks=$((checks + 1))
  "$@" >"$work/out.txt" 2>"$work/err.txt"
  local rc=$?
  local lines
  lines=$(wc -l <"$work/err.txt")
  if [[ $rc -ne $status ]]; then
    fail "$what: exit status $rc, expected $status ('$*'); stderr: $(cat "$work/err.txt")"
    return
  fi
  if [[ $lines -ne 1 ]]; then
    fail "$what: $lines lines on stderr, expected one: $(cat "$work/err.txt")"
    return
  fi
  local IFS='|'
  for text in $wanted; do
    if ! grep -qF -- "$text" "$work/err.txt"; then
      fail "$what: stderr does not mention '$text': $(cat "$work/err.txt")"
    fi
  done
}

# contains DESCRIPTION FILE TEXT: FILE holds TEXT.
contains() {
  checks=$((checks + 1))
  grep -qF -- "$3" "$2" || fail "$1: '$3' not in $2: $(head -c 2000 "$2")"
}

# The width and height stored in a PNG's IHDR.
png_size() {
  local w h
  w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
  h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
  echo "${w}x${h}"
}
# The PNG colour type: 0 grey, 2 RGB.
png_colour() { od -An -tu1 -j25 -N1 "$1" | tr -d ' '; }

"$make_files" "$work" || { echo "FAIL: make_codec_test_files" >&2; exit 1; }
models=$work/models
other=$work/other
mkdir -p "$models" "$other" "$work/out"

# ---- export and info ------------------------------------------------------------
ok "info on a training output" "$codec" info "$work/model_a.safetensors"
contains "a training output computes its tables" "$work/out.txt" "computed at load"
ok "export float16" "$codec" export "$work/model_a.safetensors" "$models/q3.safetensors" --quality 3 \
  --float16 --info "command=train_codec --quick" --info commit=abc1234 --info trained_minutes=0.5
contains "export reports float16" "$work/out.txt" "float16"
ok "export float32" "$codec" export "$work/model_b.safetensors" "$other/q3.safetensors" --quality 3
ok "info on the exported model" "$codec" info "$models/q3.safetensors"
contains "stored tables" "$work/out.txt" "stored in the file"
contains "F16 weights" "$work/out.txt" "weights_dtype F16"
contains "training info kept" "$work/out.txt" "commit       abc1234"
contains "training command kept" "$work/out.txt" "command      train_codec --quick"
contains "lambda kept from the training output" "$work/out.txt" "lambda       0.0067"
f16=$(stat -c %s "$models/q3.safetensors")
f32=$(stat -c %s "$other/q3.safetensors")
checks=$((checks + 1))
((f16 < f32 * 2 / 3)) || fail "the float16 model ($f16 bytes) is not much smaller than the float32 one ($f32)"
fails "export: reserved metadata key" 1 "quality" "$codec" export "$work/model_a.safetensors" "$work/x.safetensors" \
  --quality 3 --info quality=5
fails "export: another quality than trained" 1 "model_a.safetensors|quality 3" \
  "$codec" export "$work/model_a.safetensors" "$work/x.safetensors" --quality 4
fails "export needs --quality" 2 "--quality" "$codec" export "$work/model_a.safetensors" "$work/x.safetensors"

# ---- round trips ----------------------------------------------------------------
for img in "$photos"/*.png "$work"/images/*; do
  name=$(basename "$img")
  ok "encode $name" "$codec" encode "$img" "$work/out/$name.cae" --quality 3 --models-dir "$models" || continue
  ok "decode $name" "$codec" decode "$work/out/$name.cae" "$work/out/$name.png" --models-dir "$models" || continue
  ok "info $name.cae" "$codec" info "$work/out/$name.cae"
  contains "info names the quality" "$work/out.txt" "quality    3"
done
checks=$((checks + 1))
[[ $(png_size "$work/out/grey_37x53.png.png") == 37x53 && $(png_colour "$work/out/grey_37x53.png.png") == 0 ]] ||
  fail "the grey PNG did not decode to a 37x53 grey PNG"
checks=$((checks + 1))
[[ $(png_size "$work/out/rgb_201x171.bmp.png") == 201x171 && $(png_colour "$work/out/rgb_201x171.bmp.png") == 2 ]] ||
  fail "the odd-sized BMP did not decode to a 201x171 RGB PNG"
checks=$((checks + 1))
[[ $(png_size "$work/out/rgb_33x21.jpg.png") == 33x21 ]] || fail "the 33x21 JPEG did not decode to 33x21"

# The same bytes and pixels at 1 and 2 threads.
photo=$(ls "$photos"/*.png | head -n 1)
ok "encode at 1 thread" "$codec" encode "$photo" "$work/t1.cae" --quality 3 --models-dir "$models" --threads 1
ok "encode at 2 threads" "$codec" encode "$photo" "$work/t2.cae" --quality 3 --models-dir "$models" --threads 2
checks=$((checks + 1))
cmp -s "$work/t1.cae" "$work/t2.cae" || fail "encoding at 1 and 2 threads gave different files"
ok "decode at 2 threads" "$codec" decode "$work/t1.cae" "$work/d2.png" --model "$models/q3.safetensors" --threads 2
ok "decode at 1 thread" "$codec" decode "$work/t2.cae" "$work/d1.png" --model "$models/q3.safetensors" --threads 1
checks=$((checks + 1))
cmp -s "$work/d1.png" "$work/d2.png" || fail "decoding at 1 and 2 threads gave different images"

# The models folder found from the environment.
checks=$((checks + 1))
CAE_CODEC_MODELS=$models "$codec" encode "$photo" "$work/env.cae" --quality 3 >/dev/null 2>"$work/err.txt" &&
  cmp -s "$work/env.cae" "$work/t1.cae" || fail "CAE_CODEC_MODELS: $(cat "$work/err.txt")"

# ---- eval -----------------------------------------------------------------------
ok "eval on the photographs" "$codec" eval "$photos" --quality 3 --models-dir "$models" --json "$work/eval.json"
contains "eval prints a mean row" "$work/out.txt" "| mean of 2 |"
contains "eval json: every image bit-exact" "$work/eval.json" '"all_bit_exact": true'
contains "eval json: bpp" "$work/eval.json" '"bpp":'
ok "eval on odd sizes at 2 threads" "$codec" eval "$work/images" --model "$models/q3.safetensors" --threads 2 \
  --json "$work/eval2.json" --keep "$work/kept"
checks=$((checks + 1))
grep -qE '"ms_ssim": [0-9]' "$work/eval2.json" || fail "eval json: no MS-SSIM for the 201x171 image"
contains "eval json: no MS-SSIM below 161 pixels" "$work/eval2.json" '"ms_ssim": null'
checks=$((checks + 1))
[[ -f $work/kept/grey_37x53.cae && -f $work/kept/grey_37x53.decoded.png ]] || fail "eval --keep wrote no files"
checks=$((checks + 1))
python_free_bpp=$(awk -v b="$(stat -c %s "$work/kept/rgb_201x171.cae")" 'BEGIN { printf "%.4f", 8 * b / (201 * 171) }')
grep -F "| rgb_201x171.bmp |" "$work/out.txt" | grep -qF "| $python_free_bpp |" ||
  fail "eval's bpp of rgb_201x171.bmp is not 8 x its .cae file's bytes / pixels ($python_free_bpp): $(cat "$work/out.txt")"

# ---- failures -------------------------------------------------------------------
cae=$work/out/$(basename "$photo").cae
size=$(stat -c %s "$cae")
head -c $((size - 5)) "$cae" >"$work/truncated.cae"
fails "truncated .cae" 1 "truncated.cae|truncated" "$codec" decode "$work/truncated.cae" "$work/x.png" --models-dir "$models"
cp "$cae" "$work/flipped.cae"
offset=$((size / 2))
byte=$(od -An -tu1 -j$offset -N1 "$cae" | tr -d ' ')
printf "$(printf '\\%03o' $((byte ^ 16)))" | dd of="$work/flipped.cae" bs=1 seek=$offset conv=notrunc status=none
checks=$((checks + 1))
cmp -s "$cae" "$work/flipped.cae" && fail "the byte was not flipped"
fails "flipped byte" 1 "flipped.cae|checksum" "$codec" decode "$work/flipped.cae" "$work/x.png" --models-dir "$models"
fails "wrong model given" 1 "$(basename "$cae")|$other/q3.safetensors" \
  "$codec" decode "$cae" "$work/x.png" --model "$other/q3.safetensors"
fails "wrong model in the folder" 1 "$(basename "$cae")|$other/q3.safetensors|another model" \
  "$codec" decode "$cae" "$work/x.png" --models-dir "$other"
fails "no model of that quality" 1 "quality 5|$models" "$codec" encode "$photo" "$work/x.cae" --quality 5 --models-dir "$models"
fails "missing input" 1 "$work/missing.png|cannot open" "$codec" encode "$work/missing.png" "$work/x.cae" --quality 3 --models-dir "$models"
fails "missing .cae" 1 "$work/missing.cae" "$codec" decode "$work/missing.cae" "$work/x.png" --models-dir "$models"
fails "missing model" 1 "$work/missing.safetensors" "$codec" encode "$photo" "$work/x.cae" --model "$work/missing.safetensors"
fails "folder as image" 1 "$work/images|directory" "$codec" encode "$work/images" "$work/x.cae" --quality 3 --models-dir "$models"
fails "folder as .cae" 1 "$work/images|directory" "$codec" decode "$work/images" "$work/x.png" --models-dir "$models"
fails "folder as model" 1 "$work/images|directory" "$codec" encode "$photo" "$work/x.cae" --model "$work/images"
fails "folder as info file" 1 "$work/images|directory" "$codec" info "$work/images"
fails "file as eval folder" 1 "$photo|not a folder" "$codec" eval "$photo" --quality 3 --models-dir "$models"
fails "a PNG as .cae" 1 "$photo" "$codec" decode "$photo" "$work/x.png" --models-dir "$models"
head -c 3000 "$models/q3.safetensors" >"$work/cut.safetensors"
fails "truncated model file" 1 "$work/cut.safetensors" "$codec" encode "$photo" "$work/x.cae" --model "$work/cut.safetensors"
fails "a .cae as model" 1 "$cae" "$codec" encode "$photo" "$work/x.cae" --model "$cae"
fails "decode to a non-PNG name" 2 "x.jpg|.png" "$codec" decode "$cae" "$work/x.jpg" --models-dir "$models"
fails "unknown command" 2 "squash" "$codec" squash "$photo"
fails "unknown option" 2 "--qualty" "$codec" encode "$photo" "$work/x.cae" --qualty 3
fails "missing argument" 2 "encode takes 2 arguments" "$codec" encode "$photo" --quality 3
fails "bad thread count" 2 "--threads" "$codec" info "$cae" --threads zero
fails "--quality and --model" 2 "not both" "$codec" encode "$photo" "$work/x.cae" --quality 3 --model "$models/q3.safetensors"
checks=$((checks + 1))
[[ ! -e $work/x.png && ! -e $work/x.cae && ! -e $work/x.safetensors ]] || fail "a failed command left an output file"
checks=$((checks + 1))
"$codec" --help | grep -qF "encode IN OUT.cae" || fail "--help prints no usage"

echo "cae_codec.sh: $checks checks, $failures failed"
((failures == 0))
