"""The node_ready_status filter: the Ready column of the health table."""

from fixtures.k8s_objects import node

from ansible_collections.k8s_lab.lab.plugins.filter.node_ready_status import FilterModule, node_ready_status


def test_each_node_by_name():
    nodes = [node("m-k8s"), node("w1-k8s", "False"), node("w2-k8s", "Unknown")]
    assert node_ready_status(nodes) == {"m-k8s": "True", "w1-k8s": "False", "w2-k8s": "Unknown"}


def test_a_node_without_a_ready_condition_is_unknown():
    assert node_ready_status([node("w1-k8s", conditions=False)]) == {"w1-k8s": "Unknown"}


def test_no_nodes():
    assert node_ready_status([]) == {}
    assert node_ready_status(None) == {}


def test_registered():
    assert FilterModule().filters() == {"node_ready_status": node_ready_status}
