"""The API-side playbooks, run by ansible-playbook against a test double of the API server.

Real Ansible, kubernetes.core, kube_drain and kubernetes client; only the API server is a
stand-in (tests/unit/kube_apiserver_test_double.py). Playbooks that must reach the nodes (reboot,
kubeadm reset, joining) are run with those steps switched off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kube_apiserver_test_double import CHANGE_CAUSE, REVISION, FakeApiServer, pod_manifest

ROOT = Path(__file__).resolve().parents[2]
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


def daemonset(name, namespace="kube-system"):
    labels = {"k8s-app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": name}]}},
        },
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


def deployment(cluster, name):
    return cluster.get("apps", "deployments", name, "default")


def images(cluster, name):
    return [c["image"] for c in deployment(cluster, name)["spec"]["template"]["spec"]["containers"]]


def history(cluster, name):
    uid = deployment(cluster, name)["metadata"]["uid"]
    replicasets = [
        rs
        for rs in cluster.list("apps", "replicasets", "default")
        if rs["metadata"]["ownerReferences"][0]["uid"] == uid
    ]
    return sorted(
        (int(rs["metadata"]["annotations"][REVISION]), rs["spec"]["template"]["spec"]["containers"][0]["image"])
        for rs in replicasets
    )


def test_chapter_3_exercises(cluster):
    code, stats, out = play(cluster, "playbooks/exercises/deploy.yml")
    assert code == 0, out
    assert images(cluster, "echo-hname") == ["sysnet4admin/echo-hname"]
    assert images(cluster, "rollout-nginx") == ["nginx:1.15.12"]
    assert deployment(cluster, "rollout-nginx")["spec"]["replicas"] == 3

    code, stats, out = play(cluster, "playbooks/exercises/deploy.yml")
    assert code == 0, out
    assert changed(stats) == 0, out

    code, stats, out = play(cluster, "playbooks/exercises/scale.yml", "replicas=9")
    assert code == 0, out
    assert deployment(cluster, "echo-hname")["spec"]["replicas"] == 9

    code, stats, out = play(cluster, "playbooks/exercises/set-image.yml", "image=nginx:1.16.0")
    assert code == 0, out
    assert images(cluster, "rollout-nginx") == ["nginx:1.16.0"]
    annotations = deployment(cluster, "rollout-nginx")["metadata"]["annotations"]
    assert annotations[CHANGE_CAUSE].startswith("ansible-playbook playbooks/exercises/set-image.yml")
    assert "image=nginx:1.16.0" in annotations[CHANGE_CAUSE]
    assert history(cluster, "rollout-nginx") == [(1, "nginx:1.15.12"), (2, "nginx:1.16.0")]

    code, stats, out = play(cluster, "playbooks/exercises/history.yml")
    assert code == 0, out
    assert "nginx:1.16.0" in out and "(current)" in out

    # Back to the previous revision: revision 1's ReplicaSet comes back as revision 3.
    code, stats, out = play(cluster, "playbooks/exercises/rollback.yml")
    assert code == 0, out
    assert images(cluster, "rollout-nginx") == ["nginx:1.15.12"]
    assert history(cluster, "rollout-nginx") == [(2, "nginx:1.16.0"), (3, "nginx:1.15.12")]
    template_labels = deployment(cluster, "rollout-nginx")["spec"]["template"]["metadata"]["labels"]
    assert template_labels == {"app": "rollout-nginx"}
    assert "deploy.yml" in deployment(cluster, "rollout-nginx")["metadata"]["annotations"][CHANGE_CAUSE]

    code, stats, out = play(cluster, "playbooks/exercises/rollback.yml", "revision=2")
    assert code == 0, out
    assert images(cluster, "rollout-nginx") == ["nginx:1.16.0"]

    code, stats, out = play(cluster, "playbooks/exercises/rollback.yml", "revision=4")
    assert code == 0, out
    assert changed(stats) == 0, out
    assert "skipped rollback" in out

    code, stats, out = play(cluster, "playbooks/exercises/delete.yml")
    assert code == 0, out
    assert cluster.list("apps", "deployments") == []


def test_maintenance_drains_and_uncordons_each_node(cluster):
    cluster.add("apps", "daemonsets", daemonset("calico-node"))
    cluster.add("", "pods", pod_manifest("calico-node-w1", "w1-k8s", "DaemonSet", "calico-node", "kube-system"))
    cluster.add("", "pods", pod_manifest("web-w1", "w1-k8s"))
    cluster.add("", "pods", pod_manifest("web-w2", "w2-k8s"))
    # (A PodDisruptionBudget's 429 is left to the unit tests: here the module's clock is real.)

    code, _stats, out = play(cluster, "playbooks/maintenance.yml", "maintenance_nodes=w1-k8s:w2-k8s")

    assert code == 0, out
    assert cluster.get("", "pods", "web-w1", "default") is None
    assert cluster.get("", "pods", "web-w2", "default") is None
    assert cluster.get("", "pods", "calico-node-w1", "kube-system") is not None
    for name in ("w1-k8s", "w2-k8s"):
        assert not cluster.get("", "nodes", name)["spec"].get("unschedulable")
    patches = [(path, body) for method, path, _, body in cluster.requests if method == "PATCH"]
    assert patches == [
        ("/api/v1/nodes/w1-k8s", {"spec": {"unschedulable": True}}),
        ("/api/v1/nodes/w1-k8s", {"spec": {"unschedulable": False}}),
        ("/api/v1/nodes/w2-k8s", {"spec": {"unschedulable": True}}),
        ("/api/v1/nodes/w2-k8s", {"spec": {"unschedulable": False}}),
    ]


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


def test_add_worker_with_every_worker_joined_does_nothing(cluster):
    code, stats, out = play(cluster, "playbooks/add-worker.yml")

    assert code == 0, out
    assert sum(host["changed"] for host in stats.values()) == 0, out
    assert "already in the cluster; nothing to do" in out
