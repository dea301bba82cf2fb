"""Rollouts: why a DaemonSet or a Deployment has not rolled out yet, from what
kubernetes.core.k8s_info returned for it (the registered result: resources, or msg when the API did
not answer; "" once it has), for the filter rollout_problem (the calico role's wait); and a
Deployment's rollout history, for the filter rollout_history (the book's exercises)."""

from __future__ import annotations

KINDS = ("DaemonSet", "Deployment")


def _int(value, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _unseen(obj: dict, controller: str) -> str:
    """The object's generation, when its controller has not observed it yet."""
    generation = _int((obj.get("metadata") or {}).get("generation"), 1)
    if _int((obj.get("status") or {}).get("observedGeneration")) != generation:
        return f"generation {generation} not yet seen by the {controller} controller"
    return ""


def daemonset_problem(obj: dict) -> str:
    """Every scheduled pod Ready and updated, once the controller saw the last change; a DaemonSet
    scheduled on no node is no rollout."""
    status = obj.get("status") or {}
    desired = _int(status.get("desiredNumberScheduled"))
    ready, updated = _int(status.get("numberReady")), _int(status.get("updatedNumberScheduled"))
    if unseen := _unseen(obj, "DaemonSet"):
        return unseen
    if desired == 0:
        return "scheduled on no node"
    if ready != desired or updated != desired:
        return f"{ready} of {desired} pods Ready, {updated} of {desired} updated"
    return ""


def deployment_problem(obj: dict) -> str:
    """Available, every replica updated, once the controller saw the last change."""
    status = obj.get("status") or {}
    if unseen := _unseen(obj, "Deployment"):
        return unseen
    available = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
    if available.get("status") != "True":
        detail = available.get("reason", "no Available condition")
        if "message" in available:
            detail += f": {available['message']}"
        return f"not Available ({detail})"
    replicas = _int((obj.get("spec") or {}).get("replicas"), 1)
    updated = _int(status.get("updatedReplicas"))
    if updated < replicas:
        return f"{updated} of {replicas} replicas updated"
    return ""


def rollout_problem(result: dict, kind: str) -> str:
    """What stops the rollout of the object k8s_info looked up (one name), or ""."""
    if kind not in KINDS:
        raise ValueError(f"rollout_problem: kind {kind!r} is not one of {', '.join(KINDS)}")
    result = result or {}
    if "resources" not in result:
        return f"the API did not answer ({result.get('msg') or 'no message'})"
    if not result["resources"]:
        return "not found"
    obj = result["resources"][0] or {}
    return daemonset_problem(obj) if kind == "DaemonSet" else deployment_problem(obj)


REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"


def _revision(annotations: dict) -> int:
    return _int((annotations or {}).get(REVISION), 0)


def history(replicasets, deployment: dict) -> list[dict]:
    """A Deployment's rollout history as `kubectl rollout history` builds it: the ReplicaSets it
    controls (an ownerReference with its uid), each with its revision, name, change cause, images
    and pod template, sorted by revision."""
    uid = ((deployment or {}).get("metadata") or {}).get("uid")
    found = []
    for rs in replicasets or []:
        metadata = rs.get("metadata") or {}
        if not any(owner.get("uid") == uid for owner in metadata.get("ownerReferences") or []):
            continue
        annotations = metadata.get("annotations") or {}
        template = (rs.get("spec") or {}).get("template") or {}
        found.append({
            "revision": _revision(annotations),
            "replicaset": metadata.get("name", ""),
            "change_cause": annotations.get(CHANGE_CAUSE, ""),
            "images": [c.get("image") for c in (template.get("spec") or {}).get("containers") or []],
            "template": template,
        })
    return sorted(found, key=lambda entry: entry["revision"])
