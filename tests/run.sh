#!/usr/bin/env bash
# Installs dependencies, builds once, runs the test suite.
#   tests/run.sh          the quick tier (what CI runs on every submission)
#   tests/run.sh --long   the quick tier, then the long tier (soak, crash
#                         loops, fuzzing, many-node tests) as they are added
set -euo pipefail
cd "$(dirname "$0")/.."

long=0
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "tests/run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

bash deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$(nproc)"
ctest --test-dir build -j"$(nproc)" --output-on-failure -LE long

if [ "$long" -eq 1 ]; then
  if ctest --test-dir build -N -L long | grep -q "Total Tests: 0"; then
    echo "tests/run.sh: the long tier has no tests yet"
  else
    ctest --test-dir build -j1 --output-on-failure -L long
  fi
fi
