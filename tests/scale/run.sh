#!/usr/bin/env bash
# The many-node test: 200 real rogatoryd processes on loopback ports, all
# trusting one signed directory; every node sends a message to 5 random
# others and posts to a case of 30 members; checks that every message
# arrives exactly once, that every case converges on all its members, and
# that no node accuses another of equivocation; prints wall time, peak
# total memory and memory per node (docs/performance.md, "Many nodes").
#
#   tests/scale/run.sh [--build DIR] [rogatory-scale flags]
#       --nodes N (200)  --sends K (5)  --members M (30)  --seed S  --timeout SECONDS (600)
#
# CI runs it at 50 nodes (tests/run.sh, ctest scale.50_nodes, label `scale`)
# after the quick tier, on its own: it needs the whole machine; the 200-node
# run (about 8 minutes on 2 cores) is in the long tier (tests/run.sh --long,
# ctest scale.200_nodes_long). It builds build/ first if the tool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build
if [ "${1:-}" = "--build" ]; then
  build="$2"
  shift 2
fi
if [ ! -x "$build/tests/rogatory-scale" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$build" -j"$(nproc)" --target rogatory-scale
fi
# Each node holds a few dozen descriptors; the test process spawns them all.
ulimit -n 65536 2>/dev/null || true
exec "$build/tests/rogatory-scale" "$@"
