#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (fuzzer + AddressSanitizer +
# UndefinedBehaviorSanitizer, the project's code instrumented too) in
# build-fuzz/, and runs each for FUZZ_SECONDS on a scratch copy of its seed
# corpus: new inputs never land in the repository. Prints per fuzzer the
# executions, the final coverage (cov: edges, ft: features) and crashes.
#
#   tests/fuzz/run.sh [NAME...]        default: every fuzzer
#
# Environment:
#   FUZZ_SECONDS   seconds per fuzzer (default 60)
#   FUZZ_JOBS      fuzzers run at once (default 1)
#   FUZZ_BUILD     build directory (default build-fuzz)
#   FUZZ_WORK      scratch directory for corpora, logs and crash files
#                  (default: a new mktemp -d directory, kept and printed)
#   FUZZ_ARGS      extra libFuzzer flags, e.g. "-max_len=65536 -jobs=4"
#   CXX            compiler (default clang++-14, else clang++)
#
# Exit status: 0 if no fuzzer crashed, 1 otherwise, 2 on a usage error.
# Needs clang and libFuzzer (Debian 12: clang-14 and libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."

all=(frame envelope payload card directory bundle request config control)
names=("$@")
[ ${#names[@]} -eq 0 ] && names=("${all[@]}")
for n in "${names[@]}"; do
  case " ${all[*]} " in
    *" $n "*) ;;
    *) echo "tests/fuzz/run.sh: unknown fuzzer '$n' (known: ${all[*]})" >&2; exit 2 ;;
  esac
done

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
build=${FUZZ_BUILD:-build-fuzz}
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rogatory-fuzz.XXXXXX")}
mkdir -p "$work"

cxx=${CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [ -z "$cxx" ]; then
  echo "tests/fuzz/run.sh: clang not found; install clang-14 and libclang-rt-14-dev" >&2
  exit 1
fi

flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
flags+=" -fno-omit-frame-pointer -gline-tables-only"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" \
  -DROGATORY_FUZZ=ON -DROGATORY_BUILD_BENCH=OFF >"$work/cmake.log" ||
  { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target "${names[@]/#/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local n=$1 dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp tests/fuzz/corpus/"$n"/* "$dir/corpus/" 2>/dev/null || true
  # Reproducers of fixed crashes stay in the repository as regression
  # inputs; the fuzzer starts from everything there.
  local rc=0
  "$build/tests/fuzz/fuzz_$n" "$dir/corpus" -max_total_time="$seconds" \
    -artifact_prefix="$dir/crashes/" -print_final_stats=1 \
    -timeout=25 -rss_limit_mb=4096 ${FUZZ_ARGS:-} >"$dir/log" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
}

running=0
for n in "${names[@]}"; do
  echo "fuzzing $n for ${seconds}s ..."
  run_one "$n" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

status=0
printf '\n%-10s %12s %8s %8s %8s %8s  %s\n' fuzzer execs exec/s cov ft corpus crashes
for n in "${names[@]}"; do
  dir="$work/$n"
  log="$dir/log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(find "$dir/crashes" -type f | wc -l)
  rc=$(cat "$dir/rc")
  if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then status=1; fi
  printf '%-10s %12s %8s %8s %8s %8s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$crashes$([ "$rc" -ne 0 ] && echo " (exit $rc)")"
  for c in "$dir"/crashes/*; do
    [ -e "$c" ] && echo "    $c"
  done
done
echo
echo "logs, scratch corpora and crash inputs: $work"
exit "$status"
