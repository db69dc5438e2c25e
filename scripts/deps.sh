#!/usr/bin/env bash
# Installs what a target needs on a Debian machine, only when missing.
#   scripts/deps.sh build   protoc (the CRI client is generated at build time)
#   scripts/deps.sh test    + containerd, runc, dockerd, busybox, tini, gcc,
#                             prometheus/promtool (the real parts tests run against)
set -euo pipefail

want=build
[ $# -gt 0 ] && want=$1

# command -> Debian package
declare -A pkgs=([protoc]=protobuf-compiler [cc]=gcc)
if [ "$want" = test ] || [ "$want" = bench ]; then
  pkgs+=([containerd]=containerd [runc]=runc [dockerd]=docker.io [tini]=tini
         [prometheus]=prometheus [promtool]=prometheus [ps]=procps)
fi
if [ "$want" = bench ]; then
  pkgs+=([/usr/bin/time]=time)
fi

missing=()
for cmd in "${!pkgs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${pkgs[$cmd]}")
done
# busybox-static provides a static /bin/busybox for the test images.
if [ "$want" != build ] && ! { [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; }; then
  if ! dpkg -s busybox-static >/dev/null 2>&1; then missing+=(busybox-static); fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Debian prometheus package starts a system service; tests run their own.
if [ "$want" != build ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
fi
exit 0
