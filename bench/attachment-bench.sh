#!/usr/bin/env bash
# Attachment throughput, end to end between two real nodes, against the
# limits measured in the same run (docs/performance.md, "Attachments").
#
# Starts two nodes (rogatoryd) on free loopback ports in a fresh temporary
# directory, introduced to each other as deploy/demo.sh does, and sends one
# random file of --size-mib MiB from A to B, --runs times. Each run measures:
#
#   seal         `rogatory send --attach FILE` until it returns: the CLI hashes
#                (SHA-256), seals (XChaCha20-Poly1305, 1 MiB chunks), writes
#                and fsyncs the staged copy, and the daemon queues the message
#   end to end   from the start of `send` until `rogatory show ID --json`
#                (polled every --poll-ms) says `delivered`: the receiver pulled
#                every chunk over ZeroMQ CURVE, authenticated, hashed, wrote
#                and fsynced it, and A stored B's signed receipt. Also from
#                A's own `delivered_at`, which does not depend on the polling
#   CPU          user+sys time per MiB of the `send` process, of each
#                daemon's main thread and ZeroMQ I/O thread (/proc/PID/task),
#                and of the polling commands; how busy our processes kept the
#                cores, and how busy the whole machine was (/proc/stat)
#   memory       each daemon's VmHWM during the run (reset through
#                /proc/PID/clear_refs before it) minus its idle VmRSS once
#                started and connected, before the first run
#
# and then, in the same run, the limits the end-to-end figure is compared to:
#   crypto_bench  BM_AttachmentChunkSeal, BM_AttachmentChunkOpen (1 MiB chunk),
#                 BM_CurveMessageBox (crypto_box_afternm on 1 MiB, what CURVE
#                 does to every frame), BM_Sha256OpenSsl/1048576,
#                 BM_Sha256Libsodium/1048576 (bytes per second)
#   disk          dd if=/dev/zero bs=1M count=SIZE, then fdatasync of the
#                 output (sync -d): what dd conv=fdatasync does, with the
#                 write() into the page cache and the flush timed apart
#   page cache    dd of the (cached) file to /dev/null
#   age           age -r (fresh age-keygen key) -o OUT FILE
#   minisign      minisign -S on the file (when installed), and age + minisign
#   gpg           gpg --sign --encrypt with -z 0 every run, with the default
#                 compression in run 1 only (slow on random data)
# After the runs, B's copy is decrypted once with `rogatory fetch` and its
# SHA-256 compared with the original's (sha256sum): a correctness guard.
#
# Prints one markdown table on stdout (progress goes to stderr): the figures
# per run, the ceilings per run, and the ratios end to end / CURVE box,
# end to end / XChaCha open, end to end / age. MB/s means 10^6 bytes/s.
#
# Usage:  bench/attachment-bench.sh [--size-mib N] [--runs N] [--build DIR]
#                                   [--poll-ms N] [--install] [--keep]
#   --size-mib N  file size in MiB (default 1024)
#   --runs N      runs (default 3)
#   --build DIR   build directory (default build), holding node/rogatory,
#                 node/rogatoryd and bench/crypto_bench. Nothing is built:
#                   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
#                         -DROGATORY_BUILD_BENCH=ON && cmake --build build -j2
#   --poll-ms N   delay between two `show` polls (default 10)
#   --install     apt-get install age and minisign if missing (otherwise
#                 the table says "not installed")
#   --keep        keep the temporary directory
# Environment: TMPDIR, where the temporary directory goes (default /tmp).
# Needs: bash 5, python3 (free ports), jq, coreutils; free disk of about
# (2 + 2 × runs) × size: the file, per run the sender's and the receiver's
# sealed copies (the nodes keep them), one scratch output at a time.
#
# Exit status: 0 when every run delivered and the SHA-256 matched, 1
# otherwise. The daemons are always stopped.
#
# Backquotes in single quotes below are markdown, not commands:
# shellcheck disable=SC2016
set -euo pipefail

SIZE_MIB=1024
RUNS=3
BUILD=build
POLL_MS=10
INSTALL=0
KEEP=0
readonly READY_TIMEOUT=30  # seconds for a daemon to answer `status`
readonly STOP_TIMEOUT=15   # seconds for a daemon to stop on SIGTERM

die() {
  printf 'attachment-bench: error: %s\n' "$1" >&2
  [[ -n "${2:-}" ]] && printf 'attachment-bench: hint: %s\n' "$2" >&2
  exit 1
}
note() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

readonly COMMAND_LINE="bench/attachment-bench.sh${*:+ $*}"
while (($# > 0)); do
  case "$1" in
    --size-mib) SIZE_MIB="${2:?--size-mib needs a value}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
    --build) BUILD="${2:?--build needs a value}"; shift 2 ;;
    --poll-ms) POLL_MS="${2:?--poll-ms needs a value}"; shift 2 ;;
    --install) INSTALL=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 && !/markdown, not|shellcheck/ { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) die "unknown argument '$1'" "see $0 --help" ;;
  esac
done
[[ "$SIZE_MIB" =~ ^[1-9][0-9]*$ ]] || die "--size-mib must be a positive integer"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer"
[[ "$POLL_MS" =~ ^[0-9]+$ ]] || die "--poll-ms must be a non-negative integer"

# ------------------------------------------------------------ prerequisites
ROGATORY="$BUILD/node/rogatory"
ROGATORYD="$BUILD/node/rogatoryd"
CRYPTO_BENCH="$BUILD/bench/crypto_bench"
for bin in "$ROGATORY" "$ROGATORYD" "$CRYPTO_BENCH"; do
  [[ -x "$bin" ]] || die "$bin not found or not executable" \
    "configure and build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DROGATORY_BUILD_BENCH=ON && cmake --build build -j2 (or pass --build DIR)"
done
ROGATORY="$(cd "$(dirname "$ROGATORY")" && pwd)/rogatory"
ROGATORYD="$(cd "$(dirname "$ROGATORYD")" && pwd)/rogatoryd"
CRYPTO_BENCH="$(cd "$(dirname "$CRYPTO_BENCH")" && pwd)/crypto_bench"
[[ -n "${EPOCHREALTIME:-}" ]] || die "bash 5 or later is needed (EPOCHREALTIME)"
command -v jq >/dev/null 2>&1 || die "jq is needed to read the nodes' JSON output" "apt-get install jq"
command -v python3 >/dev/null 2>&1 || die "python3 is needed to find free ports" "apt-get install python3"
CORES="$(nproc)"
TICK="$(getconf CLK_TCK)"
readonly SIZE_BYTES=$((SIZE_MIB * 1048576))

maybe_install() {  # maybe_install PACKAGE COMMAND
  command -v "$2" >/dev/null 2>&1 && return 0
  ((INSTALL)) || return 0
  note "installing $1 (--install)"
  local sudo=()
  (($(id -u) == 0)) || sudo=(sudo)
  "${sudo[@]}" apt-get install -y "$1" >&2 || note "could not install $1"
}
maybe_install age age
maybe_install minisign minisign
HAVE_AGE=0 HAVE_MINISIGN=0 HAVE_GPG=0
command -v age >/dev/null 2>&1 && command -v age-keygen >/dev/null 2>&1 && HAVE_AGE=1
command -v minisign >/dev/null 2>&1 && HAVE_MINISIGN=1
command -v gpg >/dev/null 2>&1 && HAVE_GPG=1

# ------------------------------------------------------------ work directory
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rog-att.XXXXXX")"
# Each home holds an ipc:// control socket, whose path must stay short.
if ((${#WORK} > 60)); then
  rmdir "$WORK"
  WORK="$(mktemp -d /tmp/rog-att.XXXXXX)"
fi
declare -A PID=()  # node -> daemon pid, while running
GNUPG_DIR=""

stop_daemon() {  # stop_daemon NODE
  local n="$1" pid="${PID[$1]:-}" deadline
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
  unset 'PID[$n]'
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  if ((${#PID[@]} > 0)); then
    for n in "${!PID[@]}"; do stop_daemon "$n"; done
  fi
  [[ -n "$GNUPG_DIR" ]] && gpgconf --homedir "$GNUPG_DIR" --kill gpg-agent >/dev/null 2>&1
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

# ------------------------------------------------------------ free disk
need_kib=$(((2 + 2 * RUNS) * SIZE_MIB * 1024 + 512 * 1024))
avail_kib="$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')"
if ((avail_kib < need_kib)); then
  die "not enough free disk in $(dirname "$WORK"): $((avail_kib / 1024)) MiB free, about $((need_kib / 1024)) MiB needed for a $SIZE_MIB MiB file and $RUNS runs ((2 + 2 x runs) x size + 512 MiB)" \
    "lower --size-mib or --runs, or set TMPDIR to a larger file system"
fi

# ------------------------------------------------------------ helpers
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }           # calc EXPR [DECIMALS]
mbps() { calc "$SIZE_BYTES / ($1) / 1e6" 0; }                    # mbps SECONDS
ms_per_mib() { calc "1048576 / ($1) * 1000" 2; }                 # ms_per_mib BYTES_PER_SECOND
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
proc_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }  # proc_kib PID FIELD

# children_cpu VAR: sets VAR to the user+sys seconds of this shell's
# waited-for children so far. `times` must run in this shell, not in a
# command substitution (a fork starts its children's count at zero).
children_cpu() {
  times >"$WORK/.times"
  printf -v "$1" '%s' "$(awk 'NR == 2 {
    for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] }
    printf "%.3f", t }' "$WORK/.times")"
}

# thread_cpu PID: "MAIN_USER MAIN_SYS IO_USER IO_SYS" in seconds, where IO is
# ZeroMQ's I/O threads (ZMQbg/IO/*: CURVE and TCP) and MAIN everything else.
thread_cpu() {
  local pid="$1" s f t comm tu=0 ts=0 iu=0 is=0
  s="$(<"/proc/$pid/stat")"
  read -r -a f <<<"${s##*) }"
  tu="${f[11]}" ts="${f[12]}"
  for t in /proc/"$pid"/task/*; do
    comm="$(<"$t/comm")" || continue
    [[ "$comm" == ZMQbg/IO* ]] || continue
    s="$(<"$t/stat")"
    read -r -a f <<<"${s##*) }"
    iu=$((iu + f[11])) is=$((is + f[12]))
  done
  printf '%s %s %s %s' "$(calc "($tu - $iu) / $TICK" 2)" "$(calc "($ts - $is) / $TICK" 2)" \
    "$(calc "$iu / $TICK" 2)" "$(calc "$is / $TICK" 2)"
}

# machine_cpu VAR: sets VAR to "BUSY IOWAIT TOTAL" jiffies of all cores
# (/proc/stat), to tell how busy the whole machine was, other work included.
machine_cpu() {
  local _ u n sy id io irq sirq st
  read -r _ u n sy id io irq sirq st _ </proc/stat
  printf -v "$1" '%s %s %s' $((u + n + sy + irq + sirq + st)) "$io" \
    $((u + n + sy + id + io + irq + sirq + st))
}

rog() { local n="$1"; shift; "$ROGATORY" --home "$WORK/$n" "$@"; }

# timed CMD...: runs CMD (output discarded) and prints its wall seconds.
timed() {
  local t0="$EPOCHREALTIME"
  "$@" >/dev/null 2>"$WORK/.timed.err" || {
    cat "$WORK/.timed.err" >&2
    die "command failed: $*"
  }
  calc "$EPOCHREALTIME - $t0" 3
}

# ------------------------------------------------------------ the file
LOAD_START="$(loadavg)"
note "load average at start: $LOAD_START; $CORES cores; work directory $WORK"
FILE="$WORK/evidence.bin"
SCRATCH="$WORK/scratch.out"
note "generating $SIZE_MIB MiB of random data"
head -c "$SIZE_BYTES" /dev/urandom >"$FILE"
t0="$EPOCHREALTIME"
FILE_SHA="$(sha256sum "$FILE" | cut -d' ' -f1)"
SHA256SUM_S="$(calc "$EPOCHREALTIME - $t0" 3)"

# ------------------------------------------------------------ two nodes
read -r -a ports <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)"
((${#ports[@]} == 2)) || die "could not find two free ports on 127.0.0.1"
declare -A FP=() PORT=([bench-a]="${ports[0]}" [bench-b]="${ports[1]}")
for n in bench-a bench-b; do
  rog "$n" init --name "$n" --authority "Authority $n" --country FR \
    --listen "tcp://127.0.0.1:${PORT[$n]}" >/dev/null 2>"$WORK/.init.err" ||
    { cat "$WORK/.init.err" >&2; die "init of $n failed"; }
  rog "$n" id export -o "$WORK/$n.card" 2>/dev/null
  FP[$n]="$(rog "$n" id show --json | jq -r .fingerprint)"
done
rog bench-a peer add "$WORK/bench-b.card" --fingerprint "${FP[bench-b]}" >/dev/null 2>&1
rog bench-b peer add "$WORK/bench-a.card" --fingerprint "${FP[bench-a]}" >/dev/null 2>&1
for n in bench-a bench-b; do
  "$ROGATORYD" --home "$WORK/$n" >"$WORK/$n.log" 2>&1 </dev/null &
  PID[$n]=$!
done
for n in bench-a bench-b; do
  deadline=$((SECONDS + READY_TIMEOUT))
  until rog "$n" status >/dev/null 2>&1; do
    kill -0 "${PID[$n]}" 2>/dev/null || die "the daemon of $n exited during start-up"
    ((SECONDS < deadline)) || die "$n not ready after ${READY_TIMEOUT}s"
    sleep 0.1
  done
done
note "nodes up: bench-a pid ${PID[bench-a]}, bench-b pid ${PID[bench-b]}"
PA="${PID[bench-a]}" PB="${PID[bench-b]}"
# The idle size the memory bound refers to: freshly started, connected.
IDLE0_A="$(proc_kib "$PA" VmRSS)" IDLE0_B="$(proc_kib "$PB" VmRSS)"

# ------------------------------------------------------------ gpg keys
GPG=()
if ((HAVE_GPG)); then
  GNUPG_DIR="$WORK/gnupg"
  mkdir -m 700 "$GNUPG_DIR"
  GPG=(gpg --homedir "$GNUPG_DIR" --batch --yes --pinentry-mode loopback --passphrase '')
  "${GPG[@]}" --quick-gen-key 'bench <bench@example.invalid>' ed25519 sign never 2>/dev/null
  GPG_FPR="$("${GPG[@]}" --list-keys --with-colons 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')"
  "${GPG[@]}" --quick-add-key "$GPG_FPR" cv25519 encr never 2>/dev/null
  GPG+=(--trust-model always -u "$GPG_FPR" -r "$GPG_FPR")
fi
if ((HAVE_AGE)); then
  age-keygen -o "$WORK/age.key" 2>/dev/null
  AGE_RECIPIENT="$(age-keygen -y "$WORK/age.key")"
fi
if ((HAVE_MINISIGN)); then
  minisign -G -W -p "$WORK/minisign.pub" -s "$WORK/minisign.key" >/dev/null 2>&1
fi

# ------------------------------------------------------------ runs
declare -A R=()  # "field,run" -> value
POLL_S="$(calc "$POLL_MS / 1000" 3)"
DEADLINE_S=$((60 + SIZE_MIB / 5))
LAST_ID=""
c0="" c1="" c2="" m0="" m1=""
readonly STATE_RE=$'\n  "state": "([a-z_]+)"'

bench_crypto() {  # bench_crypto RUN: bytes/s of each benchmark into R
  local r="$1" out="$WORK/crypto.json" name key
  "$CRYPTO_BENCH" \
    --benchmark_filter='BM_AttachmentChunkSeal|BM_AttachmentChunkOpen|BM_CurveMessageBox|BM_Sha256OpenSsl/1048576|BM_Sha256Libsodium/1048576' \
    --benchmark_format=json >"$out" 2>/dev/null
  for name in BM_AttachmentChunkSeal BM_AttachmentChunkOpen BM_CurveMessageBox \
    BM_Sha256OpenSsl/1048576 BM_Sha256Libsodium/1048576; do
    key="${name%%/*}"
    R[$key,$r]="$(jq -r --arg n "$name" '.benchmarks[] | select(.name == $n) | .bytes_per_second' "$out")"
    [[ -n "${R[$key,$r]}" ]] || die "crypto_bench gave no figure for $name"
  done
}

for ((run = 1; run <= RUNS; run++)); do
  note "run $run/$RUNS: load average $(loadavg)"
  for p in "$PA" "$PB"; do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || R[hwm_not_reset,$run]=1; done
  R[idle_a,$run]="$(proc_kib "$PA" VmRSS)" R[idle_b,$run]="$(proc_kib "$PB" VmRSS)"
  read -r a_mu0 a_ms0 a_iu0 a_is0 <<<"$(thread_cpu "$PA")"
  read -r b_mu0 b_ms0 b_iu0 b_is0 <<<"$(thread_cpu "$PB")"
  children_cpu c0
  machine_cpu m0
  t0="$EPOCHREALTIME"
  id="$(rog bench-a send --to bench-b --subject s --body x --attach "$FILE")" ||
    die "send --attach failed in run $run"
  t1="$EPOCHREALTIME"
  children_cpu c1
  deadline=$((SECONDS + DEADLINE_S))
  polls=0
  while :; do
    polls=$((polls + 1))
    # The message's own state is the only "state" key at the top level of
    # the indented JSON. Matched in bash: a jq process per poll would cost
    # about 30 ms of CPU, taken from the transfer it measures.
    shown="$(rog bench-a show "$id" --json)"
    state=""
    [[ "$shown" =~ $STATE_RE ]] && state="${BASH_REMATCH[1]}"
    [[ -n "$state" ]] || die "no top-level \"state\" in the output of 'rogatory show $id --json'"
    [[ "$state" == delivered ]] && break
    case "$state" in failed | expired) die "message $id is $state";; esac
    ((SECONDS < deadline)) || die "message $id still '$state' after ${DEADLINE_S}s"
    sleep "$POLL_S"
  done
  t2="$EPOCHREALTIME"
  machine_cpu m1
  children_cpu c2
  shown="$(rog bench-a show "$id" --json)"
  read -r a_mu1 a_ms1 a_iu1 a_is1 <<<"$(thread_cpu "$PA")"
  read -r b_mu1 b_ms1 b_iu1 b_is1 <<<"$(thread_cpu "$PB")"
  R[hwm_a,$run]="$(proc_kib "$PA" VmHWM)" R[hwm_b,$run]="$(proc_kib "$PB" VmHWM)"
  delivered_at="$(jq -r '.recipients[0].delivered_at' <<<"$shown")"
  R[seal,$run]="$(calc "$t1 - $t0" 3)"
  R[total,$run]="$(calc "$t2 - $t0" 3)"
  R[total_da,$run]="$(calc "$(date -d "$delivered_at" +%s.%N) - $t0" 3)"
  R[cpu_send,$run]="$(calc "$c1 - $c0" 2)"
  R[cpu_poll,$run]="$(calc "$c2 - $c1" 2)"
  R[polls,$run]="$polls"
  read -r mb0 mi0 mt0 <<<"$m0"
  read -r mb1 mi1 mt1 <<<"$m1"
  R[machine_busy,$run]="$(calc "($mb1 - $mb0) / ($mt1 - $mt0) * 100" 0)"
  R[machine_iowait,$run]="$(calc "($mi1 - $mi0) / ($mt1 - $mt0) * 100" 0)"
  R[a_main,$run]="$(calc "$a_mu1 + $a_ms1 - $a_mu0 - $a_ms0")"
  R[a_main_sys,$run]="$(calc "$a_ms1 - $a_ms0")"
  R[a_io,$run]="$(calc "$a_iu1 + $a_is1 - $a_iu0 - $a_is0")"
  R[a_io_sys,$run]="$(calc "$a_is1 - $a_is0")"
  R[b_main,$run]="$(calc "$b_mu1 + $b_ms1 - $b_mu0 - $b_ms0")"
  R[b_main_sys,$run]="$(calc "$b_ms1 - $b_ms0")"
  R[b_io,$run]="$(calc "$b_iu1 + $b_is1 - $b_iu0 - $b_is0")"
  R[b_io_sys,$run]="$(calc "$b_is1 - $b_is0")"
  LAST_ID="$id"
  note "run $run: seal ${R[seal,$run]} s, end to end ${R[total,$run]} s ($(mbps "${R[total,$run]}") MB/s)"

  # The limits, measured now, one after the other, the nodes idle.
  bench_crypto "$run"
  R[pcwrite,$run]="$(timed dd if=/dev/zero of="$SCRATCH" bs=1M count="$SIZE_MIB" status=none)"
  R[flush,$run]="$(timed sync -d "$SCRATCH")"
  R[disk,$run]="$(calc "${R[pcwrite,$run]} + ${R[flush,$run]}" 3)"
  rm -f "$SCRATCH"
  R[read,$run]="$(timed dd if="$FILE" of=/dev/null bs=1M status=none)"
  if ((HAVE_AGE)); then
    R[age,$run]="$(timed age -r "$AGE_RECIPIENT" -o "$SCRATCH" "$FILE")"
    rm -f "$SCRATCH"
  fi
  if ((HAVE_MINISIGN)); then
    R[minisign,$run]="$(timed minisign -S -s "$WORK/minisign.key" -m "$FILE" -x "$WORK/sig")"
  fi
  if ((HAVE_GPG)); then
    R[gpg_z0,$run]="$(timed "${GPG[@]}" -z 0 --sign --encrypt -o "$SCRATCH" "$FILE")"
    rm -f "$SCRATCH"
    if ((run == 1)); then
      R[gpg_z,$run]="$(timed "${GPG[@]}" --sign --encrypt -o "$SCRATCH" "$FILE")"
      rm -f "$SCRATCH"
    fi
  fi
done

# ------------------------------------------------------------ correctness
note "fetching the last copy from bench-b and checking its SHA-256"
rog bench-b fetch "$LAST_ID" --attachment 0 -o "$WORK/fetched.bin" 2>/dev/null ||
  die "fetch of $LAST_ID from bench-b failed"
FETCHED_SHA="$(sha256sum "$WORK/fetched.bin" | cut -d' ' -f1)"
rm -f "$WORK/fetched.bin"
[[ "$FETCHED_SHA" == "$FILE_SHA" ]] ||
  die "SHA-256 mismatch: sent $FILE_SHA, fetched $FETCHED_SHA"
stop_daemon bench-a
stop_daemon bench-b
LOAD_END="$(loadavg)"
note "load average at end: $LOAD_END"

# ------------------------------------------------------------ the table
row() {  # row LABEL FUNCTION: one cell per run from FUNCTION RUN
  local fn="$2" r line="| $1 |"
  for ((r = 1; r <= RUNS; r++)); do line+=" $("$fn" "$r") |"; done
  printf '%s\n' "$line"
}
cell_seal() { printf '%s s (%s MB/s)' "${R[seal,$1]}" "$(mbps "${R[seal,$1]}")"; }
cell_transfer() { calc "${R[total,$1]} - ${R[seal,$1]}" 3; printf ' s'; }
cell_total() { printf '**%s s, %s MB/s**' "${R[total,$1]}" "$(mbps "${R[total,$1]}")"; }
cell_total_da() { printf '%s s, %s MB/s' "${R[total_da,$1]}" "$(mbps "${R[total_da,$1]}")"; }
per_mib() { calc "($1) * 1000 / $SIZE_MIB" 2; }  # per_mib CPU_SECONDS: ms per MiB
cell_cpu_send() { printf '%s' "$(per_mib "${R[cpu_send,$1]}")"; }
cell_cpu_a() {
  printf '%s (sys %s) / %s (sys %s)' "$(per_mib "${R[a_main,$1]}")" "$(per_mib "${R[a_main_sys,$1]}")" \
    "$(per_mib "${R[a_io,$1]}")" "$(per_mib "${R[a_io_sys,$1]}")"
}
cell_cpu_b() {
  printf '%s (sys %s) / %s (sys %s)' "$(per_mib "${R[b_main,$1]}")" "$(per_mib "${R[b_main_sys,$1]}")" \
    "$(per_mib "${R[b_io,$1]}")" "$(per_mib "${R[b_io_sys,$1]}")"
}
cell_cpu_poll() {
  printf '%s (%s polls, %s ms each)' "$(per_mib "${R[cpu_poll,$1]}")" "${R[polls,$1]}" \
    "$(calc "${R[cpu_poll,$1]} * 1000 / ${R[polls,$1]}" 1)"
}
cell_machine() { printf '%s %% (iowait %s %%)' "${R[machine_busy,$1]}" "${R[machine_iowait,$1]}"; }
cell_cpu_util() {
  calc "(${R[cpu_send,$1]} + ${R[cpu_poll,$1]} + ${R[a_main,$1]} + ${R[a_io,$1]} + ${R[b_main,$1]} + ${R[b_io,$1]}) / ($CORES * ${R[total,$1]}) * 100" 0
  printf ' %%'
}
cell_cpu_mib() {
  printf '**%s**' "$(per_mib "${R[cpu_send,$1]} + ${R[a_main,$1]} + ${R[a_io,$1]} + ${R[b_main,$1]} + ${R[b_io,$1]}")"
}
mem_cell() {  # mem_cell HWM_KIB IDLE0_KIB IDLE_BEFORE_RUN_KIB
  printf '%s MiB (peak %s, idle before the run %s)' "$(calc "($1 - $2) / 1024" 1)" \
    "$(calc "$1 / 1024" 1)" "$(calc "$3 / 1024" 1)"
}
cell_mem_a() { mem_cell "${R[hwm_a,$1]}" "$IDLE0_A" "${R[idle_a,$1]}"; }
cell_mem_b() { mem_cell "${R[hwm_b,$1]}" "$IDLE0_B" "${R[idle_b,$1]}"; }
bps_cell() {  # bps_cell BYTES_PER_SECOND
  printf '%s MB/s, %s ms/MiB' "$(calc "$1 / 1e6" 0)" "$(ms_per_mib "$1")"
}
secs_cell() {  # secs_cell SECONDS
  [[ -n "$1" ]] || { printf '%s' "${2:-not installed}"; return; }
  printf '%s MB/s, %s ms/MiB' "$(mbps "$1")" "$(calc "$1 * 1000 / $SIZE_MIB" 2)"
}
cell_xseal() { bps_cell "${R[BM_AttachmentChunkSeal,$1]}"; }
cell_xopen() { bps_cell "${R[BM_AttachmentChunkOpen,$1]}"; }
cell_curve() { bps_cell "${R[BM_CurveMessageBox,$1]}"; }
cell_sha_ossl() { bps_cell "${R[BM_Sha256OpenSsl,$1]}"; }
cell_sha_sodium() { bps_cell "${R[BM_Sha256Libsodium,$1]}"; }
cell_disk() { secs_cell "${R[disk,$1]}"; }
cell_pcwrite() { secs_cell "${R[pcwrite,$1]}"; }
cell_flush() { printf '%s ms/MiB' "$(calc "${R[flush,$1]} * 1000 / $SIZE_MIB" 2)"; }
cell_read() { secs_cell "${R[read,$1]}"; }
cell_age() { secs_cell "${R[age,$1]:-}"; }
cell_minisign() { secs_cell "${R[minisign,$1]:-}"; }
cell_age_minisign() {
  if [[ -n "${R[age,$1]:-}" && -n "${R[minisign,$1]:-}" ]]; then
    secs_cell "$(calc "${R[age,$1]} + ${R[minisign,$1]}" 3)"
  else
    printf 'not installed'
  fi
}
cell_gpg_z0() { secs_cell "${R[gpg_z0,$1]:-}"; }
cell_gpg_z() { secs_cell "${R[gpg_z,$1]:-}" "(run 1 only)"; }
e2e_bps() { calc "$SIZE_BYTES / ${R[total,$1]}" 0; }
cell_ratio_curve() { calc "$(e2e_bps "$1") / ${R[BM_CurveMessageBox,$1]}" 3; }
cell_ratio_open() { calc "$(e2e_bps "$1") / ${R[BM_AttachmentChunkOpen,$1]}" 3; }
cell_ratio_age() {
  [[ -n "${R[age,$1]:-}" ]] || { printf 'age not installed'; return; }
  calc "${R[age,$1]} / ${R[total,$1]}" 3
}

header="| $SIZE_MIB MiB, $(date -u +%Y-%m-%d) |"
sep="|---|"
for ((r = 1; r <= RUNS; r++)); do header+=" run $r |"; sep+="---|"; done
printf '\n`%s` (size %s MiB, runs %s, polls every %s ms); %s cores; load average %s at the start, %s at the end; SHA-256 of the fetched copy matches (%s…)\n\n' \
  "$COMMAND_LINE" "$SIZE_MIB" "$RUNS" "$POLL_MS" "$CORES" "$LOAD_START" "$LOAD_END" "${FILE_SHA:0:16}"
printf '%s\n%s\n' "$header" "$sep"
row 'seal: `send --attach` until queued' cell_seal
row 'transfer: queued until `delivered` seen' cell_transfer
row '**end to end**: `send --attach` until `delivered`' cell_total
row 'end to end by A'"'"'s `delivered_at`' cell_total_da
row 'CPU ms/MiB (user+sys), `rogatory send`, both threads' cell_cpu_send
row 'CPU ms/MiB, sender daemon: main / ZeroMQ I/O thread' cell_cpu_a
row 'CPU ms/MiB, receiver daemon: main / ZeroMQ I/O thread' cell_cpu_b
row '**CPU ms/MiB, `send` + both daemons**' cell_cpu_mib
row 'CPU ms/MiB of the `show` polls' cell_cpu_poll
row "our processes' share of $CORES cores over the run, polls included" cell_cpu_util
row "whole machine busy over the run (/proc/stat)" cell_machine
row "sender daemon VmHWM − idle VmRSS (idle at start $(calc "$IDLE0_A / 1024" 1) MiB)" cell_mem_a
row "receiver daemon VmHWM − idle VmRSS (idle at start $(calc "$IDLE0_B / 1024" 1) MiB)" cell_mem_b
row 'XChaCha20-Poly1305 chunk seal, 1 MiB' cell_xseal
row 'XChaCha20-Poly1305 chunk open, 1 MiB' cell_xopen
row 'CURVE box (`crypto_box_afternm`), 1 MiB' cell_curve
row 'SHA-256, OpenSSL, 1 MiB' cell_sha_ossl
row 'SHA-256, libsodium, 1 MiB' cell_sha_sodium
row 'disk write, `dd bs=1M` + `fdatasync`' cell_disk
row '… of which `write()` into the page cache' cell_pcwrite
row '… of which the `fdatasync`' cell_flush
row 'page-cache read, `dd of=/dev/null`' cell_read
row '`age -r KEY -o OUT`' cell_age
row '`minisign -S` (prehashed)' cell_minisign
row '`age` + `minisign`, one after the other' cell_age_minisign
row '`gpg --sign --encrypt -z 0` (ed25519/cv25519)' cell_gpg_z0
row '`gpg --sign --encrypt`, default compression' cell_gpg_z
row 'ratio end to end / CURVE box' cell_ratio_curve
row 'ratio end to end / XChaCha open' cell_ratio_open
row 'ratio end to end / `age`' cell_ratio_age
printf '\nsha256sum (coreutils) of the file: %s s (%s MB/s).\n' "$SHA256SUM_S" "$(mbps "$SHA256SUM_S")"
for ((r = 1; r <= RUNS; r++)); do
  [[ -z "${R[hwm_not_reset,$r]:-}" ]] ||
    printf 'run %d: VmHWM could not be reset; it is the peak since the daemon started.\n' "$r"
done
