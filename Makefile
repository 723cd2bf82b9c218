# jupyterhub-primehub: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs by itself (apt packages, a venv, npm packages, the local
# Kubernetes control plane build) and prints what it is doing. Steps already done are skipped
# (stamp files under .make/; the control plane binaries are cached under ~/.cache).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
PYTEST := $(VENV)/bin/pytest --durations=30
RUFF   := $(VENV)/bin/ruff
STAMP  := .make
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages: Go toolchain + sources for building the control plane, etcd, bubblewrap and
# iproute2 for the node agent, containerd, runc and the CNI plugins for the real node, mmdebstrap
# and gcc for the images, Chromium for the browser tests, Node.js for the lab extension, SLURM
# and munge for the local SLURM cluster (localslurm).
APT_PACKAGES := golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync make etcd-server \
                bubblewrap iproute2 iptables chromium nodejs npm git \
                containerd runc containernetworking-plugins mmdebstrap gcc libc6-dev \
                slurm-wlm munge

say = @printf '\n\033[1m==> %s\033[0m\n' "$(1)"

.PHONY: help setup demo test lint test-ts test-python test-server test-cluster test-browser \
        test-containers test-slurm demo-slurm images bench k8s k8s-up k8s-down clean

help:
	@echo "make demo   - start the local Kubernetes cluster and JupyterHub with a demo catalog (http://127.0.0.1:8000)"
	@echo "make demo-slurm - the same demo on a local SLURM (PrimeHubSlurmSpawner, docs/slurm.md)"
	@echo "make test   - install everything needed and run every test (lint, TypeScript, server, cluster, browser)"
	@echo "make bench  - benchmarks against peers (not part of make test)"
	@echo "make clean  - stop the local cluster and remove build outputs"

$(STAMP)/apt: Makefile
	$(call say,Checking Debian packages: $(APT_PACKAGES))
	@mkdir -p $(STAMP)
	@wanted="$(APT_PACKAGES)"; \
	if command -v node >/dev/null && command -v npm >/dev/null; then wanted=$$(echo $$wanted | tr ' ' '\n' | grep -vx -e nodejs -e npm); fi; \
	missing=$$(for p in $$wanted; do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	else echo "all present"; fi
	@touch $@

$(STAMP)/venv: setup.cfg pyproject.toml $(wildcard setup.py labextension/package.json) $(STAMP)/apt $(shell find labextension/src labextension/style labextension/schema -type f 2>/dev/null)
	$(call say,Creating the Python venv $(VENV) and installing the project with test extras (builds the JupyterLab extension))
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -e '.[test]'
	@touch $@

$(STAMP)/npm: $(wildcard package.json) $(STAMP)/apt
	$(call say,Installing npm packages for the hub (configurable-http-proxy))
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP)/venv $(STAMP)/npm

k8s: setup
	$(call say,Building (first time, about 12 minutes) or reusing the cached local Kubernetes build)
	$(PY) -m localk8s build

k8s-up: k8s
	$(PY) -m localk8s up

demo-slurm: setup
	$(call say,Starting the demo on SLURM: the local SLURM + JupyterHub on http://127.0.0.1:8000 (Ctrl-C stops the hub; python -m localslurm down stops SLURM))
	$(PY) -m localslurm up
	PRIMEHUB_SCHEDULER=slurm $(VENV)/bin/jupyterhub -f jupyterhub_config.py

k8s-down:
	-$(PY) -m localk8s down

demo: k8s
	$(call say,Starting the demo: local cluster + JupyterHub on http://127.0.0.1:8000 (Ctrl-C stops everything))
	$(PY) demo/run.py

lint: setup
	$(call say,ruff check and ruff format --check)
	$(RUFF) check .
	$(RUFF) format --check .
	$(call say,ESLint and Prettier of the lab extension (jlpm lint:check; jlpm lint fixes))
	cd labextension && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" jlpm lint:check

test-ts: setup
	$(call say,TypeScript unit tests of the lab extension)
	cd labextension && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" jlpm test

test-server: setup
	$(call say,Server extension tests (pytest-jupyter, real kernels))
	$(PYTEST) -p pytest_jupyter.jupyter_server tests/contract tests/security tests/jupyterlab_primehub

test-cluster: k8s
	$(call say,Unit tests and the cluster / hub end-to-end / fault tests on the local Kubernetes cluster)
	$(PYTEST) tests/primehub_spawner tests/localk8s tests/e2e tests/fault

test-browser: k8s
	$(call say,Browser tests: Playwright driving Debian Chromium against real JupyterLab / JupyterHub)
	$(PYTEST) tests/browser

images: setup
	$(call say,Building (first time, a few minutes) or reusing the images primehub-notebook and primehub-hub)
	$(PY) -m localk8s images

test-containers: k8s images
	$(call say,The wheel and real containers: a hub spawning into the containerd node; the hub deployed inside it (deploy/))
	$(PYTEST) tests/packaging tests/containers tests/incluster

test-slurm: setup
	$(call say,The SLURM spawner: unit tests and a real JupyterHub spawning through the local SLURM (localslurm))
	$(PYTEST) tests/slurm

test: lint test-ts test-server test-cluster test-browser test-containers test-slurm
	$(call say,All tests passed)

bench: k8s
	$(call say,Benchmarks against peers; results in bench/results/latest.json)
	$(PY) -m bench

clean: k8s-down
	rm -rf $(STAMP) build dist *.egg-info jupyterlab_primehub/labextension labextension/lib
