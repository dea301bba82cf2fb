#!/usr/bin/env bash
# Bring the lab up, or take it down: scripts/lab-up.sh [up|destroy]   (make lab, make lab-destroy)
#
# The provider is the inventory plugin's decision (LAB_PROVIDER, then provider: in
# inventory/topology.yml, then what an earlier `make lab` recorded in .cache/lab-provider, then
# VAGRANT_DEFAULT_PROVIDER, then virtualbox); scripts/lab_host.py then says whether it can run here:
# - virtualbox/libvirt: `vagrant up` and `vagrant provision`, whose Ansible provisioner runs site.yml
#   once every VM is up;
# - where no VM provider works, or podman was asked for: podman container nodes
#   (scripts/lab-podman.py), after installing podman and its companions with apt where missing;
#   the offline bundle is built first (only what this lab runs), the node image beside it.
# The choice is recorded in .cache/lab-provider, so every playbook reaches the same nodes without
# settings; `make lab-destroy` forgets it. Rerun `make lab` after a reboot of the machine.
#
# LAB_BUNDLE_SOURCE=download (and LAB_BUNDLE_MIRROR=https://...) fetches the official release files
# instead of compiling them, where this machine has internet; LAB_BUNDLE_DIR uses a bundle made
# elsewhere. Each step's time goes to .cache/lab-up-times.tsv (scripts/bench-first-run.sh reads it).
set -euo pipefail
cd "$(dirname "$0")/.."

action=${1:-up}
python=.venv/bin/python
[[ -x "$python" ]] || python=python3
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/scripts/podman/containers.conf}
recorded=.cache/lab-provider
times=.cache/lab-up-times.tsv

# The provider, what decided it, and the nodes, validated as Ansible validates them (a bad setting
# stops here, named).
topology=$("$python" - <<'EOF'
import sys

sys.path.insert(0, "collections")
try:
    from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology
except ImportError as exc:
    sys.exit(f"Cannot read inventory/topology.yml ({exc}); run 'make setup-lab'")
path = "inventory/topology.yml"
try:
    lab = lab_topology.describe(path)
except (OSError, lab_topology.TopologyError) as exc:
    sys.exit(f"{path}: {exc}")
print(lab["provider"], lab["provider_source"], lab["nodes"][0]["ip"], len(lab["nodes"]) - 1)
EOF
)
read -r requested source master_ip workers <<<"$topology"

podman_usable() {
  [[ "$(id -u)" == 0 ]] && command -v podman >/dev/null && command -v runc >/dev/null \
    && podman info >/dev/null 2>&1
}

vagrant_usable() {
  command -v vagrant >/dev/null && { command -v VBoxManage >/dev/null || command -v virsh >/dev/null; }
}

if [[ "$action" == destroy ]]; then
  if [[ "$requested" == podman ]]; then
    "$python" scripts/lab-podman.py down
  else
    # Only where a VM provider works: elsewhere Vagrant fails on it (and `vagrant validate` in the
    # tests leaves .vagrant/machines behind without any VM).
    if [[ -d .vagrant/machines ]] && vagrant_usable; then
      vagrant destroy -f
    fi
    # A lab that an older `make lab` ran on podman without recording it.
    if podman_usable; then
      "$python" scripts/lab-podman.py down
    fi
  fi
  rm -f "$recorded" "$times"
  exit 0
elif [[ "$action" != up ]]; then
  echo "usage: $0 [up|destroy]" >&2
  exit 2
fi

command -v ansible-playbook >/dev/null || { echo "ansible-playbook is missing: run 'make setup-lab'" >&2; exit 1; }

# One line per step on the screen, one row per step in $times.
mkdir -p -m 700 .cache
: >"$times"
step_name=""
step_start=0
step() {
  local now=$SECONDS
  if [[ -n "$step_name" ]]; then
    printf '%s\t%s\n' "$step_name" "$((now - step_start))" >>"$times"
    echo "[lab] $step_name: done in $((now - step_start)) s"
  fi
  step_name=$1
  step_start=$now
  [[ -z "$step_name" ]] || echo "[lab] $step_name ..."
}

step "host: choose where the nodes run, install what they need"
decision=$("$python" scripts/lab_host.py prepare "$requested") || exit 1
provider=$(tail -n 1 <<<"$decision")
fallback=$(grep -qx fallback <<<"$decision" && echo true || echo false)
echo "$provider" >"$recorded"

if [[ "$provider" != podman ]]; then
  step ""
  # `vagrant up` provisions only machines it creates; after a reboot they exist already.
  # Provisioning explicitly runs site.yml exactly once either way (it is idempotent and skips what
  # is done).
  vagrant up --provider "$provider" --no-provision
  vagrant provision "$(vagrant status --machine-readable | awk -F, '$3 == "state" {name = $2} END {print name}')"
  exit 0
fi

# This run's playbooks must see the containers even where the topology names a VM provider (it wins
# over what was recorded).
export LAB_PROVIDER=podman
step ""
bundle_dir=${LAB_BUNDLE_DIR:-.cache/bundle}
image=${LAB_NODE_IMAGE:-localhost/k8s-lab-node:debian12}
first_bundle=false
[[ -n "${LAB_BUNDLE_DIR:-}" || -f "$bundle_dir/manifest.json" ]] || first_bundle=true
if [[ "$first_bundle" == true ]] || ! podman image exists "$image"; then
  # Figures: a 2-core machine with nothing installed, 2026-12-07 (scripts/bench-first-run.sh).
  cat <<EOF
[lab] First run on this machine: m-k8s and $workers worker(s) as podman containers. What it does:
[lab]   - the offline bundle: Kubernetes, etcd, CoreDNS, containerd, runc, crictl and the CNI plugins
[lab]     compiled from Go source (about 10 minutes on 2 cores; later runs reuse it in seconds;
[lab]     a topology at the previous Kubernetes minor compiles that release too).
[lab]     With internet, LAB_BUNDLE_SOURCE=download make lab fetches the official release files
[lab]     instead (checked against their published checksums).
[lab]   - the node image (Debian 12, debootstrap), alongside the bundle (a few minutes);
[lab]   - the nodes, then the cluster with site.yml (about 2 minutes).
EOF
fi

image_log=.cache/node-image.log
if [[ -z "${LAB_BUNDLE_DIR:-}" ]]; then
  step "bundle: build what this lab runs (the node image alongside)"
  # The image is needed only once the bundle is done, and the compiles are the first run's critical
  # path: it is built beside them at the lowest CPU priority. (At equal priority its debootstrap,
  # about 4 minutes with the common role's packages, slowed Kubernetes' compile by more than a
  # minute and the first run with it: 2026-12-07, docs/measurements.md.)
  nice -n 19 scripts/build-node-image.sh >"$image_log" 2>&1 &
  image_pid=$!
  make --no-print-directory bundle BUNDLE_APPS=built BUNDLE_RELEASES=topology
  wait "$image_pid" || { cat "$image_log" >&2; echo "The node image failed (log: $image_log)" >&2; exit 1; }
fi

step "nodes: start the containers"
"$python" scripts/lab-podman.py up

step "cluster: site.yml"
ansible-playbook site.yml
step ""

# The pin's kubectl: the bundle always carries it, and it talks to a cluster of the previous minor too.
pin=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["kubernetes_version"])' \
  "$bundle_dir/manifest.json")
kubectl="$bundle_dir/kubernetes/$pin/bin/kubectl"
echo
echo "[lab] Step times (seconds), also in $times:"
sed 's/^/[lab]   /' "$times"
echo
KUBECONFIG=$PWD/.cache/kubeconfig "$kubectl" get nodes -o wide
cat <<EOF

The lab runs on podman; make lab chose it and recorded it in $recorded, so every playbook reaches
these nodes (ansible-playbook site.yml, playbooks/health.yml, ...). From this machine:
  export KUBECONFIG=$PWD/.cache/kubeconfig
  $kubectl get nodes -o wide      (the bundle's kubectl)
  ssh -i .cache/lab-podman/id_ed25519 -o UserKnownHostsFile=.cache/lab-podman/known_hosts root@$master_ip
  scripts/lab-podman.py status        make lab-destroy removes the lab
EOF
if [[ "$fallback" == true && "$source" == topology ]]; then
  echo "  inventory/topology.yml says provider: $requested, which wins over the record: set provider: podman"
  echo "  there, or export LAB_PROVIDER=podman, before running ansible-playbook yourself"
fi
