#!/usr/bin/env bash
# `make lab` on container nodes, before and after a change, in one run on this machine: not a test
# (the figures depend on the machine), a measurement that puts two commits side by side.
#
#   scripts/bench-lab.sh     (make bench-lab; env: BENCH_BEFORE=1a6a80e, BENCH_WORKERS=3, BENCH_KEEP=1)
#
# "before" is a git worktree of BENCH_BEFORE (made under .cache/bench-lab/ and removed at the end),
# "after" this checkout. For each, in that order:
# 1. not timed: its node image, built or reused (each tree under a tag of its own: their recipes
#    differ, and one tag would be rebuilt at every turn); its lab's nodes removed, and the bundle's
#    files read once, so that both runs find them in the page cache;
# 2. timed: scripts/lab-podman.py up, then site.yml until every node is Ready (what make lab does
#    after its bundle and image steps, which find everything built), then site.yml once more, which
#    must report changed=0; every task timed by ansible.posix.profile_tasks;
# 3. the lab removed (BENCH_KEEP=1 leaves the last one running).
# Both install this checkout's bundle (LAB_BUNDLE_DIR, else .cache/bundle; make bench-lab builds what
# changed first) on a lab of their own: a topology written here (1 + BENCH_WORKERS nodes on
# 192.168.79.0/24, pod and service ranges of its own, containers named benchlab-*), with the tree's
# own group_vars, ansible.cfg and fact cache, so the real lab and the other benchmarks are left alone.
# Prints the two side by side, with the time of each phase (scripts/bench_report.py); the logs stay
# in .cache/bench-lab/. Needs root, podman and runc, as make lab on container nodes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
before_rev=${BENCH_BEFORE:-1a6a80e}
workers=${BENCH_WORKERS:-3}
work=${BENCH_WORKDIR:-$project/.cache/bench-lab}
python=$project/.venv/bin/python
export PATH=$project/.venv/bin:$PATH
export CONTAINERS_CONF=${CONTAINERS_CONF:-$project/scripts/podman/containers.conf}
export LAB_BUNDLE_DIR=${LAB_BUNDLE_DIR:-$project/.cache/bundle}
export LAB_PROVIDER=podman LAB_PODMAN_PREFIX=benchlab- LAB_PODMAN_NETWORK=k8s-lab-benchlab
export ANSIBLE_NOCOLOR=1
unset LAB_PROJECT_DIR

[[ "$(id -u)" == 0 ]] || { echo "bench-lab: run as root (the podman lab needs it)" >&2; exit 1; }
[[ -f "$LAB_BUNDLE_DIR/manifest.json" ]] || { echo "bench-lab: no bundle at $LAB_BUNDLE_DIR: make bundle first" >&2; exit 1; }
before_commit=$(git -C "$project" rev-parse --verify "$before_rev^{commit}")
after_commit=$(git -C "$project" rev-parse --short HEAD)
if [[ -n "$(git -C "$project" status --porcelain --untracked-files=no)" ]]; then
  after_commit="$after_commit+changes"
fi
before_tree=$work/before-tree
current_lab=""

remove_before_tree() {
  # A worktree whose directory went missing (an interrupted run) is only forgotten.
  git -C "$project" worktree prune
  if git -C "$project" worktree list --porcelain | grep -qx "worktree $before_tree"; then
    git -C "$project" worktree remove --force "$before_tree"
  fi
  rm -rf "$before_tree"
}

cleanup() {
  if [[ -n "$current_lab" && "${BENCH_KEEP:-0}" != 1 ]]; then
    LAB_TOPOLOGY=$current_lab/inventory/topology.yml "$python" "$project/scripts/lab-podman.py" down >/dev/null 2>&1 \
      || echo "bench-lab: could not remove the lab of $current_lab; scripts/lab-podman.py down with its LAB_TOPOLOGY" >&2
  fi
  remove_before_tree
}
trap cleanup EXIT

mkdir -p "$work"
remove_before_tree
git -C "$project" worktree add --quiet --detach "$before_tree" "$before_commit"

# step LAB NAME COMMAND...: runs it with every task timed, adds "NAME<TAB>seconds" to LAB/times.tsv;
# its output goes to LAB/NAME.log. Fails (after showing the log's end) when the command does.
step() {
  local lab=$1 name=$2 start end
  shift 2
  echo "[bench-lab] $(basename "$lab"): $name ..." >&2
  start=$(date +%s.%N)
  if ! ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=all \
      "$@" >"$lab/$name.log" 2>&1; then
    echo "[bench-lab] $(basename "$lab"): $name failed; see $lab/$name.log" >&2
    tail -n 30 "$lab/$name.log" >&2
    return 1
  fi
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v n="$name" 'BEGIN {printf "%s\t%.1f\n", n, e - s}' >>"$lab/times.tsv"
}

# measure NAME TREE IMAGE: one `make lab` on fresh nodes, and its rerun, with TREE's code.
measure() {
  local name=$1 tree=$2 image=$3 lab=$work/$1
  rm -rf "$lab"
  mkdir -p "$lab/inventory" "$lab/facts"
  ln -s "$tree/inventory/group_vars" "$lab/inventory/group_vars"
  cat >"$lab/inventory/topology.yml" <<EOF
# Written by scripts/bench-lab.sh: the $name lab, apart from a real one.
plugin: k8s_lab.lab.lab_topology
workers: $workers
provider: podman
subnet: 192.168.79.0/24
loadbalancer_first: 11
loadbalancer_last: 29
pod_cidr: 172.22.0.0/16
service_cidr: 10.144.0.0/12
EOF
  export LAB_TOPOLOGY=$lab/inventory/topology.yml LAB_NODE_IMAGE=$image
  export ANSIBLE_CONFIG=$tree/ansible.cfg ANSIBLE_CACHE_PLUGIN_CONNECTION=$lab/facts
  echo "[bench-lab] $name ($tree): node image $image, not timed ..." >&2
  "$tree/scripts/build-node-image.sh" >"$lab/image.log" 2>&1 \
    || { tail -n 30 "$lab/image.log" >&2; return 1; }
  "$python" "$tree/scripts/lab-podman.py" down >"$lab/down.log" 2>&1 \
    || { tail -n 30 "$lab/down.log" >&2; return 1; }
  current_lab=$lab
  find "$LAB_BUNDLE_DIR" -type f -exec cat {} + >/dev/null
  step "$lab" up "$python" "$tree/scripts/lab-podman.py" up || return 1
  step "$lab" converge ansible-playbook -i "$LAB_TOPOLOGY" "$tree/site.yml" || return 1
  step "$lab" rerun ansible-playbook -i "$LAB_TOPOLOGY" "$tree/site.yml" || return 1
  if [[ "${BENCH_KEEP:-0}" != 1 || "$name" != after ]]; then
    "$python" "$tree/scripts/lab-podman.py" down >>"$lab/down.log" 2>&1 \
      || { tail -n 30 "$lab/down.log" >&2; return 1; }
    current_lab=""
  fi
}

failed=()
measure before "$before_tree" localhost/k8s-lab-node:bench-before || failed+=(before)
# The one make lab builds and runs.
measure after "$project" "${BENCH_AFTER_IMAGE:-localhost/k8s-lab-node:debian12}" || failed+=(after)

echo
echo "make lab on $((workers + 1)) podman nodes, warm bundle and node image, $(nproc) CPUs ($(date -u +%F)):"
"$python" "$here/bench_report.py" "before ${before_commit:0:7}=$work/before" "after $after_commit=$work/after"
echo
echo "Logs: $work/{before,after}/{up,converge,rerun}.log"
if ((${#failed[@]})); then
  echo "bench-lab: failed: ${failed[*]} (the table shows what was measured before)" >&2
  exit 1
fi
