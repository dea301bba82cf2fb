"""Access to the real cluster of this scenario: its topology, its nodes (podman exec into the
containers the lab's provider started) and kubectl on the control plane."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import testinfra
import yaml

ROOT = Path(__file__).resolve().parents[3]
# The collection k8s_lab.lab as Ansible imports it (collections/ holds the committed symlink to the
# repository), and the tests' fixtures.
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests"))
# The inventory plugin imports the collection's module_utils (kubernetes_release).
sys.path.insert(0, str(ROOT / "collections"))

from fixtures import test_image

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import read_topology

TOPOLOGY_FILE = os.environ["LAB_TOPOLOGY"]
PREFIX = os.environ.get("LAB_PODMAN_PREFIX", "")
TOPOLOGY = read_topology(TOPOLOGY_FILE)
NODES = {node.name: node for node in TOPOLOGY.nodes}
MASTER = next(n.name for n in TOPOLOGY.nodes if n.role == "control_plane")
WORKERS = [n.name for n in TOPOLOGY.nodes if n.role != "control_plane"]
ADMIN = "/etc/kubernetes/admin.conf"
# The offline bundle's pins (make bundle builds exactly these).
VERSIONS = yaml.safe_load((ROOT / "bundle" / "versions.yml").read_text())
# The bundle make bundle built, and its manifest (read on the controller).
BUNDLE = Path(os.environ.get("LAB_BUNDLE_DIR") or ROOT / ".cache" / "bundle")
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
# side_effect.yml's mark: the second verify runs on the restarted nodes (conftest.py).
RESTARTED = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "nodes-restarted"
# The release the cluster runs in this verify: converge builds it at the topology's (the previous
# minor, kubernetes_previous); the second verify's first file, test_upgrade.py, upgrades it to the
# pin (kubernetes), and every check after it runs on the upgraded cluster.
BUILT_RELEASE = TOPOLOGY.group_vars["lab_kubernetes_release"]
UPGRADED_RELEASE = VERSIONS["kubernetes"]
RELEASE = UPGRADED_RELEASE if RESTARTED.exists() else BUILT_RELEASE
# What site.yml fetched to the controller (lab_project_dir/.cache, the topology's project).
CONTROLLER_KUBECONFIG = Path(TOPOLOGY_FILE).resolve().parents[1] / ".cache" / "kubeconfig"


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


def node_started() -> dict[str, int]:
    """node name -> when its container last started (Unix seconds), read at most every 2 s.

    After a node restarts, the API still shows its pods and its Ready condition as they were
    before, until its kubelet reports again (it is never marked NotReady when it comes back
    quickly); only what was reported since the node started is news from the node as it is now."""
    if time.monotonic() - _STARTED["read"] > 2:
        out = subprocess.run(
            ["podman", "ps", "--filter", f"name=^{PREFIX}", "--format", "{{.Names}} {{.StartedAt}}"],
            check=True, capture_output=True, text=True).stdout
        rows = (line.split() for line in out.splitlines())
        _STARTED["nodes"] = {name.removeprefix(PREFIX): int(at) for name, at in rows}
        _STARTED["read"] = time.monotonic()
    return _STARTED["nodes"]


_STARTED: dict = {"read": float("-inf"), "nodes": {}}


def _since_start(name: str, stamp: str | None) -> bool:
    """An API timestamp (whole seconds) at or after that node's container started."""
    started = node_started().get(name)
    if not (stamp and started):
        return False
    return datetime.fromisoformat(stamp).timestamp() >= started


def pod_ready(pod: dict) -> bool:
    """Running, every container ready and started since its node did (not a report from before a
    node restart)."""
    name = pod["spec"].get("nodeName", "")
    statuses = pod["status"].get("containerStatuses", [{}])
    return pod["status"].get("phase") == "Running" and all(
        c.get("ready") and _since_start(name, c.get("state", {}).get("running", {}).get("startedAt")) for c in statuses)


def ready_nodes() -> dict[str, dict]:
    """name -> Node, for every node whose kubelet reported it Ready since the node started."""
    ready = {}
    for item in kubectl_json("get", "nodes")["items"]:
        name = item["metadata"]["name"]
        conditions = [c for c in item["status"].get("conditions", []) if c["type"] == "Ready"]
        if any(c["status"] == "True" and _since_start(name, c.get("lastHeartbeatTime")) for c in conditions):
            ready[name] = item
    return ready


def every_node_ready() -> dict[str, dict] | None:
    """ready_nodes() once every node of the topology is in it, else None (a probe for wait_for)."""
    ready = ready_nodes()
    return ready if set(ready) == set(NODES) else None


def settled() -> list[dict] | None:
    """Every node Ready and every pod of the lab running and ready (what health.yml judges): the
    pods, or None."""
    found = [p for p in kubectl_json("get", "pods", "--all-namespaces")["items"]
             if p["status"].get("phase") != "Succeeded"]
    return found if every_node_ready() and found and all(pod_ready(p) for p in found) else None


def fetch_on(name: str, url: str, timeout: int = 5):
    """GET url from inside a node (its network namespace); the page on stdout, rc 0 when it answered."""
    fetch = f"import urllib.request; print(urllib.request.urlopen('{url}', timeout={timeout}).read().decode())"
    return node(name).run(f'python3 -c "{fetch}"')


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


def import_archive(archive: Path, names: list[str]) -> None:
    """An OCI archive imported into containerd's k8s.io namespace on those nodes."""
    for name in names:
        subprocess.run(["podman", "cp", archive, f"{PREFIX}{name}:/tmp/{archive.name}"], check=True)
        imported = node(name).run(f"ctr -n k8s.io images import /tmp/{archive.name}")
        assert imported.rc == 0, imported.stderr


def import_test_image(tag: str, names: list[str], workdir: Path) -> None:
    """The local test web image (tests/fixtures/test_image.py) of that tag, imported on those nodes."""
    archive = workdir / f"web-{tag}.tar"
    if not archive.exists():
        test_image.write_archive(test_image.image(tag), archive)
    import_archive(archive, names)


def module(host: str, name: str, args: str, *, check_mode: bool = False) -> dict:
    """Run one module through Ansible (this scenario's inventory; host may be localhost) and return
    its result."""
    env = {**os.environ, "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    argv = ["ansible", "-i", os.environ["MOLECULE_INVENTORY_FILE"], host, "-m", name, "-a", args]
    if check_mode:
        argv.append("--check")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900, check=False)
    return next(iter(json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"].values()))


def playbook(path: str, *extra: str, inventory: str | Path = TOPOLOGY_FILE,
             timeout: int = 1200, timed: bool = False) -> subprocess.CompletedProcess:
    """ansible-playbook ROOT/playbooks/PATH on the lab's own inventory (the topology file), its
    output without colours (Molecule's verifier forces them); timed: with the time of each task
    (ansible.posix.profile_tasks, read by task_starts)."""
    env = {key: value for key, value in os.environ.items() if key != "ANSIBLE_FORCE_COLOR"}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    if timed:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), ROOT / "playbooks" / path, *extra],
        capture_output=True, text=True, env=env, timeout=timeout, check=False,
    )


def recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP of an ansible-playbook run: host -> {ok, changed, failed, ...}."""
    hosts = {}
    for line in output.split("PLAY RECAP", 1)[-1].splitlines():
        found = re.match(r"^(\S+)\s+:\s+(ok=.*)$", line)
        if found:
            hosts[found[1]] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", found[2])}
    return hosts
