"""The monitoring role's optional components: switched off, nothing of them is rendered or awaited."""

from __future__ import annotations

import json

import pytest
import yaml
from apps_lib import MONITORING_SWITCHES, render

# What each switch leaves out: the files of render-only mode, the objects, the awaited Deployment.
LEFT_OUT = {
    "no-grafana": (
        {"grafana-config", "grafana", "grafana-secret"},
        {("ConfigMap", "grafana-provisioning"), ("ConfigMap", "grafana-dashboards"), ("Deployment", "grafana"),
         ("Service", "grafana"), ("Secret", "grafana-admin"), ("PersistentVolumeClaim", "grafana-data")},
        "grafana",
    ),
    "no-kube-state-metrics": (
        {"kube-state-metrics"},
        {("ServiceAccount", "kube-state-metrics"), ("ClusterRole", "k8s-lab-kube-state-metrics"),
         ("ClusterRoleBinding", "k8s-lab-kube-state-metrics"), ("Deployment", "kube-state-metrics")},
        "kube-state-metrics",
    ),
}


def monitoring_files(variant):
    """{name: path} of the monitoring role's manifests, without the monitoring- prefix."""
    directory = render(variant) / "manifests"
    return {p.name.removeprefix("monitoring-").removesuffix(".yaml"): p for p in directory.glob("monitoring-*.yaml")}


def monitoring_documents(variant):
    files = monitoring_files(variant)
    return [d for name in sorted(files) for d in yaml.safe_load_all(files[name].read_text()) if d]


def monitoring_objects(variant):
    return {(d["kind"], d["metadata"]["name"]) for d in monitoring_documents(variant)}


def waited_for(variant):
    return json.loads((render(variant) / "manifests" / "monitoring-wait.json").read_text())


def test_by_default_every_component_is_rendered_and_awaited():
    files, objects = set(monitoring_files("default")), monitoring_objects("default")
    for left_out_files, left_out_objects, _ in LEFT_OUT.values():
        assert left_out_files <= files
        assert left_out_objects <= objects
    assert waited_for("default") == ["prometheus", "kube-state-metrics", "alertmanager", "grafana"]


@pytest.mark.parametrize("variant", sorted(MONITORING_SWITCHES))
def test_a_switched_off_component_has_no_manifest(variant):
    left_out_files, _, _ = LEFT_OUT[variant]
    assert set(monitoring_files(variant)) == set(monitoring_files("default")) - left_out_files


@pytest.mark.parametrize("variant", sorted(MONITORING_SWITCHES))
def test_the_rest_of_the_stack_is_unchanged(variant):
    _, left_out_objects, _ = LEFT_OUT[variant]
    assert monitoring_objects(variant) == monitoring_objects("default") - left_out_objects
    # Down to the content, Secrets aside: each rendering generates its passwords anew.
    kept = [d for d in monitoring_documents("default")
            if (d["kind"], d["metadata"]["name"]) not in left_out_objects and d["kind"] != "Secret"]
    assert [d for d in monitoring_documents(variant) if d["kind"] != "Secret"] == kept


@pytest.mark.parametrize("variant", sorted(MONITORING_SWITCHES))
def test_the_role_does_not_wait_for_a_switched_off_component(variant):
    _, _, deployment = LEFT_OUT[variant]
    assert waited_for(variant) == [d for d in waited_for("default") if d != deployment]


def test_without_grafana_no_admin_password_is_generated():
    assert not (render("no-grafana") / "secrets" / "grafana-admin").exists()
    assert "grafana-secret" not in monitoring_files("no-grafana")
    # Only the Grafana switch decides: without kube-state-metrics the password is still generated.
    assert (render("no-kube-state-metrics") / "secrets" / "grafana-admin").exists()
