"""The API-side playbooks' failure and refusal paths, run by ansible-playbook against a test double
of the API server: a drain that cannot finish, a node that is gone, the control plane named for
removal. Their normal runs (maintenance through a node restart, add-worker, remove-worker, the
chapter 3 exercises) run on the real cluster: molecule/kubeadm/tests/test_maintenance.py,
test_add_remove_reset.py and test_exercises.py.

Real Ansible, kubernetes.core, kube_drain and kubernetes client; only the API server is a
stand-in (tests/doubles/kube_apiserver.py). Playbooks that must reach the nodes (reboot,
kubeadm reset, joining) are run with those steps switched off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from doubles.kube_apiserver import FakeApiServer, pod_manifest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@pytest.fixture
def cluster(tmp_path):
    with FakeApiServer() as server:
        for name in ("m-k8s", "w1-k8s", "w2-k8s", "w3-k8s"):
            server.add("", "nodes", node(name))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(server.kubeconfig())
        server.kubeconfig_path = kubeconfig
        server.home = tmp_path
        yield server


def node(name):
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def play(cluster, playbook, *extra):
    """Run a playbook; return (exit code, stats per host, output)."""
    env = dict(
        os.environ,
        HOME=str(cluster.home),
        # kubernetes.core caches API discovery in the temporary directory, one file per server.
        TMPDIR=str(cluster.home),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_FACT_CACHING="memory",
        ANSIBLE_RETRY_FILES_ENABLED="false",
    )
    command = [str(ANSIBLE_PLAYBOOK), playbook, "-e", f"lab_kubeconfig={cluster.kubeconfig_path}"]
    for item in extra:
        command += ["-e", item]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    start = done.stdout.find("{")
    stats = json.loads(done.stdout[start:])["stats"] if start >= 0 else {}
    return done.returncode, stats, done.stdout + done.stderr


def changed(stats, host="localhost"):
    return stats[host]["changed"]


def test_maintenance_stops_at_the_first_node_that_cannot_be_drained(cluster):
    bare = pod_manifest("bare-w1", "w1-k8s")
    del bare["metadata"]["ownerReferences"]
    cluster.add("", "pods", bare)

    code, _stats, out = play(cluster, "playbooks/maintenance.yml", "maintenance_nodes=w1-k8s:w2-k8s")

    assert code != 0
    assert "bare-w1 declares no controller" in out
    assert cluster.get("", "nodes", "w1-k8s")["spec"]["unschedulable"] is True
    assert not cluster.get("", "nodes", "w2-k8s")["spec"].get("unschedulable")


def test_remove_worker_drains_and_deletes_the_node(cluster):
    cluster.add("", "pods", pod_manifest("web-w3", "w3-k8s"))

    code, stats, out = play(
        cluster, "playbooks/remove-worker.yml", "remove_worker_node=w3-k8s", "remove_worker_reset=false"
    )

    assert code == 0, out
    assert cluster.get("", "nodes", "w3-k8s") is None
    assert cluster.get("", "pods", "web-w3", "default") is None

    code, stats, out = play(
        cluster, "playbooks/remove-worker.yml", "remove_worker_node=w3-k8s", "remove_worker_reset=false"
    )
    assert code == 0, out
    assert changed(stats) == 0, out


def test_remove_worker_refuses_the_control_plane(cluster):
    code, _stats, out = play(cluster, "playbooks/remove-worker.yml", "remove_worker_node=m-k8s")

    assert code != 0
    assert "The control plane cannot be removed" in out
    assert cluster.get("", "nodes", "m-k8s") is not None
