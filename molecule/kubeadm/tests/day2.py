"""What the day-2 checks share (test_drain.py, test_exercises.py, test_health_recover.py,
test_maintenance.py, test_add_remove_reset.py): their namespace, the two workers' parts, the test web
image's pod and workload shapes, and reads of the pods and nodes."""

from __future__ import annotations

from cluster import WORKERS, kubectl_json
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

NS = "day2"
# The worker the drain checks empty and maintenance restarts, and the one that stays.
DRAINED, OTHER = WORKERS[0], WORKERS[1]


def pod_spec(tag: str = "v1", **extra) -> dict:
    return {
        # busybox httpd as PID 1 ignores SIGTERM; a short grace keeps evictions quick.
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "web", "image": f"{TEST_IMAGE}:{tag}", "imagePullPolicy": "Never",
            "ports": [{"containerPort": TEST_PORT}],
            "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 1},
            **extra.pop("container", {}),
        }],
        **extra,
    }


def deployment(name: str, replicas: int, **spec) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec(**spec)}},
    }


def pdb(name: str, min_available: int) -> dict:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": NS},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": name}}},
    }


def pods(namespace: str = NS, selector: str = "") -> list[dict]:
    args = ["-n", namespace, "get", "pods"] + (["-l", selector] if selector else [])
    return [p for p in kubectl_json(*args)["items"] if not p["metadata"].get("deletionTimestamp")]


def on_node(name: str) -> set[str]:
    """namespace/name of every pod bound to the node."""
    found = kubectl_json("get", "pods", "-A", "--field-selector", f"spec.nodeName={name}")["items"]
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in found
            if not p["metadata"].get("deletionTimestamp")}


def uids(namespace: str = NS) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(namespace)}


def unschedulable(name: str) -> bool:
    return bool(kubectl_json("get", "node", name)["spec"].get("unschedulable"))
