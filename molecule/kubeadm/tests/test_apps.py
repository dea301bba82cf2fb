"""MetalLB and the monitoring stack on the real cluster, through the playbooks users run:
playbooks/apps.yml with both switched on (the NFS volumes, Jenkins and Grafana off: their images are
in no registry here and cannot be built from Go modules), playbooks/verify-apps.yml, then a
LoadBalancer Service of the local test web image answering this host on an address from the
topology's pool, and Prometheus scraping every target of the role's configuration.

MetalLB v0.15.3 is the offline bundle's: controller and speaker built from source, imported by
site.yml with the bundle's other images, its manifest applied from the bundle after the role checked
it against the checksum it pins. Prometheus, Alertmanager, node-exporter and kube-state-metrics are
the bundle's too (built from their source modules, under their upstream image names), run by the
monitoring role's own manifests; without persistence, since the NFS volumes are off. Runs in the
second verify only, after the day-2 checks (conftest.py), so that MetalLB's and the monitoring
stack's pods change nothing they drain.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest
import yaml
from cluster import (
    ADMIN,
    MASTER,
    NODES,
    PREFIX,
    ROOT,
    TOPOLOGY,
    VERSIONS,
    WORKERS,
    apply,
    import_test_image,
    kubectl_json,
    node,
    playbook,
    pod_ready,
    recap,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

TAG = "v1"
APP = "lb-web"
POOL = (
    ipaddress.IPv4Address(TOPOLOGY.group_vars["lab_loadbalancer_first_ip"]),
    ipaddress.IPv4Address(TOPOLOGY.group_vars["lab_loadbalancer_last_ip"]),
)


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    extra = tmp_path_factory.mktemp("apps") / "vars.json"
    extra.write_text(json.dumps({
        "apps_metallb_enabled": True,
        "apps_storage_enabled": False,
        "apps_jenkins_enabled": False,
        "apps_monitoring_enabled": True,
        "monitoring_grafana_enabled": False,
        "monitoring_persistence_enabled": False,
    }))
    first = playbook("apps.yml", "-e", f"@{extra}")
    second = playbook("apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    verified = playbook("verify-apps.yml", "-e", f"@{extra}") if first.returncode == 0 else first
    return {"first": first, "second": second, "verify": verified}


@pytest.fixture(scope="module")
def address(applied):
    """A Deployment of the local test web image behind a LoadBalancer Service: the address MetalLB
    gave it."""
    assert applied["first"].returncode == 0, applied["first"].stdout[-4000:]
    import_test_image(TAG, WORKERS, Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]))
    labels = {"app": APP}
    apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                "name": APP, "image": f"{TEST_IMAGE}:{TAG}", "imagePullPolicy": "Never",
                "ports": [{"containerPort": TEST_PORT}],
                "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 2},
            }]}},
        },
    })
    apply({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": labels, "ports": [{"port": 80, "targetPort": TEST_PORT}]},
    })
    wait_for(f"the {APP} pod Ready", lambda: [p for p in kubectl_json("get", "pods", "-l", f"app={APP}")["items"]
                                              if pod_ready(p)])

    def assigned():
        ingress = kubectl_json("get", "service", APP)["status"].get("loadBalancer", {}).get("ingress", [])
        return ingress[0]["ip"] if ingress else None

    return wait_for(f"an address for the {APP} Service", assigned, timeout=120)


def test_apps_playbook_installs_metallb_and_reruns_unchanged(applied):
    first, second = applied["first"], applied["second"]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert second.returncode == 0, second.stdout[-4000:]
    changed = {host: counts["changed"] for host, counts in recap(second.stdout).items()}
    assert changed and set(changed.values()) == {0}, changed


def test_verify_apps_finds_every_speaker_ready(applied):
    verified = applied["verify"]
    assert verified.returncode == 0, verified.stdout[-4000:] + verified.stderr[-2000:]


def test_metallb_runs_the_bundles_images(applied):
    controller = kubectl_json("get", "deployment", "controller", "-n", "metallb-system")
    assert controller["status"].get("availableReplicas") == 1
    speakers = kubectl_json("get", "daemonset", "speaker", "-n", "metallb-system")
    assert speakers["status"]["numberReady"] == speakers["status"]["desiredNumberScheduled"] == len(NODES)
    images = {c["image"] for obj in (controller, speakers) for c in obj["spec"]["template"]["spec"]["containers"]}
    version = VERSIONS["metallb"]
    assert images == {f"quay.io/metallb/controller:{version}", f"quay.io/metallb/speaker:{version}"}


def test_the_address_comes_from_the_topologys_pool(address):
    assert POOL[0] <= ipaddress.IPv4Address(address) <= POOL[1], (address, POOL)


def test_the_service_answers_this_host_through_a_nodes_arp_reply(address):
    """L2 mode for real: this host reaches the address over the lab network, and the MAC that
    answered ARP for it is one of the nodes' (a speaker's reply), not anything else on the bridge."""
    with urllib.request.urlopen(f"http://{address}/", timeout=10) as answer:
        assert answer.read().decode().strip() == f"k8s-lab test web {TAG}"
    macs = {}
    for name in NODES:
        inspect = subprocess.run(["podman", "inspect", f"{PREFIX}{name}"], capture_output=True, text=True,
                                 check=True)
        for network in json.loads(inspect.stdout)[0]["NetworkSettings"]["Networks"].values():
            macs[network["MacAddress"]] = name
    neighbour = subprocess.run(["ip", "-j", "neigh", "show", address], capture_output=True, text=True, check=True)
    answered = {entry.get("lladdr") for entry in json.loads(neighbour.stdout)}
    assert answered and answered <= set(macs), (answered, macs)


# The monitoring role's namespaces (its defaults, which the lab does not override).
MONITORING_DEFAULTS = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())
MONITORING = MONITORING_DEFAULTS["monitoring_namespace"]
NODE_EXPORTER = MONITORING_DEFAULTS["monitoring_node_exporter_namespace"]


def prometheus(path: str) -> dict:
    """A Prometheus HTTP API answer, asked from this host on its MetalLB address."""
    service = kubectl_json("get", "service", "prometheus", "-n", MONITORING)
    address = service["status"]["loadBalancer"]["ingress"][0]["ip"]
    port = service["spec"]["ports"][0]["port"]
    with urllib.request.urlopen(f"http://{address}:{port}{path}", timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["status"] == "success", body
    return body["data"]


def test_monitoring_runs_the_bundles_images(applied):
    """Every image of the stack is the one the bundle built (the nodes reach no registry), and each
    workload runs: Prometheus, Alertmanager and kube-state-metrics once, node-exporter on every node."""
    bundle = json.loads((Path(os.environ["LAB_BUNDLE_DIR"]) / "manifest.json").read_text())
    built = {image["name"] for image in bundle["images"] if image.get("used_by") == "monitoring"}  # the role
    running = set()
    for name in ("prometheus", "alertmanager", "kube-state-metrics"):
        deployment = kubectl_json("get", "deployment", name, "-n", MONITORING)
        assert deployment["status"].get("availableReplicas") == 1, name
        running |= {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    exporters = kubectl_json("get", "daemonset", "node-exporter", "-n", NODE_EXPORTER)
    assert exporters["status"]["numberReady"] == exporters["status"]["desiredNumberScheduled"] == len(NODES)
    running |= {c["image"] for c in exporters["spec"]["template"]["spec"]["containers"]}
    assert running == built, (running, built)


@pytest.fixture(scope="module")
def targets(applied):
    """Prometheus' active targets once each has been scraped at least once."""
    assert applied["first"].returncode == 0, applied["first"].stdout[-4000:]

    def scraped():
        active = prometheus("/api/v1/targets?state=active")["activeTargets"]
        return active if active and all(t["health"] != "unknown" for t in active) else None

    return wait_for("every target scraped once", scraped, timeout=120)


def test_prometheus_scrapes_every_target(targets):
    """Service discovery against the real API and RBAC on every scrape: the API server, each node's
    kubelet and cAdvisor, and every annotated pod (node-exporter on each node, the stack itself,
    MetalLB's), all up."""
    down = {(t["scrapePool"], t["scrapeUrl"]): t["lastError"] for t in targets if t["health"] != "up"}
    assert not down, down
    jobs = {}
    for target in targets:
        jobs.setdefault(target["scrapePool"], []).append(target["labels"])
    assert len(jobs["kubernetes-apiservers"]) == 1
    assert len(jobs["kubernetes-nodes"]) == len(jobs["kubernetes-cadvisor"]) == len(NODES)
    pods = {labels.get("app_kubernetes_io_name") or labels.get("app") for labels in jobs["kubernetes-pods"]}
    assert {"prometheus", "alertmanager", "node-exporter", "kube-state-metrics", "metallb"} <= pods, pods
    exporter_nodes = {labels["node"] for labels in jobs["kubernetes-pods"]
                      if labels.get("app_kubernetes_io_name") == "node-exporter"}
    assert exporter_nodes == set(NODES)


def test_prometheus_has_each_nodes_metrics(targets):
    """Data, not only targets: node-exporter's and kube-state-metrics' series for every node. (The
    pods job labels every series with the scraped pod's node, so kube-state-metrics' own node label
    is kept as exported_node.)"""
    for query, label in (("node_uname_info", "nodename"), ("kube_node_info", "exported_node")):
        result = prometheus(f"/api/v1/query?query={query}")["result"]
        assert {series["metric"].get(label) for series in result} == set(NODES), (query, result)


def test_prometheus_evaluates_the_roles_rules(targets):
    def evaluated():
        groups = prometheus("/api/v1/rules")["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return groups if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules) else None

    groups = wait_for("every rule evaluated once", evaluated, timeout=120)
    assert "k8s-lab-nodes" in {group["name"] for group in groups}
    failing = {rule["name"]: rule.get("lastError") for group in groups for rule in group["rules"]
               if rule["health"] != "ok"}
    assert not failing, failing


def test_prometheus_sends_alerts_to_alertmanager(targets):
    active = prometheus("/api/v1/alertmanagers")["activeAlertmanagers"]
    assert [a["url"] for a in active] == [f"http://alertmanager.{MONITORING}.svc:9093/api/v2/alerts"], active


def dry_run_pod(namespace: str, privileged: bool) -> tuple[int, str]:
    """A pod created with --dry-run=server: admission runs, nothing is stored. (exit code, stderr)"""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod-security-probe", "namespace": namespace},
           "spec": {"containers": [{"name": "probe", "image": "registry.k8s.io/pause",
                                    "securityContext": {"privileged": privileged}}]}}
    encoded = base64.b64encode(json.dumps(pod).encode()).decode()
    done = node(MASTER).run(f"echo {encoded} | base64 -d | kubectl --kubeconfig {ADMIN} create --dry-run=server -f -")
    return done.rc, done.stderr


def test_pod_security_is_enforced_on_the_apps_namespaces(applied):
    """The labels the roles set are on the namespaces, and the API server enforces them: a privileged
    pod is refused next to Prometheus, admitted only where node-exporter and MetalLB's speaker run
    (whose pods, Ready above, were admitted under these same labels)."""
    assert applied["first"].returncode == 0, applied["first"].stdout[-4000:]
    levels = {name: kubectl_json("get", "namespace", name)["metadata"]["labels"].get(
        "pod-security.kubernetes.io/enforce") for name in (MONITORING, NODE_EXPORTER, "metallb-system")}
    assert levels == {MONITORING: "restricted", NODE_EXPORTER: "privileged", "metallb-system": "privileged"}
    rc, err = dry_run_pod(MONITORING, privileged=True)
    assert rc != 0 and "violates PodSecurity" in err, err
    for namespace in (NODE_EXPORTER, "metallb-system"):
        rc, err = dry_run_pod(namespace, privileged=True)
        assert rc == 0, (namespace, err)
