"""The monitoring role on the real cluster, through the playbooks users run: playbooks/apps.yml (only
the monitoring stack switched on) and playbooks/verify-apps.yml, then Prometheus' own API.

Prometheus, Alertmanager and node-exporter are real, from Debian's packages
(tests/fixtures/debian_monitoring_images.py: older versions than the role pins, named as local test
images). Grafana (AGPL, not built here) and kube-state-metrics (no image here) are switched off with
the role's own variables. Runs in the second verify only, after the day-2 checks (conftest.py),
so that no monitoring pod changes what they drain.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster import MASTER, NODES, import_archive, kubectl_json, playbook, recap, wait_for
from fixtures.debian_monitoring_images import write_all

NAMESPACE = "monitoring"


@pytest.fixture(scope="module")
def images():
    workdir = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "monitoring-images"
    written = write_all(workdir)
    for _, archive in written.values():
        import_archive(archive, sorted(NODES))
    return {short: name for short, (name, _) in written.items()}


@pytest.fixture(scope="module")
def applied(images, tmp_path_factory):
    settings = {
        "apps_storage_enabled": False,
        "apps_jenkins_enabled": False,
        "apps_metallb_enabled": False,
        "monitoring_grafana_enabled": False,
        "monitoring_kube_state_metrics_enabled": False,
        "monitoring_persistence_enabled": False,
        "monitoring_prometheus_image": images["prometheus"],
        "monitoring_alertmanager_image": images["alertmanager"],
        "monitoring_node_exporter_image": images["node-exporter"],
        # Nothing may be pulled from outside: a missing image fails the pod at once.
        "monitoring_image_pull_policy": "Never",
        "monitoring_wait_timeout": 300,
    }
    extra = tmp_path_factory.mktemp("monitoring") / "vars.json"
    extra.write_text(json.dumps(settings))
    first = playbook("apps.yml", "-e", f"@{extra}")
    second = playbook("apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    verified = playbook("verify-apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    return {"first": first, "second": second, "verify": verified, "extra": extra}


def prometheus_api(path: str) -> dict:
    service = kubectl_json("get", "service", "prometheus", "-n", NAMESPACE)
    port = service["spec"]["ports"][0]["nodePort"]
    address = NODES[MASTER].ip
    with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]


def test_apps_playbook_deploys_the_stack_and_reruns_unchanged(applied):
    first, second = applied["first"], applied["second"]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert second.returncode == 0, second.stdout[-4000:]
    changed = {host: counts["changed"] for host, counts in recap(second.stdout).items()}
    assert changed and set(changed.values()) == {0}, changed


def test_verify_apps_reaches_each_service_from_the_host(applied):
    verified = applied["verify"]
    assert verified.returncode == 0, verified.stdout[-4000:] + verified.stderr[-2000:]


def test_what_runs_is_what_the_role_chose(applied):
    deployments = {d["metadata"]["name"] for d in kubectl_json("get", "deployments", "-n", NAMESPACE)["items"]}
    assert deployments == {"prometheus", "alertmanager"}
    exporters = kubectl_json("get", "daemonset", "node-exporter", "-n", NAMESPACE)["status"]
    assert exporters["numberReady"] == exporters["desiredNumberScheduled"] == len(NODES)


def test_every_target_is_up(applied):
    """The scrape TLS and RBAC for real: the API server, every kubelet and its cAdvisor, and each
    annotated pod, all `up` from inside the cluster with the role's service account."""
    nodes = len(kubectl_json("get", "nodes")["items"])
    expected = {
        "kubernetes-apiservers": 1,
        "kubernetes-nodes": nodes,
        "kubernetes-cadvisor": nodes,
        # Prometheus, Alertmanager and node-exporter on every node, found by their annotations.
        "kubernetes-pods": 2 + nodes,
    }

    last = {}

    def all_up():
        targets = prometheus_api("/api/v1/targets?state=active")["activeTargets"]
        by_job = {}
        for target in targets:
            by_job.setdefault(target["labels"]["job"], []).append(target)
        last["seen"] = {
            job: [(t["scrapeUrl"], t["health"], t["lastError"]) for t in found] for job, found in by_job.items()
        }
        counts = {job: len(found) for job, found in by_job.items()}
        return counts == expected and all(t["health"] == "up" for t in targets)

    try:
        wait_for("every target up", all_up, timeout=240, interval=10)
    except pytest.fail.Exception:
        pytest.fail(f"not every expected target up within 240 s (expected per job {expected}): {last.get('seen')}")


def test_rules_are_the_roles_and_evaluate(applied):
    config = kubectl_json("get", "configmap", "prometheus-config", "-n", NAMESPACE)["data"]
    wanted = [group["name"] for group in yaml.safe_load(config["rules.yml"])["groups"]]

    def evaluated():
        groups = prometheus_api("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        # lastEvaluation is the zero time until a rule's first evaluation.
        done = rules and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules)
        return groups if [g["name"] for g in groups] == wanted and done else None

    groups = wait_for("the role's rule groups loaded and evaluated", evaluated, timeout=180, interval=10)
    rules = [rule for group in groups for rule in group["rules"]]
    assert [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"] == []


def test_prometheus_sends_to_the_roles_alertmanager(applied):
    def discovered():
        return prometheus_api("/api/v1/alertmanagers")["activeAlertmanagers"]

    active = wait_for("Alertmanager among Prometheus' active alertmanagers", discovered, timeout=120, interval=10)
    assert [am["url"] for am in active] == [f"http://alertmanager.{NAMESPACE}.svc:9093/api/v2/alerts"]
