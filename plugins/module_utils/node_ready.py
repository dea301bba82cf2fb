"""Whether a Kubernetes Node is Ready, decided in one place: the status of its Ready condition, as
the API returns the Node (kubernetes.core.k8s_info's resources). For the filters not_ready_nodes and
node_ready_status."""

from __future__ import annotations


def name(node) -> str:
    """The node's name ("" when the object has none)."""
    return ((node or {}).get("metadata") or {}).get("name", "")


def ready_status(node) -> str:
    """The status of the node's Ready condition: "True", "False" or "Unknown" (also when the node
    reports no Ready condition yet)."""
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "Ready":
            return str(condition.get("status") or "Unknown")
    return "Unknown"


def is_ready(node) -> bool:
    """Whether the node's Ready condition is True."""
    return ready_status(node) == "True"
