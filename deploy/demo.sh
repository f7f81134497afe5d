#!/usr/bin/env bash
# Rogatory demo: three authorities exchange a signed, encrypted request on
# this machine.
#
# Starts three nodes on loopback (127.0.0.1 only) in a fresh temporary
# directory, introduces them to each other, sends an urgent request from the
# French PNAT to the Dutch and German authorities, waits for the signed
# delivery receipts, shows the message as a recipient sees it, then exports a
# provenance bundle and verifies it offline, as a court would.
#
# Then a structured MLA request (docs/examples/terrorism-subscriber-data.json)
# goes from PNAT to the German BKA, which acknowledges it and reports it
# partially executed with a small result file attached; PNAT lists its
# requests with their signed history and fetches the result, checking it
# against the SHA-256 the BKA signed.
#
# Usage:  deploy/demo.sh
# Environment:
#   ROGATORY_BUILD  build directory holding node/rogatory and node/rogatoryd
#                   (default: build/ at the top of the repository)
#   KEEP=1          keep the temporary directory (homes, logs, bundle)
#   NO_COLOR=1      no colour even on a terminal
#
# Exit status: 0 when every step worked, non-zero otherwise. The daemons are
# always stopped, whatever happens.
set -euo pipefail

readonly READY_TIMEOUT=30     # seconds for a daemon to start serving
readonly DELIVERY_TIMEOUT=60  # seconds for both signed receipts to come back
readonly STOP_TIMEOUT=15      # seconds for a daemon to stop on SIGTERM

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="${ROGATORY_BUILD:-$script_dir/../build}"
ROGATORY="$BUILD/node/rogatory"
ROGATORYD="$BUILD/node/rogatoryd"
REQUEST_FILE="$script_dir/../docs/examples/terrorism-subscriber-data.json"

# ------------------------------------------------------------------ output
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
  B=$'\e[1m' DIM=$'\e[2m' GRN=$'\e[32m' RED=$'\e[31m' RST=$'\e[0m'
else
  B="" DIM="" GRN="" RED="" RST=""
fi
step_no=0
readonly STEPS=11
step() { step_no=$((step_no + 1)); printf '\n%s[%d/%d] %s%s\n' "$B" "$step_no" "$STEPS" "$*" "$RST"; }
say() { printf '  %s\n' "$*"; }
ok() { printf '  %s✓%s %s\n' "$GRN" "$RST" "$*"; }
indent() { sed 's/^/      /'; }
die() {
  printf '%sdemo: error: %s%s\n' "$RED" "$1" "$RST" >&2
  [[ -n "${2:-}" ]] && printf 'demo: hint: %s\n' "$2" >&2
  exit 1
}

# ------------------------------------------------------------ prerequisites
for bin in "$ROGATORY" "$ROGATORYD"; do
  [[ -x "$bin" ]] || die "$bin not found or not executable" \
    "build first: cmake -S . -B build && cmake --build build -j2 (or set ROGATORY_BUILD)"
done
[[ -r "$REQUEST_FILE" ]] || die "$REQUEST_FILE not found" "run the demo from a checkout of the repository"
if [[ -x /usr/bin/python3 ]]; then
  PY=/usr/bin/python3
elif command -v python3 >/dev/null 2>&1; then
  PY="$(command -v python3)"
else
  die "python3 is needed to read the nodes' JSON output" "apt-get install python3"
fi

# json EXPR [ARG...]: evaluates a Python expression over the JSON document on
# stdin, bound to `d` (the ARGs as the list `a`), and prints the result.
json() {
  "$PY" -c 'import json, sys; d = json.load(sys.stdin); a = sys.argv[2:]; print(eval(sys.argv[1]))' "$@"
}

# quiet CMD...: runs CMD with its output held back; shows it only on failure.
quiet() {
  local out rc=0
  out="$(mktemp "$WORK/.out.XXXXXX")"
  "$@" >"$out" 2>&1 || rc=$?
  if ((rc != 0)); then
    printf '%sdemo: command failed (exit %d): %s%s\n' "$RED" "$rc" "$*" "$RST" >&2
    sed 's/^/    /' "$out" >&2
  fi
  rm -f "$out"
  return "$rc"
}

# ------------------------------------------------------------ work directory
exec 3>&2 4>&1  # the script's own stderr and stdout, for cleanup
WORK="$(mktemp -d "${TMPDIR:-/tmp}/rogatory-demo.XXXXXX")"
# Each home holds an ipc:// control socket, whose path must stay short.
if (( ${#WORK} > 60 )); then
  rmdir "$WORK"
  WORK="$(mktemp -d /tmp/rogatory-demo.XXXXXX)"
fi

declare -A PID=()  # node id -> daemon pid, while running

stop_daemon() {  # stop_daemon NODE: SIGTERM, wait, SIGKILL after the deadline
  local n="$1" pid="${PID[$1]:-}" rc=0 deadline
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    printf '  %s did not stop within %ds: killing it\n' "$n" "$STOP_TIMEOUT" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  unset 'PID[$n]'
  return "$rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP PIPE ERR
  set +e
  # A signal can arrive while a function runs with its output redirected
  # (see quiet): report on the script's own stdout and stderr.
  exec 1>&4 2>&3
  if ((${#PID[@]} > 0)); then
    for n in "${!PID[@]}"; do stop_daemon "$n"; done
  fi
  if ((rc > 128)); then
    printf '\n%sdemo: interrupted; nodes stopped%s\n' "$RED" "$RST" >&2
  elif ((rc != 0)); then
    printf '\n%sdemo: FAILED (exit %d)%s\n' "$RED" "$rc" "$RST" >&2
    for log in "$WORK"/*.log; do
      [[ -s "$log" ]] || continue
      printf '  last lines of %s:\n' "$(basename "$log")" >&2
      tail -n 15 "$log" | sed 's/^/    /' >&2
    done
  fi
  if [[ -n "${KEEP:-}" ]]; then
    printf '\nKept the demo directory: %s\n' "$WORK" >&2
  else
    ((rc == 0)) || printf 'demo: hint: run with KEEP=1 to keep the homes and logs\n' >&2
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE
trap 'printf "%sdemo: error: line %d: %s%s\n" "$RED" "$LINENO" "$BASH_COMMAND" "$RST" >&2' ERR

# ------------------------------------------------------------ the authorities
NODES=(fr-pnat nl-om de-bka)
declare -A AUTHORITY=(
  [fr-pnat]="Parquet national antiterroriste"
  [nl-om]="Openbaar Ministerie"
  [de-bka]="Bundeskriminalamt"
)
declare -A COUNTRY=([fr-pnat]=FR [nl-om]=NL [de-bka]=DE)
declare -A PORT=() FP=()
home() { printf '%s/%s' "$WORK" "$1"; }
rog() { local n="$1"; shift; "$ROGATORY" --home "$(home "$n")" "$@"; }

# Three distinct free ports on 127.0.0.1: bound to port 0 together, so the
# kernel hands out three different ones, then released for the daemons.
free_ports() {
  "$PY" - <<'EOF'
import socket
socks = []
for _ in range(3):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
read -r -a ports <<<"$(free_ports)"
((${#ports[@]} == 3)) || die "could not find three free ports on 127.0.0.1"

printf '%sRogatory demo: three authorities on one machine (loopback only)%s\n' "$B" "$RST"
printf '%sworking directory: %s%s\n' "$DIM" "$WORK" "$RST"

# ------------------------------------------------------------------ 1. init
step "Each authority creates its node: keys, identity card, empty store"
i=0
for n in "${NODES[@]}"; do
  PORT[$n]="${ports[$i]}"
  i=$((i + 1))
  quiet rog "$n" init --name "$n" --authority "${AUTHORITY[$n]}" \
    --country "${COUNTRY[$n]}" --listen "tcp://127.0.0.1:${PORT[$n]}"
  quiet rog "$n" id export -o "$WORK/$n.card"
  FP[$n]="$(rog "$n" id show --json | json 'd["fingerprint"]')"
  [[ -n "${FP[$n]}" ]] || die "no fingerprint for $n"
  printf '  %-8s %s (%s), listening on tcp://127.0.0.1:%s\n' "$n" "${AUTHORITY[$n]}" \
    "${COUNTRY[$n]}" "${PORT[$n]}"
  printf '  %-8s fingerprint %s\n' "" "${FP[$n]}"
done

# ------------------------------------------------------------ 2. peer cards
step "They exchange identity cards; each checks the card's fingerprint"
say "${DIM}(in real life the fingerprint is confirmed over a second channel, e.g. by phone)${RST}"
for n in "${NODES[@]}"; do
  for p in "${NODES[@]}"; do
    [[ "$p" == "$n" ]] && continue
    quiet rog "$n" peer add "$WORK/$p.card" --fingerprint "${FP[$p]}"
  done
  others=()
  for p in "${NODES[@]}"; do [[ "$p" == "$n" ]] || others+=("$p"); done
  ok "$(printf '%-8s' "$n") added the cards of ${others[0]} and ${others[1]}, fingerprints match"
done

# ------------------------------------------------------------ 3. daemons
step "Starting the three node daemons"
for n in "${NODES[@]}"; do
  "$ROGATORYD" --home "$(home "$n")" >"$WORK/$n.log" 2>&1 </dev/null 3>&- 4>&- &
  PID[$n]=$!
done
for n in "${NODES[@]}"; do
  deadline=$((SECONDS + READY_TIMEOUT))
  until rog "$n" status >/dev/null 2>&1; do
    kill -0 "${PID[$n]}" 2>/dev/null || {
      wait "${PID[$n]}" || true
      unset 'PID[$n]'
      die "the daemon of $n exited during start-up (log: $WORK/$n.log)"
    }
    ((SECONDS < deadline)) || die "$n not ready after ${READY_TIMEOUT}s (log: $WORK/$n.log)"
    sleep 0.1
  done
  ok "$n serving (pid ${PID[$n]}, log $n.log)"
done

# ------------------------------------------------------------ 4. send
step "PNAT (France) sends an urgent request to the Netherlands and Germany"
SUBJECT="Urgent preservation of subscriber and traffic data - case PNAT-DEMO-0417"
BODY="Request for mutual legal assistance (fictitious, for demonstration).

Requesting authority: Parquet national antiterroriste, Paris.
Legal basis: Convention on Mutual Assistance in Criminal Matters between the
Member States of the EU (2000), art. 18; Council of Europe Convention on
Cybercrime, art. 29.
Offence: association of wrongdoers in connection with a terrorist undertaking
(French Criminal Code, art. 421-2-1).

We ask for the immediate preservation, for 90 days, of subscriber and traffic
data of the e-mail accounts ops-demo@example.org and relay-demo@example.net,
pending a formal European Investigation Order. Please do not inform the
account holders.

Contact officer: the duty prosecutor, PNAT permanence, +33 1 00 00 00 00."
MSG="$(rog fr-pnat send --to nl-om,de-bka --subject "$SUBJECT" --body "$BODY" \
  --priority urgent --kind request --json | json 'd["id"]')"
[[ -n "$MSG" ]] || die "send printed no message id"
ok "signed, encrypted for nl-om and de-bka, durably queued"
say "message id: ${B}$MSG${RST}"

# ------------------------------------------------------------ 5. receipts
step "Waiting for the signed delivery receipts"
deadline=$((SECONDS + DELIVERY_TIMEOUT))
outbox_state() {
  rog fr-pnat outbox --json | json "next((m['state'] for m in d if m['id'] == a[0]), 'missing')" "$MSG"
}
while :; do
  state="$(outbox_state)"
  [[ "$state" == "delivered" ]] && break
  case "$state" in
    failed | expired | missing) die "message $MSG is $state on fr-pnat";;
  esac
  ((SECONDS < deadline)) || die "message $MSG still '$state' after ${DELIVERY_TIMEOUT}s"
  sleep 0.2
done
rog fr-pnat outbox --json |
  json "'\n'.join('%s\t%s\t%s' % (r['id'], r['state'], r.get('delivered_at') or '?') for m in d if m['id'] == a[0] for r in m['recipients'])" "$MSG" |
  while IFS=$'\t' read -r rid rstate rat; do
    ok "$(printf '%-7s %s at %s, signed receipt stored' "$rid" "$rstate" "$rat")"
  done

# ------------------------------------------------------------ 6. show
step "The request as the Openbaar Ministerie (nl-om) sees it"
rog nl-om show "$MSG" | indent
rog de-bka inbox --json | json "any(m['id'] == a[0] for m in d)" "$MSG" | grep -qx True ||
  die "message $MSG is not in the inbox of de-bka"
ok "the Bundeskriminalamt (de-bka) holds the same message in its inbox"

# ------------------------------------------------------------ 7. export+verify
step "PNAT exports a provenance bundle; anyone can verify it offline"
BUNDLE="$WORK/bundle.txt"
quiet rog fr-pnat export "$MSG" -o "$BUNDLE"
say "bundle: $(wc -c <"$BUNDLE") bytes, self-contained (cards, signatures, receipts, proofs)"
say "\$ rogatory verify bundle.txt --expect-fingerprint ${FP[fr-pnat]}"
"$ROGATORY" verify "$BUNDLE" --expect-fingerprint "${FP[fr-pnat]}" | indent
ok "bundle verified: sent by fr-pnat (${FP[fr-pnat]})"

# A one-character change anywhere must be caught.
TAMPERED="$WORK/bundle-tampered.txt"
"$PY" - "$BUNDLE" "$TAMPERED" <<'EOF'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
# Flip a character in the middle of the bundle, keeping it printable text.
i = len(data) // 2
while chr(data[i]) in "\r\n-= ":
    i += 1
data[i] = ord("A") if data[i] != ord("A") else ord("B")
open(sys.argv[2], "wb").write(bytes(data))
EOF
rc=0
"$ROGATORY" verify "$TAMPERED" --expect-fingerprint "${FP[fr-pnat]}" >/dev/null 2>&1 || rc=$?
((rc == 3)) || die "a tampered bundle was not rejected (verify exit $rc, expected 3)"
ok "a copy with one character changed is rejected (verify exit 3)"

# ------------------------------------------------------------ 8. request new
# request_state NODE ID: the state of request ID in NODE's `request list`.
request_state() {
  rog "$1" request list --json | json "next((r['state'] for r in d if r['id'] == a[0]), 'missing')" "$2"
}
# wait_request_state NODE ID STATE: waits until NODE shows request ID in STATE.
wait_request_state() {
  local n="$1" id="$2" want="$3" state deadline=$((SECONDS + DELIVERY_TIMEOUT))
  while :; do
    state="$(request_state "$n" "$id")"
    [[ "$state" == "$want" ]] && return 0
    ((SECONDS < deadline)) || die "request $id is '$state' on $n after ${DELIVERY_TIMEOUT}s, expected '$want'"
    sleep 0.2
  done
}

step "PNAT sends a structured MLA request to the Bundeskriminalamt"
say "\$ rogatory request new --from-file docs/examples/terrorism-subscriber-data.json --to de-bka"
REQ="$(rog fr-pnat request new --from-file "$REQUEST_FILE" --to de-bka --json | json 'd["id"]')"
[[ -n "$REQ" ]] || die "request new printed no request id"
ok "request $REQ checked, signed, encrypted for de-bka and queued"
wait_request_state fr-pnat "$REQ" delivered
rog de-bka inbox --json |
  json "next(('%s, %s, from %s' % (m['kind'], m['priority'], m['from']) for m in d if m['id'] == a[0]), 'missing')" "$REQ" |
  { read -r what; ok "de-bka stored it ($what: terrorism makes it urgent); PNAT holds the signed receipt"; }
rog de-bka request list --json |
  json "next(('case %s, deadline %s' % (r['case_reference'], r['deadline']) for r in d if r['id'] == a[0]), '')" "$REQ" |
  { read -r what; say "de-bka tracks it: $what"; }

# ------------------------------------------------------------ 9. acknowledge
step "The BKA acknowledges the request (a signed status update)"
say "\$ rogatory request update $REQ --state acknowledged --note \"registered under BKA-DEMO-2026-0042\""
quiet rog de-bka request update "$REQ" --state acknowledged --note "registered under BKA-DEMO-2026-0042"
wait_request_state fr-pnat "$REQ" acknowledged
ok "PNAT sees the request acknowledged"

# ------------------------------------------------------------ 10. outcome
step "The BKA executes it partially and attaches the result"
RESULT="$WORK/subscriber-data.csv"
{
  printf 'account,subscriber,registered_at,registration_ip\n'
  printf '@exemple_nord_42,"EXEMPLE, Lucas (fictitious)",2026-02-11T19:04:52Z,192.0.2.17\n'
  for i in $(seq 1 2000); do
    printf '@exemple_nord_42,login,2026-03-%02dT%02d:%02d:00Z,192.0.2.%d\n' \
      $((i % 28 + 1)) $((i % 24)) $((i % 60)) $((i % 250 + 1))
  done
} >"$RESULT"
RESULT_SHA="$(sha256sum "$RESULT" | cut -d' ' -f1)"
say "result file: $(basename "$RESULT"), $(wc -c <"$RESULT") bytes, SHA-256 $RESULT_SHA"
say "\$ rogatory request update $REQ --state partially_executed --note ... --attach subscriber-data.csv"
STATUS_MSG="$(rog de-bka request update "$REQ" --state partially_executed \
  --note "Subscriber data and log-in records attached; content data needs a separate order." \
  --attach "$RESULT" --json | json 'd["id"]')"
[[ -n "$STATUS_MSG" ]] || die "request update printed no message id"
ok "status update $STATUS_MSG queued with its attachment, sealed in 1 MiB chunks"
wait_request_state fr-pnat "$REQ" partially_executed
ok "PNAT pulled the attachment, checked every chunk and its SHA-256, and receipted it"

# ------------------------------------------------------------ 11. list+fetch
step "PNAT lists its requests and fetches the result"
say "\$ rogatory request list"
rog fr-pnat request list | indent
FETCHED="$WORK/fetched-subscriber-data.csv"
say "\$ rogatory fetch $STATUS_MSG --attachment 0 -o fetched-subscriber-data.csv"
rog fr-pnat fetch "$STATUS_MSG" --attachment 0 -o "$FETCHED" 2>&1 | indent
cmp -s "$RESULT" "$FETCHED" || die "the fetched attachment differs from the file the BKA attached"
ok "the fetched file is byte for byte the BKA's result (SHA-256 $RESULT_SHA)"

# ------------------------------------------------------------ stop
printf '\n%sStopping the nodes%s\n' "$B" "$RST"
for n in "${NODES[@]}"; do
  rc=0
  stop_daemon "$n" || rc=$?
  ((rc == 0)) || die "the daemon of $n exited with status $rc on SIGTERM (log: $WORK/$n.log)"
  ok "$n stopped cleanly"
done

printf '\n%sSummary%s\n' "$B" "$RST"
say "message $MSG"
say "from    fr-pnat  ${AUTHORITY[fr-pnat]} (FR)"
say "to      nl-om    ${AUTHORITY[nl-om]} (NL): delivered, signed receipt held"
say "        de-bka   ${AUTHORITY[de-bka]} (DE): delivered, signed receipt held"
say "proof   exported bundle verified offline against fingerprint ${FP[fr-pnat]}"
say "request $REQ fr-pnat -> de-bka: delivered, acknowledged, partially executed"
say "        result attachment fetched by fr-pnat, SHA-256 checked"
[[ -n "${KEEP:-}" ]] || say "${DIM}(set KEEP=1 to keep the homes, logs and bundle)${RST}"
printf '%sDemo completed.%s\n' "$GRN" "$RST"
