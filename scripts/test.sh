#!/usr/bin/env bash
# The test command: installs dependencies if missing, builds the tests,
# examples and benchmarks, builds a downstream project against the installed
# package, and runs the whole test suite (unit tests, PyTorch parity,
# examples' --quick modes, benchmark smoke runs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Spinning OpenMP threads collapse when two test programs share the 2 cores.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
build=${BUILD_DIR:-build}
jobs=$(nproc)

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$PWD/$build/install" >/dev/null
cmake --build "$build" -j "$jobs"

# Downstream use: install, then build and run a project that only knows find_package(cae).
cmake --install "$build" >/dev/null
cmake -S tests/downstream -B "$build/downstream" -DCMAKE_PREFIX_PATH="$PWD/$build/install" >/dev/null
cmake --build "$build/downstream" -j "$jobs"
"$build/downstream/downstream_demo"

cd "$build"
ctest --output-on-failure -j "$jobs"
