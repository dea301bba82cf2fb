#!/usr/bin/env bash
# How long does rerunning the host layer take when nothing needs changing, compared with the bare
# cost of reaching the nodes? Not a test (timings depend on the machine): a measurement to rerun
# after changing a role.
#
#   scripts/bench-rerun.sh            (env: BENCH_NODES=4, BENCH_RUNS=2, BENCH_KEEP=1 keeps the nodes)
#
# 1. starts BENCH_NODES systemd containers of the test node image (scripts/build-node-image.sh),
#    reached over SSH as users reach their VMs: a key made for this run, ansible_host = the
#    container's address, port 22, the repository's ansible.cfg (pipelining, SSH multiplexing,
#    fact caching; the cache goes to the work directory, not to the lab's);
# 2. converges playbooks/host-layer.yml (common, docker, kubelet) once;
# 3. reruns it BENCH_RUNS times: wall time, tasks per node, changed (target: 0);
# 4. runs the connection floor BENCH_RUNS times: a playbook of as many ansible.builtin.ping tasks
#    as the rerun executed per node, on the same nodes with the same become;
# 5. prints a table and the ratio rerun / floor (target: <= 2), best run of each.
# The roles' network access is what the Molecule scenarios allow: Debian packages from the host's
# mirror; no Kubernetes or Docker repository (kubelet is an offline test double, containerd and
# Docker are Debian's), time servers on loopback.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
nodes=${BENCH_NODES:-4}
runs=${BENCH_RUNS:-2}
work=${BENCH_WORKDIR:-$project/.cache/bench}
prefix=bench-rerun
export CONTAINERS_CONF=${CONTAINERS_CONF:-$project/molecule/containers.conf}
export ANSIBLE_CONFIG=$project/ansible.cfg
# The lab's fact cache stays the lab's: these nodes share its host names.
export ANSIBLE_CACHE_PLUGIN_CONNECTION=$work/facts
export ANSIBLE_SSH_CONTROL_PATH_DIR=$work/cp
export ANSIBLE_NOCOLOR=1

names=(m-k8s)
for ((i = 1; i < nodes; i++)); do names+=("w$i-k8s"); done

cleanup() {
  if [[ "${BENCH_KEEP:-0}" != 1 ]]; then
    for name in "${names[@]}"; do
      podman rm -f -t 5 "$prefix-$name" >/dev/null 2>&1 || :
    done
  fi
}
trap cleanup EXIT

image=$("$here/build-node-image.sh")
rm -rf "$work"
mkdir -p "$work/facts" "$work/cp" "$work/inventory/group_vars"
ssh-keygen -q -t ed25519 -N '' -C bench-rerun -f "$work/id_ed25519"

echo "Starting ${#names[@]} nodes..." >&2
for name in "${names[@]}"; do
  podman rm -f -t 5 "$prefix-$name" >/dev/null 2>&1 || :
  podman run -d --name "$prefix-$name" --hostname "$name" --privileged --no-hosts \
    "$image" /sbin/init >/dev/null
done
for name in "${names[@]}"; do
  podman exec "$prefix-$name" install -d -m 0700 /root/.ssh
  podman cp "$work/id_ed25519.pub" "$prefix-$name:/root/.ssh/authorized_keys"
  podman exec "$prefix-$name" chown root:root /root/.ssh/authorized_keys
done

# Inventory: the lab's groups and host names, lab addresses as the topology would give them.
{
  echo "k8s_cluster:"
  echo "  vars:"
  echo "    ansible_user: root"
  echo "    ansible_port: 22"
  echo "    ansible_ssh_private_key_file: $work/id_ed25519"
  echo "    common_hosts_entries:"
  for ((i = 0; i < ${#names[@]}; i++)); do
    echo "      - {name: ${names[$i]}, ip: 192.168.1.$((i == 0 ? 10 : 100 + i))}"
  done
  echo "    kubelet_offline_files_dir: $here/bench"
  echo "  children:"
  echo "    control_plane:"
  echo "      hosts:"
  echo "        m-k8s: {ansible_host: $(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$prefix-m-k8s"), kubelet_node_ip: 192.168.1.10}"
  echo "    workers:"
  echo "      hosts:"
  for ((i = 1; i < ${#names[@]}; i++)); do
    echo "        ${names[$i]}: {ansible_host: $(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$prefix-${names[$i]}"), kubelet_node_ip: 192.168.1.$((100 + i))}"
  done
} >"$work/inventory/hosts.yml"
cp "$here/bench/vars.yml" "$work/inventory/group_vars/k8s_cluster.yml"

for name in "${names[@]}"; do
  ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$prefix-$name")
  for _ in $(seq 1 60); do
    ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o ConnectTimeout=2 -i "$work/id_ed25519" "root@$ip" true && break
    sleep 1
  done
done

# run NAME PLAYBOOK: runs it, prints "seconds ok_per_node_max changed_total failed_total" from
# the recap. profile_tasks adds each task's time to the log (the rerun's slowest are shown at the end).
run() {
  local log="$work/$1.log" start end
  start=$(date +%s.%N)
  if ! ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks PROFILE_TASKS_TASK_OUTPUT_LIMIT=8 \
    ansible-playbook -i "$work/inventory" "$2" >"$log" 2>&1; then
    echo "$1 failed; see $log" >&2
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

echo "Converging playbooks/host-layer.yml..." >&2
read -r converge_s converge_tasks converge_changed _ < <(run converge "$project/playbooks/host-layer.yml")

rerun_s=() floor_s=()
rerun_tasks=0 rerun_changed=0
for ((r = 1; r <= runs; r++)); do
  echo "Rerun $r/$runs..." >&2
  read -r s tasks changed _ < <(run "rerun-$r" "$project/playbooks/host-layer.yml")
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
  read -r s _ _ _ < <(run "floor-$r" "$work/floor.yml")
  floor_s+=("$s")
done

best() { printf '%s\n' "$@" | sort -n | head -n1; }
rerun_best=$(best "${rerun_s[@]}")
floor_best=$(best "${floor_s[@]}")
ratio=$(awk -v a="$rerun_best" -v b="$floor_best" 'BEGIN {printf "%.2f", a / b}')

printf '\n%-34s %s\n' "host-layer rerun benchmark" "(${#names[@]} nodes over SSH, $(nproc) CPUs)"
printf '%-34s %s\n' "first converge" "${converge_s}s, ${converge_tasks} tasks/node, changed=${converge_changed}"
printf '%-34s %s\n' "rerun wall time (runs)" "${rerun_s[*]} s"
printf '%-34s %s\n' "rerun tasks per node" "$rerun_tasks"
printf '%-34s %s\n' "rerun changed (all runs, all nodes)" "$rerun_changed   (target 0)"
printf '%-34s %s\n' "connection floor (runs)" "${floor_s[*]} s  ($rerun_tasks pings per node)"
printf '%-34s %s\n' "ratio rerun / floor (best runs)" "$ratio   (target <= 2)"
printf '%-34s %s\n' "logs" "$work"
echo
echo "Slowest tasks of the last rerun (all nodes in parallel):"
sed -n '/^TASKS RECAP/,$p' "$work/rerun-$runs.log" | grep -E ' -+ [0-9.]+s$' | head -n 8
