# `make image`: the container image, built without any registry. The static
# binary is built on this host (glibc, crt-static), then `docker build` runs
# on a context holding only that binary and deploy/image/Dockerfile.prebuilt
# (FROM scratch), so no base image is pulled. The multi-stage Dockerfile at
# the repo root builds the same image where a registry is reachable.
# Variables: IMAGE (tag), DOCKER (client; honours DOCKER_HOST as usual).
IMAGE ?= zombie-cleaner:latest
DOCKER ?= docker
CARGO ?= cargo

ZC_HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
ZC_STATIC_BIN := target/$(ZC_HOST_TRIPLE)/release/zombie-cleaner
ZC_IMAGE_CONTEXT := target/image-context
# The docker CLI defaults to BuildKit, which needs the buildx plugin; without
# it, the classic builder does the same job for a FROM scratch image.
ZC_DOCKER_BUILDKIT := $(shell $(DOCKER) buildx version >/dev/null 2>&1 && echo 1 || echo 0)

.PHONY: image static-binary

static-binary: ## Build the static release binary (target/<host-triple>/release)
	@command -v protoc >/dev/null 2>&1 || { \
	  echo "installing protobuf-compiler (protoc, for the CRI protos)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends protobuf-compiler >/dev/null; }
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked \
	  --target $(ZC_HOST_TRIPLE) --bin zombie-cleaner
	@if readelf -l $(ZC_STATIC_BIN) | grep -q INTERP; then \
	  echo "$(ZC_STATIC_BIN) is dynamically linked" >&2; exit 1; fi

image: static-binary ## Build the image $(IMAGE) (FROM scratch, no registry needed)
	rm -rf $(ZC_IMAGE_CONTEXT) && mkdir -p $(ZC_IMAGE_CONTEXT)
	cp $(ZC_STATIC_BIN) $(ZC_IMAGE_CONTEXT)/zombie-cleaner
	cp deploy/image/Dockerfile.prebuilt $(ZC_IMAGE_CONTEXT)/Dockerfile
	DOCKER_BUILDKIT=$(ZC_DOCKER_BUILDKIT) $(DOCKER) build --pull=false -t $(IMAGE) $(ZC_IMAGE_CONTEXT)
	@$(DOCKER) image inspect $(IMAGE) --format '$(IMAGE): {{.Size}} bytes'
