"""Filter for the health table (roles/health): each node's Ready condition, by node name."""

from __future__ import annotations

DOCUMENTATION = r"""
name: node_ready_status
short_description: The status of each node's Ready condition, by node name
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the Node objects of M(kubernetes.core.k8s_info) and returns, for each node name, the status
    of its Ready condition - C(True), C(False) or C(Unknown), the last also for a node that reports no
    Ready condition yet. Ready is decided as P(k8s_lab.lab.not_ready_nodes#filter) decides it.
options:
  _input:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Node).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Show each node's Ready status
  ansible.builtin.debug:
    msg: "{{ nodes.resources | k8s_lab.lab.node_ready_status }}"
"""

RETURN = r"""
_value:
  description: The node names, each with C(True), C(False) or C(Unknown).
  type: dict
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.node_ready import name, ready_status


def node_ready_status(nodes):
    """{node name: status of its Ready condition}."""
    return {name(node): ready_status(node) for node in nodes or []}


class FilterModule:
    """k8s_lab.lab.node_ready_status."""

    def filters(self):
        return {"node_ready_status": node_ready_status}
