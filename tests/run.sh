#!/usr/bin/env bash
# Installs dependencies, builds, runs the test suite.
#   tests/run.sh             the quick tier in build/, the many-node test at
#                            50 nodes (tests/scale/run.sh), then the same quick tier
#                            under AddressSanitizer + UndefinedBehaviorSanitizer
#                            in build-asan/ (what CI runs on every submission)
#   tests/run.sh --long      all of the above, then the long tier (soak, crash
#                            loops, power loss, the 200-node test) in build/,
#                            then every fuzzer for FUZZ_SECONDS (default 60)
#                            with clang (tests/fuzz/run.sh)
#   tests/run.sh --sanitize  only the sanitizer tier, in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
sanitize_only=0
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    --sanitize) sanitize_only=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "tests/run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [ "$long" -eq 1 ] && [ "$sanitize_only" -eq 1 ]; then
  echo "tests/run.sh: --long and --sanitize do not go together (try --help)" >&2
  exit 2
fi

# The quick tier again, every target built with -DROGATORY_SANITIZE=ON, so the
# functional tests spawn sanitized rogatory and rogatoryd. Any report fails
# the run, in a test binary, the CLI or a daemon:
# - every report aborts its process (abort_on_error), so a CLI exits 134 and
#   a daemon stops answering;
# - ASan and LeakSanitizer also write each report to $work/reports (log_path);
# - UBSan ignores log_path and writes to stderr, which for a daemon is its log
#   in the test's home: homes are kept (ROGATORY_KEEP_TMP) under $work/tmp and
#   every log is scanned after the run.
# Both are printed, so a report no test noticed still fails the tier.
# LeakSanitizer is on: a daemon stopped with SIGTERM, the CLI and the test
# binaries are checked at exit (no suppressions are needed today).
sanitize_tier() {
  local asan="abort_on_error=1:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:strict_string_checks=1"
  local ubsan="abort_on_error=1:halt_on_error=1:print_stacktrace=1"
  # -O1 -g1: the usual sanitizer build (line numbers in every report, asserts
  # on), and it compiles in much less time than -O2 -g on CI's two cores.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DROGATORY_SANITIZE=ON -DROGATORY_BUILD_BENCH=OFF
  cmake --build build-asan -j"$(nproc)"

  local work rc=0 found
  work=$(mktemp -d "${TMPDIR:-/tmp}/rogatory-asan-XXXXXX")
  mkdir "$work/reports" "$work/tmp"
  ASAN_OPTIONS="$asan:log_path=$work/reports/asan" UBSAN_OPTIONS="$ubsan" \
    TMPDIR="$work/tmp" ROGATORY_KEEP_TMP=1 \
    ctest --test-dir build-asan -j"$(nproc)" --output-on-failure -LE 'long|scale' || rc=$?
  report_skips build-asan
  # A test binary that aborted on a report leaves its daemons running.
  pkill -KILL -f -- "rogatoryd --home $work/tmp/" || true

  found=$( { find "$work/reports" -type f
             grep -rlE --include='*.log' 'runtime error:|ERROR: (Address|Leak)Sanitizer' \
               "$work/tmp" || true; } | sort)
  if [ -n "$found" ]; then
    while IFS= read -r f; do
      echo "==== $f" >&2
      cat "$f" >&2
    done <<< "$found"
    echo "tests/run.sh: sanitizer reports (above); test homes kept in $work/tmp" >&2
    return 1
  fi
  rm -rf "$work"
  if [ "$rc" -ne 0 ]; then
    echo "tests/run.sh: the sanitizer tier failed (no sanitizer report)" >&2
  fi
  return "$rc"
}

# Tests that could not run on this machine (no permission to mount a tmpfs
# or create network namespaces, no systemd-analyze) are skipped, never
# counted as passed: say which, and why, from ctest's log.
report_skips() {
  local log="$1/Testing/Temporary/LastTest.log"
  [ -f "$log" ] || return 0
  local why
  why=$( { grep -hA1 -E ": Skipped$" "$log" | grep -vE ": Skipped$|^--$"
           grep -h "SKIPPED:" "$log"; } || true)
  if [ -n "$why" ]; then
    echo "tests/run.sh: skipped on this machine (not counted as passed):"
    sed 's/^/  /' <<< "$why"
  fi
}

bash deploy/install-deps.sh

if [ "$sanitize_only" -eq 1 ]; then
  sanitize_tier
  exit
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
ctest --test-dir build -j"$(nproc)" --output-on-failure -LE 'long|scale'
report_skips build
# The many-node test at 50 nodes, alone on the machine (tests/scale/run.sh;
# 200 nodes in the long tier).
ctest --test-dir build --output-on-failure -L scale

sanitize_tier

if [ "$long" -eq 1 ]; then
  if ctest --test-dir build -N -L long | grep -q "Total Tests: 0"; then
    echo "tests/run.sh: the long tier has no tests yet"
  else
    ctest --test-dir build -j1 --output-on-failure -L long
  fi
  # Every libFuzzer harness, FUZZ_SECONDS each (default 60), with clang.
  bash deploy/install-deps.sh --fuzz
  bash tests/fuzz/run.sh
fi
