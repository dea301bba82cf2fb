#!/usr/bin/env bash
# Bring the lab up, or take it down: scripts/lab-up.sh [up|destroy]   (make lab, make lab-destroy)
#
# The provider comes from inventory/topology.yml, read with the inventory plugin's own code
# (LAB_PROVIDER overrides it; for Vagrant providers, so does VAGRANT_DEFAULT_PROVIDER):
# - virtualbox/libvirt: check that Vagrant and the provider are there, then `vagrant up` and
#   `vagrant provision`, whose Ansible provisioner runs site.yml once every VM is up;
# - podman: scripts/lab-podman.py up starts the nodes as systemd containers, then site.yml runs.
# Where the topology asks for VMs but neither VirtualBox nor libvirt with Vagrant is usable and podman
# is (as root), the lab runs on podman and says so. Rerun it after a reboot of the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:-up}
python=.venv/bin/python
[[ -x "$python" ]] || python=python3
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/molecule/containers.conf}

# The topology's provider and m-k8s's address, validated as Ansible validates them (a bad setting
# stops here, named).
topology=$("$python" - <<'EOF'
import sys

sys.path.insert(0, "collections")
try:
    from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology
except ImportError as exc:
    sys.exit(f"Cannot read inventory/topology.yml ({exc}); run 'make setup-lab'")
try:
    settings = lab_topology.read_settings("inventory/topology.yml")
    topology = lab_topology.build_topology(settings)
except (OSError, lab_topology.TopologyError) as exc:
    sys.exit(f"inventory/topology.yml: {exc}")
print(settings["provider"], topology.nodes[0].ip)
EOF
)
read -r topology_provider master_ip <<<"$topology"

vagrant_provider_usable() {
  command -v vagrant >/dev/null || return 1
  case "$1" in
    virtualbox) command -v VBoxManage >/dev/null ;;
    libvirt) command -v virsh >/dev/null && vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt ;;
    *) return 1 ;;
  esac
}

podman_usable() {
  [[ "$(id -u)" == 0 ]] && command -v podman >/dev/null && command -v runc >/dev/null \
    && podman info >/dev/null 2>&1
}

if [[ "$topology_provider" == podman ]]; then
  provider=podman
else
  provider=${VAGRANT_DEFAULT_PROVIDER:-$topology_provider}
fi

if [[ "$action" == destroy ]]; then
  if [[ "$provider" == podman ]]; then
    exec "$python" scripts/lab-podman.py down
  fi
  # Only where a VM provider works: elsewhere Vagrant fails on it (and `vagrant validate` in the
  # tests leaves .vagrant/machines behind without any VM).
  if [[ -d .vagrant/machines ]] && { vagrant_provider_usable virtualbox || vagrant_provider_usable libvirt; }; then
    vagrant destroy -f
  fi
  # A lab `make lab` ran on podman because no VM provider was usable.
  if podman_usable; then
    "$python" scripts/lab-podman.py down
  fi
  exit 0
elif [[ "$action" != up ]]; then
  echo "usage: $0 [up|destroy]" >&2
  exit 2
fi

fallback=false
if [[ "$provider" != podman ]]; then
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
      echo "inventory/topology.yml: provider: '$provider' is unknown; use virtualbox, libvirt or podman" >&2
      exit 2
      ;;
  esac
  if ((${#missing[@]} > 0)) && ! vagrant_provider_usable virtualbox && ! vagrant_provider_usable libvirt \
    && podman_usable; then
    echo "Neither VirtualBox nor libvirt with Vagrant is usable here: the lab's nodes run as podman containers instead (provider: podman in inventory/topology.yml makes this the default)."
    provider=podman
    fallback=true
  fi
fi
if [[ "$provider" == podman ]]; then
  missing=()
  [[ "$(id -u)" == 0 ]] || missing+=("root (the podman lab adds a bridge network with fixed addresses and host routes)")
  command -v podman >/dev/null || missing+=("podman (apt-get install podman)")
  command -v runc >/dev/null || missing+=("runc (apt-get install runc)")
fi
command -v ansible-playbook >/dev/null || missing+=("ansible-playbook (run 'make setup-lab')")

if ((${#missing[@]} > 0)); then
  echo "Cannot build the lab on this machine; missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  if [[ "$provider" != podman ]]; then
    echo "(Or, as root with podman and runc installed, set provider: podman to run the nodes as containers.)" >&2
  fi
  exit 1
fi

if [[ "$provider" == podman ]]; then
  # The inventory plugin must describe the containers too, not the VMs the file asks for.
  export LAB_PROVIDER=podman
  # Container nodes install from the offline bundle: built here from source the first time (see the
  # README), a second or so when it is current. LAB_BUNDLE_DIR points at a bundle made elsewhere.
  if [[ -z "${LAB_BUNDLE_DIR:-}" ]]; then
    make --no-print-directory bundle
  fi
  "$python" scripts/lab-podman.py up
  ansible-playbook site.yml
  kubectl="${LAB_BUNDLE_DIR:-.cache/bundle}/bin/kubectl get nodes -o wide     (the bundle's kubectl)"
  cat <<EOF

The lab runs on podman. From this machine:
  export KUBECONFIG=$PWD/.cache/kubeconfig
  $kubectl
  ssh -i .cache/lab-podman/id_ed25519 -o UserKnownHostsFile=.cache/lab-podman/known_hosts root@$master_ip
  scripts/lab-podman.py status        make lab-destroy removes the lab
EOF
  if [[ "$fallback" == true ]]; then
    echo "  export LAB_PROVIDER=podman        before running ansible-playbook yourself (or set provider: podman)"
  fi
  exit 0
fi

# `vagrant up` provisions only machines it creates; after a reboot they exist already. Provisioning
# explicitly runs site.yml exactly once either way (it is idempotent and skips what is done).
vagrant up --provider "$provider" --no-provision
vagrant provision "$(vagrant status --machine-readable | awk -F, '$3 == "state" {name = $2} END {print name}')"
