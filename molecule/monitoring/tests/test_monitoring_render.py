"""What the monitoring role renders, checked on the controller it rendered on."""

from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest
import yaml

EXPECTED = {"namespace", "prometheus-rbac", "prometheus-config", "pvc", "prometheus", "node-exporter",
            "kube-state-metrics", "alertmanager", "grafana-config", "grafana", "grafana-secret"}

# What the book used, and what charts default to.
DEFAULTS = {"admin", "password", "changeme", "jenkins", "grafana"}


@pytest.fixture(scope="module")
def ansible_vars(host):
    return host.ansible.get_variables()


def load(host, directory, name):
    text = host.file(f"{directory}/monitoring-{name}.yaml").content_string
    return [d for d in yaml.safe_load_all(text) if d]


def test_every_manifest_is_written_and_valid_for_kubernetes_1_37(host, ansible_vars):
    directory = ansible_vars["monitoring_render_dir"]
    written = {f.removeprefix("monitoring-").removesuffix(".yaml") for f in host.file(directory).listdir()}
    assert written == EXPECTED
    for name in EXPECTED:
        for doc in load(host, directory, name):
            kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_promtool_accepts_the_rules(host, ansible_vars, tmp_path):
    (config_map,) = load(host, ansible_vars["monitoring_render_dir"], "prometheus-config")
    # The scenario's host is this machine (local connection), so tmp_path is on it too.
    rules = tmp_path / "rules.yml"
    rules.write_text(config_map["data"]["rules.yml"])
    check = host.run("promtool check rules %s", str(rules))
    assert check.rc == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout


def test_dashboards_use_the_provisioned_datasource(host, ansible_vars):
    directory = ansible_vars["monitoring_render_dir"]
    provisioning, dashboards = load(host, directory, "grafana-config")
    (source,) = yaml.safe_load(provisioning["data"]["datasources.yml"])["datasources"]
    assert len(dashboards["data"]) == 3
    for text in dashboards["data"].values():
        for panel in json.loads(text)["panels"]:
            assert panel["datasource"]["uid"] == source["uid"]
            assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"])


def test_the_grafana_password_is_generated_private_and_in_the_secret(host, ansible_vars):
    password_file = host.file(ansible_vars["monitoring_grafana_admin_password_file"])
    assert password_file.is_file and password_file.mode == 0o600
    password = password_file.content_string.strip()
    assert len(password) >= 24 and password.lower() not in DEFAULTS
    (secret,) = load(host, ansible_vars["monitoring_render_dir"], "grafana-secret")
    assert base64.b64decode(secret["data"]["password"]).decode() == password


def test_a_later_run_keeps_the_password_and_the_checksums(host, ansible_vars):
    first, again = ansible_vars["monitoring_render_dir"], ansible_vars["monitoring_rerender_dir"]
    assert load(host, first, "grafana-secret") == load(host, again, "grafana-secret")
    for name in ("prometheus", "grafana", "alertmanager"):
        assert load(host, first, name) == load(host, again, name)
