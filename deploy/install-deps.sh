#!/usr/bin/env bash
# Installs Rogatory's build and test dependencies from Debian 12 packages.
# Safe to run more than once: apt-get skips what is already installed.
#   deploy/install-deps.sh          what building and the test suite need
#   deploy/install-deps.sh --fuzz   also clang and libFuzzer, for tests/fuzz/run.sh
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libzmq3-dev cppzmq-dev libsodium-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libspdlog-dev
  nlohmann-json3-dev libsqlite3-dev libsqlitecpp-dev libtomlplusplus-dev libssl-dev
  sqlite3 python3-zmq python3-protobuf
  systemd iproute2
)
for arg in "$@"; do
  case "$arg" in
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "install-deps: unknown argument '$arg' (known: --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
