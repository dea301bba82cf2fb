"""The rendered Prometheus configuration and rules, checked with promtool.

Debian's promtool (package prometheus) is built without Kubernetes service discovery: it rejects
kubernetes_sd_configs as an unknown field. So the test swaps each kubernetes_sd_configs block for a
static target before `promtool check config` (which then checks everything else, including the rule
file and the token and CA files the jobs reference) and checks the discovery blocks against
Prometheus' documented schema itself.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from apps_lib import VARIANTS, documents, find, pod_specs

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SD_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
SD_KEYS = {"role", "namespaces", "selectors", "attach_metadata", "api_server", "kubeconfig_file"}
# Meta labels each discovery role sets (Prometheus documentation, kubernetes_sd_config).
META_PREFIXES = {
    "node": ("__meta_kubernetes_node_",),
    "pod": ("__meta_kubernetes_pod_", "__meta_kubernetes_namespace"),
    "endpointslice": ("__meta_kubernetes_endpointslice_", "__meta_kubernetes_service_",
                      "__meta_kubernetes_pod_", "__meta_kubernetes_namespace", "__meta_kubernetes_node_"),
}
PROMTOOL = "promtool"


def prometheus_files(variant):
    config_map = find(documents(variant), "ConfigMap", "prometheus-config", "monitoring")
    return config_map["data"]["prometheus.yml"], config_map["data"]["rules.yml"]


def promtool(*args, cwd):
    result = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def without_kubernetes_sd(config: dict, serviceaccount_dir: Path) -> dict:
    for job in config["scrape_configs"]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9"]}]
    text = yaml.safe_dump(config).replace(SERVICEACCOUNT_DIR, str(serviceaccount_dir))
    return yaml.safe_load(text)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_promtool_accepts_the_configuration_and_its_rules(variant, tmp_path):
    config_text, rules_text = prometheus_files(variant)
    # Test double of the service account files Kubernetes mounts into the pod.
    serviceaccount_dir = tmp_path / "serviceaccount_test_double"
    serviceaccount_dir.mkdir()
    (serviceaccount_dir / "token").write_text("token-test-double\n")
    (serviceaccount_dir / "ca.crt").write_text("")
    config = without_kubernetes_sd(yaml.safe_load(config_text), serviceaccount_dir)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "rules.yml").write_text(rules_text)
    output = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert "rules.yml" in output and "SUCCESS" in output
    promtool("check", "rules", "rules.yml", cwd=tmp_path)


def test_promtool_sees_the_missing_rule_file(tmp_path):
    """The check above is only worth something if promtool really follows rule_files."""
    config_text, _ = prometheus_files("default")
    config = without_kubernetes_sd(yaml.safe_load(config_text), tmp_path)
    (tmp_path / "token").write_text("x")
    (tmp_path / "ca.crt").write_text("")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    broken = {"groups": [{"name": "broken", "rules": [{"alert": "X", "expr": "up =="}]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(broken))
    result = subprocess.run([PROMTOOL, "check", "config", "prometheus.yml"], cwd=tmp_path,
                            capture_output=True, text=True, check=False)
    assert result.returncode != 0


def test_the_sample_alerts_fire_as_intended(tmp_path):
    _, rules_text = prometheus_files("default")
    (tmp_path / "rules.yml").write_text(rules_text)
    (tmp_path / "tests.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": 'up{job="kubernetes-pods",instance="10.0.0.1:9100"}', "values": "0x10"},
                {"series": 'up{job="kubernetes-pods",instance="10.0.0.2:9100"}', "values": "1x10"},
                {"series": 'kube_node_status_condition{node="w1-k8s",condition="Ready",status="true"}',
                 "values": "1 1 0x8"},
            ],
            "alert_rule_test": [
                {"eval_time": "4m", "alertname": "TargetDown", "exp_alerts": []},
                {"eval_time": "6m", "alertname": "TargetDown", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "job": "kubernetes-pods", "instance": "10.0.0.1:9100"},
                    "exp_annotations": {
                        "summary": "kubernetes-pods target 10.0.0.1:9100 is down",
                        "description": "Prometheus could not scrape 10.0.0.1:9100 (kubernetes-pods) for 5 minutes.",
                    },
                }]},
                {"eval_time": "8m", "alertname": "NodeNotReady", "exp_alerts": [{
                    "exp_labels": {"severity": "critical", "node": "w1-k8s", "condition": "Ready", "status": "true"},
                    "exp_annotations": {
                        "summary": "Node w1-k8s is not Ready",
                        "description": "The kubelet on w1-k8s has not reported Ready for 5 minutes.",
                    },
                }]},
            ],
        }],
    }))
    promtool("test", "rules", "tests.yml", cwd=tmp_path)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_kubernetes_discovery_blocks_follow_the_schema(variant):
    config = yaml.safe_load(prometheus_files(variant)[0])
    for job in config["scrape_configs"]:
        for sd in job.get("kubernetes_sd_configs", []):
            assert set(sd) <= SD_KEYS, job["job_name"]
            assert sd["role"] in SD_ROLES
            assert set(sd.get("namespaces", {})) <= {"names", "own_namespace"}
            # In-cluster: the pod's service account, no api_server or kubeconfig to keep in sync.
            assert "api_server" not in sd and "kubeconfig_file" not in sd
            for relabel in job.get("relabel_configs", []):
                for label in relabel.get("source_labels", []):
                    if label.startswith("__meta_kubernetes_"):
                        assert label.startswith(META_PREFIXES[sd["role"]]), (job["job_name"], label)


def test_the_scrape_jobs_the_issue_asks_for():
    config = yaml.safe_load(prometheus_files("default")[0])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"kubernetes-apiservers", "kubernetes-nodes", "kubernetes-cadvisor", "kubernetes-pods"} <= set(jobs)
    assert jobs["kubernetes-cadvisor"]["metrics_path"] == "/metrics/cadvisor"
    assert jobs["kubernetes-apiservers"]["kubernetes_sd_configs"][0]["role"] == "endpointslice"
    alertmanagers = config["alerting"]["alertmanagers"]
    assert alertmanagers[0]["static_configs"][0]["targets"] == ["alertmanager.monitoring.svc:9093"]
    assert "alerting" not in yaml.safe_load(prometheus_files("minimal")[0])


def _relabel(relabels, labels):
    """Prometheus' replace/keep/drop semantics (anchored regexes), enough for the pods job."""
    labels = dict(labels)
    for rule in relabels:
        action = rule.get("action", "replace")
        if action == "labelmap":
            continue
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule.get("source_labels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if action == "keep" and not match:
            return None
        if action == "drop" and match:
            return None
        if action == "replace" and match:
            replacement = re.sub(r"\$(\d+)", r"\\\1", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = match.expand(replacement)
    return labels


def test_pods_are_scraped_by_their_annotations():
    config = yaml.safe_load(prometheus_files("default")[0])
    relabels = next(j for j in config["scrape_configs"] if j["job_name"] == "kubernetes-pods")["relabel_configs"]
    annotated = {
        "__address__": "172.16.1.5:8080",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": "9100",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_namespace": "monitoring",
        "__meta_kubernetes_pod_name": "node-exporter-x",
    }
    target = _relabel(relabels, annotated)
    assert target["__address__"] == "172.16.1.5:9100"
    assert target["namespace"] == "monitoring" and target["pod"] == "node-exporter-x"
    assert _relabel(relabels, {**annotated, "__meta_kubernetes_pod_annotation_prometheus_io_scrape": ""}) is None
    assert _relabel(relabels, {**annotated, "__meta_kubernetes_pod_phase": "Succeeded"}) is None
    with_path = _relabel(relabels, {**annotated, "__meta_kubernetes_pod_annotation_prometheus_io_path": "/m"})
    assert with_path["__metrics_path__"] == "/m"


def test_annotated_pods_name_a_port_they_listen_on():
    scraped = 0
    for workload, template in pod_specs(documents()):
        annotations = template["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            scraped += 1
            ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
            assert int(annotations["prometheus.io/port"]) in ports, workload["metadata"]["name"]
    # Prometheus, node-exporter, kube-state-metrics, Alertmanager, Grafana.
    assert scraped == 5


def test_prometheus_reads_the_files_where_the_configmap_is_mounted():
    docs = documents()
    spec = find(docs, "Deployment", "prometheus", "monitoring")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert f"--config.file={mount['mountPath']}/prometheus.yml" in container["args"]
    assert yaml.safe_load(prometheus_files("default")[0])["rule_files"] == ["rules.yml"]
