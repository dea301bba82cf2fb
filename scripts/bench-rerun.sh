#!/usr/bin/env bash
# How long does `make lab` take, and how long does rerunning site.yml take on a running lab when
# nothing needs changing, compared with the bare cost of reaching the nodes? Not a test (timings
# depend on the machine): a measurement to rerun after changing a role.
#
#   scripts/bench-rerun.sh     (env: BENCH_WORKERS=3, BENCH_RUNS=2, BENCH_KEEP=1 keeps the lab)
#
# 1. writes a topology of its own (1 + BENCH_WORKERS nodes on 192.168.78.0/24, pod and service
#    ranges of its own) and starts it with the lab's provider, scripts/lab-podman.py (podman nodes
#    over SSH, exactly as `make lab` does on a machine without VMs), the lab's group_vars linked in;
# 2. converges site.yml once: the real cluster, from the offline bundle (make bundle first);
# 3. reruns site.yml BENCH_RUNS times: wall time, tasks per node, changed (target: 0);
# 4. runs the connection floor BENCH_RUNS times: a playbook of as many ansible.builtin.ping tasks
#    as the rerun executed per node, on the same nodes with the same become;
# 5. prints a table and the ratio rerun / floor (target: <= 2), best run of each.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
workers=${BENCH_WORKERS:-3}
runs=${BENCH_RUNS:-2}
work=${BENCH_WORKDIR:-$project/.cache/bench}
# The project's venv (make setup-lab) has Ansible and the kubernetes client.
export PATH=$project/.venv/bin:$PATH
export CONTAINERS_CONF=${CONTAINERS_CONF:-$project/scripts/podman/containers.conf}
export ANSIBLE_CONFIG=$project/ansible.cfg
export LAB_TOPOLOGY=$work/inventory/topology.yml LAB_PODMAN_PREFIX=bench- LAB_PODMAN_NETWORK=k8s-lab-bench
export LAB_BUNDLE_DIR=${LAB_BUNDLE_DIR:-$project/.cache/bundle}
# The lab's fact cache stays the lab's: these nodes share its host names.
export ANSIBLE_CACHE_PLUGIN_CONNECTION=$work/facts
export ANSIBLE_NOCOLOR=1

cleanup() {
  if [[ "${BENCH_KEEP:-0}" != 1 && -f "$LAB_TOPOLOGY" ]]; then
    "$here/lab-podman.py" down >/dev/null 2>&1 || :
  fi
}
trap cleanup EXIT

[[ -f "$LAB_BUNDLE_DIR/manifest.json" ]] || { echo "No bundle at $LAB_BUNDLE_DIR: run make bundle first" >&2; exit 1; }
if [[ -f "$LAB_TOPOLOGY" ]]; then
  "$here/lab-podman.py" down >/dev/null 2>&1 || :
fi
rm -rf "$work"
mkdir -p "$work/inventory" "$work/facts"
ln -s "$project/inventory/group_vars" "$work/inventory/group_vars"
cat >"$LAB_TOPOLOGY" <<EOF
# Written by scripts/bench-rerun.sh: the benchmark's own lab, apart from a real one.
plugin: k8s_lab.lab.lab_topology
workers: $workers
provider: podman
subnet: 192.168.78.0/24
loadbalancer_first: 11
loadbalancer_last: 29
pod_cidr: 172.21.0.0/16
service_cidr: 10.128.0.0/12
EOF

# run NAME COMMAND...: runs it, prints "seconds ok_per_node_max changed_total failed_total" from
# the recap. profile_tasks adds each task's time to the log (the rerun's slowest are shown at the end).
run() {
  local name=$1 log="$work/$1.log" start end
  shift
  start=$(date +%s.%N)
  if ! ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=8 "$@" >"$log" 2>&1; then
    echo "$name failed; see $log" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk -v start="$start" -v end="$end" '
    /^PLAY RECAP/ {recap = 1; next}
    recap && /ok=/ {
      for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "ok" && kv[2] > ok) ok = kv[2]
        if (kv[1] == "changed") changed += kv[2]
        if (kv[1] == "failed") failed += kv[2]
      }
    }
    END {printf "%.1f %d %d %d\n", end - start, ok, changed, failed}' "$log"
}

echo "Starting 1 + $workers nodes (scripts/lab-podman.py up)..." >&2
read -r up_s _ < <(run up "$here/lab-podman.py" up)
echo "Converging site.yml..." >&2
read -r converge_s converge_tasks converge_changed _ < <(run converge ansible-playbook -i "$LAB_TOPOLOGY" "$project/site.yml")

rerun_s=() floor_s=()
rerun_tasks=0 rerun_changed=0
for ((r = 1; r <= runs; r++)); do
  echo "Rerun $r/$runs..." >&2
  read -r s tasks changed _ < <(run "rerun-$r" ansible-playbook -i "$LAB_TOPOLOGY" "$project/site.yml")
  rerun_s+=("$s")
  rerun_tasks=$tasks
  rerun_changed=$((rerun_changed + changed))
done

{
  echo "- name: connection floor (one no-op module per task of the rerun)"
  echo "  hosts: k8s_cluster"
  echo "  become: true"
  echo "  gather_facts: false"
  echo "  tasks:"
  for ((t = 1; t <= rerun_tasks; t++)); do
    echo "    - name: ping $t"
    echo "      ansible.builtin.ping:"
  done
} >"$work/floor.yml"
for ((r = 1; r <= runs; r++)); do
  echo "Connection floor $r/$runs..." >&2
  read -r s _ _ _ < <(run "floor-$r" ansible-playbook -i "$LAB_TOPOLOGY" "$work/floor.yml")
  floor_s+=("$s")
done

best() { printf '%s\n' "$@" | sort -n | head -n1; }
rerun_best=$(best "${rerun_s[@]}")
floor_best=$(best "${floor_s[@]}")
ratio=$(awk -v a="$rerun_best" -v b="$floor_best" 'BEGIN {printf "%.2f", a / b}')

printf '\n%-34s %s\n' "site.yml benchmark" "(1 + $workers podman nodes over SSH, $(nproc) CPUs)"
printf '%-34s %s\n' "nodes started (lab-podman.py up)" "${up_s}s"
printf '%-34s %s\n' "first converge (to all Ready)" "${converge_s}s, ${converge_tasks} tasks/node max, changed=${converge_changed}"
printf '%-34s %s\n' "rerun wall time (runs)" "${rerun_s[*]} s"
printf '%-34s %s\n' "rerun tasks per node (max)" "$rerun_tasks"
printf '%-34s %s\n' "rerun changed (all runs, all nodes)" "$rerun_changed   (target 0)"
printf '%-34s %s\n' "connection floor (runs)" "${floor_s[*]} s  ($rerun_tasks pings per node)"
printf '%-34s %s\n' "ratio rerun / floor (best runs)" "$ratio   (target <= 2)"
printf '%-34s %s\n' "logs" "$work"
echo
echo "Slowest tasks of the last rerun (all nodes in parallel):"
sed -n '/^TASKS RECAP/,$p' "$work/rerun-$runs.log" | grep -E ' -+ [0-9.]+s$' | head -n 8
