#!/usr/bin/env bash
# CI's sanitizer and fuzzing step (issue #16), run by .ci/run after scripts/test.sh:
#   1. the unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (-DCAE_SANITIZE=address,undefined, a separate build dir, tests only: no
#      examples, no benchmarks) and run; any report fails the step;
#   2. every fuzz/fuzz_*.cpp target built (clang, libFuzzer + ASan + UBSan)
#      and run for FUZZ_SECONDS (default 60) from its seed corpus.
# Tests excluded under the sanitizers, by tag: [real] (whole MNIST/CIFAR data
# sets, minutes under ASan; the same code paths run on small files in [data]).
#   scripts/ci_sanitize_fuzz.sh            (SANITIZE_BUILD_DIR, FUZZ_SECONDS, FUZZ_DIR override)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SANITIZE_BUILD_DIR:-build-sanitize}
seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)
start=$(date +%s)
stamp() { echo "ci_sanitize_fuzz: $1 after $(($(date +%s) - start)) s"; }

# -O1 keeps the build and the sanitized run fast enough for CI; frame pointers
# and -g give whole stacks in reports.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCAE_SANITIZE=address,undefined -DCAE_BUILD_TESTS=ON -DCAE_BUILD_EXAMPLES=OFF -DCAE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target cae_tests -j "$jobs"
stamp "sanitizer build done"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
"$build/tests/cae_tests" "~[real]"
stamp "sanitized unit tests passed"

FUZZ_DIR=${FUZZ_DIR:-$build/fuzz} fuzz/run_fuzzers.sh "$seconds"
stamp "every fuzz target ran ${seconds} s without a crash"
