# Cluster targets, included by the Makefile. Variables (override on the
# command line, e.g. `make deploy DEPLOY_DIR=deploy/overlays/cri-o`):
#   KUBECTL     kubectl to use (kubeconfig/context as usual: KUBECONFIG, ...)
#   NAMESPACE   where the agent runs
#   DEPLOY_DIR  kustomization to deploy: deploy (containerd), or
#               deploy/overlays/cri-o, deploy/overlays/docker, your own
#   COMPONENTS  extra components from deploy/components to add, e.g.
#               "prometheus-operator"; `make dry-run` and `make debug` add
#               dry-run / debug to these
#   IMAGE       image the DaemonSet runs (as built by `make image IMAGE=...`)
#   NODE        `make logs NODE=x`: only the agent on node x
#   METRICS_LOCAL_PORT  local port for `make metrics`
KUBECTL ?= kubectl
NAMESPACE ?= kube-system
DEPLOY_DIR ?= deploy
COMPONENTS ?=
NODE ?=
IMAGE ?= zombie-cleaner:latest
METRICS_LOCAL_PORT ?= 9090
CARGO ?= cargo

ZC_DS := daemonset/zombie-cleaner
ZC_SELECTOR := app=zombie-cleaner
# Generated kustomization: DEPLOY_DIR + COMPONENTS, in NAMESPACE. Kustomize
# wants paths relative to the kustomization, hence realpath --relative-to.
ZC_KUSTOMIZE_DIR ?= target/kustomize
ZC_REPO_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))/..

# $(call zc_kustomization,RESOURCE_DIR,COMPONENTS,IMAGE)
# IMAGE (optional) is split into name and tag; a registry port
# (host:5000/name) is not a tag.
define zc_kustomization
	@mkdir -p $(ZC_KUSTOMIZE_DIR)
	@{ echo 'apiVersion: kustomize.config.k8s.io/v1beta1'; \
	   echo 'kind: Kustomization'; \
	   echo 'namespace: $(NAMESPACE)'; \
	   echo 'resources:'; \
	   echo "  - $$(realpath --relative-to=$(ZC_KUSTOMIZE_DIR) $(1))"; \
	   if [ -n "$(strip $(2))" ]; then echo 'components:'; \
	     for c in $(2); do \
	       echo "  - $$(realpath --relative-to=$(ZC_KUSTOMIZE_DIR) $(ZC_REPO_DIR)/deploy/components/$$c)"; \
	     done; fi; \
	   img='$(strip $(3))'; \
	   if [ -n "$$img" ]; then \
	     name=$${img%:*}; tag=$${img##*:}; \
	     case "$$tag" in */*) name=$$img; tag=latest;; esac; \
	     [ "$$name" != "$$img" ] || tag=latest; \
	     echo 'images:'; \
	     echo '  - name: zombie-cleaner'; \
	     echo "    newName: $$name"; \
	     echo "    newTag: \"$$tag\""; \
	   fi; } > $(ZC_KUSTOMIZE_DIR)/kustomization.yaml
endef

# $(call zc_deploy,COMPONENTS)
define zc_deploy
	$(call zc_kustomization,$(DEPLOY_DIR),$(1),$(IMAGE))
	$(KUBECTL) apply -k $(ZC_KUSTOMIZE_DIR)
	$(KUBECTL) -n $(NAMESPACE) rollout status $(ZC_DS) --timeout=5m
endef

.PHONY: deploy undeploy status logs metrics dry-run restart debug config-update

deploy: ## Deploy the DaemonSet (DEPLOY_DIR, COMPONENTS, NAMESPACE, IMAGE) and wait for it
	$(call zc_deploy,$(COMPONENTS))

undeploy: ## Remove every object deploy created
	$(call zc_kustomization,$(DEPLOY_DIR),$(COMPONENTS))
	$(KUBECTL) delete -k $(ZC_KUSTOMIZE_DIR) --ignore-not-found

status: ## DaemonSet rollout and one line per agent pod (with its node)
	$(KUBECTL) -n $(NAMESPACE) get $(ZC_DS) -o wide
	$(KUBECTL) -n $(NAMESPACE) get pods -l $(ZC_SELECTOR) -o wide

logs: ## Follow the agents' logs (NODE=x: only the agent on node x)
	@if [ -n "$(NODE)" ]; then \
	  pod=$$($(KUBECTL) -n $(NAMESPACE) get pods -l $(ZC_SELECTOR) \
	    --field-selector spec.nodeName=$(NODE) -o name | head -n 1); \
	  [ -n "$$pod" ] || { echo "no zombie-cleaner pod on node $(NODE)" >&2; exit 1; }; \
	  echo "$(KUBECTL) -n $(NAMESPACE) logs -f $$pod"; \
	  $(KUBECTL) -n $(NAMESPACE) logs -f --tail=200 $$pod; \
	else \
	  echo "$(KUBECTL) -n $(NAMESPACE) logs -f -l $(ZC_SELECTOR) --prefix"; \
	  $(KUBECTL) -n $(NAMESPACE) logs -f -l $(ZC_SELECTOR) --prefix --tail=50 --max-log-requests=50; \
	fi

metrics: ## Port-forward svc/zombie-cleaner-metrics to localhost:$(METRICS_LOCAL_PORT)
	@echo "Metrics of one agent: curl http://localhost:$(METRICS_LOCAL_PORT)/metrics  (Ctrl-C to stop)"
	$(KUBECTL) -n $(NAMESPACE) port-forward svc/zombie-cleaner-metrics $(METRICS_LOCAL_PORT):9090

dry-run: ## Redeploy in dry-run (report only); `make deploy` turns it off again
	$(call zc_deploy,$(COMPONENTS) dry-run)

debug: ## Redeploy with LOG_LEVEL=debug; `make deploy` turns it off again
	$(call zc_deploy,$(COMPONENTS) debug)
	@echo "Debug logs: make logs"

restart: ## Restart every agent pod (e.g. after the container runtime restarted)
	$(KUBECTL) -n $(NAMESPACE) rollout restart $(ZC_DS)
	$(KUBECTL) -n $(NAMESPACE) rollout status $(ZC_DS) --timeout=5m

config-update: ## Check config/config.yaml, then push it to the ConfigMap (agents reload it)
	$(CARGO) run --quiet -- check-config -config config/config.yaml > /dev/null
	$(call zc_kustomization,config,)
	$(KUBECTL) apply -k $(ZC_KUSTOMIZE_DIR)
	@echo "Agents reload the file once the kubelet refreshes the mounted ConfigMap (up to about a minute)."
