"""How the pods of a node stand, decided in one place, from the Pod and Lease objects as the API
returns them (kubernetes.core.k8s_info's resources). For the filters unready_node_pods and
stale_leaders: the upgrade puts a node back in service only once its own pods run again, and moves
past the control plane only once its controller-manager and scheduler lead again."""

from __future__ import annotations

from datetime import datetime

# The kinds that tie a pod to its node: a DaemonSet's pod (kube-proxy, the speakers, the exporters)
# and a static pod's mirror (the control plane's), whose owner is the Node.
NODE_OWNERS = ("DaemonSet", "Node")
# The control plane's leaders, by the Lease in kube-system and the static pod's component label.
LEADERS = ("kube-controller-manager", "kube-scheduler")


def _get(obj, *path):
    for key in path:
        obj = (obj or {}).get(key)
    return obj


def pod_name(pod) -> str:
    return f"{_get(pod, 'metadata', 'namespace') or ''}/{_get(pod, 'metadata', 'name') or ''}"


def is_ready(pod) -> bool:
    """Whether the pod's Ready condition is True (a pod being deleted is not)."""
    if _get(pod, "metadata", "deletionTimestamp"):
        return False
    conditions = _get(pod, "status", "conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_bound(pod) -> bool:
    """Whether the pod belongs to its node: a DaemonSet's pod or a static pod's mirror."""
    owners = _get(pod, "metadata", "ownerReferences") or []
    return any(owner.get("kind") in NODE_OWNERS for owner in owners)


def unready_node_pods(pods, node: str) -> list[str]:
    """namespace/name of the pods bound to node (node_bound) that are not Ready, sorted."""
    return sorted(pod_name(pod) for pod in pods or []
                  if _get(pod, "spec", "nodeName") == node and node_bound(pod) and not is_ready(pod))


def _time(value) -> datetime | None:
    """An API timestamp (RFC 3339, with or without fractions of a second) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def started_at(pod) -> datetime | None:
    """When the pod's running container started last (the latest, for several); None when none runs."""
    times = [_time(_get(status, "state", "running", "startedAt"))
             for status in _get(pod, "status", "containerStatuses") or []]
    times = [t for t in times if t is not None]
    return max(times) if times else None


def stale_leaders(leases, pods, node: str) -> list[str]:
    """The components of LEADERS whose running container on node does not hold its Lease yet: no
    Lease, no running container, or a Lease acquired before that container started (the previous
    process's lease, which the new one takes over only once it expires). Sorted."""
    acquired = {_get(lease, "metadata", "name"): _time(_get(lease, "spec", "acquireTime")) for lease in leases or []}
    running = {_get(pod, "metadata", "labels", "component"): started_at(pod) for pod in pods or []
               if _get(pod, "spec", "nodeName") == node and not _get(pod, "metadata", "deletionTimestamp")}
    stale = []
    for component in LEADERS:
        since, started = acquired.get(component), running.get(component)
        # startedAt has whole seconds: a lease taken in the second the container started is its own.
        if since is None or started is None or since < started:
            stale.append(component)
    return stale
