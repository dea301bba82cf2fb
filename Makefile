# Entry points for newcomers: `make lab` builds the lab, `make test` runs every test.
# Each target installs what it needs first, so both work on a fresh machine.

SHELL := /bin/bash
VENV ?= .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
export CONTAINERS_CONF := $(abspath molecule/containers.conf)
export ANSIBLE_CONFIG := $(abspath ansible.cfg)

# Debian packages the test suite needs: podman nodes, the node image, promtool, the reboot VM.
TEST_APT_PACKAGES := podman runc debootstrap prometheus qemu-system-x86 qemu-utils openssh-client vagrant

.PHONY: help setup setup-lab setup-test image lint unit molecule test test-reboot bench lab

help:
	@echo "make lab    - bring up the VMs with Vagrant and build the cluster (site.yml)"
	@echo "make test   - lint, unit tests and every Molecule scenario (offline)"
	@echo "make lint | unit | molecule [SCENARIO=name] | test-reboot | bench | image | setup"

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
	@missing=$$(for p in $(TEST_APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  sudo_cmd=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo_cmd apt-get install -y -qq $$missing >/dev/null; \
	fi

setup: setup-test

image: setup-test
	scripts/build-node-image.sh

lint: setup-test
	scripts/run-tests.sh lint

unit: setup-test
	scripts/run-tests.sh unit

molecule: image
	scripts/run-tests.sh molecule $(SCENARIO)

test: image
	scripts/run-tests.sh all

# The real-reboot proof alone (a qemu VM under software emulation; also part of `make test`).
test-reboot: setup-test
	scripts/run-tests.sh molecule reboot

bench: image
	scripts/bench-rerun.sh

lab: setup-lab
	scripts/lab-up.sh
