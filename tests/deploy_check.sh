#!/usr/bin/env bash
# Checks the systemd unit with `systemd-analyze verify`, as deploy/README.md
# tells operators to, on a copy whose ExecStart= points at the built daemon
# (verify checks that the binary exists and is executable). No systemd as
# PID 1 is needed.
#   tests/deploy_check.sh UNIT_FILE ROGATORYD
# Exit 0: verify passed and said nothing about the unit. 1: it failed, or
# printed anything about the unit (a warning included). 77: skipped, because
# systemd-analyze is not installed (ctest shows the test as skipped).
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 UNIT_FILE ROGATORYD" >&2
  exit 2
fi
unit=$1
daemon=$2
name=${unit##*/}

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "deploy_check: SKIPPED: systemd-analyze is not installed (Debian package 'systemd');" \
       "$name was not checked"
  exit 77
fi
if [ ! -x "$daemon" ]; then
  echo "deploy_check: $daemon is not an executable file" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rogatory-unit-XXXXXX")
trap 'rm -rf "$work"' EXIT
copy="$work/$name"
sed "s|^ExecStart=/usr/local/bin/rogatoryd |ExecStart=$daemon |" "$unit" > "$copy"
if ! grep -q "^ExecStart=$daemon " "$copy"; then
  echo "deploy_check: $unit has no 'ExecStart=/usr/local/bin/rogatoryd ...' line to point" \
       "at the built daemon" >&2
  exit 1
fi

echo "deploy_check: $(systemd-analyze --version | head -n 1)"
echo "deploy_check: systemd-analyze verify $copy  (ExecStart=$daemon)"
rc=0
out=$(systemd-analyze verify "$copy" 2>&1) || rc=$?
if [ -n "$out" ]; then
  printf '%s\n' "$out"
fi
if [ "$rc" -ne 0 ]; then
  echo "deploy_check: FAILED: systemd-analyze verify exited $rc" >&2
  exit 1
fi
# verify may also print notes about other units on this machine; anything
# naming ours is a finding, a warning included.
if printf '%s\n' "$out" | grep -qF -e "$name" -e "$work"; then
  echo "deploy_check: FAILED: systemd-analyze verify has something to say about $name" >&2
  exit 1
fi
echo "deploy_check: OK: $name verified with no warning"
