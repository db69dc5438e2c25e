#!/bin/sh
# Installs the Debian packages the real-runtime test lab (tests/lab) needs:
# containerd, runc, docker.io, busybox-static, tini, gcc (+ libc6-dev for
# -static), protobuf-compiler.
# Idempotent: when every binary is present it does nothing (no apt call).
# Run as root (the lab itself needs root too). Called by `make test`.
set -eu

# package:binary that proves it is installed
NEEDED="containerd:containerd containerd:ctr containerd:containerd-shim-runc-v2 runc:runc
docker.io:dockerd busybox-static:busybox tini:tini gcc:gcc protobuf-compiler:protoc"

missing=""
for pair in $NEEDED; do
    pkg=${pair%%:*}; bin=${pair#*:}
    if ! command -v "$bin" >/dev/null 2>&1; then
        case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg";; esac
    fi
done
# the lab copies a STATIC busybox into its images: a dynamic one would not run there
if [ -x /bin/busybox ] && command -v file >/dev/null 2>&1 && ! file -L /bin/busybox | grep -q 'statically linked'; then
    missing="$missing busybox-static"
fi
# gcc -static needs the static C library (a Recommends of gcc, not a Depends)
if ! gcc -print-file-name=libc.a 2>/dev/null | grep -q /; then
    missing="$missing libc6-dev"
fi
# the docker CLI is used to load images and run containers; docker.io ships it
if ! command -v docker >/dev/null 2>&1; then
    case " $missing " in *" docker.io "*) ;; *) missing="$missing docker.io";; esac
fi

if [ -z "$missing" ]; then
    echo "lab-deps: all present"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "lab-deps: missing packages:$missing; run as root to install them" >&2
    exit 1
fi
echo "lab-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends $missing
