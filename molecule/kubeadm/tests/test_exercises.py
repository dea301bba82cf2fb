"""The book's chapter 3 exercise playbooks on the real cluster, on two tags of the local test web
image: deploy, scale, update and undo. Runs once, after the nodes were restarted and upgraded (ORDER
in conftest.py); it leaves the cluster as it found it."""

from __future__ import annotations

from cluster import MASTER, fetch_on, kubectl_json, playbook
from day2 import pods
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT


def rollout(name: str) -> dict:
    deployment_ = kubectl_json("get", "deployment", name)
    images_ = {p["spec"]["containers"][0]["image"] for p in pods("default", f"app={name}")}
    return {
        "replicas": deployment_["spec"]["replicas"],
        "ready": deployment_["status"].get("readyReplicas", 0),
        "updated": deployment_["status"].get("updatedReplicas", 0),
        "revision": deployment_["metadata"]["annotations"].get("deployment.kubernetes.io/revision"),
        "images": images_,
    }


def answers(name: str) -> set[str]:
    """What each of the Deployment's pods serves, asked from the control-plane node."""
    out = set()
    for pod in pods("default", f"app={name}"):
        url = f"http://{pod['status']['podIP']}:{TEST_PORT}/"
        answer = fetch_on(MASTER, url)
        assert answer.rc == 0, answer.stderr
        out.add(answer.stdout.strip())
    return out


def test_the_book_exercises_deploy_scale_update_and_undo(images):
    v1, v2 = f"{TEST_IMAGE}:v1", f"{TEST_IMAGE}:v2"
    try:
        done = playbook("exercises/deploy.yml", "-e", f"echo_hname_image={v1}", "-e", f"rollout_nginx_image={v1}",
                        "-e", "echo_hname_replicas=1", "-e", "rollout_nginx_replicas=1")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("echo-hname") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "1", "images": {v1}}

        done = playbook("exercises/scale.yml", "-e", "replicas=3")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("echo-hname")["ready"] == 3
        assert len(pods("default", "app=echo-hname")) == 3

        done = playbook("exercises/set-image.yml", "-e", f"image={v2}")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("rollout-nginx") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "2", "images": {v2}}
        assert answers("rollout-nginx") == {"k8s-lab test web v2"}

        done = playbook("exercises/rollback.yml")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("rollout-nginx") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "3", "images": {v1}}
        assert answers("rollout-nginx") == {"k8s-lab test web v1"}
    finally:
        deleted = playbook("exercises/delete.yml")
    assert deleted.returncode == 0, deleted.stdout[-3000:]
