#!/usr/bin/env bash
# Seed inputs for fuzz_image_folder, in its tree language (see the target):
# a class with a PNG and a symlink loop ("loop" -> "."), and two classes with
# a BMP, a FIFO, a dangling link and a link from one class into the other.
# Usage: fuzz_image_folder.seeds.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
# channels 3 | mkdir root/cat | file cat/a.png (tiny PNG) | symlink cat/loop -> .
printf '\x03\x00\x00\x02cat\x05\x02\x01\x00a\x00\x00\x04\x01\x03loop\x05\x00' >"$dir/loop.bin"
# channels 0 | mkdir cat | mkdir dog | file cat/b.bmp | fifo dog/f.png | symlink dog/x.jpg -> missing
# | symlink dog/c -> cat | file dog/r.png (3 raw bytes)
printf '\x00\x00\x00\x02cat\x05\x00\x00\x02dog\x05\x02\x01\x00b\x03\x01\x03\x02\x00f\x00\x04\x02\x00x\x01\x02\x04\x02\x00c\x05\x0b\x02\x02\x00r\x00\x02\x03abc' >"$dir/mixed.bin"
