#!/usr/bin/env bash
# Build (or reuse) the systemd container image the Molecule scenarios run as nodes.
# The image carries a label with the hash of its recipe; it is rebuilt only when the recipe changes.
# Prints the image name. LAB_NODE_IMAGE overrides the name (a Rocky or CentOS Stream image, say).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${LAB_NODE_IMAGE:-localhost/k8s-lab-node:debian12}
# The common role's base packages for Debian, read from the role (its one list): every node of the
# image has them, and the role finds them installed instead of asking the mirror for them on each
# new node. The role still installs what a node lacks (VMs, other images).
common_vars="$here/../roles/common/vars/Debian.yml"
base_packages=$(awk '/^__common_packages:/ {on = 1; next}
  on && /^  - [a-z0-9][a-z0-9.+-]*$/ {printf "%s%s", sep, $2; sep = ","; next}
  on {exit}' "$common_vars")
[[ -n "$base_packages" ]] || { echo "build-node-image: no __common_packages list in $common_vars" >&2; exit 1; }
recipe=$(cat "$here/build-node-image.sh" "$here/debootstrap-rootfs.sh" "$common_vars" | sha256sum | cut -c1-16)

if [[ "$image" != localhost/k8s-lab-node:* ]]; then
  echo "$image"
  exit 0
fi
current=$(podman image inspect --format '{{ index .Labels "k8s-lab.recipe" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$recipe" ]]; then
  echo "$image"
  exit 0
fi

workdir=$(mktemp -d /var/tmp/k8s-lab-rootfs.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
echo "Building $image (recipe $recipe) with debootstrap..." >&2
"$here/debootstrap-rootfs.sh" "$workdir/rootfs" "$base_packages"
# A container has no consoles to log in on; these units only wait and fail.
chroot "$workdir/rootfs" systemctl mask getty@tty1.service serial-getty@ttyS0.service >/dev/null 2>&1
# systemd makes / a shared mount at boot, except in a container, where it stays private; kubelet
# refuses a pod's HostToContainer mount of a host path below a private mount (node-exporter's /),
# so the node makes it shared first, as kind's entrypoint does.
cat >"$workdir/rootfs/etc/systemd/system/k8s-lab-shared-root.service" <<'UNIT'
[Unit]
Description=Make / a shared mount, as systemd does outside containers
DefaultDependencies=no
Before=local-fs.target containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/mount --make-rshared /

[Install]
WantedBy=local-fs.target
UNIT
chroot "$workdir/rootfs" systemctl enable k8s-lab-shared-root.service >/dev/null 2>&1
tar -C "$workdir/rootfs" -c . | podman import \
  --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' \
  --change "LABEL k8s-lab.recipe=$recipe" - "$image" >&2
echo "$image"
