"""The calico role's wait.yml run by real Ansible against the API server test double, where
calico-node and calico-kube-controllers move (or do not) the way the scripted statuses say. The
filters it uses have their own tests: not_ready_nodes in tests/unit/filter, rollout_problem (what
the wait reports for each state of the objects) in tests/unit/module_utils/test_rollout.py."""


import pytest
from doubles.kube_apiserver import FakeApiServer
from fixtures.calico_role import run_tasks
from fixtures.k8s_objects import DEPLOYMENT_UNAVAILABLE, daemonset_status, node

NODES = ("m-k8s", "w1-k8s", "w2-k8s")
REPORT = "Report what is not ready"


# --- wait.yml against the API server test double --------------------------------------------------

def workload(kind, name):
    labels = {"k8s-app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": name}]}},
        },
    }


@pytest.fixture
def cluster():
    """Every node Ready (install-cni has written the CNI configuration), calico-node scheduled on
    all three but Ready on none, calico-kube-controllers Available."""
    with FakeApiServer() as server:
        for name in NODES:
            server.add("", "nodes", {"apiVersion": "v1", "kind": "Node", **node(name)})
        server.add("apps", "daemonsets", workload("DaemonSet", "calico-node"))
        server.script("apps", "daemonsets", "calico-node", [daemonset_status(0)], "kube-system")
        server.add("apps", "deployments", workload("Deployment", "calico-kube-controllers"))
        yield server


def wait(cluster, tmp_path, timeout=3):
    return run_tasks(cluster, tmp_path, "wait.yml", calico_wait_nodes=list(NODES),
                     calico_wait_timeout=timeout, calico_wait_delay=1)


def test_waits_until_calico_node_is_ready_on_every_node(cluster, tmp_path):
    cluster.script("apps", "daemonsets", "calico-node",
                   [daemonset_status(0), daemonset_status(1), daemonset_status(3)], "kube-system")
    code, failed, results, out = wait(cluster, tmp_path, timeout=30)
    assert code == 0, out
    assert failed == {}
    # It looked until the third status, and went on as soon as it came.
    assert cluster.reads("apps", "daemonsets", "calico-node", "kube-system") == 3
    assert cluster.reads("apps", "deployments", "calico-kube-controllers", "kube-system") == 1
    assert results[REPORT]["msg"] == "calico-node is Ready on every node, calico-kube-controllers is Available."


def test_ready_nodes_are_not_enough(cluster, tmp_path):
    """The nodes are Ready, calico-node is not (Felix never programs the dataplane): the role fails
    after the timeout and says what is not ready."""
    cluster.script("apps", "daemonsets", "calico-node", [daemonset_status(0), daemonset_status(2)], "kube-system")
    code, failed, _, out = wait(cluster, tmp_path, timeout=2)
    assert code != 0, out
    assert list(failed) == [REPORT], out
    assert failed[REPORT].startswith("calico: not ready after 2s: DaemonSet kube-system/calico-node: "
                                     "2 of 3 pods Ready, 3 of 3 updated. See `kubectl")
    # Three looks (2 s, one a second), then one at calico-kube-controllers, which is fine.
    assert cluster.reads("apps", "daemonsets", "calico-node", "kube-system") == 3
    assert cluster.reads("apps", "deployments", "calico-kube-controllers", "kube-system") == 1
    assert "calico-kube-controllers:" not in failed[REPORT]


def test_calico_kube_controllers_not_available_is_named(cluster, tmp_path):
    cluster.script("apps", "daemonsets", "calico-node", [daemonset_status(3)], "kube-system")
    cluster.script("apps", "deployments", "calico-kube-controllers", [DEPLOYMENT_UNAVAILABLE], "kube-system")
    code, failed, _, out = wait(cluster, tmp_path, timeout=1)
    assert code != 0, out
    assert failed[REPORT].startswith(
        "calico: not ready after 1s: Deployment kube-system/calico-kube-controllers: not Available "
        "(MinimumReplicasUnavailable: Deployment does not have minimum availability.). See")
    # calico-node was ready, so calico-kube-controllers had the whole timeout.
    assert cluster.reads("apps", "deployments", "calico-kube-controllers", "kube-system") == 2
