# Entry points; the logic lives in scripts/ and tools/. `make` alone prints the help below, generated
# from the `##` comments. Every target is a convenience over what README "Direct Pulumi use" does by hand.
STACK ?= dev
.DEFAULT_GOAL := help
.PHONY: help setup up destroy test e2e unit render render-all golden kubescape-exceptions config-doc lock preflight verify drift drift-all preview policy-check policy-doc budget check-pins image-digests budget-fit bench

help:          ## this list (the default goal)
	@awk 'BEGIN {FS = ":[^#]*## "; print "usage: make <target> [STACK=dev|staging|prod] [ARGS=...]\n"} /^[A-Za-z0-9_-]+:[^#]*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup:         ## once per checkout: the virtualenv (outside the repository, linked as .venv) and the local state directory
	scripts/setup.sh

up:            ## pulumi up of $(STACK), preflight first (needs DIGITALOCEAN_TOKEN, HARDENED_DOKS_CLUSTER_ACCESS_TOKEN, PULUMI_CONFIG_PASSPHRASE)
	scripts/up.sh $(STACK) $(ARGS)

destroy:       ## tear $(STACK) down (asks for its name; ARGS=--yes); refuses prod, whose cluster and VPC are protected
	scripts/destroy.sh $(STACK) $(ARGS)

test:          ## every test tier, offline
	scripts/test.sh

unit:          ## the unit tier alone (offline artifacts first; what the pull-request workflow runs)
	scripts/test.sh --unit

e2e:           ## the end-to-end tier alone (builds the offline toolchain on first use)
	scripts/e2e.sh

render:        ## offline render of $(STACK) to build/render/$(STACK), each chart's objects beside its Release (needs helm: scripts/helm.sh)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.render --stack $(STACK) $(ARGS)

render-all:    ## offline render of every stack in stacks/
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.render --all $(ARGS)

golden:        ## rewrite the committed golden renders (tests/golden/<stack>) after a reviewed change of the program's output
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.render --all --golden --offline $(ARGS)

check-pins:    ## every pinned chart against its repository's live index.yaml (needs internet)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.check_pins $(ARGS)

image-digests: ## resolve the add-on charts' image and artifact digests from their registries (needs internet)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.image_digests --resolve $(ARGS)

kubescape-exceptions:  ## the Kubescape exceptions file CI scans with, from tests/checkov-exceptions.yaml
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.kubescape_exceptions --out build/kubescape-exceptions.json

config-doc:    ## regenerate the configuration reference (docs/configuration.md)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.config_doc --write

lock:          ## re-pin transitive dependencies after changing pyproject.toml
	scripts/lock.sh

# Day-2 operations (docs/operations.md). ARGS passes flags through, e.g. ARGS=--json.
preflight:     ## DigitalOcean account checks of $(STACK)'s config (needs DIGITALOCEAN_TOKEN)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.preflight --stack $(STACK) $(ARGS)

verify:        ## post-deploy checks of $(STACK)'s cluster: firewalls, control plane, clusterlint
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.verify --stack $(STACK) $(ARGS)

drift:         ## drift report of $(STACK): preview --refresh --expect-no-changes, classified
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.drift --stack $(STACK) $(ARGS)

drift-all:     ## drift report of every stack
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.drift --all $(ARGS)

preview:       ## pulumi preview of $(STACK) with the policy pack
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.preview --stack $(STACK) $(ARGS)

policy-check:  ## the policy pack on every stack, offline (mocks, no engine)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.policy_check --all $(ARGS)

budget:        ## requests of the security add-ons vs the node pools' allocatable capacity, every stack (STACK=… for one)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.budget $(if $(filter command line,$(origin STACK)),--stack $(STACK),--all) $(ARGS)

bench:         ## performance at platform scale: the program to N=500, the engine vs kubectl at N=10,50,200 (docs/performance.md; BENCH_N=… for a quick run)
	scripts/bench.sh $(ARGS)

budget-fit:    ## the same add-ons placed by kube-scheduler on simulated nodes of dev's pool, and of a too-small one (e2e toolchain)
	scripts/e2e.sh -k budget_fit -s -q

policy-doc:    ## regenerate the control matrix from the policy pack (docs/policy-pack.md)
	$$(scripts/venv.sh)/bin/python -m hardened_doks.tools.policy_doc --write
