"""Filter for the pod network roles' Ready waits (calico, bridge_network): which nodes are not Ready yet."""

from __future__ import annotations

DOCUMENTATION = r"""
name: k8s_lab_not_ready_nodes
short_description: Names of the nodes that are not Ready
description:
  - Takes the Node objects of C(kubernetes.core.k8s_info) and the names expected, and returns
    the sorted names of nodes whose Ready condition is not C(True), followed by each expected
    name the API does not list, marked C((not registered)).
"""


def not_ready_nodes(nodes, expected=None):
    """Names of nodes not Ready, then expected names missing from the list."""
    names, not_ready = set(), []
    for node in nodes or []:
        name = (node.get("metadata") or {}).get("name", "")
        names.add(name)
        conditions = (node.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        if not ready:
            not_ready.append(name)
    missing = [f"{name} (not registered)" for name in sorted(set(expected or []) - names)]
    return sorted(not_ready) + missing


class FilterModule:
    """Node filters of the lab's roles."""

    def filters(self):
        return {"k8s_lab_not_ready_nodes": not_ready_nodes}
