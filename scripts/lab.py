#!/usr/bin/env python3
"""Bring the lab up, take it down, or say how its nodes are:

    scripts/lab.py up        (make lab)           the nodes and the cluster on them
    scripts/lab.py down      (make lab-destroy)   the nodes gone, the recorded provider forgotten
    scripts/lab.py status    (make lab-status)    one line per node: name, address, state

The provider is the inventory plugin's decision (LAB_PROVIDER, then provider: in
inventory/topology.yml, then what an earlier `make lab` recorded in .cache/lab-provider, then
VAGRANT_DEFAULT_PROVIDER, then virtualbox); scripts/lab_host.py then says whether it can run here:
- virtualbox/libvirt: the VMs, then Vagrant's Ansible provisioner runs site.yml once they are all up;
- where no VM provider works, or podman was asked for: podman container nodes, after installing
  podman and its companions with apt where missing; the offline bundle is built first (only what this
  lab runs), the node image beside it; then site.yml from this machine.
Both are scripts/lab_providers.py's providers, behind one interface. The choice is recorded in
.cache/lab-provider, so every playbook reaches the same nodes without settings; `down` forgets it.
Run `make lab` again after a reboot of the machine.

LAB_BUNDLE_SOURCE=download (and LAB_BUNDLE_MIRROR=https://...) fetches the official release files
instead of compiling them, where this machine has internet; LAB_BUNDLE_DIR uses a bundle made
elsewhere. Each step's time goes to .cache/lab-up-times.tsv (scripts/bench-first-run.sh reads it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "scripts"))

import lab_host
import lab_providers

RECORDED = ROOT / ".cache" / "lab-provider"
TIMES = ROOT / ".cache" / "lab-up-times.tsv"
IMAGE_LOG = ROOT / ".cache" / "node-image.log"
TOPOLOGY = ROOT / "inventory" / "topology.yml"


class LabFailed(RuntimeError):
    """make lab cannot go on; the message says why and what to do."""


def say(message: str) -> None:
    print(f"[lab] {message}", flush=True)


def describe(path: Path = TOPOLOGY) -> dict:
    """The lab the topology describes, validated as Ansible validates it (a bad setting stops here, named)."""
    try:
        from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology
    except ImportError as exc:
        raise LabFailed(f"cannot read {path} ({exc}); run 'make setup-lab'") from exc
    try:
        return lab_topology.describe(str(path))
    except (OSError, lab_topology.TopologyError) as exc:
        raise LabFailed(f"{path}: {exc}") from exc


class Steps:
    """One line per step on the screen, one row per step (name, seconds) in TIMES."""

    def __init__(self, path: Path = TIMES):
        self.path = path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.write_text("")
        self.name, self.start = "", 0.0

    def step(self, name: str = "") -> None:
        now = time.monotonic()
        if self.name:
            took = round(now - self.start)
            with self.path.open("a") as out:
                out.write(f"{self.name}\t{took}\n")
            say(f"{self.name}: done in {took} s")
        self.name, self.start = name, now
        if name:
            say(f"{name} ...")


def first_run_note(workers: int) -> str:
    # Figures: a 2-core machine with nothing installed, 2026-12-07 (scripts/bench-first-run.sh).
    return f"""First run on this machine: m-k8s and {workers} worker(s) as podman containers. What it does:
  - the offline bundle: Kubernetes, etcd, CoreDNS, containerd, runc, crictl and the CNI plugins
    compiled from Go source (about 10 minutes on 2 cores; later runs reuse it in seconds;
    a topology at the previous Kubernetes minor compiles that release too).
    With internet, LAB_BUNDLE_SOURCE=download make lab fetches the official release files
    instead (checked against their published checksums).
  - the node image (Debian 12, debootstrap), alongside the bundle (a few minutes);
  - the nodes, then the cluster with site.yml (about 2 minutes)."""


def build_bundle_and_image(steps: Steps) -> None:
    """The bundle this lab runs, the node image beside it: the image is needed only once the bundle
    is done, and the compiles are the first run's critical path, so it is built at the lowest CPU
    priority. (At equal priority its debootstrap, about 4 minutes with the common role's packages,
    slowed Kubernetes' compile by more than a minute and the first run with it: 2026-12-07,
    docs/measurements.md.)"""
    steps.step("bundle: build what this lab runs (the node image alongside)")
    with IMAGE_LOG.open("w") as log:
        image = subprocess.Popen(["nice", "-n", "19", str(ROOT / "scripts" / "build-node-image.sh")], cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT)
        bundle = subprocess.call(["make", "--no-print-directory", "bundle", "BUNDLE_APPS=built",
                                  "BUNDLE_RELEASES=topology"], cwd=ROOT)
        if bundle != 0:
            image.terminate()
            image.wait()
            raise LabFailed("the bundle failed (its message is above)")
        if image.wait() != 0:
            sys.stderr.write(IMAGE_LOG.read_text())
            raise LabFailed(f"the node image failed (log: {IMAGE_LOG})")


def podman_summary(lab: dict, bundle_dir: Path, fallback: bool) -> None:
    """The nodes as the cluster sees them, and how to reach them."""
    # The pin's kubectl: the bundle always carries it, and it talks to a cluster of the previous minor too.
    pin = json.loads((bundle_dir / "manifest.json").read_text())["kubernetes_version"]
    kubectl = bundle_dir / "kubernetes" / pin / "bin" / "kubectl"
    kubeconfig = ROOT / ".cache" / "kubeconfig"
    print()
    say(f"Step times (seconds), also in {TIMES.relative_to(ROOT)}:")
    for line in TIMES.read_text().splitlines():
        say("  " + line)
    print(flush=True)
    subprocess.call([str(kubectl), "get", "nodes", "-o", "wide"], env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    master = lab["nodes"][0]["ip"]
    print(f"""
The lab runs on podman; make lab chose it and recorded it in {RECORDED.relative_to(ROOT)}, so every playbook
reaches these nodes (ansible-playbook site.yml, playbooks/health.yml, ...). From this machine:
  export KUBECONFIG={kubeconfig}
  {kubectl} get nodes -o wide      (the bundle's kubectl)
  ssh -i .cache/lab-podman/id_ed25519 -o UserKnownHostsFile=.cache/lab-podman/known_hosts root@{master}
  make lab-status                     make lab-destroy removes the lab""")
    if fallback and lab["provider_source"] == "topology":
        print(f"  inventory/topology.yml says provider: {lab['provider']}, which wins over the record: set provider:"
              " podman\n  there, or export LAB_PROVIDER=podman, before running ansible-playbook yourself")


def up() -> None:
    lab = describe()
    if not shutil.which("ansible-playbook"):
        raise LabFailed("ansible-playbook is missing: run 'make setup-lab'")
    steps = Steps()
    steps.step("host: choose where the nodes run, install what they need")
    try:
        chosen = lab_host.prepare(lab["provider"], lab_host.this_host(),
                                  lambda command: subprocess.call(list(command)))
    except lab_host.CannotPrepare as exc:
        raise LabFailed(f"Cannot build the lab on this machine: {exc}") from exc
    RECORDED.write_text(chosen.provider + "\n")
    provider = lab_providers.for_name(chosen.provider, lab)
    steps.step()
    if provider.name != lab_providers.Podman.name:
        provider.up()
        provider.build()
        return

    bundle_dir = Path(os.environ.get("LAB_BUNDLE_DIR") or ROOT / ".cache" / "bundle")
    image = os.environ.get("LAB_NODE_IMAGE", "localhost/k8s-lab-node:debian12")
    first_bundle = not os.environ.get("LAB_BUNDLE_DIR") and not (bundle_dir / "manifest.json").is_file()
    image_missing = subprocess.call(["podman", "image", "exists", image]) != 0
    if first_bundle or image_missing:
        for line in first_run_note(len(lab["nodes"]) - 1).splitlines():
            say(line)
    if not os.environ.get("LAB_BUNDLE_DIR"):
        build_bundle_and_image(steps)
    steps.step("nodes: start the containers")
    provider.up()
    steps.step("cluster: site.yml")
    provider.build()
    steps.step()
    podman_summary(lab, bundle_dir, chosen.fallback)


def down() -> None:
    lab = describe()
    provider = lab_providers.for_name(lab["provider"], lab)
    provider.down()
    # A lab that an older `make lab` ran on podman without recording it.
    if provider.name != lab_providers.Podman.name and lab_host.podman_usable():
        lab_providers.Podman(lab).down()
    for path in (RECORDED, TIMES):
        path.unlink(missing_ok=True)


def status() -> None:
    lab = describe()
    provider = lab_providers.for_name(lab["provider"], lab)
    say(f"provider {provider.name} ({lab['provider_source']})")
    for node in provider.status():
        say(f"{node.name:<10} {node.address:<16} {node.state}")


def main(argv: list[str]) -> int:
    os.environ.setdefault("CONTAINERS_CONF", str(lab_providers.CONTAINERS_CONF))
    commands = {"up": up, "down": down, "status": status}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: {sys.argv[0]} up|down|status", file=sys.stderr)
        return 2
    try:
        commands[argv[0]]()
    except (LabFailed, lab_providers.ProviderError) as exc:
        print(f"make lab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
