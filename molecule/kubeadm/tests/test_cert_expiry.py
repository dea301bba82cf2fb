"""The lab after a year, for real and without touching any clock (the nodes share this host's): the
control plane's certificates are renewed to live LIFETIME only, and every kubelet is stopped and
given a client certificate of the same short life, as a lab whose machine was off for a year finds
them. Once they have all ended, the kubelets start again (the machine's boot). Then health.yml must
name exactly those certificates EXPIRED, the API server must refuse to answer with them, recover.yml
must bring the lab back, health.yml must call it healthy and a second recover.yml change nothing.
The fixtures make that order: expired, then before (health and the API asked), then recovered,
then after (health and recover again). Runs last in the scenario: it takes the cluster down."""

from __future__ import annotations

import base64
import json
import sys
import time
from datetime import UTC, datetime

import pytest
import yaml
from cluster import (
    ADMIN,
    MASTER,
    NODES,
    ROOT,
    WORKERS,
    apply,
    fetch_on,
    import_test_image,
    kubectl_json,
    module,
    node,
    playbook,
    pod_ready,
    ready_nodes,
    recap,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

# The module's own list of a node's files, from the collection as Ansible loads it.
sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.k8s_lab.lab.plugins.module_utils.cert_expiry import KUBEADM_NODE_FILES

LIFETIME = "2m"
CONFIG = "/etc/kubernetes/kubeadm-config.yaml"
SHORT_CONFIG = "/root/kubeadm-short-lived.yaml"
NAMESPACE = "year-one"
TAG = "v1"
# What kubeadm renews, by the module's names (workers have none of these).
KUBEADM_RENEWED = sorted(name for _, name, kind in KUBEADM_NODE_FILES if kind == "kubeadm")


def said(output: str) -> str:
    return " ".join(output.split())


def run_on(name: str, command: str) -> str:
    result = node(name).run(command)
    assert result.rc == 0, f"{name}: {command}: {result.stderr}"
    return result.stdout


def write_on(name: str, path: str, text: str, mode: str = "0600") -> None:
    encoded = base64.b64encode(text.encode()).decode()
    run_on(name, f"umask 077 && echo {encoded} | base64 -d > {path} && chmod {mode} {path}")


def cert_end(name: str, path: str) -> datetime:
    """When the certificate of a PEM file or a kubeconfig ends, as the lab's own module reads it (its
    reading is checked against the cryptography package in tests/unit)."""
    result = module(name, "k8s_lab.lab.cert_expiry", json.dumps({"paths": [path]}))
    assert not result.get("failed") and result["certificates"], result
    return datetime.strptime(result["certificates"][0]["not_after"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _workload(workdir) -> None:
    import_test_image(TAG, WORKERS, workdir)
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    labels = {"app": "anniversary"}
    apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "anniversary", "namespace": NAMESPACE},
           "spec": {"replicas": len(WORKERS), "selector": {"matchLabels": labels}, "template": {
               "metadata": {"labels": labels},
               "spec": {"containers": [{
                   "name": "web", "image": f"{TEST_IMAGE}:{TAG}", "imagePullPolicy": "Never",
                   "ports": [{"containerPort": TEST_PORT}],
                   "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 2}}]}}}})
    apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "anniversary", "namespace": NAMESPACE},
           "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": TEST_PORT}]}})


def _answers() -> bool | None:
    pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", "app=anniversary")["items"]
    if len(pods) != len(WORKERS) or not all(pod_ready(p) for p in pods):
        return None
    ip = kubectl_json("-n", NAMESPACE, "get", "service", "anniversary")["spec"]["clusterIP"]
    return all(fetch_on(name, f"http://{ip}/").stdout.strip() == f"k8s-lab test web {TAG}" for name in NODES) or None


@pytest.fixture(scope="module")
def expired(tmp_path_factory):
    """Every kubeadm certificate and every kubelet's client certificate ended, the CA as it was."""
    _workload(tmp_path_factory.mktemp("image"))
    wait_for("the workload answering before the certificates end", _answers, timeout=240)
    ca_before = run_on(MASTER, "sha256sum /etc/kubernetes/pki/ca.crt")

    documents = list(yaml.safe_load_all(run_on(MASTER, f"cat {CONFIG}")))
    for document in documents:
        if document and document.get("kind") == "ClusterConfiguration":
            document["certificateValidityPeriod"] = LIFETIME
    write_on(MASTER, SHORT_CONFIG, yaml.safe_dump_all(documents))
    run_on(MASTER, f"kubeadm certs renew all --config {SHORT_CONFIG}")
    run_on(MASTER, "crictl ps --quiet --name '^(kube-apiserver|kube-controller-manager|kube-scheduler|etcd)$'"
                   " | xargs -r crictl stop")
    wait_for("the API server on its short-lived certificate",
             lambda: node(MASTER).run(f"kubectl --kubeconfig {ADMIN} get --raw /readyz").rc == 0 or None)

    # The machine goes off: no kubelet is left to rotate its certificate.
    for name in NODES:
        kubeconfig = run_on(MASTER, f"kubeadm kubeconfig user --config {CONFIG} --org system:nodes "
                                    f"--client-name system:node:{name} --validity-period {LIFETIME}")
        run_on(name, "systemctl stop kubelet")
        write_on(name, "/etc/kubernetes/kubelet.conf", kubeconfig)
        run_on(name, "rm -f /var/lib/kubelet/pki/kubelet-client-current.pem")
    ends = [cert_end(MASTER, "/etc/kubernetes/pki/apiserver.crt")]
    ends += [cert_end(name, "/etc/kubernetes/kubelet.conf") for name in NODES]
    time.sleep(max(0.0, (max(ends) - datetime.now(UTC)).total_seconds()) + 5)
    # ...and on again, a year later.
    for name in NODES:
        run_on(name, "systemctl start kubelet")
    return {"ca": ca_before}


@pytest.fixture(scope="module")
def before(expired):
    """health.yml, and the API server asked, while everything has ended."""
    api = node(MASTER).run(f"kubectl --kubeconfig {ADMIN} get nodes")
    return {"health": playbook("health.yml", "-e", "health_strict=true"), "api": api}


def _row(output: str, name: str) -> str:
    """The health table's row of node name (not its line in the PLAY RECAP, which starts alike)."""
    rows = [line.strip() for line in output.splitlines()
            if line.strip().startswith(f"{name} ") and " : ok=" not in line]
    assert len(rows) == 1, output[-3000:]
    return rows[0]


def test_health_names_exactly_the_ended_certificates(before):
    health = before["health"]
    assert health.returncode != 0
    assert "Overall: NOT healthy" in health.stdout
    assert _row(health.stdout, MASTER).endswith("EXPIRED " + ", ".join(sorted([*KUBEADM_RENEWED, "kubelet-client"])))
    for name in WORKERS:
        assert _row(health.stdout, name).endswith("EXPIRED kubelet-client")
    assert "the API server did not answer" in said(health.stdout)


def test_the_api_server_no_longer_answers_with_them(before):
    assert before["api"].rc != 0
    assert "certificate has expired" in before["api"].stderr


@pytest.fixture(scope="module")
def recovered(before):
    return playbook("recover.yml")


def test_recover_brings_the_lab_back(recovered):
    assert recovered.returncode == 0, recovered.stdout[-4000:]
    wait_for("every node Ready after recover", lambda: set(ready_nodes()) == set(NODES) or None, timeout=300)
    wait_for("the workload answering through its Service after recover", _answers, timeout=300)


def test_the_renewed_certificates_live_a_year_and_the_ca_is_the_same(recovered, expired):
    assert recovered.returncode == 0, recovered.stdout[-4000:]
    assert "the CAs left as they are" in said(recovered.stdout)
    for path in ("/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/admin.conf"):
        assert (cert_end(MASTER, path) - datetime.now(UTC)).days >= 360, path
    for name in NODES:
        assert (cert_end(name, "/etc/kubernetes/kubelet.conf") - datetime.now(UTC)).days >= 360, name
    assert run_on(MASTER, "sha256sum /etc/kubernetes/pki/ca.crt") == expired["ca"]


def _settled() -> bool | None:
    """Every node Ready, the workload answering and every pod of the lab running: what health.yml judges."""
    pods = [p for p in kubectl_json("get", "pods", "--all-namespaces")["items"]
            if p["status"].get("phase") != "Succeeded"]
    return (set(ready_nodes()) == set(NODES) and all(p["status"].get("phase") == "Running" for p in pods)
            and _answers()) or None


@pytest.fixture(scope="module")
def after(recovered):
    wait_for("every node Ready, every pod running and the workload answering", _settled, timeout=300)
    return {"health": playbook("health.yml", "-e", "health_strict=true"), "recover": playbook("recover.yml")}


def test_health_calls_the_lab_healthy_again(after):
    assert after["health"].returncode == 0, after["health"].stdout[-4000:]
    assert "Overall: healthy" in after["health"].stdout


def test_a_second_recover_changes_nothing(after):
    assert after["recover"].returncode == 0, after["recover"].stdout[-4000:]
    hosts = recap(after["recover"].stdout)
    assert hosts and all(counts["changed"] == 0 for counts in hosts.values()), hosts
