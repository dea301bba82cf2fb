#!/usr/bin/env bash
# Bring the lab up: check that Vagrant and the chosen provider are there, then `vagrant up`, whose
# Ansible provisioner runs site.yml once every VM is up. Rerun it after a reboot of the laptop.
set -euo pipefail
cd "$(dirname "$0")/.."

provider=${VAGRANT_DEFAULT_PROVIDER:-$(awk -F': *' '$1 == "provider" {print $2}' inventory/topology.yml)}
provider=${provider:-virtualbox}

missing=()
command -v vagrant >/dev/null || missing+=("vagrant (https://developer.hashicorp.com/vagrant/install)")
case "$provider" in
  virtualbox)
    command -v VBoxManage >/dev/null || missing+=("VirtualBox (VBoxManage not found)")
    ;;
  libvirt)
    command -v virsh >/dev/null || missing+=("libvirt (virsh not found)")
    if command -v vagrant >/dev/null && ! vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt; then
      missing+=("the vagrant-libvirt plugin (vagrant plugin install vagrant-libvirt)")
    fi
    ;;
  *)
    echo "inventory/topology.yml: provider: '$provider' is unknown; use virtualbox or libvirt" >&2
    exit 2
    ;;
esac
command -v ansible-playbook >/dev/null || missing+=("ansible-playbook (run 'make setup-lab')")

if ((${#missing[@]} > 0)); then
  echo "Cannot build the lab on this machine; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

# `vagrant up` provisions only machines it creates; after a reboot they exist already. Provisioning
# explicitly runs site.yml exactly once either way (it is idempotent and skips what is done).
vagrant up --provider "$provider" --no-provision
vagrant provision "$(vagrant status --machine-readable | awk -F, '$3 == "state" {name = $2} END {print name}')"
