#!/usr/bin/env bash
# CI's sanitizer and fuzzing step (issue #16), run by .ci/run after scripts/test.sh:
#   1. the unit tests built with AddressSanitizer + UndefinedBehaviorSanitizer
#      (-DCAE_SANITIZE=address,undefined, a separate build dir, tests only: no
#      examples, no benchmarks) and run; any report fails the step;
#   2. every fuzz/fuzz_*.cpp target built (clang, libFuzzer + ASan + UBSan)
#      and run for FUZZ_SECONDS (default 60) from its seed corpus; a crash,
#      hang, leak or out-of-memory fails the step, and the report and the
#      failing input (base64) are printed.
# Each part has a wall-clock limit, so a hang fails the step instead of eating
# CI's time: SANITIZE_BUILD_TIMEOUT (default 1800 s) for the build,
# SANITIZE_TEST_TIMEOUT (default 1200 s) for the unit run, and fuzz/run_fuzzers.sh
# limits each target's build and run.
# Tests left out under the sanitizers, by tag (docs/fuzzing.md says why):
#   [real]  whole MNIST/CIFAR data sets (the same code paths run on small files in [data]);
#   [slow]  tests that take minutes under ASan and check arithmetic, not memory handling,
#           which the rest of the suite covers.
#   scripts/ci_sanitize_fuzz.sh    (SANITIZE_BUILD_DIR, FUZZ_SECONDS, FUZZ_DIR, SANITIZE_TESTS override)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SANITIZE_BUILD_DIR:-build-sanitize}
seconds=${FUZZ_SECONDS:-60}
tests=${SANITIZE_TESTS:-~[real]~[slow]}
jobs=$(nproc)
start=$(date +%s)
stamp() { echo "ci_sanitize_fuzz: $1 after $(($(date +%s) - start)) s"; }

# -O1 keeps the build and the sanitized run fast enough for CI; frame pointers
# and -g give whole stacks in reports.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCAE_SANITIZE=address,undefined -DCAE_BUILD_TESTS=ON -DCAE_BUILD_EXAMPLES=OFF -DCAE_BUILD_BENCHMARKS=OFF >/dev/null
timeout "${SANITIZE_BUILD_TIMEOUT:-1800}" cmake --build "$build" --target cae_tests -j "$jobs"
stamp "sanitizer build done"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# --min-duration: the CI log names the tests that take 5 s or more under the sanitizers.
rc=0
timeout -k 30 "${SANITIZE_TEST_TIMEOUT:-1200}" "$build/tests/cae_tests" "$tests" --min-duration 5 || rc=$?
if ((rc != 0)); then
  if ((rc == 124 || rc == 137)); then stamp "sanitized unit tests still running after ${SANITIZE_TEST_TIMEOUT:-1200} s, killed"; fi
  stamp "sanitized unit tests FAILED (exit status $rc)"
  exit 1
fi
stamp "sanitized unit tests passed"

FUZZ_DIR=${FUZZ_DIR:-$build/fuzz} fuzz/run_fuzzers.sh "$seconds"
stamp "every fuzz target ran ${seconds} s without a finding"
