# Entry points; the logic lives in scripts/ and tools/.
STACK ?= dev
.PHONY: up test e2e unit render render-all kubescape-exceptions config-doc lock preflight verify drift drift-all preview policy-check policy-doc budget check-pins image-digests budget-fit

up:            ## pulumi up of $(STACK) (needs DIGITALOCEAN_TOKEN, HARDENED_DOKS_CLUSTER_ACCESS_TOKEN and PULUMI_CONFIG_PASSPHRASE)
	scripts/up.sh $(STACK)

test:          ## every test tier, offline
	scripts/test.sh

unit:          ## the unit tier alone (offline artifacts first; what the pull-request workflow runs)
	scripts/test.sh --unit

e2e:           ## the end-to-end tier alone (builds the offline toolchain on first use)
	scripts/e2e.sh

render:        ## offline render of $(STACK) to build/render/$(STACK), each chart's objects beside its Release (needs helm: scripts/helm.sh)
	$$(scripts/venv.sh)/bin/python -m tools.render --stack $(STACK) $(ARGS)

render-all:
	$$(scripts/venv.sh)/bin/python -m tools.render --all $(ARGS)

check-pins:    ## every pinned chart against its repository's live index.yaml (needs internet)
	$$(scripts/venv.sh)/bin/python -m tools.check_pins $(ARGS)

image-digests: ## resolve the add-on charts' image and artifact digests from their registries (needs internet)
	$$(scripts/venv.sh)/bin/python -m tools.image_digests --resolve $(ARGS)

kubescape-exceptions:  ## the Kubescape exceptions file CI scans with, from tests/checkov-exceptions.yaml
	$$(scripts/venv.sh)/bin/python -m tools.kubescape_exceptions --out build/kubescape-exceptions.json

config-doc:    ## regenerate the README's configuration reference
	$$(scripts/venv.sh)/bin/python -m tools.config_doc --write

lock:          ## re-pin transitive dependencies after changing pyproject.toml
	scripts/lock.sh

# Day-2 operations (README "Operating the stack"). ARGS passes flags through, e.g. ARGS=--json.
preflight:     ## DigitalOcean account checks of $(STACK)'s config (needs DIGITALOCEAN_TOKEN)
	$$(scripts/venv.sh)/bin/python -m tools.preflight --stack $(STACK) $(ARGS)

verify:        ## post-deploy checks of $(STACK)'s cluster: firewalls, control plane, clusterlint
	$$(scripts/venv.sh)/bin/python -m tools.verify --stack $(STACK) $(ARGS)

drift:         ## drift report of $(STACK): preview --refresh --expect-no-changes, classified
	$$(scripts/venv.sh)/bin/python -m tools.drift --stack $(STACK) $(ARGS)

drift-all:
	$$(scripts/venv.sh)/bin/python -m tools.drift --all $(ARGS)

preview:       ## pulumi preview of $(STACK) with the policy pack
	$$(scripts/venv.sh)/bin/python -m tools.preview --stack $(STACK) $(ARGS)

policy-check:  ## the policy pack on every stack, offline (mocks, no engine)
	$$(scripts/venv.sh)/bin/python -m tools.policy_check --all $(ARGS)

budget:        ## requests of the security add-ons vs the node pools' allocatable capacity, every stack (STACK=… for one)
	$$(scripts/venv.sh)/bin/python -m tools.budget $(if $(filter command line,$(origin STACK)),--stack $(STACK),--all) $(ARGS)

budget-fit:    ## the same add-ons placed by kube-scheduler on simulated nodes of dev's pool, and of a too-small one (e2e toolchain)
	scripts/e2e.sh -k budget_fit -s -q

policy-doc:    ## regenerate the README's control matrix from the policy pack
	$$(scripts/venv.sh)/bin/python -m tools.policy_doc --write
