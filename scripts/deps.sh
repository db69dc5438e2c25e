#!/usr/bin/env bash
# Installs what a make target needs on a Debian machine, only when missing.
#   scripts/deps.sh build   protoc (the CRI client is generated at build time), gcc
#   scripts/deps.sh test    + the lab's runtimes (lab-deps.sh), prometheus and
#                             promtool (metrics-deps.sh), kubectl kustomize and
#                             kubernetes-validate (deploy-deps.sh)
#   scripts/deps.sh bench   + ps and /usr/bin/time
# Services that Debian packages would start on install (dockerd, containerd,
# prometheus) are kept stopped: tests run private instances of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

want=${1:-build}

policy=/usr/sbin/policy-rc.d
if [ "$(id -u)" = 0 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

apt_missing() { # pairs of command:package
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_missing protoc:protobuf-compiler cc:gcc
case "$want" in
  build) ;;
  test)
    scripts/lab-deps.sh
    scripts/metrics-deps.sh
    scripts/deploy-deps.sh
    ;;
  bench)
    apt_missing ps:procps /usr/bin/time:time
    ;;
  *) echo "deps: unknown target $want (build, test, bench)" >&2; exit 2 ;;
esac
