# zombie-cleaner — the targets users type. Kubernetes targets live in
# mk/kubernetes.mk, the image in mk/image.mk.
SHELL := /bin/bash
CARGO ?= cargo
BIN := target/release/zombie-cleaner

.PHONY: all build run daemon test lint bench check-config clean help

all: build

help:
	@echo "make run      one-shot scan of this host (no Kubernetes needed)"
	@echo "make daemon   dry-run daemon on this host, /metrics on :9090"
	@echo "make test     every test (installs missing Debian packages)"
	@echo "make build    release binary at $(BIN)"
	@echo "make bench    scanner benchmark, writes docs/benchmarks.md"
	@echo "make image    container image \$$(IMAGE)"
	@echo "make deploy | undeploy | status | logs | metrics | dry-run | restart | debug | config-update"

build:
	@scripts/deps.sh build
	$(CARGO) build --release --locked

## run: scan this host once and print its zombies, grouped by container.
run: build
	$(BIN) scan

## daemon: the cleaning daemon in dry run on this host, metrics on :9090.
daemon: build
	$(BIN) run --dry-run -log-format text

check-config: build
	$(BIN) check-config -config config/config.yaml

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## test: lints, then every test; prints one closing "N passed, N failed" line.
test:
	@scripts/deps.sh test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	@scripts/test.sh

bench:
	@scripts/deps.sh bench
	@scripts/bench.sh

clean:
	$(CARGO) clean

-include mk/image.mk
-include mk/kubernetes.mk
