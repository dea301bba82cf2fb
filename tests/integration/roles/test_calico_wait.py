"""The calico role's wait.yml run by real Ansible against the API server test double, where
calico-node and calico-kube-controllers move (or do not) the way the scripted statuses say. The
Ready filter it uses (not_ready_nodes) has its own tests in tests/unit/filter."""

from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from doubles.kube_apiserver import FakeApiServer
from fixtures.calico_role import run_tasks
from fixtures.k8s_objects import node

WAIT = Path(__file__).resolve().parents[3] / "roles" / "calico" / "tasks" / "wait.yml"
NODES = ("m-k8s", "w1-k8s", "w2-k8s")
REPORT = "Report what is not ready"


# --- wait.yml against the API server test double --------------------------------------------------

def daemonset_status(ready, desired=3, updated=None, observed=1):
    return {
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": desired,
        "numberReady": ready,
        "numberAvailable": ready,
        "updatedNumberScheduled": desired if updated is None else updated,
        "observedGeneration": observed,
    }


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
    cluster.script("apps", "deployments", "calico-kube-controllers", [UNAVAILABLE], "kube-system")
    code, failed, _, out = wait(cluster, tmp_path, timeout=1)
    assert code != 0, out
    assert failed[REPORT].startswith(
        "calico: not ready after 1s: Deployment kube-system/calico-kube-controllers: not Available "
        "(MinimumReplicasUnavailable: Deployment does not have minimum availability.). See")
    # calico-node was ready, so calico-kube-controllers had the whole timeout.
    assert cluster.reads("apps", "deployments", "calico-kube-controllers", "kube-system") == 2


# --- what the wait reports, for each state of the objects (the role's own expressions) -------------

UNAVAILABLE = {
    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
    "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability."}],
}
AVAILABLE = {
    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
    "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
}


def problem(name, result):
    """What wait.yml's variable name says about the k8s_info result ('': rolled out)."""
    tasks = yaml.safe_load(WAIT.read_text())
    block_vars = next(task for task in tasks if "block" in task)["vars"]
    register = {"__calico_node_problem": "__calico_node_ds",
                "__calico_kube_controllers_problem": "__calico_kube_controllers_deploy"}[name]
    variables = {key: trust_as_template(value) for key, value in block_vars.items()} | {register: result}
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template("{{ " + name + " }}"))


def found(status, generation=1, replicas=None):
    obj = {"metadata": {"name": "x", "generation": generation}, "spec": {}, "status": status}
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return {"resources": [obj]}


@pytest.mark.parametrize(("result", "expected"), [
    (found(daemonset_status(3)), ""),
    (found(daemonset_status(0)), "0 of 3 pods Ready, 3 of 3 updated"),
    (found(daemonset_status(3, updated=1)), "3 of 3 pods Ready, 1 of 3 updated"),
    (found(daemonset_status(0, desired=0)), "scheduled on no node"),
    (found(daemonset_status(3), generation=2), "generation 2 not yet seen by the DaemonSet controller"),
    (found({}), "generation 1 not yet seen by the DaemonSet controller"),
    ({"resources": []}, "not found"),
    ({"failed": True, "msg": "Unauthorized"}, "the API did not answer (Unauthorized)"),
])
def test_calico_node_states(result, expected):
    assert problem("__calico_node_problem", result) == expected


@pytest.mark.parametrize(("result", "expected"), [
    (found(AVAILABLE, replicas=1), ""),
    (found(UNAVAILABLE, replicas=1),
     "not Available (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"),
    (found(AVAILABLE | {"updatedReplicas": 0}, replicas=1), "0 of 1 replicas updated"),
    (found(AVAILABLE, generation=3, replicas=1), "generation 3 not yet seen by the Deployment controller"),
    (found({"observedGeneration": 1}), "not Available (no Available condition)"),
    ({"resources": []}, "not found"),
    ({"failed": True, "msg": "connection refused"}, "the API did not answer (connection refused)"),
])
def test_calico_kube_controllers_states(result, expected):
    assert problem("__calico_kube_controllers_problem", result) == expected
