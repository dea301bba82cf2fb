"""The roles refuse bad settings before touching anything, naming the variable at fault."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from apps_lib import RENDER_PLAYBOOK, REPO, tool

CASES = {
    "pool-reversed": ("metallb", {"metallb_pool_first": "192.168.1.30"}, "metallb_pool_first"),
    "pool-not-an-address": ("metallb", {"metallb_pool_last": "192.168.1.300"}, "metallb_pool_last"),
    "manifest-unpinned": ("metallb", {"metallb_manifest_checksum": ""}, "metallb_manifest_checksum"),
    "manifest-of-unknown-release": ("metallb", {"metallb_version": "v0.99.0"}, "metallb_manifest_checksum"),
    "unpinned-jenkins": ("jenkins", {"jenkins_image": "docker.io/jenkins/jenkins:latest"}, "pin a version"),
    "plugin-latest": ("jenkins", {"jenkins_plugins": ["git:latest"]}, "jenkins_plugins"),
    "bad-service-type": ("jenkins", {"jenkins_service_type": "Ingress"}, "jenkins_service_type"),
    "short-password": ("jenkins", {"jenkins_admin_password_length": 8}, "jenkins_admin_password_length"),
    "unknown-dashboard": ("monitoring", {"monitoring_grafana_dashboards": ["nodes", "etcd"]},
                          "monitoring_grafana_dashboards"),
    "bad-retention": ("monitoring", {"monitoring_prometheus_retention": "forever"}, "retention"),
    "grafana-switch-not-a-boolean": ("monitoring", {"monitoring_grafana_enabled": "disabled"},
                                     "monitoring_grafana_enabled"),
    "kube-state-metrics-switch-not-a-boolean": (
        "monitoring", {"monitoring_kube_state_metrics_enabled": "disabled"}, "monitoring_kube_state_metrics_enabled"),
    "volume-without-claim": ("storage", {"storage_nfs_volumes": [{"name": "x", "size": "1Gi"}]},
                             "storage_nfs_volumes"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_setting_stops_the_role_with_its_name(case, tmp_path):
    role, settings, expected = CASES[case]
    extra = {"apps_render_dir": str(tmp_path / "manifests"), "apps_secrets_dir": str(tmp_path / "secrets"),
             "apps_render_roles": [role], **settings}
    result = subprocess.run(
        [tool("ansible-playbook"), "-i", "localhost,", str(RENDER_PLAYBOOK), "-e", json.dumps(extra)],
        cwd=REPO, env={**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles"), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode != 0
    assert expected in result.stdout
    # Checked first: nothing was written, no password generated.
    assert not (tmp_path / "manifests").exists()
    assert not (tmp_path / "secrets").exists()
