#!/usr/bin/env bash
# Installs the Debian (bookworm) packages pg_trickle needs to build and test. Idempotent and
# quick when everything is already there; needs root only when something is missing.
set -euo pipefail

packages=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev libxxhash-dev
          libfmt-dev libgtest-dev googletest cmake g++ make pkg-config)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}" >&2
    echo "run 'sudo make deps' (or as root: scripts/install-deps.sh)" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
