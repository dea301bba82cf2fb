"""A worker joins (add-worker.yml), leaves (remove-worker.yml), is reset (reset.yml) and rebuilt
(site.yml), on the real cluster. Runs once, after the nodes were restarted and upgraded (ORDER in
conftest.py); it leaves the cluster as it found it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cluster import (
    CONTROLLER_KUBECONFIG,
    NODES,
    PREFIX,
    RELEASE,
    ROOT,
    TOPOLOGY_FILE,
    kubectl,
    kubectl_json,
    node,
    playbook,
    pod_ready,
    ready_nodes,
    recap,
    wait_for,
)
from day2 import pods

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import read_topology


@pytest.fixture
def grown(tmp_path):
    """The scenario's topology with one worker more, as a user raises workers: in topology.yml (the
    lab's group_vars beside it, its project directory kept, so node keys and kubeconfig are the
    lab's). Afterwards the extra node leaves the cluster and its container and /var go."""
    settings = yaml.safe_load(Path(TOPOLOGY_FILE).read_text())
    settings["workers"] += 1
    settings["project_dir"] = str(Path(TOPOLOGY_FILE).resolve().parents[1])
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(Path(TOPOLOGY_FILE).resolve().parent / "group_vars")
    topology = inventory / "topology.yml"
    topology.write_text(yaml.safe_dump(settings))
    new = read_topology(str(topology)).nodes[-1]
    assert new.name not in NODES
    yield topology, new
    kubectl("delete", "node", new.name, "--ignore-not-found")
    # Killed at once: it has left the cluster, and nothing on it is kept.
    for argv in (["rm", "--force", "--time", "0", f"{PREFIX}{new.name}"],
                 ["volume", "rm", "--force", f"{PREFIX}{new.name}-var"]):
        gone = subprocess.run(["podman", *argv], capture_output=True, text=True, check=False)
        assert gone.returncode == 0, gone.stderr


def test_a_worker_joins_leaves_and_is_rebuilt_after_a_reset(grown):
    topology, new = grown
    started = subprocess.run([ROOT / "scripts" / "lab-podman.py", "up"], capture_output=True, text=True,
                             env={**os.environ, "LAB_TOPOLOGY": str(topology)}, check=False)
    assert started.returncode == 0, started.stderr

    credentials = "sha256sum /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt"
    before = {name: node(name).check_output(credentials) for name in NODES}
    added = playbook("add-worker.yml", inventory=topology)
    assert added.returncode == 0, added.stdout[-3000:]
    assert f"Joining: {new.name}" in added.stdout
    joined = wait_for(f"{new.name} Ready", lambda: ready_nodes().get(new.name))
    assert [a["address"] for a in joined["status"]["addresses"] if a["type"] == "InternalIP"] == [new.ip]
    # At the cluster's release (test_upgrade.py upgraded it), not the topology's.
    assert joined["status"]["nodeInfo"]["kubeletVersion"] == RELEASE
    # The nodes already in the cluster were not joined or initialised again.
    assert {name: node(name).check_output(credentials) for name in NODES} == before
    again = playbook("add-worker.yml", inventory=topology)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), recap(again.stdout)

    removed = playbook("remove-worker.yml", "-e", f"remove_worker_node={new.name}", inventory=topology)
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert new.name not in {n["metadata"]["name"] for n in kubectl_json("get", "nodes")["items"]}
    assert not node(new.name).file("/etc/kubernetes/kubelet.conf").exists
    assert not node(new.name).service("kubelet").is_running

    reset = playbook("reset.yml", "-e", "reset_confirm=yes", "--limit", new.name, inventory=topology)
    assert reset.returncode == 0, reset.stdout[-3000:]
    assert not node(new.name).file("/etc/kubernetes").exists
    assert CONTROLLER_KUBECONFIG.is_file(), "reset.yml limited to a node removed the lab's kubeconfig"

    rebuilt = playbook("../site.yml", inventory=topology)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    rebuilt_node = wait_for(f"{new.name} Ready after the rebuild", lambda: ready_nodes().get(new.name))
    # kubeadm reset left its kubelet: the node is rebuilt at that release.
    assert rebuilt_node["status"]["nodeInfo"]["kubeletVersion"] == RELEASE
    wait_for(f"kube-proxy Running on {new.name}", lambda: any(
        p["spec"]["nodeName"] == new.name and pod_ready(p) for p in pods("kube-system", "k8s-app=kube-proxy")))
