#!/usr/bin/env bash
# Build a minimal Debian 12 root filesystem for the project's test nodes.
# Usage: debootstrap-rootfs.sh ROOTFS [EXTRA_PACKAGES_COMMA_SEPARATED]
# Shared by the container image (build-node-image.sh) and the VM disk (build-vm-image.sh), so both
# kinds of test node start from the same package set.
set -euo pipefail
rootfs=${1:?usage: debootstrap-rootfs.sh ROOTFS [EXTRA_PACKAGES]}
extra=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
mirror=$("$here/debian-mirror.sh")

# python3-apt: ansible's apt module; procps: sysctl; kmod: modprobe; openssh-server: the rerun
# benchmark connects over SSH as users do.
packages=systemd,systemd-sysv,python3,python3-apt,sudo,iproute2,dbus,procps,kmod,openssh-server,ca-certificates,gnupg,iptables
[[ -n "$extra" ]] && packages="$packages,$extra"

debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >&2
# The package lists stay: nodes install from the same mirror at converge time.
rm -f "$rootfs"/var/cache/apt/archives/*.deb
