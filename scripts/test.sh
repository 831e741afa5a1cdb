#!/usr/bin/env bash
# Builds cae's tests, examples and benchmarks and runs the test suite, then
# builds a downstream project against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
jobs=$(nproc)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/$build/install" >/dev/null
cmake --build "$build" -j "$jobs"
(cd "$build" && ctest --output-on-failure -j "$jobs")

# Downstream use: install, then build and run a project that only knows find_package(cae).
cmake --install "$build" >/dev/null
cmake -S tests/downstream -B "$build/downstream" -DCMAKE_PREFIX_PATH="$PWD/$build/install" >/dev/null
cmake --build "$build/downstream" -j "$jobs"
"$build/downstream/downstream_demo"
