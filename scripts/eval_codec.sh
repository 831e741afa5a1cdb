#!/usr/bin/env bash
# The measurements of docs/codec.md, re-made and recorded in one command:
#
#   scripts/eval_codec.sh [--photos data/photos] [--models models/codec] [--record docs/codec/runs]
#
# 1. rate-distortion: examples/codec_rd on the held-out photographs (PHOTOS/eval)
#    with every released model, JPEG and WebP; the record (results.json, log,
#    command, commit, machine, wall time) goes to RECORD/rd via
#    scripts/record_run.sh, the figures to docs/img/codec/;
# 2. speed: benchmarks/codec_compare.sh (peak FLOP/s, cae, JPEG, PyTorch) with
#    the quality-3 model on Storm.png (768x512) at 1 and 2 threads; its table
#    and JSON lines go to RECORD/speed.
# Run it on a quiet machine (no training beside it): step 2 is a benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
photos=data/photos models=models/codec record=docs/codec/runs
while (($#)); do
  case "$1" in
    --photos) photos=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --record) record=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -d $photos/eval ]] || { echo "eval_codec: $photos/eval missing (run /usr/bin/python3 scripts/get_photos.py)" >&2; exit 2; }
cmake --build build --target codec_rd codec_bench peak_flops >/dev/null

scripts/record_run.sh "$record/rd" build/runs/codec_rd codec_rd --images "$photos/eval" --models "$models"
mkdir -p docs/img/codec
cp build/runs/codec_rd/{rd_psnr.png,rd_msssim.png,side_by_side.png} docs/img/codec/
cp build/runs/codec_rd/tables.md "$record/rd/tables.md"

mkdir -p "$record/speed"
benchmarks/codec_compare.sh --model "$models/q3.safetensors" --image "$photos/eval/Storm.png" \
  --out build/runs/codec_speed
cp build/runs/codec_speed/{table.md,cae.jsonl,torch.jsonl,peak.jsonl,machine.txt} "$record/speed/"
echo "eval_codec: records in $record/{rd,speed}, figures in docs/img/codec"
