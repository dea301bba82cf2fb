"""What runs the lab's nodes, behind one interface: podman container nodes or Vagrant VMs.

Every provider answers the same five calls, which scripts/lab.py (make lab, make lab-destroy,
make lab-status) makes without knowing which provider it holds:

    nodes()   the nodes of inventory/topology.yml (name, address, role), as the inventory plugin reads them
    up()      the nodes running and reachable over SSH; nodes that run are left alone
    build()   the cluster on them: site.yml, run the provider's way
    down()    the nodes gone, with what up() made for them
    status()  one NodeState per node: name, address, state

Which provider a lab has is the inventory plugin's one rule (LAB_PROVIDER, then provider: in the
topology file, then what `make lab` recorded, then VAGRANT_DEFAULT_PROVIDER, then virtualbox);
scripts/lab_host.py then says whether it can run on this machine. for_name() makes the provider
of a name. A provider's settings for Ansible are the group variables of its kind of node
(inventory/group_vars/container_nodes.yml, vm_nodes.yml).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lab_host

ROOT = Path(__file__).resolve().parent.parent
VAGRANT_PROVIDERS = lab_host.VM_PROVIDERS
# The lab's own podman settings (runc, the ulimits the sandbox allows), unless the caller has others.
CONTAINERS_CONF = ROOT / "scripts" / "podman" / "containers.conf"


class ProviderError(RuntimeError):
    """A provider's command failed; the message says which and how it ended."""


@dataclass(frozen=True)
class NodeState:
    name: str
    address: str
    state: str


# argv, extra environment, capture -> the finished process. Tests give their own.
Runner = Callable[[Sequence[str], Mapping[str, str], bool], subprocess.CompletedProcess]


def run_here(argv: Sequence[str], env: Mapping[str, str], capture: bool) -> subprocess.CompletedProcess:
    """Run argv in the project directory, its output on the terminal unless captured."""
    return subprocess.run(list(argv), cwd=ROOT, env={**os.environ, **env}, text=True, capture_output=capture,
                          check=False)


class Provider(ABC):
    """One provider of the lab's nodes; lab is the topology as the inventory plugin describes it."""

    name: str

    def __init__(self, lab: dict, run: Runner = run_here):
        self.lab = lab
        self.run = run

    def nodes(self) -> list[dict]:
        return list(self.lab["nodes"])

    def _check(self, what: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
               capture: bool = False) -> subprocess.CompletedProcess:
        done = self.run(argv, env or {}, capture)
        if done.returncode != 0:
            detail = (done.stderr or "").strip().splitlines()[-1:] if capture else []
            raise ProviderError(f"{what} failed: `{shlex.join(argv)}` exited {done.returncode}"
                                + (f" ({detail[0]})" if detail else ""))
        return done

    @abstractmethod
    def up(self) -> None: ...

    @abstractmethod
    def build(self) -> None: ...

    @abstractmethod
    def down(self) -> None: ...

    @abstractmethod
    def status(self) -> list[NodeState]: ...


class Podman(Provider):
    """systemd containers on a podman bridge (scripts/lab-podman.py), the cluster by ansible-playbook
    from this machine. Needs root, podman and runc."""

    name = "podman"
    # scripts/lab-podman.py status: "NAME ADDRESS STATE..." per node (and per container of the lab
    # the topology no longer has, its address "-").
    STATUS_LINE = re.compile(r"^(\S+)\s+(\S+)\s+(\S.*?)\s*$")

    def _env(self) -> dict[str, str]:
        # Ansible must reach the containers even where the topology names a VM provider (LAB_PROVIDER
        # wins over the file in the plugin's rule).
        return {"CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF)), "LAB_PROVIDER": "podman"}

    def _script(self, command: str) -> list[str]:
        return [sys.executable, str(ROOT / "scripts" / "lab-podman.py"), command]

    def up(self) -> None:
        self._check("starting the container nodes", self._script("up"), self._env())

    def build(self) -> None:
        self._check("site.yml on the container nodes", ["ansible-playbook", "site.yml"], self._env())

    def down(self) -> None:
        self._check("removing the container nodes", self._script("down"), self._env())

    def status(self) -> list[NodeState]:
        done = self._check("reading the container nodes", self._script("status"), self._env(), capture=True)
        return [NodeState(*match.groups()) for match in map(self.STATUS_LINE.match, done.stdout.splitlines()) if match]


class Vagrant(Provider):
    """Vagrant VMs (virtualbox or libvirt); the cluster by the Vagrantfile's Ansible provisioner,
    which runs site.yml once every VM is up (from inside the VMs on Windows)."""

    def __init__(self, lab: dict, name: str, run: Runner = run_here, host: lab_host.Host | None = None):
        super().__init__(lab, run)
        if name not in VAGRANT_PROVIDERS:
            raise ProviderError(f"{name!r} is no Vagrant provider; use one of {', '.join(VAGRANT_PROVIDERS)}")
        self.name = name
        self.host = host

    def _env(self) -> dict[str, str]:
        return {"VAGRANT_DEFAULT_PROVIDER": self.name}

    def usable(self) -> bool:
        """Vagrant and this provider work here (scripts/lab_host.py's rule): elsewhere every vagrant
        command fails (and `vagrant validate` in the tests leaves .vagrant/machines behind without any VM)."""
        return lab_host.vm_provider_usable(self.name, self.host or lab_host.this_host())

    def up(self) -> None:
        # `vagrant up` provisions only the machines it creates; after a reboot they exist already.
        self._check("starting the VMs", ["vagrant", "up", "--provider", self.name, "--no-provision"], self._env())

    def build(self) -> None:
        # Provisioning the last machine runs site.yml once, for every node (the Vagrantfile's provisioner).
        self._check("site.yml through Vagrant's provisioner", ["vagrant", "provision", self.nodes()[-1]["name"]],
                    self._env())

    def down(self) -> None:
        if (ROOT / ".vagrant" / "machines").is_dir() and self.usable():
            self._check("removing the VMs", ["vagrant", "destroy", "-f"], self._env())

    def status(self) -> list[NodeState]:
        if not self.usable():
            return [NodeState(node["name"], node["ip"], "no VM provider here") for node in self.nodes()]
        done = self._check("reading the VMs", ["vagrant", "status", "--machine-readable"], self._env(), capture=True)
        # Lines "timestamp,target,type,data": the "state" lines say each machine's state.
        states = {}
        for line in done.stdout.splitlines():
            fields = line.split(",", 3)
            if len(fields) == 4 and fields[2] == "state":
                states[fields[1]] = fields[3]
        return [NodeState(node["name"], node["ip"], states.get(node["name"], "absent")) for node in self.nodes()]


def for_name(name: str, lab: dict, run: Runner = run_here) -> Provider:
    """The provider of that name (the inventory plugin's PROVIDERS)."""
    if name == Podman.name:
        return Podman(lab, run)
    return Vagrant(lab, name, run)
