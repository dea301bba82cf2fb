"""The not_ready_nodes filter: which nodes the pod network roles' Ready waits still wait for."""

from fixtures.k8s_objects import node

from ansible_collections.k8s_lab.lab.plugins.filter.not_ready_nodes import FilterModule, not_ready_nodes


def test_all_ready():
    assert not_ready_nodes([node("m-k8s"), node("w1-k8s")], ["m-k8s", "w1-k8s"]) == []


def test_not_ready_and_unknown_are_named():
    nodes = [node("w2-k8s", "False"), node("m-k8s"), node("w1-k8s", "Unknown")]
    assert not_ready_nodes(nodes) == ["w1-k8s", "w2-k8s"]


def test_node_without_conditions_is_not_ready():
    assert not_ready_nodes([node("w1-k8s", conditions=False)]) == ["w1-k8s"]


def test_expected_but_missing_nodes_are_named():
    assert not_ready_nodes([node("m-k8s")], ["m-k8s", "w1-k8s", "w3-k8s"]) == [
        "w1-k8s (not registered)", "w3-k8s (not registered)"]


def test_one_node_asked_by_name():
    """playbooks/maintenance.yml's wait: the node alone, Ready, or not (yet) listed by the API."""
    assert not_ready_nodes([node("w1-k8s")], ["w1-k8s"]) == []
    assert not_ready_nodes([node("w1-k8s", "Unknown")], ["w1-k8s"]) == ["w1-k8s"]
    assert not_ready_nodes([], ["w1-k8s"]) == ["w1-k8s (not registered)"]


def test_registered():
    assert FilterModule().filters() == {"not_ready_nodes": not_ready_nodes}
