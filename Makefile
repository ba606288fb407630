# djangostack: the two commands are `make demo` and `make test` (see README.md).
# Everything else here is a building block of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
PY          := python3
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
LANES       := default multi make:lint+make:unit+acme
SCENARIO    ?=
space       := $(subst ,, )
DEBIAN_PACKAGES := python3 python3-venv docker.io debootstrap openssh-client git make age rsync

APP_VENV    := .cache/appvenv
# `make drift` checks this inventory (LIMIT=pattern narrows it to some hosts).
INVENTORY   ?= inventories/staging

.PHONY: help deps venv engine images lint docs unit app-test molecule test demo demo-clean drift bench clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install the Debian packages the controller needs (when missing)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/.installed: requirements-dev.txt
	@echo "==> building the Python virtual environment ($(VENV)) from requirements-dev.txt"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

venv: deps $(BIN)/.installed ## build the pinned Python tool environment

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

molecule: venv images ## molecule test of every scenario (two lanes at once), or SCENARIO=name
	@$(PY) tools/suite.py $(if $(strip $(SCENARIO)),$(subst $(space),+,$(strip $(SCENARIO))),$(MOLECULE_LANES))

test: venv images app-test ## the whole suite: lint, unit tests and every molecule scenario, in three lanes
	@$(PY) tools/suite.py $(LANES)
	@echo "==> all tests passed"

demo: venv images ## start the container lab and converge the stack into it
	@echo "==> converging the demo lab (molecule scenario 'demo')"
	molecule converge -s demo
	@$(PY) tools/lab.py demo-info

demo-clean: venv ## remove the demo lab
	molecule destroy -s demo

drift: venv ## check-mode diff of an inventory against its hosts; exit 1 on drift
	$(PY) tools/drift.py -i '$(INVENTORY)' $(if $(LIMIT),--limit '$(LIMIT)',)

bench: venv images ## benchmarks on a container lab of its own, one table of ratios (BENCH_KEEP=1 keeps the lab)
	$(BIN)/python tools/bench.py $(if $(filter-out 0,$(BENCH_KEEP)),--keep,)

clean: ## remove the virtualenv and caches (images are kept; see `docker image ls djangostack/*`)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
