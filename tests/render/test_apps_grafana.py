"""Grafana's provisioning: the data source and the dashboards as code."""

from __future__ import annotations

import json

import pytest
import yaml
from apps_lib import VARIANTS, documents, find

EXPECTED_DASHBOARDS = {"nodes.json", "cluster.json", "pods.json"}


def provisioning(variant="default"):
    docs = documents(variant)
    config = find(docs, "ConfigMap", "grafana-provisioning", "monitoring")["data"]
    dashboards = find(docs, "ConfigMap", "grafana-dashboards", "monitoring")["data"]
    return yaml.safe_load(config["datasources.yml"]), yaml.safe_load(config["dashboards.yml"]), dashboards


def datasource_refs(node):
    """Every "datasource" object anywhere in a dashboard."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasource_refs(item)


def test_one_prometheus_datasource_is_provisioned():
    datasources, _, _ = provisioning()
    assert datasources["apiVersion"] == 1
    (source,) = datasources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus" and source["isDefault"] is True
    prometheus = find(documents(), "Service", "prometheus", "monitoring")
    assert source["url"] == f"http://prometheus.monitoring.svc:{prometheus['spec']['ports'][0]['port']}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dashboards_are_json_and_use_only_the_provisioned_datasource(variant):
    datasources, _, dashboards = provisioning(variant)
    uid = datasources["datasources"][0]["uid"]
    assert set(dashboards) == EXPECTED_DASHBOARDS
    uids = set()
    for name, text in dashboards.items():
        dashboard = json.loads(text)
        uids.add(dashboard["uid"])
        assert dashboard["title"] and dashboard["panels"], name
        refs = list(datasource_refs(dashboard))
        assert refs, name
        assert all(ref == {"type": "prometheus", "uid": uid} for ref in refs), name
        for panel in dashboard["panels"]:
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
    assert len(uids) == len(dashboards)


def test_legends_keep_grafana_templates():
    _, _, dashboards = provisioning()
    nodes = json.loads(dashboards["nodes.json"])
    assert nodes["panels"][0]["targets"][0]["legendFormat"] == "{{ instance }}"


def test_dashboard_provider_reads_the_mounted_dashboards():
    _, providers, _ = provisioning()
    (provider,) = providers["providers"]
    spec = find(documents(), "Deployment", "grafana", "monitoring")["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "dashboards")
    assert provider["type"] == "file" and provider["options"]["path"] == mount["mountPath"]
    volume = next(v for v in spec["volumes"] if v["name"] == "dashboards")
    assert volume["configMap"]["name"] == "grafana-dashboards"


def test_grafana_makes_no_calls_home():
    spec = find(documents(), "Deployment", "grafana", "monitoring")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    for name in ("GF_ANALYTICS_REPORTING_ENABLED", "GF_ANALYTICS_CHECK_FOR_UPDATES",
                 "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "GF_NEWS_NEWS_FEED_ENABLED"):
        assert env[name] == "false"
