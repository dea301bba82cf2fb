"""module_utils/rollout: what the calico role's wait reports for each state of calico-node (a
DaemonSet) and calico-kube-controllers (a Deployment), "" once rolled out; and the rollout history
the book's exercises read."""

import pytest
from fixtures.k8s_objects import DEPLOYMENT_AVAILABLE as AVAILABLE
from fixtures.k8s_objects import DEPLOYMENT_UNAVAILABLE as UNAVAILABLE
from fixtures.k8s_objects import daemonset_status

from ansible_collections.k8s_lab.lab.plugins.filter.rollout_history import FilterModule as HistoryFilter
from ansible_collections.k8s_lab.lab.plugins.filter.rollout_history import rollout_history
from ansible_collections.k8s_lab.lab.plugins.filter.rollout_problem import FilterModule, rollout_problem


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
    ({}, "the API did not answer (no message)"),
])
def test_calico_node_states(result, expected):
    assert rollout_problem(result, "DaemonSet") == expected


@pytest.mark.parametrize(("result", "expected"), [
    (found(AVAILABLE, replicas=1), ""),
    (found(UNAVAILABLE, replicas=1),
     "not Available (MinimumReplicasUnavailable: Deployment does not have minimum availability.)"),
    (found(AVAILABLE | {"updatedReplicas": 0}, replicas=1), "0 of 1 replicas updated"),
    (found(AVAILABLE, generation=3, replicas=1), "generation 3 not yet seen by the Deployment controller"),
    (found({"observedGeneration": 1}), "not Available (no Available condition)"),
    (found(AVAILABLE), ""),
    ({"resources": []}, "not found"),
    ({"failed": True, "msg": "connection refused"}, "the API did not answer (connection refused)"),
])
def test_calico_kube_controllers_states(result, expected):
    assert rollout_problem(result, "Deployment") == expected


def test_another_kind_is_refused():
    with pytest.raises(Exception, match="kind 'StatefulSet' is not one of DaemonSet, Deployment"):
        rollout_problem({"resources": []}, "StatefulSet")


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"rollout_problem": rollout_problem}


def replicaset(name, revision, owner_uid="dep-1", image="web:v1", cause=None):
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": name, "annotations": annotations, "ownerReferences": [{"uid": owner_uid}]},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}


DEPLOYMENT = {"metadata": {"uid": "dep-1"}}


def test_the_history_is_the_deployments_replicasets_by_revision():
    sets = [replicaset("web-b", 10, image="web:v2", cause="set image"), replicaset("web-a", 9),
            replicaset("other", 1, owner_uid="dep-2")]
    history = rollout_history(sets, DEPLOYMENT)
    assert [(h["revision"], h["replicaset"], h["images"], h["change_cause"]) for h in history] == [
        (9, "web-a", ["web:v1"], ""), (10, "web-b", ["web:v2"], "set image")]
    assert history[0]["template"] == sets[1]["spec"]["template"]


def test_a_replicaset_without_a_revision_counts_as_revision_0():
    rs = replicaset("web-x", 1)
    del rs["metadata"]["annotations"]
    assert [h["revision"] for h in rollout_history([rs], DEPLOYMENT)] == [0]


def test_no_replicasets_no_history():
    assert rollout_history([], DEPLOYMENT) == []
    assert rollout_history(None, DEPLOYMENT) == []


def test_the_history_filter_is_registered():
    assert HistoryFilter().filters() == {"rollout_history": rollout_history}
