"""module_utils/node_ready: the one place that decides whether a Node is Ready (for the filters
not_ready_nodes and node_ready_status)."""

import pytest
from fixtures.k8s_objects import node

from ansible_collections.k8s_lab.lab.plugins.module_utils.node_ready import is_ready, name, ready_status


@pytest.mark.parametrize(("obj", "status"), [
    (node("m-k8s"), "True"),
    (node("m-k8s", "False"), "False"),
    (node("m-k8s", "Unknown"), "Unknown"),
    (node("m-k8s", conditions=False), "Unknown"),
    ({"metadata": {"name": "m-k8s"}, "status": {"conditions": None}}, "Unknown"),
    ({"metadata": {"name": "m-k8s"}, "status": None}, "Unknown"),
    ({"status": {"conditions": [{"type": "Ready"}]}}, "Unknown"),
    ({}, "Unknown"),
    (None, "Unknown"),
])
def test_ready_status(obj, status):
    assert ready_status(obj) == status
    assert is_ready(obj) is (status == "True")


def test_only_the_ready_condition_counts():
    obj = {"status": {"conditions": [{"type": "MemoryPressure", "status": "True"},
                                     {"type": "Ready", "status": "False"}]}}
    assert not is_ready(obj)


def test_name():
    assert name(node("w1-k8s")) == "w1-k8s"
    assert name({"metadata": None}) == ""
    assert name(None) == ""
