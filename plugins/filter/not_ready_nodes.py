"""Filter for the Ready waits (calico, bridge_network, playbooks/maintenance.yml): which nodes are not Ready
yet (Ready as module_utils/node_ready decides it)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: not_ready_nodes
short_description: Names of the nodes that are not Ready
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the Node objects of M(kubernetes.core.k8s_info) and the names expected, and returns
    the sorted names of nodes whose Ready condition is not C(True), followed by each expected
    name the API does not list, marked C((not registered)).
options:
  _input:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Node).
    type: list
    elements: dict
    required: true
  expected:
    description: The node names that must be registered.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Name the nodes that are not Ready yet
  ansible.builtin.debug:
    msg: "{{ nodes.resources | k8s_lab.lab.not_ready_nodes(['m-k8s', 'w1-k8s']) }}"
"""

RETURN = r"""
_value:
  description: Names of the nodes not Ready, then C(<name> (not registered)) for each expected one missing.
  type: list
  elements: str
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.node_ready import is_ready, name


def not_ready_nodes(nodes, expected=None):
    """Names of nodes not Ready, then expected names missing from the list."""
    nodes = nodes or []
    not_ready = sorted(name(node) for node in nodes if not is_ready(node))
    missing = sorted(set(expected or []) - {name(node) for node in nodes})
    return not_ready + [f"{item} (not registered)" for item in missing]


class FilterModule:
    """k8s_lab.lab.not_ready_nodes."""

    def filters(self):
        return {"not_ready_nodes": not_ready_nodes}
