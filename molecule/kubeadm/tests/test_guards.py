"""Nothing destroyed by accident, on the real cluster: reset.yml and remove-worker.yml limited to one
node and not confirmed (or naming the control plane) stop before they touch it; kubeadm_master, run
on a control plane whose marker is gone and whose API server is down, stops and says what it found
instead of resetting it. Each node's /etc/kubernetes (and the control plane's etcd data) is compared
file by file, inode, size and time, before and after. Runs in the first verify only (conftest.py),
after test_cluster.py, and leaves the cluster as it found it. (The same guards without a cluster,
with --start-at-task and --skip-tags too: tests/integration/playbooks/test_guards.py and
tests/integration/roles/test_kubeadm_master_state.py.)"""

from __future__ import annotations

import pytest
from cluster import (
    ADMIN,
    CONTROLLER_KUBECONFIG,
    MASTER,
    NODES,
    WORKERS,
    kubectl_json,
    node,
    playbook,
    pod_ready,
    recap,
    wait_for,
)

CRICTL = "/usr/local/bin/crictl"
MARKER = "/etc/kubernetes/k8s-lab-init-complete"
# Kept outside /etc/kubernetes while the test runs, so that the role cannot find it.
MARKER_AWAY = "/root/k8s-lab-init-complete.test-guards"
ETCD_MEMBER = "/var/lib/etcd/member"


def tree(name: str, path: str) -> str:
    """Every entry under path: name, inode, size, modification time; and each file's sha256."""
    listing = f"find {path} -xdev -printf '%p %i %s %T@\\n' | sort"
    sums = f"find {path} -xdev -type f -exec sha256sum {{}} + | sort"
    return node(name).check_output(f"{listing} && {sums}")


def output(run) -> str:
    return " ".join(run.stdout.split())


@pytest.mark.parametrize("name", [WORKERS[0], MASTER])
def test_reset_limited_to_one_node_without_confirmation_touches_nothing(name):
    before = tree(name, "/etc/kubernetes")
    run = playbook("reset.yml", "--limit", name)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "Run it with -e reset_confirm=yes" in output(run), run.stdout[-3000:]
    counts = recap(run.stdout)[name]
    assert counts["failed"] == 1 and counts["ok"] == 0 and counts["changed"] == 0, counts
    assert tree(name, "/etc/kubernetes") == before
    assert CONTROLLER_KUBECONFIG.is_file()


def test_remove_worker_naming_the_control_plane_limited_to_it_touches_nothing():
    before = tree(MASTER, "/etc/kubernetes")
    run = playbook("remove-worker.yml", "-e", f"remove_worker_node={MASTER}", "--limit", MASTER)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "The control plane cannot be removed" in output(run), run.stdout[-3000:]
    assert recap(run.stdout)[MASTER]["changed"] == 0
    assert tree(MASTER, "/etc/kubernetes") == before
    nodes = {n["metadata"]["name"]: n for n in kubectl_json("get", "nodes")["items"]}
    assert set(nodes) == set(NODES)
    assert not nodes[MASTER]["spec"].get("unschedulable"), "the control plane was cordoned"


def _control_plane_answers() -> bool:
    return node(MASTER).run(f"kubectl --kubeconfig {ADMIN} get --raw=/readyz").rc == 0


def _static_pods_ready():
    found = kubectl_json("-n", "kube-system", "get", "pods", "--field-selector", f"spec.nodeName={MASTER}")["items"]
    components = {p["metadata"].get("labels", {}).get("component") for p in found if pod_ready(p)}
    return components >= {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}


@pytest.fixture
def control_plane_down():
    """The control plane as an interrupted or foreign one looks to the role: no marker, and no API
    server answering (kubelet stopped, then the API server's and etcd's containers, which it would
    otherwise restart). Afterwards the marker goes back, the kubelet starts them again, and the test
    waits for the API server and the control plane's pods."""
    master = node(MASTER)
    assert master.file(MARKER).exists, "site.yml left no marker on the control plane"
    master.check_output(f"mv {MARKER} {MARKER_AWAY}")
    try:
        master.check_output("systemctl stop kubelet")
        for component in ("kube-apiserver", "etcd"):
            ids = master.check_output(f"{CRICTL} ps --quiet --name '^{component}$'").split()
            assert ids, f"no running {component} container"
            master.check_output(f"{CRICTL} stop --timeout 20 {' '.join(ids)}")
        yield master
    finally:
        master.check_output(f"mv {MARKER_AWAY} {MARKER}")
        master.check_output("systemctl start kubelet")
    wait_for("the API server answering again", _control_plane_answers, timeout=240)
    wait_for(f"the control plane's pods Ready again on {MASTER}", _static_pods_ready, timeout=240)


def test_site_stops_at_an_unrecorded_control_plane_and_keeps_its_data(control_plane_down):
    master = control_plane_down
    assert not _control_plane_answers()
    etcd_before = tree(MASTER, "/var/lib/etcd")
    kubernetes_before = tree(MASTER, "/etc/kubernetes")

    run = playbook("cluster.yml", "--limit", MASTER, "-e", "kubeadm_master_api_wait_seconds=10")

    text = output(run)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "is not reset without proof that it holds nothing worth keeping" in text, run.stdout[-3000:]
    for found in (f"{ETCD_MEMBER} present", "/etc/kubernetes/pki/ca.crt present",
                  "/etc/kubernetes/admin.conf present", f"{MARKER} absent",
                  "the API server did not answer /readyz within 10 s", "kubeadm_master_force_reinit=true"):
        assert found in text, (found, run.stdout[-3000:])
    assert recap(run.stdout)[MASTER]["changed"] == 0
    assert tree(MASTER, "/var/lib/etcd") == etcd_before
    assert tree(MASTER, "/etc/kubernetes") == kubernetes_before
    assert not master.file(MARKER).exists
