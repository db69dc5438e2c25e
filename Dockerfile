# zombie-cleaner image: one static binary on an empty base.
#
#   docker build -t zombie-cleaner:latest .
#
# needs a registry for the build stage's base image. Without one (air-gapped
# machines, CI here), `make image` builds the same static binary on the host
# and wraps it with deploy/image/Dockerfile.prebuilt, pulling nothing.
#
# Static glibc (crt-static) rather than musl: same binary as on the host,
# and no musl target needed. The agent resolves no host names (it binds
# 0.0.0.0 and talks to UNIX sockets and an IP-addressed API server), so glibc's
# NSS, which a static binary cannot load, is never used.

ARG RUST_VERSION=1.85
FROM rust:${RUST_VERSION}-bookworm AS build
# k8s-cri generates its gRPC code from .proto files at build time.
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN target="$(rustc -vV | sed -n 's/^host: //p')" \
 && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target "$target" --bin zombie-cleaner \
 && cp "target/$target/release/zombie-cleaner" /zombie-cleaner \
 && if readelf -l /zombie-cleaner | grep -q INTERP; then \
      echo "zombie-cleaner is not static" >&2; exit 1; fi

FROM scratch
COPY --from=build /zombie-cleaner /zombie-cleaner
# Root, for the runtime socket (owned by root, mode 0660). The DaemonSet drops
# every capability but KILL; see deploy/base/daemonset.yaml.
USER 0:0
EXPOSE 9090
ENTRYPOINT ["/zombie-cleaner"]
