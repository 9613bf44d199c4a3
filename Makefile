# Entry points; the logic lives in scripts/ and tools/.
STACK ?= dev
.PHONY: up test unit render render-all config-doc lock

up:            ## pulumi up of $(STACK) (needs DIGITALOCEAN_TOKEN and PULUMI_CONFIG_PASSPHRASE)
	scripts/up.sh $(STACK)

test:          ## every test tier, offline
	scripts/test.sh

render:        ## offline render of $(STACK) to build/render/$(STACK)
	$$(scripts/venv.sh)/bin/python -m tools.render --stack $(STACK)

render-all:
	$$(scripts/venv.sh)/bin/python -m tools.render --all

config-doc:    ## regenerate the README's configuration reference
	$$(scripts/venv.sh)/bin/python -m tools.config_doc --write

lock:          ## re-pin transitive dependencies after changing pyproject.toml
	scripts/lock.sh
