#!/usr/bin/env bash
# Footprint of an idle node and its start-up time (docs/performance.md,
# "Footprint and start-up").
#
# Part A, idle memory and CPU against the roster size. One node home (H0)
# and as many peer homes as the largest --peers value are made with the real
# CLI (`init`, `id export`, `id show --json`); peers are then added to H0
# with `peer add CARD --fingerprint FP` in steps (10, then 90 more, ...), with
# no daemon running. The peers never run: the daemon keeps no connection to
# a peer unless it has something to send (transport.connect_all is off by
# default). After each step, bench/startup.cc (rogatory-startup) starts
# `rogatoryd --home H0` --idle-runs times; each time it waits for READY=1 on
# a NOTIFY_SOCKET of its own, leaves the daemon alone for 2 s, then for
# --idle-s seconds, and reports:
#   CPU      utime+stime of all the daemon's threads over the --idle-s
#            (/proc/PID/stat ticks, and the threads' schedstat run time in
#            ns, finer), as a percentage of one core; voluntary context
#            switches per second (wake-ups)
#   memory   VmRSS, RssAnon, RssFile (/proc/PID/status) and Pss
#            (/proc/PID/smaps_rollup) at the end of the idle period
# Machine busy: how busy all cores were (/proc/stat) over those runs, this
# benchmark included; the machine may be shared, and wall times with it.
# The floor the memory is compared with: the peak RSS of
# `rogatoryd --version` (the same binary and shared libraries, loaded and
# relocated, no work), measured by rogatory-startup in the same runs.
#
# Part B, start-up time against the store size. For each --stores value M
# other than 0, build/bench/rogatory-load --messages M --paced 0 --backlog 0
# --probes 0 --keep runs two real daemons and sends M receipted 1 KiB
# messages from load-a to load-b; the two homes it keeps are copied (and
# synced to disk), then the load directory is removed: the sender's home
# holds M messages in its outbox, 2M audit entries (sent, receipt), the
# receiver's M in its inbox and M audit entries. M = 0 is a fresh `init`
# home. rogatory-startup then starts `rogatoryd` on each home --runs times:
# start-up to ready is CLOCK_MONOTONIC from just before execv to the
# READY=1 datagram (the home has no passphrase: no key derivation is
# timed). Each run also measures two floors: `rogatoryd --version` from
# execv to exit, and opening the same store.db with SQLite (WAL) and reading
# the schema version. With --store-idle-s S > 0, one more run per home
# measures CPU and memory over S seconds idle, as in part A.
#
# Prints markdown tables on stdout (progress on stderr).
#
# Usage:  bench/footprint.sh [--build DIR] [--part a|b|all] [--peers "10 100 200 1000"]
#                            [--idle-s 30] [--idle-runs 3] [--stores "0 10000 100000"]
#                            [--runs 5] [--store-idle-s 30] [--keep]
#   --build DIR        build directory (default build), holding node/rogatory,
#                      node/rogatoryd, bench/rogatory-startup and
#                      bench/rogatory-load. Nothing is built:
#                        cmake -S . -B build && cmake --build build -j2
#   --part P           a (roster sizes), b (store sizes) or all (default)
#   --peers "N..."     roster sizes of part A (default "10 100 200 1000")
#   --idle-s S         idle period measured in part A (default 30)
#   --idle-runs N      daemon starts per roster size in part A (default 3)
#   --stores "M..."    store sizes of part B, in messages (default
#                      "0 10000 100000"). Building 100,000 took 1.4 to 5.7
#                      minutes on a shared 2-core machine; the two homes
#                      take about 5.8 kB of disk per message, twice that
#                      while they are copied (checked before each build)
#   --runs N           start-ups per home in part B (default 5)
#   --store-idle-s S   idle period per home in part B, 0 to skip (default 30)
#   --keep             keep the temporary directory
# Environment: TMPDIR, where the temporary directory goes (default /tmp).
# Needs: bash 4.3, coreutils, findutils (xargs -P). Only 127.0.0.1 ports are
# used: the node's own listening port is a free one (from /proc/net/tcp);
# the peers' cards name ports that nothing listens on.
#
# Exit status: 0 when every daemon became ready, 1 otherwise. Daemons are
# stopped by rogatory-startup after each run; the temporary directory is
# removed on every exit unless --keep.
#
# Backquotes in single quotes below are markdown, not commands:
# shellcheck disable=SC2016
set -euo pipefail

BUILD=build
PART=all
PEERS="10 100 200 1000"
IDLE_S=30
IDLE_RUNS=3
STORES="0 10000 100000"
RUNS=5
STORE_IDLE_S=30
KEEP=0

die() {
  printf 'footprint: error: %s\n' "$1" >&2
  [[ -n "${2:-}" ]] && printf 'footprint: hint: %s\n' "$2" >&2
  exit 1
}
note() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

while (($# > 0)); do
  case "$1" in
    --build) BUILD="${2:?--build needs a value}"; shift 2 ;;
    --part) PART="${2:?--part needs a value}"; shift 2 ;;
    --peers) PEERS="${2:?--peers needs a value}"; shift 2 ;;
    --idle-s) IDLE_S="${2:?--idle-s needs a value}"; shift 2 ;;
    --idle-runs) IDLE_RUNS="${2:?--idle-runs needs a value}"; shift 2 ;;
    --stores) STORES="${2:?--stores needs a value}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
    --store-idle-s) STORE_IDLE_S="${2:?--store-idle-s needs a value}"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 && !/markdown, not|shellcheck/ { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument '$1'" "see $0 --help" ;;
  esac
done
[[ "$PART" =~ ^(a|b|all)$ ]] || die "--part must be a, b or all"
for v in $PEERS; do [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "--peers takes positive integers"; done
for v in $STORES; do [[ "$v" =~ ^[0-9]+$ ]] || die "--stores takes non-negative integers"; done
for v in "$IDLE_S" "$IDLE_RUNS" "$RUNS"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "--idle-s, --idle-runs and --runs take positive integers"
done
[[ "$STORE_IDLE_S" =~ ^[0-9]+$ ]] || die "--store-idle-s takes a non-negative integer"
PEERS="$(tr ' ' '\n' <<<"$PEERS" | sed '/^$/d' | sort -n | uniq | tr '\n' ' ')"

# ------------------------------------------------------------ prerequisites
for bin in node/rogatory node/rogatoryd bench/rogatory-startup bench/rogatory-load; do
  [[ -x "$BUILD/$bin" ]] || die "$BUILD/$bin not found or not executable" \
    "configure and build first: cmake -S . -B build && cmake --build build -j2 (or pass --build DIR)"
done
BUILD="$(cd "$BUILD" && pwd)"
ROGATORY="$BUILD/node/rogatory"
STARTUP="$BUILD/bench/rogatory-startup"
LOAD="$BUILD/bench/rogatory-load"
export ROGATORY

# ------------------------------------------------------------ work directory
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rog-foot.XXXXXX")"
# Each home holds an ipc:// control socket, whose path must stay short.
if ((${#WORK} > 60)); then
  rmdir "$WORK"
  WORK="$(mktemp -d /tmp/rog-foot.XXXXXX)"
fi
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  if ((rc != 0)); then
    for log in "$WORK"/*.log; do
      [[ -s "$log" ]] || continue
      printf 'last lines of %s:\n' "$log" >&2
      tail -n 10 "$log" | sed 's/^/    /' >&2
    done
  fi
  if ((KEEP)); then
    printf 'kept %s\n' "$WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ------------------------------------------------------------ helpers
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }  # calc EXPR [DECIMALS]
mib() { calc "$1 / 1024" 1; }                          # mib KIB

# free_port: a 127.0.0.1 TCP port nothing listens on now.
free_port() {
  local -A used=()
  local _ addr _r st port i
  while read -r _ addr _r st _; do
    [[ "$st" == 0A ]] && used[$((16#${addr##*:}))]=1
  done < <(tail -q -n +2 /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for ((i = 0; i < 1000; i++)); do
    port=$((20000 + RANDOM % 40000))
    [[ -z "${used[$port]:-}" ]] && { echo "$port"; return 0; }
  done
  die "no free port found on 127.0.0.1"
}

# machine_jiffies: "BUSY TOTAL" jiffies of all cores so far (/proc/stat).
machine_jiffies() {
  local _ u n sy id io irq sirq st
  read -r _ u n sy id io irq sirq st _ </proc/stat
  echo "$((u + n + sy + irq + sirq + st)) $((u + n + sy + id + io + irq + sirq + st))"
}
# machine_busy "BUSY0 TOTAL0": percent of all cores busy since then, this
# benchmark's own processes included.
machine_busy() {
  local b0 t0 b1 t1
  read -r b0 t0 <<<"$1"
  read -r b1 t1 <<<"$(machine_jiffies)"
  calc "100 * ($b1 - $b0) / ($t1 - $t0)" 0
}

# field KEY LINE: the VALUE of KEY=VALUE in LINE (empty if absent).
field() { sed -n "s/.*[ :]$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# summary WHAT FILE: "MEDIAN MAX" from rogatory-startup's "WHAT: median X U, max Y U".
summary() { sed -n "s/^$1: median \\([0-9.]*\\) [A-Za-z]*, max \\([0-9.]*\\) .*/\\1 \\2/p" "$2"; }

# make_peer I: peer home $WORK/peers/pI, its card pI.card and fingerprint pI.fp.
make_peer() {
  local i="$1" d="$WORK/peers"
  "$ROGATORY" --home "$d/p$i" init --name "peer-$i" --authority "Authority $i" --country FR \
    --listen "tcp://127.0.0.1:$((10000 + i % 10000))" </dev/null >/dev/null 2>>"$d/p$i.err"
  "$ROGATORY" --home "$d/p$i" id export -o "$d/p$i.card" </dev/null >/dev/null 2>>"$d/p$i.err"
  "$ROGATORY" --home "$d/p$i" id show --json </dev/null 2>>"$d/p$i.err" |
    sed -n 's/^ *"fingerprint": *"\([^"]*\)".*/\1/p' >"$d/p$i.fp"
  [[ -s "$d/p$i.fp" ]] || { cat "$d/p$i.err" >&2; return 1; }
}
# add_peer I: adds peer I to H0.
add_peer() {
  local d="$WORK/peers"
  "$ROGATORY" --home "$WORK/h0" peer add "$d/p$1.card" --fingerprint "$(<"$d/p$1.fp")" \
    </dev/null >/dev/null 2>>"$d/p$1.err" || { cat "$d/p$1.err" >&2; return 1; }
}
export WORK
export -f make_peer add_peer

note "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; work directory $WORK"
COMMIT="$(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf '# bench/footprint.sh: commit %s, %s, load average %s\n\n' "$COMMIT" \
  "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)"

# ------------------------------------------------------------ part A
if [[ "$PART" != b ]]; then
  MAX_PEERS="$(tr ' ' '\n' <<<"$PEERS" | sed '/^$/d' | tail -n 1)"
  mkdir -p "$WORK/peers"
  "$ROGATORY" --home "$WORK/h0" init --name node-0 --authority "Authority 0" --country FR \
    --listen "tcp://127.0.0.1:$(free_port)" </dev/null >/dev/null 2>"$WORK/init.log" ||
    die "init of the node home failed: $(cat "$WORK/init.log")"
  note "part A: making $MAX_PEERS peer homes (init, id export, id show; 2 at a time)"
  t0=$SECONDS
  seq 1 "$MAX_PEERS" | xargs -P 2 -I{} bash -euo pipefail -c 'make_peer "$1"' _ {} ||
    die "making the peer homes failed"
  note "part A: $MAX_PEERS peer homes in $((SECONDS - t0)) s"
  printf '## Part A: idle node against roster size (%s s idle, after 2 s settling; %s start(s) each)\n\n' \
    "$IDLE_S" "$IDLE_RUNS"
  printf '| roster peers | run | ready | VmRSS | RssAnon | RssFile | Pss | CPU ticks | CPU (ticks) | CPU (schedstat) | wake-ups/s | machine busy |\n'
  printf '|---|---|---|---|---|---|---|---|---|---|---|---|\n'
  added=0
  FLOOR_RSS=()
  for n in $PEERS; do
    t0=$SECONDS
    seq $((added + 1)) "$n" | xargs -P 2 -I{} bash -euo pipefail -c 'add_peer "$1"' _ {} ||
      die "peer add failed"
    note "part A: added peers $((added + 1))..$n to the node in $((SECONDS - t0)) s"
    added="$n"
    out="$WORK/a-$n.out"
    j0="$(machine_jiffies)"
    "$STARTUP" --home "$WORK/h0" --runs "$IDLE_RUNS" --idle-s "$IDLE_S" --settle-s 2 \
      --log "$WORK/a-$n.log" >"$out" || die "rogatoryd with $n peers did not become ready"
    busy="$(machine_busy "$j0")"
    for ((r = 1; r <= IDLE_RUNS; r++)); do
      line="$(grep "^run $r: idle " "$out")"
      ready="$(sed -n "s/^run $r: ready \\([0-9.]*\\) ms.*/\\1/p" "$out")"
      printf '| %s | %s | %s ms | %s MiB | %s MiB | %s MiB | %s MiB | %s | %s %% | %s %% | %s | %s %% |\n' \
        "$n" "$r" "$ready" "$(mib "$(field VmRSS "$line")")" "$(mib "$(field RssAnon "$line")")" \
        "$(mib "$(field RssFile "$line")")" "$(mib "$(field Pss "$line")")" \
        "$(field cpu_ticks "$line")" "$(field cpu_pct "$line")" "$(field cpu_ns_pct "$line")" \
        "$(field wakeups_s "$line")" "$busy"
    done
    FLOOR_RSS+=("$(summary 'floor exec peak rss' "$out" | cut -d' ' -f1)")
  done
  printf '\nFloor: peak RSS of `rogatoryd --version` (same binary and libraries, no work), median per roster size: '
  for f in "${FLOOR_RSS[@]}"; do printf '%s MiB ' "$(mib "$f")"; done
  printf '\n\n'
fi

# ------------------------------------------------------------ part B
if [[ "$PART" != a ]]; then
  note "part B: start-up time against store size ($STORES messages)"
  printf '## Part B: start-up to READY=1 against store size (%s start-ups per home)\n\n' "$RUNS"
  printf '| messages | home | store.db | ready, median / max | CPU to exit, median | floor: exec `--version`, median | floor: SQLite open, median | ready / exec floor | machine busy |\n'
  printf '|---|---|---|---|---|---|---|---|---|\n'
  IDLE_ROWS=()
  LOAD_LINES=()
  for m in $STORES; do
    homes=()
    if ((m == 0)); then
      "$ROGATORY" --home "$WORK/b-0-fresh" init --name fresh --authority "Authority F" \
        --country FR --listen "tcp://127.0.0.1:$(free_port)" </dev/null >/dev/null \
        2>"$WORK/init.log" || die "init of the empty home failed: $(cat "$WORK/init.log")"
      homes=(fresh)
    else
      need_kib=$((m * 12 + 65536))  # both homes and their copies, plus slack
      avail_kib="$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')"
      ((avail_kib >= need_kib)) || die "not enough free disk for $m messages: $((avail_kib / 1024)) MiB free, about $((need_kib / 1024)) MiB needed" \
        "lower --stores, or set TMPDIR to a larger file system"
      note "part B: rogatory-load --messages $m (two daemons; this takes a while)"
      TMPDIR="$WORK" "$LOAD" --messages "$m" --paced 0 --backlog 0 --probes 0 --keep \
        >"$WORK/load-$m.log" 2>&1 || die "rogatory-load --messages $m failed"
      kept="$(sed -n 's/^kept //p' "$WORK/load-$m.log")"
      [[ -d "$kept/load-a" && -d "$kept/load-b" ]] || die "rogatory-load kept no homes"
      note "part B: $(grep '^throughput' "$WORK/load-$m.log")"
      LOAD_LINES+=("- rogatory-load --messages $m: $(sed -n 's/^throughput: \([0-9]*\) durable.*/\1/p' \
        "$WORK/load-$m.log") durable receipted msg/s")
      cp -a "$kept/load-a" "$WORK/b-$m-sender"
      cp -a "$kept/load-b" "$WORK/b-$m-receiver"
      rm -rf "$kept"
      # The copies' pages are dirty in the page cache: write them out now, or
      # the first daemon's closing checkpoint pays for it (its fdatasync of
      # store.db took 130 ms in a trial).
      sync "$WORK/b-$m-sender"/* "$WORK/b-$m-receiver"/*
      homes=(sender receiver)
    fi
    for h in "${homes[@]}"; do
      home="$WORK/b-$m-$h"
      out="$WORK/b-$m-$h.out"
      j0="$(machine_jiffies)"
      "$STARTUP" --home "$home" --runs "$RUNS" --log "$WORK/b-$m-$h.log" >"$out" ||
        die "rogatoryd on the $m-message $h home did not become ready"
      busy="$(machine_busy "$j0")"
      read -r rmed rmax <<<"$(summary ready "$out")"
      read -r cmed _ <<<"$(summary cpu "$out")"
      read -r fmed _ <<<"$(summary 'floor exec (rogatoryd --version)' "$out")"
      smed="$(sed -n 's/^floor sqlite open: median \([0-9.]*\) ms.*/\1/p' "$out")"
      size="$(stat -c %s "$home/store.db")"
      printf '| %s | %s | %s MB | %s / %s ms | %s ms | %s ms | %s ms | %s | %s %% |\n' "$m" "$h" \
        "$(calc "$size / 1e6" 1)" "$rmed" "$rmax" "$cmed" "$fmed" "$smed" \
        "$(calc "$rmed / $fmed" 2)" "$busy"
      if ((STORE_IDLE_S > 0)); then
        j0="$(machine_jiffies)"
        "$STARTUP" --home "$home" --runs 1 --idle-s "$STORE_IDLE_S" --settle-s 2 \
          --log "$WORK/b-$m-$h.log" >"$out.idle" || die "rogatoryd on $home did not become ready"
        busy="$(machine_busy "$j0")"
        line="$(grep '^run 1: idle ' "$out.idle")"
        IDLE_ROWS+=("$(printf '| %s | %s | %s MiB | %s MiB | %s MiB | %s %% | %s %% | %s | %s %% |' "$m" "$h" \
          "$(mib "$(field VmRSS "$line")")" "$(mib "$(field RssAnon "$line")")" \
          "$(mib "$(field RssFile "$line")")" "$(field cpu_pct "$line")" \
          "$(field cpu_ns_pct "$line")" "$(field wakeups_s "$line")" "$busy")")
      fi
    done
  done
  if ((${#LOAD_LINES[@]} > 0)); then
    printf '\nStores built by (their own rate, a sign of how busy the machine was):\n\n'
    printf '%s\n' "${LOAD_LINES[@]}"
  fi
  if ((${#IDLE_ROWS[@]} > 0)); then
    printf '\n### Idle %s s on the same homes (one start each)\n\n' "$STORE_IDLE_S"
    printf '| messages | home | VmRSS | RssAnon | RssFile | CPU (ticks) | CPU (schedstat) | wake-ups/s | machine busy |\n'
    printf '|---|---|---|---|---|---|---|---|---|\n'
    printf '%s\n' "${IDLE_ROWS[@]}"
  fi
  printf '\n'
fi
note "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
