# djangostack: the two commands are `make demo` and `make test` (see README.md).
# Everything else here is a building block of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
# The tools run on `python3` from PATH: the venv's once it exists (.venv/bin goes first below).
PY          := python3
# The machine's python3 (Debian 12: 3.11), for .venv-oldest: looked up on PATH without this
# Makefile's .venv/bin (a sub-make inherits it first on PATH). Run by its real path, not a
# pyenv shim: a shim puts its own bin/ first on PATH for everything started under it.
SYSTEM_PATH := $(subst $(CURDIR)/$(BIN):,,$(PATH))
SYSTEM_PY   := $(or $(shell PATH='$(SYSTEM_PATH)' python3 -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))' 2>/dev/null),python3)
# The tools run on the newest supported ansible-core (requirements-dev.txt), which needs Python
# >= 3.12 on the controller: tools/controller-python finds one (Debian 13's python3 is 3.13).
# .venv-oldest holds the oldest supported ansible-core, the minimum of meta/runtime.yml's
# requires_ansible, on Debian's python3, with every other pin of requirements-dev.txt.
NEWEST_PY   := $(shell PATH='$(SYSTEM_PATH)' tools/controller-python)
OLDEST_VENV := .venv-oldest
OLDEST_CORE := $(shell sed -n 's/^requires_ansible: *">=\([0-9.]*\)"$$/\1/p' meta/runtime.yml)
LAB         := $(PY) tools/lab.py
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0
export ANSIBLE_NOCOLOR ?= 1
# The shared molecule settings live in .config/molecule/config.yml. `make test`
# runs three lanes side by side (tools/suite.py): scenario `default` in one,
# `multi` in another, lint, the unit tests and then scenario `acme` in the third.
# `make molecule` runs the scenarios in two lanes; `make molecule SCENARIO=name`
# runs one (several names: one after the other).
MOLECULE_LANES := default multi+acme
LANES       := default multi make:lint+make:sanity+make:unit+make:oldest+acme
SCENARIO    ?=
space       := $(subst ,, )
DEBIAN_PACKAGES := python3 python3-venv docker.io debootstrap openssh-client git make age rsync

APP_VENV    := .cache/appvenv
# The collection's version (galaxy.yml): the tag of the execution environment image (`make ee`).
VERSION     := $(shell sed -n 's/^version: *//p' galaxy.yml)
CONTAINER_RUNTIME ?= docker
# `make drift` checks this inventory (LIMIT=pattern narrows it to some hosts).
INVENTORY   ?= inventories/staging

.PHONY: help deps venv oldest-venv oldest newest-python sanity ee engine images lint docs unit app-test molecule test demo demo-clean drift bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages the controller needs (when missing)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# $(call build_venv,DIR,PYTHON,CORE): a venv in DIR on PYTHON with the pins of requirements-dev.txt;
# with CORE, ansible-core CORE instead of its pin, and the `ansible` package's collections (the
# same versions in both venvs) installed without its dependency on the newest ansible-core.
define build_venv
	rm -rf $(1) && $(2) -m venv $(1)
	$(1)/bin/pip install -q --upgrade pip
	$(if $(3),grep -v '^ansible\(-core\)\?==' requirements-dev.txt > $(1)/requirements.txt && echo 'ansible-core==$(3)' >> $(1)/requirements.txt,cp requirements-dev.txt $(1)/requirements.txt)
	$(1)/bin/pip install -q -r $(1)/requirements.txt
	$(if $(3),$(1)/bin/pip install -q --no-deps --ignore-requires-python "$$(grep '^ansible==' requirements-dev.txt)")
	@touch $(1)/.installed
endef

# Without a Python >= 3.12, .venv gets the oldest supported ansible-core on python3 (enough for
# `make demo` and a real run); `make test` needs both ends of the range and says so.
$(VENV)/.installed: requirements-dev.txt meta/runtime.yml
	@echo "==> building the Python virtual environment ($(VENV)) from requirements-dev.txt on $(or $(NEWEST_PY),$(SYSTEM_PY))"
	$(if $(NEWEST_PY),,@echo "==> no Python >= 3.12 here (tools/controller-python): $(VENV) runs ansible-core $(OLDEST_CORE), the oldest supported")
	$(call build_venv,$(VENV),$(or $(NEWEST_PY),$(SYSTEM_PY)),$(if $(NEWEST_PY),,$(OLDEST_CORE)))

venv: deps $(VENV)/.installed ## build the pinned Python tool environment

$(OLDEST_VENV)/.installed: requirements-dev.txt meta/runtime.yml
	@echo "==> building $(OLDEST_VENV): ansible-core $(OLDEST_CORE) (meta/runtime.yml) on $(SYSTEM_PY)"
	$(call build_venv,$(OLDEST_VENV),$(SYSTEM_PY),$(OLDEST_CORE))

oldest-venv: deps $(OLDEST_VENV)/.installed ## the tools on the oldest supported ansible-core

newest-python:
	@test -n "$(NEWEST_PY)" || { echo "make test runs the newest supported ansible-core, which needs Python >= 3.12 on the controller, and none was found (tools/controller-python). Debian 13's python3 is 3.13."; exit 1; }

engine: deps ## start a Docker engine when none answers
	@$(LAB) engine

images: engine ## build the Debian 12/13 systemd base images (reused when present)
	@$(LAB) images

lint: venv ## yamllint, ansible-lint (production profile), ruff, docs/roles up to date
	@echo "==> yamllint"
	yamllint -s .
	@echo "==> ruff"
	ruff check .
	ruff format --check .
	@echo "==> docs/roles generated from the argument specs"
	python tools/roledocs.py --check
	@echo "==> ansible-lint (production profile)"
	@# ansible-lint puts its cache's collections ($$ANSIBLE_HOME, else ~/.ansible) before ansible.cfg's
	@# collections_path: a copy of djangostack.stack there (molecule installs one) would be linted
	@# against instead of this tree. Its cache is the project's .ansible/ (ignored), so ./collections wins.
	ANSIBLE_HOME=$(CURDIR)/.ansible ANSIBLE_VAULT_PASSWORD_FILE=inventories/staging/vault-password.txt ansible-lint --offline
	@echo "==> release notes (changelogs/fragments, changelogs/changelog.yaml)"
	antsibull-changelog lint
	antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

sanity: venv ## ansible-test sanity on the built and installed collection (tools/sanity.sh)
	tools/sanity.sh

docs: venv ## regenerate docs/roles from the argument specs
	python tools/roledocs.py

unit: venv app-test ## unit tests (argument specs, plugins, inventories, the sample Django project)
	@echo "==> unit tests"
	pytest -q tests/unit

$(APP_VENV)/.installed: app/requirements.txt
	@echo "==> building the sample project's test environment ($(APP_VENV))"
	rm -rf $(APP_VENV) && $(PY) -m venv $(APP_VENV)
	$(APP_VENV)/bin/pip install -q -r app/requirements.txt
	@touch $@

app-test: deps $(APP_VENV)/.installed ## the sample Django project's own tests (installed as a wheel would be)
	@echo "==> sample Django project: install and test"
	$(APP_VENV)/bin/pip install -q --no-deps --force-reinstall ./app
	cd /tmp && DJANGO_SECRET_KEY=test-only DATABASE_URL=sqlite:///$(CURDIR)/.cache/app-test.sqlite3 \
	  $(CURDIR)/$(APP_VENV)/bin/sample-manage test sample.notes

oldest: oldest-venv app-test ## ansible-lint and the unit tests on the oldest supported ansible-core
	@echo "==> ansible-lint and unit tests on $$($(OLDEST_VENV)/bin/ansible --version | head -1)"
	PATH=$(CURDIR)/$(OLDEST_VENV)/bin:$$PATH ANSIBLE_HOME=$(CURDIR)/.ansible ANSIBLE_VAULT_PASSWORD_FILE=inventories/staging/vault-password.txt ansible-lint --offline
	PATH=$(CURDIR)/$(OLDEST_VENV)/bin:$$PATH pytest -q tests/unit

# Scenario multi checks its converged lab with the oldest supported ansible-core too (.venv-oldest).
molecule: venv oldest-venv images ## molecule test of every scenario (two lanes at once), or SCENARIO=name
	@$(PY) tools/suite.py $(if $(strip $(SCENARIO)),$(subst $(space),+,$(strip $(SCENARIO))),$(MOLECULE_LANES))

test: newest-python venv oldest-venv images app-test ## the whole suite: lint, unit tests and every molecule scenario, in three lanes
	@$(PY) tools/suite.py $(LANES)
	@echo "==> all tests passed"

demo: venv images ## start the container lab and converge the stack into it
	@echo "==> converging the demo lab (molecule scenario 'demo')"
	molecule converge -s demo
	@$(PY) tools/lab.py demo-info

demo-clean: venv ## remove the demo lab
	molecule destroy -s demo

drift: venv ## check-mode diff of an inventory against its hosts; exit 1 on drift (NAVIGATOR=1: in the EE)
	$(PY) tools/drift.py -i '$(INVENTORY)' $(if $(LIMIT),--limit '$(LIMIT)',) $(if $(NAVIGATOR),--navigator,)

ee: venv ## build the execution environment image djangostack-ee:$(VERSION) (ansible-navigator.yml runs in it)
	rm -rf .cache/ee && mkdir -p .cache/ee/collection
	ansible-galaxy collection build --output-path .cache/ee/collection .
	ansible-builder build --file execution-environment.yml --context .cache/ee/context \
	  --tag djangostack-ee:$(VERSION) --container-runtime $(CONTAINER_RUNTIME)

bench: venv images ## benchmarks on a container lab of its own, one table of ratios (BENCH_KEEP=1 keeps the lab)
	$(BIN)/python tools/bench.py $(if $(filter-out 0,$(BENCH_KEEP)),--keep,)

clean: ## remove the virtualenv and caches (images are kept; see `docker image ls djangostack/*`)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
