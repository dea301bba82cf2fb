"""The lab's applications on the real cluster, through the playbooks users run: playbooks/apps.yml
with MetalLB and the monitoring stack switched on, then playbooks/verify-apps.yml, then MetalLB's
addresses from the host and Prometheus' own API.

MetalLB v0.15.3 is the offline bundle's (built from source, its manifest checked by the role against
the pinned checksum). Prometheus, Alertmanager and node-exporter are real, from Debian's packages
(tests/fixtures/debian_monitoring_images.py: older versions than the role pins, named as local test
images). Grafana (AGPL, not built here), kube-state-metrics (no image here), Jenkins (no image here)
and the NFS volumes are switched off with the lab's own variables. Runs in the second verify only,
after the day-2 checks (conftest.py), so that none of these pods changes what they drain.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster import NODES, PREFIX, TOPOLOGY, import_archive, kubectl_json, playbook, recap, wait_for
from fixtures.debian_monitoring_images import write_all

NAMESPACE = "monitoring"
# The book's addresses, from the start of the topology's load-balancer range (group_vars/all.yml):
# Jenkins .first, Prometheus .first+1, Grafana .first+2, Alertmanager .first+3.
POOL_FIRST = ipaddress.IPv4Address(TOPOLOGY.group_vars["lab_loadbalancer_first_ip"])
EXPECTED_ADDRESSES = {"prometheus": str(POOL_FIRST + 1), "alertmanager": str(POOL_FIRST + 3)}


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
        "apps_metallb_enabled": True,
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
    extra = tmp_path_factory.mktemp("apps") / "vars.json"
    extra.write_text(json.dumps(settings))
    first = playbook("apps.yml", "-e", f"@{extra}")
    second = playbook("apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    verified = playbook("verify-apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    return {"first": first, "second": second, "verify": verified}


def load_balancer_ip(service: str) -> str | None:
    ingress = kubectl_json("get", "service", service, "-n", NAMESPACE)["status"].get("loadBalancer", {})
    return next((entry["ip"] for entry in ingress.get("ingress", [])), None)


def prometheus_api(path: str) -> dict:
    """Prometheus' HTTP API from this host, through its MetalLB address."""
    url = f"http://{EXPECTED_ADDRESSES['prometheus']}{path}"
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]


def test_apps_playbook_deploys_and_reruns_unchanged(applied):
    first, second = applied["first"], applied["second"]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert second.returncode == 0, second.stdout[-4000:]
    changed = {host: counts["changed"] for host, counts in recap(second.stdout).items()}
    assert changed and set(changed.values()) == {0}, changed


def test_verify_apps_reaches_each_service_from_the_host(applied):
    verified = applied["verify"]
    assert verified.returncode == 0, verified.stdout[-4000:] + verified.stderr[-2000:]


def test_metallb_runs_from_the_bundle(applied):
    controller = kubectl_json("get", "deployment", "controller", "-n", "metallb-system")
    assert controller["status"].get("availableReplicas") == 1
    speakers = kubectl_json("get", "daemonset", "speaker", "-n", "metallb-system")
    assert speakers["status"]["numberReady"] == speakers["status"]["desiredNumberScheduled"] > 0
    images = {c["image"] for obj in (controller, speakers) for c in obj["spec"]["template"]["spec"]["containers"]}
    assert images == {"quay.io/metallb/controller:v0.15.3", "quay.io/metallb/speaker:v0.15.3"}


def test_services_get_the_books_addresses_from_the_pool(applied):
    assert {name: load_balancer_ip(name) for name in EXPECTED_ADDRESSES} == EXPECTED_ADDRESSES


def test_a_node_answers_arp_for_each_address(applied):
    """L2 mode for real: this host reaches the address over the lab network, and the MAC that
    answered for it is one of the nodes' (a speaker's ARP reply), not anything else on the bridge."""
    macs = {}
    for name in NODES:
        inspect = subprocess.run(["podman", "inspect", f"{PREFIX}{name}"], capture_output=True, text=True,
                                 check=True)
        for network in json.loads(inspect.stdout)[0]["NetworkSettings"]["Networks"].values():
            macs[network["MacAddress"]] = name
    for service, address in EXPECTED_ADDRESSES.items():
        with urllib.request.urlopen(f"http://{address}/-/ready", timeout=10) as answer:
            assert answer.status == 200, service
        neighbour = subprocess.run(["ip", "-j", "neigh", "show", address], capture_output=True, text=True,
                                   check=True)
        answered = {entry.get("lladdr") for entry in json.loads(neighbour.stdout)}
        assert answered and answered <= set(macs), (service, answered, macs)


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
