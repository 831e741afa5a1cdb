#!/usr/bin/env bash
# Developer shortcut: compiles and runs only the given test files (plus Catch2's
# main, compiled once), without the full CMake build.
#   scripts/quicktest.sh tests/test_conv.cpp [-- catch2 args]
set -euo pipefail
cd "$(dirname "$0")/.."
files=()
while (($#)) && [[ "$1" != "--" ]]; do files+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
cache=${TMPDIR:-/tmp}/cae-quicktest
mkdir -p "$cache"
flags=(-std=c++20 -O2 -march=native -fopenmp -Wno-maybe-uninitialized -Wno-uninitialized -DEIGEN_DONT_PARALLELIZE
       -DCAE_FIXTURE_DIR="\"$PWD/tests/fixtures\"" -Iinclude -Itests -isystem /usr/include/eigen3 -isystem /usr/include/stb)
if [[ ! -f "$cache/main.o" ]]; then
  g++ "${flags[@]}" -c tests/main.cpp -o "$cache/main.o.$$" && mv "$cache/main.o.$$" "$cache/main.o"
fi
name=$(basename "${files[0]}" .cpp)-$$
g++ "${flags[@]}" -Wall -Wextra "$cache/main.o" "${files[@]}" -lz -o "$cache/$name"
"$cache/$name" "$@"
rm -f "$cache/$name"
