"""Access to the real cluster of this scenario: its topology, its nodes (podman exec into the
containers the lab's provider started) and kubectl on the control plane."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "plugins" / "inventory"))
sys.path.insert(0, str(ROOT / "tests"))

from lab_topology import build_topology, read_settings

TOPOLOGY_FILE = os.environ["LAB_TOPOLOGY"]
PREFIX = os.environ.get("LAB_PODMAN_PREFIX", "")
TOPOLOGY = build_topology(read_settings(TOPOLOGY_FILE))
NODES = {node.name: node for node in TOPOLOGY.nodes}
MASTER = next(n.name for n in TOPOLOGY.nodes if n.role == "control_plane")
WORKERS = [n.name for n in TOPOLOGY.nodes if n.role != "control_plane"]
ADMIN = "/etc/kubernetes/admin.conf"


def node(name: str):
    return testinfra.get_host(f"podman://{PREFIX}{name}")


def kubectl(*args: str, check: bool = True) -> str:
    cmd = node(MASTER).run("kubectl --kubeconfig " + ADMIN + " " + " ".join(args))
    if check:
        assert cmd.rc == 0, f"kubectl {' '.join(args)}: {cmd.stderr}"
    return cmd.stdout


def kubectl_json(*args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json"))


def apply(manifest: dict) -> None:
    encoded = base64.b64encode(json.dumps(manifest).encode()).decode()
    cmd = node(MASTER).run(f"echo {encoded} | base64 -d | kubectl --kubeconfig {ADMIN} apply -f -")
    assert cmd.rc == 0, cmd.stderr


def wait_for(what: str, probe, timeout: float = 180, interval: float = 3):
    """Poll probe() until it returns a truthy value; fail naming what did not happen, with the last
    value seen. The timeout bounds the wait, it does not hide a failure."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"{what} within {timeout:.0f}s; last seen: {value!r}")
