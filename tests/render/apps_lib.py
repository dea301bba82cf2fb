"""Helpers shared by the tests of the lab's application roles (tests/render/test_apps_*.py).

The manifests are rendered by Ansible itself, running the roles in their render-only mode
(tests/render/apps_render.yml) for the first control-plane node of the lab's inventory, once per
variant and test session: under pytest-xdist the workers share the renders (tests/render/conftest.py
points RENDER_ROOT at the run's temporary directory), whichever needs a variant first renders it.
"""

from __future__ import annotations

import atexit
import base64
import fcntl
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
RENDER_PLAYBOOK = Path(__file__).with_name("apps_render.yml")
APP_ROLES = ("metallb", "storage", "jenkins", "monitoring")

# "default" is the lab as inventory/topology.yml and inventory/group_vars describe it.
# "minimal" flips every switch the defaults leave on: no MetalLB (NodePort), no persistence,
# no Alertmanager, Jenkins on any node, extra scrape jobs and rules.
VARIANTS: dict[str, dict] = {
    "default": {},
    "minimal": {
        "jenkins_service_type": "NodePort",
        "jenkins_service_node_port": 30080,
        "jenkins_persistence_enabled": False,
        "jenkins_node_selector": {},
        "jenkins_tolerations": [],
        "monitoring_service_type": "NodePort",
        "monitoring_persistence_enabled": False,
        "monitoring_alertmanager_enabled": False,
        "monitoring_node_selector": {"kubernetes.io/os": "linux"},
        "monitoring_tolerations": [{"key": "dedicated", "operator": "Equal", "value": "monitoring",
                                    "effect": "NoSchedule"}],
        "monitoring_prometheus_extra_scrape_configs": [
            {"job_name": "lab-vms", "static_configs": [{"targets": ["192.168.1.10:9100"]}]},
        ],
        "monitoring_prometheus_extra_rule_groups": [
            {"name": "lab-extra", "rules": [{"alert": "LabVmDown", "expr": 'up{job="lab-vms"} == 0',
                                             "for": "5m", "labels": {"severity": "warning"}}]},
        ],
        "monitoring_alertmanager_webhook_url": "http://127.0.0.1:9/hook",
        "metallb_l2_interfaces": ["eth1"],
        "metallb_pool_auto_assign": False,
    },
}
# Variants that switch one monitoring component off, rendering the monitoring role alone; compared
# with "default" by tests/render/test_apps_monitoring_components.py, not part of VARIANTS.
MONITORING_SWITCHES: dict[str, dict] = {
    "no-grafana": {"apps_render_roles": ["monitoring"], "monitoring_grafana_enabled": False},
    "no-kube-state-metrics": {"apps_render_roles": ["monitoring"], "monitoring_kube_state_metrics_enabled": False},
}


def tool(name: str) -> str:
    """The named executable of this Python's environment, else the one on PATH."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither next to {sys.executable} nor on PATH")
    return found


# Where the renders go, one directory a variant; set by tests/render/conftest.py. Unset (apps_lib
# used outside pytest), each process renders into a temporary directory of its own.
RENDER_ROOT: Path | None = None


def render(variant: str = "default") -> Path:
    """Render every manifest of the variant; returns a directory with manifests/ and secrets/."""
    return _render(variant)


@functools.cache
def _render(variant: str) -> Path:
    # Cached on the variant name alone: render() and render("default") are one rendering.
    root = RENDER_ROOT
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="apps-render-"))
        atexit.register(shutil.rmtree, root, True)
    root.mkdir(parents=True, exist_ok=True)
    out = root / variant
    done = root / f"{variant}.rendered"
    # One process renders a variant; another that needs it meanwhile waits, then reads the same files.
    with (root / f"{variant}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(out, ignore_errors=True)
            _run_render(variant, out)
            done.touch()
    return out


def _run_render(variant: str, out: Path) -> None:
    extra = {
        "apps_render_dir": str(out / "manifests"),
        "apps_secrets_dir": str(out / "secrets"),
        **{**VARIANTS, **MONITORING_SWITCHES}[variant],
    }
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "ANSIBLE_NOCOLOR": "1"}
    result = subprocess.run(
        # The lab's own inventory: the topology file and group_vars wiring decide, as for a user.
        [tool("ansible-playbook"), "-i", str(REPO / "inventory"), "--limit", "control_plane[0]",
         str(RENDER_PLAYBOOK), "-e", json.dumps(extra)],
        cwd=REPO, env=env, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"rendering failed:\n{result.stdout}\n{result.stderr}")


def manifest_files(variant: str = "default") -> list[Path]:
    return sorted((render(variant) / "manifests").glob("*.yaml"))


def documents(variant: str = "default") -> list[dict]:
    docs = []
    for path in manifest_files(variant):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                docs.append(doc)
    return docs


def find(docs: list[dict], kind: str, name: str, namespace: str | None = None) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name
               and (namespace is None or d["metadata"].get("namespace") == namespace)]
    assert len(matches) == 1, f"expected one {kind} {namespace}/{name}, found {len(matches)}"
    return matches[0]


def pod_specs(docs: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, pod template) of every Deployment, DaemonSet and StatefulSet."""
    return [(d, d["spec"]["template"]) for d in docs if d["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]


def containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def secret_value(secret: dict, key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def role_defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
