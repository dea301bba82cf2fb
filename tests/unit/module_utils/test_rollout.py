"""module_utils/rollout: what the calico role's wait reports for each state of calico-node (a
DaemonSet) and calico-kube-controllers (a Deployment); "" once rolled out."""

import pytest
from fixtures.k8s_objects import DEPLOYMENT_AVAILABLE as AVAILABLE
from fixtures.k8s_objects import DEPLOYMENT_UNAVAILABLE as UNAVAILABLE
from fixtures.k8s_objects import daemonset_status

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
