#!/usr/bin/env python3
"""What `make lab` runs the nodes on, and what this machine must install first.

    scripts/lab_host.py prepare PROVIDER     (scripts/lab.py calls prepare() itself)

PROVIDER is what the topology asks for (the inventory plugin's rule). Vagrant providers are used
when Vagrant and that provider work here. Where no VM provider works, the lab runs on podman
container nodes, as kind does; their tools (podman, runc, debootstrap for the node image, ssh and
ip) are installed with apt when missing, as root (the podman lab needs root anyway). Where that
cannot be done (not root, not a Debian-like system), it stops with the exact command to run.

Prints the provider to use on its last line of standard output, and "fallback" before it when VMs
were asked for but container nodes were chosen. Exit 1 with a message when nothing can run here.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

VM_PROVIDERS = ("virtualbox", "libvirt")
# Command the container-node lab needs -> the Debian package that has it.
CONTAINER_LAB_TOOLS = {
    "podman": "podman",
    # The runtime podman must use on this kind of host (cgroups in hybrid mode: crun refuses).
    "runc": "runc",
    "debootstrap": "debootstrap",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "ip": "iproute2",
}
DEBIAN_LIKE = {"debian", "ubuntu"}


class CannotPrepare(Exception):
    """Nothing can run the lab here without the user's help; the message says what to run."""


@dataclass(frozen=True)
class Host:
    """What the decision reads of this machine; tests give their own."""

    which: Callable[[str], str | None] = shutil.which
    euid: int = 0
    os_release: dict[str, str] = field(default_factory=dict)
    vagrant_plugins: Callable[[], str] = lambda: ""


@dataclass(frozen=True)
class Plan:
    provider: str
    fallback: bool = False
    # Debian packages to install before the lab can start, and the commands that install them.
    packages: tuple[str, ...] = ()
    commands: tuple[tuple[str, ...], ...] = ()


def vm_provider_usable(provider: str, host: Host) -> bool:
    if not host.which("vagrant"):
        return False
    if provider == "virtualbox":
        return bool(host.which("VBoxManage"))
    if provider == "libvirt":
        return bool(host.which("virsh")) and "vagrant-libvirt" in host.vagrant_plugins()
    return False


def vm_missing(provider: str, host: Host) -> list[str]:
    """What a Vagrant provider lacks here, as a user would install it."""
    missing = [] if host.which("vagrant") else ["vagrant (https://developer.hashicorp.com/vagrant/install)"]
    if provider == "virtualbox" and not host.which("VBoxManage"):
        missing.append("VirtualBox (VBoxManage not found)")
    if provider == "libvirt":
        if not host.which("virsh"):
            missing.append("libvirt (virsh not found)")
        if host.which("vagrant") and "vagrant-libvirt" not in host.vagrant_plugins():
            missing.append("the vagrant-libvirt plugin (vagrant plugin install vagrant-libvirt)")
    return missing


def missing_packages(host: Host) -> tuple[str, ...]:
    return tuple(sorted({package for tool, package in CONTAINER_LAB_TOOLS.items() if not host.which(tool)}))


def is_debian_like(os_release: dict[str, str]) -> bool:
    ids = {os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()}
    return bool(ids & DEBIAN_LIKE)


def install_commands(packages: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return (
        ("apt-get", "update", "-qq"),
        ("env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq",
         *packages),
    )


def plan(requested: str, host: Host) -> Plan:
    """Where the lab runs, and what to install first; CannotPrepare when the user must act."""
    if requested not in (*VM_PROVIDERS, "podman"):
        raise CannotPrepare(f"provider: {requested!r} is unknown; use virtualbox, libvirt or podman")
    fallback = False
    if requested in VM_PROVIDERS:
        if vm_provider_usable(requested, host):
            return Plan(requested)
        other = [p for p in VM_PROVIDERS if p != requested and vm_provider_usable(p, host)]
        if other:
            raise CannotPrepare(
                f"provider {requested} cannot run here (missing: {'; '.join(vm_missing(requested, host))}), "
                f"but {other[0]} can: set provider: {other[0]} in inventory/topology.yml, or "
                f"LAB_PROVIDER={other[0]} make lab")
        fallback = True
    if host.euid != 0:
        why = "no VM provider works here (" + "; ".join(vm_missing(requested, host)) + "), so " if fallback else ""
        raise CannotPrepare(
            f"{why}the lab's nodes run as podman containers, which needs root (a bridge network with "
            "fixed addresses and host routes). Run: sudo make lab")
    packages = missing_packages(host)
    if packages and not is_debian_like(host.os_release):
        name = host.os_release.get("PRETTY_NAME") or host.os_release.get("ID") or "this system"
        raise CannotPrepare(
            f"the container-node lab needs {', '.join(packages)}, and make lab installs them only with apt "
            f"(Debian, Ubuntu); on {name} install them with its package manager, then run make lab again")
    return Plan("podman", fallback, packages, install_commands(packages) if packages else ())


def podman_usable(host: Host | None = None, info: Callable[[], int] | None = None) -> bool:
    """Whether podman container nodes can run here now: root, podman and runc, and podman answers."""
    host = host or this_host()
    if host.euid != 0 or not host.which("podman") or not host.which("runc"):
        return False
    info = info or (lambda: subprocess.call(["podman", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return info() == 0


def read_os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.strip().partition("=")
                if sep:
                    values[key] = value.strip('"')
    except FileNotFoundError:
        pass
    return values


def this_host() -> Host:
    def plugins() -> str:
        result = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, check=False)
        return result.stdout

    return Host(which=shutil.which, euid=os.geteuid(), os_release=read_os_release(), vagrant_plugins=plugins)


def prepare(requested: str, host: Host, run: Callable[[tuple[str, ...]], int]) -> Plan:
    """Decide, install what the decision needs (saying what and why), return the plan."""
    chosen = plan(requested, host)
    if chosen.fallback:
        print(f"make lab: no VM provider works here ({'; '.join(vm_missing(requested, host))}): the lab's nodes "
              "run as podman containers instead.", file=sys.stderr, flush=True)
    if chosen.packages:
        print(f"make lab: installing {' '.join(chosen.packages)} with apt: the container-node lab runs its nodes "
              "with them.", file=sys.stderr, flush=True)
        for argv in chosen.commands:
            if run(argv) != 0:
                raise CannotPrepare(f"`{shlex.join(argv)}` failed; run it yourself, then make lab again")
    return chosen


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "prepare":
        print("usage: lab_host.py prepare PROVIDER", file=sys.stderr)
        return 2
    try:
        # apt's output goes to the terminal; standard output carries the decision only.
        chosen = prepare(argv[1], this_host(), lambda command: subprocess.call(list(command), stdout=sys.stderr))
    except CannotPrepare as exc:
        print(f"Cannot build the lab on this machine: {exc}", file=sys.stderr)
        return 1
    if chosen.fallback:
        print("fallback")
    print(chosen.provider)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
