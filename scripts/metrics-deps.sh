#!/bin/sh
# Installs what tests/metrics.rs and tests/prometheus.rs need: promtool and
# prometheus from the Debian package `prometheus`. Idempotent: does nothing
# when both are already on PATH. The package's service is not started
# (a policy-rc.d denies it for the duration of the install) so nothing ends
# up listening on 9090, the agent's own metrics port.
set -eu

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "metrics-deps: promtool/prometheus missing and not root: install the Debian package 'prometheus'" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
added_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    added_policy=yes
fi
cleanup() {
    if [ "$added_policy" = yes ]; then rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null

command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || {
    echo "metrics-deps: prometheus package installed but promtool/prometheus not on PATH" >&2
    exit 1
}
