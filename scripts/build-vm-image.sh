#!/usr/bin/env bash
# Build (or reuse) the Debian 12 VM disk the reboot scenario boots under qemu.
# The result is cached under $LAB_VM_CACHE (default /var/tmp/k8s-lab/vm) in a directory named after
# the hash of its recipe (this script and the shared rootfs recipe), so it is rebuilt only when the
# recipe changes. Prints that directory; it holds:
#   disk.img     raw ext4 root filesystem (read-only: each run boots a qcow2 overlay on top of it)
#   vmlinuz      the Debian kernel of the image (qemu boots it directly, no boot loader needed)
#   initrd.img   its initramfs
# Root logs in over SSH with a key the VM reads from its kernel command line at boot
# (k8s_lab.authorized_key=<base64 of the public key line>), so every run brings its own key and
# the cached disk holds none.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${LAB_VM_CACHE:-/var/tmp/k8s-lab/vm}
disk_size=${LAB_VM_DISK_SIZE:-4G}
# The distribution packages the roles install, installed ahead so that the converge under software
# emulation spends its minutes on configuration rather than dpkg. The podman scenarios (common,
# docker, kubelet) install them for real. chrony comes without time servers and disabled (below):
# its packaged configuration would query the distribution's public NTP pool at first boot.
vm_packages=linux-image-amd64,vim,git,curl,conntrack,socat,chrony,containerd,runc,docker.io
recipe=$(cat "$here/build-vm-image.sh" "$here/debootstrap-rootfs.sh" | sha256sum | cut -c1-16)
out="$cache/$recipe"

if [[ -f "$out/disk.img" && -f "$out/vmlinuz" && -f "$out/initrd.img" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
# Scenarios may start concurrently: one builds, the others wait for it and reuse the result.
exec 9>"$cache/.build.lock"
flock 9
if [[ -f "$out/disk.img" && -f "$out/vmlinuz" && -f "$out/initrd.img" ]]; then
  echo "$out"
  exit 0
fi
workdir=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"
echo "Building the VM disk (recipe $recipe) with debootstrap..." >&2
"$here/debootstrap-rootfs.sh" "$rootfs" "$vm_packages"

# qemu passes the disk as virtio; there is one partition-less filesystem on it.
cat >"$rootfs/etc/fstab" <<'EOF'
/dev/vda / ext4 defaults 0 1
EOF
echo k8s-lab-vm >"$rootfs/etc/hostname"

# qemu's user-mode network: DHCP on the first NIC (qemu's default MAC, which test-vm.sh sets
# explicitly), the resolver qemu provides on 10.0.2.3 (it forwards to the host's resolver, so the
# VM resolves exactly what the host resolves). Other NICs are left to the tests to configure.
mkdir -p "$rootfs/etc/systemd/network"
cat >"$rootfs/etc/systemd/network/20-dhcp.network" <<'EOF'
[Match]
MACAddress=52:54:00:12:34:56

[Network]
DHCP=ipv4
EOF
rm -f "$rootfs/etc/resolv.conf"
echo "nameserver 10.0.2.3" >"$rootfs/etc/resolv.conf"

cat >"$rootfs/usr/local/sbin/k8s-lab-authorized-key" <<'EOF'
#!/bin/sh
# Install root's SSH key from the kernel command line (k8s_lab.authorized_key=BASE64).
set -eu
for word in $(cat /proc/cmdline); do
  case "$word" in
    k8s_lab.authorized_key=*)
      install -d -m 0700 /root/.ssh
      echo "${word#k8s_lab.authorized_key=}" | base64 -d >/root/.ssh/authorized_keys
      chmod 0600 /root/.ssh/authorized_keys
      ;;
  esac
done
EOF
chmod 0755 "$rootfs/usr/local/sbin/k8s-lab-authorized-key"
cat >"$rootfs/etc/systemd/system/k8s-lab-authorized-key.service" <<'EOF'
[Unit]
Description=Install root's SSH key from the kernel command line
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/k8s-lab-authorized-key

[Install]
WantedBy=multi-user.target
EOF
chroot "$rootfs" systemctl enable systemd-networkd.service k8s-lab-authorized-key.service >/dev/null 2>&1
echo "# No time servers until the common role sets them (k8s-lab VM image)" >"$rootfs/etc/chrony/chrony.conf"
chroot "$rootfs" systemctl disable chrony.service >/dev/null 2>&1
# Under software emulation every unit costs seconds of boot. Only the serial console exists (its
# getty stays for debugging); periodic maintenance would compete with the test, and apt's timers
# would take the dpkg lock in the middle of a converge. Nothing in the tests waits for the network
# beyond the first NIC's DHCP, which ssh does not need either.
chroot "$rootfs" systemctl mask getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
  man-db.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer dpkg-db-backup.timer \
  systemd-networkd-wait-online.service >/dev/null 2>&1
# Devices qemu does not emulate here (q35, no defaults) or that only cost time: KVM inside TCG.
printf 'blacklist %s\n' floppy pcspkr parport_pc kvm_intel kvm_amd >"$rootfs/etc/modprobe.d/k8s-lab-vm.conf"
# A small initramfs: only what mounts the virtio root disk. The default (most modules, ~35 MB)
# takes half a minute to unpack under emulation.
echo MODULES=list >"$rootfs/etc/initramfs-tools/conf.d/k8s-lab-vm.conf"
printf '%s\n' virtio_pci virtio_blk ext4 >>"$rootfs/etc/initramfs-tools/modules"
chroot "$rootfs" update-initramfs -u -k all >&2

cp "$rootfs"/boot/vmlinuz-* "$workdir/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$workdir/initrd.img"
truncate -s "$disk_size" "$workdir/disk.img"
mkfs.ext4 -q -L k8s-lab-root -d "$rootfs" "$workdir/disk.img"
chmod 0444 "$workdir/disk.img"
rm -rf "$rootfs"

mkdir -p "$out"
mv "$workdir/vmlinuz" "$workdir/initrd.img" "$workdir/disk.img" "$out/"
# Disks of older recipes are never booted again (a running VM keeps its open file).
find "$cache" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}' \
  ! -name "$recipe" -exec rm -rf {} +
echo "$out"
