#!/usr/bin/env bash
# How long does a newcomer's first `make lab` take on this machine, step by step? Not a test (the
# figures depend on the machine and its mirror): a measurement, as the README's figures were made.
#
#   scripts/bench-first-run.sh --purge     (env: BENCH_CLONE=/var/tmp/k8s-lab-first-run)
#
# It makes this machine a bare one first, which is why it wants --purge: removes the lab and the
# node image, purges the container-node lab's Debian packages (podman, runc, debootstrap), and gives
# the bundle an empty build cache of its own (LAB_BUNDLE_CACHE under the clone; the usual cache in
# /var/tmp/k8s-lab is left alone). Then, in a fresh clone of this repository's HEAD, with no pip
# cache: `make lab`, timed as a whole; then `ansible-playbook site.yml` once more, which must report
# changed=0. Prints the step times scripts/lab.py recorded and the totals; removes the clone's lab at the
# end (the packages stay installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/.." && pwd)
clone=${BENCH_CLONE:-/var/tmp/k8s-lab-first-run}

if [[ "${1:-}" != --purge ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
[[ "$(id -u)" == 0 ]] || { echo "bench-first-run: run as root (it purges packages)" >&2; exit 1; }

echo "[bench] making this machine bare: lab, node image, packages"
if command -v podman >/dev/null; then
  "$project/.venv/bin/python" "$project/scripts/lab-podman.py" down >/dev/null 2>&1 \
    || echo "[bench] no lab of $project to remove"
  podman image rm --force localhost/k8s-lab-node:debian12 >/dev/null 2>&1 || echo "[bench] no node image"
fi
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq podman runc debootstrap >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null
rm -rf "$clone"
git clone -q "$project" "$clone"
cd "$clone"
# As a newcomer's shell has them: not this repository's settings, which make exports to its recipes
# (the plain site.yml below would read this repository's ansible.cfg and inventory, not the clone's).
unset ANSIBLE_CONFIG CONTAINERS_CONF

start=$SECONDS
PIP_NO_CACHE_DIR=1 LAB_BUNDLE_CACHE="$clone/.bundle-cache" make lab
total=$((SECONDS - start))
start=$SECONDS
rerun=$(ANSIBLE_NOCOLOR=1 .venv/bin/ansible-playbook site.yml)
rerun_time=$((SECONDS - start))
changed=$(awk '/PLAY RECAP/ {on = 1; next} on && /changed=/ {sub(/.*changed=/, ""); s += $1} END {print s + 0}' <<<"$rerun")

echo
echo "[bench] first make lab on a bare machine, by step (seconds):"
sed 's/^/[bench]   /' .cache/lab-up-times.tsv
echo "[bench]   venv and set-up before the steps: $((total - $(awk '{s += $NF} END {print s}' .cache/lab-up-times.tsv)))"
echo "[bench] total: $total s; then ansible-playbook site.yml: $rerun_time s, changed=$changed"
make --no-print-directory lab-destroy >/dev/null
((changed == 0))
