#!/usr/bin/env bash
# One-shot setup for deploy/compose.yaml: creates the three demo nodes'
# homes (once) and exchanges their cards, each checked against the
# fingerprint its own node reports. Runs in the `setup` service with the
# three volumes mounted at /homes/fr, /homes/nl and /homes/de.
#   deploy/compose-setup.sh [HOMES_DIR]      default /homes
# For a demo on one host only: between real authorities the fingerprint
# travels over a second channel (docs/operations.md section 2).
set -euo pipefail
homes=${1:-/homes}
nodes=(fr:fr-pnat:FR:"Parquet national antiterroriste"
       nl:nl-om:NL:"Openbaar Ministerie"
       de:de-bka:DE:"Bundeskriminalamt")

for spec in "${nodes[@]}"; do
  IFS=: read -r host id country authority <<< "$spec"
  home="$homes/$host"
  if [ -f "$home/keys.bin" ]; then
    echo "compose-setup: $id already initialised"
    continue
  fi
  # The card names the service's DNS name, which partners dial; the daemon
  # binds every interface of its container (a listen address must be an IP).
  rogatory --home "$home" init --name "$id" --authority "$authority" --country "$country" \
      --listen "tcp://$host:7400"
  sed -i "s|^listen = .*|listen = \"tcp://*:7400\"|" "$home/node.toml"
done

for spec in "${nodes[@]}"; do
  IFS=: read -r host id _ <<< "$spec"
  rogatory --home "$homes/$host" id export -o "$homes/$id.card" --force 2>/dev/null
done
for spec in "${nodes[@]}"; do
  IFS=: read -r host id _ <<< "$spec"
  for other in "${nodes[@]}"; do
    IFS=: read -r ohost oid _ <<< "$other"
    [ "$ohost" = "$host" ] && continue
    fp=$(rogatory --home "$homes/$ohost" id show --json |
         sed -n 's/.*"fingerprint": *"\([A-Z0-9-]*\)".*/\1/p')
    out=$(rogatory --home "$homes/$host" peer add "$homes/$oid.card" --fingerprint "$fp" 2>&1) ||
      case "$out" in
        *"already in the roster"*) ;;
        *) echo "$out" >&2; exit 1 ;;
      esac
  done
done
# Run as root (fresh volumes are root's): the daemons run as the image's
# user, ROGATORY_UID (default 10001, deploy/Containerfile).
if [ "$(id -u)" -eq 0 ] && [ -n "${ROGATORY_UID:-10001}" ]; then
  for spec in "${nodes[@]}"; do
    IFS=: read -r host _ <<< "$spec"
    chown -R "${ROGATORY_UID:-10001}:${ROGATORY_UID:-10001}" "$homes/$host"
  done
fi
echo "compose-setup: fr-pnat, nl-om and de-bka know each other"
