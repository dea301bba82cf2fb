#!/usr/bin/env bash
# Start or stop a throwaway Debian 12 VM under qemu (software emulation), reachable over SSH on a
# loopback port. Used by molecule/reboot; also handy by hand:
#   scripts/test-vm.sh start DIR [NAME]   boot a VM whose state lives in DIR; prints the SSH port
#   scripts/test-vm.sh stop DIR           power it off and remove DIR's disk overlay
#   ssh -i DIR/id_ed25519 -p PORT root@127.0.0.1
# DIR receives: overlay.qcow2 (copy-on-write on the cached base disk), id_ed25519 (a key made for
# this VM only), qemu.pid, port, console.log (the serial console, for boot problems).
# The VM has two NICs, as a Vagrant VM has: the first (DHCP, user-mode network with SSH forwarded
# to the host's loopback) and a second one with MAC $LAB_VM_LAB_MAC standing in for the host-only
# adapter that carries the lab address. The second one is isolated (restrict=on): nothing behind it.
# LAB_VM_MEMORY (MB, default 1536), LAB_VM_CPUS (default 2), LAB_VM_BOOT_TIMEOUT (s, default 300),
# LAB_VM_LAB_MAC (default 52:54:00:6b:38:01).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:?usage: test-vm.sh start|stop DIR [NAME]}
dir=${2:?usage: test-vm.sh start|stop DIR [NAME]}
name=${3:-k8s-lab-vm}
memory=${LAB_VM_MEMORY:-1536}
cpus=${LAB_VM_CPUS:-2}
boot_timeout=${LAB_VM_BOOT_TIMEOUT:-300}
lab_mac=${LAB_VM_LAB_MAC:-52:54:00:6b:38:01}

# Keepalives: qemu's user-mode network accepts a connection before the guest listens, and the
# SSH handshake then waits forever without them.
ssh_opts=(-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o IdentitiesOnly=yes -o ConnectTimeout=5 -o ServerAliveInterval=5
  -o ServerAliveCountMax=3)

stop_vm() {
  if [[ -f "$dir/qemu.pid" ]]; then
    pid=$(cat "$dir/qemu.pid")
    # The pid file may outlive its qemu (a host reboot); only a qemu process of this VM is killed.
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/overlay.qcow2"; then
      kill "$pid"
      for _ in $(seq 1 50); do
        [[ -d "/proc/$pid" ]] || break
        sleep 0.2
      done
      if [[ -d "/proc/$pid" ]]; then
        kill -9 "$pid"
      fi
    fi
  fi
  rm -f "$dir/qemu.pid" "$dir/overlay.qcow2" "$dir/port" "$dir/id_ed25519" "$dir/id_ed25519.pub"
}

start_vm() {
  base=$("$here/build-vm-image.sh")
  mkdir -p "$dir"
  if [[ ! -f "$dir/id_ed25519" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$dir/id_ed25519"
  fi
  qemu-img create -q -f qcow2 -F raw -b "$base/disk.img" "$dir/overlay.qcow2"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  key=$(base64 -w0 <"$dir/id_ed25519.pub")
  # KVM guests hang early in boot on the CI hosts; TCG is slower but works everywhere.
  # q35 without default devices: no floppy, IDE or VGA to probe. A quiet serial console: each
  # character through the emulated UART costs time. mitigations=off: the guest's Spectre
  # workarounds protect nothing in a throwaway VM and slow every system call under emulation.
  qemu-system-x86_64 -name "$name" -machine q35 -nodefaults -accel tcg -cpu max -m "$memory" -smp "$cpus" \
    -display none -serial "file:$dir/console.log" -daemonize -pidfile "$dir/qemu.pid" \
    -kernel "$base/vmlinuz" -initrd "$base/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=false mitigations=off k8s_lab.authorized_key=$key" \
    -drive "file=$dir/overlay.qcow2,format=qcow2,if=virtio" \
    -device virtio-rng-pci \
    -nic "user,model=virtio-net-pci,mac=52:54:00:12:34:56,hostfwd=tcp:127.0.0.1:$port-:22" \
    -nic "user,model=virtio-net-pci,restrict=on,mac=$lab_mac"
  echo "$port" >"$dir/port"
  deadline=$((SECONDS + boot_timeout))
  until ssh "${ssh_opts[@]}" -i "$dir/id_ed25519" -p "$port" root@127.0.0.1 true 2>/dev/null; do
    if ((SECONDS > deadline)); then
      echo "$name: no SSH on 127.0.0.1:$port after ${boot_timeout}s; serial console: $dir/console.log" >&2
      tail -n 30 "$dir/console.log" >&2
      exit 1
    fi
    sleep 3
  done
  echo "$port"
}

case "$action" in
  start) start_vm ;;
  stop) stop_vm ;;
  *)
    echo "usage: test-vm.sh start|stop DIR [NAME]" >&2
    exit 2
    ;;
esac
