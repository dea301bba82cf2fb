"""The lab's cluster, for real: checked against the Kubernetes API and on the nodes, after converge
and again after every node container was restarted (the lab after a laptop reboot) and the cluster
upgraded to the next minor (test_upgrade.py; cluster.RELEASE is the release of each verify)."""

from __future__ import annotations

import json

import pytest
from cluster import (
    ADMIN,
    CONTROLLER_KUBECONFIG,
    MASTER,
    NODES,
    RELEASE,
    VERSIONS,
    WORKERS,
    apply,
    every_node_ready,
    fetch_on,
    import_test_image,
    kubectl,
    kubectl_json,
    module,
    node,
    playbook,
    pod_ready,
    recap,
    settled,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

TAG = "v1"
APP = "web"


def test_every_node_is_ready_under_its_topology_name_and_address():
    ready = wait_for("all nodes Ready", every_node_ready)
    for name, item in ready.items():
        internal = [a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [NODES[name].ip], name
        assert item["status"]["nodeInfo"]["kubeletVersion"] == RELEASE
        assert item["status"]["nodeInfo"]["containerRuntimeVersion"] == f"containerd://{VERSIONS['containerd'][1:]}"


def _running(pods: list[dict]) -> bool:
    return bool(pods) and all(pod_ready(p) for p in pods)


@pytest.mark.parametrize("component", ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"])
def test_control_plane_component_runs(component):
    def pods():
        found = kubectl_json("-n", "kube-system", "get", "pods", "-l", f"component={component}")["items"]
        return found if _running(found) else None

    found = wait_for(f"{component} Running", pods)
    assert [p["spec"]["nodeName"] for p in found] == [MASTER]


def test_kube_proxy_runs_on_every_node():
    def pods():
        found = kubectl_json("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy")["items"]
        return found if _running(found) and {p["spec"]["nodeName"] for p in found} == set(NODES) else None

    wait_for("kube-proxy Running on every node", pods)


def test_coredns_runs():
    def pods():
        found = kubectl_json("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns")["items"]
        return found if _running(found) and len(found) == 2 else None

    wait_for("both CoreDNS replicas Running", pods)


@pytest.fixture(scope="module")
def workload(tmp_path_factory):
    """The local test web image on every worker, a Deployment with one replica per worker (required
    anti-affinity) and a ClusterIP Service in front of it."""
    import_test_image(TAG, WORKERS, tmp_path_factory.mktemp("image"))
    labels = {"app": APP}
    apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": APP, "namespace": "default"},
        "spec": {
            "replicas": len(WORKERS),
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                    "containers": [{
                        "name": APP, "image": f"{TEST_IMAGE}:{TAG}", "imagePullPolicy": "Never",
                        "ports": [{"containerPort": TEST_PORT}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 2},
                    }],
                },
            },
        },
    })
    apply({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": "default"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": TEST_PORT}]},
    })

    def pods():
        found = kubectl_json("get", "pods", "-l", f"app={APP}")["items"]
        live = [p for p in found if not p["metadata"].get("deletionTimestamp")]
        return live if len(live) == len(WORKERS) and _running(live) else None

    return wait_for("the web pods Running on every worker", pods)


def _exec(pod: str, *command: str):
    return node(MASTER).run(f"kubectl --kubeconfig {ADMIN} exec {pod} -- " + " ".join(command))


def _fetch(pod: str, url: str):
    """GET url from inside pod, bounded by busybox's timeout applet (see tests/fixtures/test_image.py)."""
    return _exec(pod, "timeout", "10", "wget", "-qO-", url)


def test_replicas_are_spread_over_the_workers(workload):
    assert sorted(p["spec"]["nodeName"] for p in workload) == sorted(WORKERS)


def test_pod_to_pod_across_nodes(workload):
    first, second = workload[0], workload[1]
    assert first["spec"]["nodeName"] != second["spec"]["nodeName"]
    out = _fetch(first["metadata"]["name"], f"http://{second['status']['podIP']}:{TEST_PORT}/")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == f"k8s-lab test web {TAG}"


def test_cluster_ip_service_through_kube_proxy(workload):
    cluster_ip = kubectl_json("get", "service", APP)["spec"]["clusterIP"]
    for pod in workload:
        out = _fetch(pod["metadata"]["name"], f"http://{cluster_ip}/")
        assert out.rc == 0, out.stderr
        assert out.stdout.strip() == f"k8s-lab test web {TAG}"


def test_service_dns_name_from_a_pod(workload):
    """CoreDNS answers the Service's name with its ClusterIP, asked from a pod through the cluster DNS
    its resolv.conf names; the address then answers."""
    pod = workload[0]["metadata"]["name"]
    cluster_ip = kubectl_json("get", "service", APP)["spec"]["clusterIP"]
    dns_ip = kubectl_json("-n", "kube-system", "get", "service", "kube-dns")["spec"]["clusterIP"]
    resolv = _exec(pod, "cat", "/etc/resolv.conf")
    assert f"nameserver {dns_ip}" in resolv.stdout
    answer = _exec(pod, "timeout", "10", "nslookup", f"{APP}.default.svc.cluster.local")
    assert answer.rc == 0, answer.stdout + answer.stderr
    addresses = [line.split()[-1] for line in answer.stdout.splitlines() if line.startswith("Address:")]
    assert cluster_ip in addresses, answer.stdout
    out = _fetch(pod, f"http://{cluster_ip}/")
    assert out.stdout.strip() == f"k8s-lab test web {TAG}"


def test_exec_and_logs_on_a_worker_pod(workload):
    """The API server reaches the kubelets on their node addresses (--node-ip)."""
    pod = workload[0]["metadata"]["name"]
    assert workload[0]["spec"]["nodeName"] in WORKERS
    out = _exec(pod, "hostname")
    assert out.rc == 0 and out.stdout.strip() == pod, out.stderr
    client = workload[1]
    assert _fetch(client["metadata"]["name"], f"http://{workload[0]['status']['podIP']}:{TEST_PORT}/").rc == 0
    logs = node(MASTER).run(f"kubectl --kubeconfig {ADMIN} logs {pod}")
    assert logs.rc == 0, logs.stderr
    assert client["status"]["podIP"] in logs.stdout + logs.stderr, logs.stdout


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_nodes_root_is_a_shared_mount(name):
    """As on a VM: kubelet refuses a pod's HostToContainer mount (node-exporter's) below a private one."""
    assert node(name).check_output("findmnt --noheadings --output PROPAGATION /") == "shared"


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_kubelets_evict_on_memory_only(name):
    """Container nodes report the host's disk as their own: a nearly full host disk must not taint
    them with disk-pressure (seen: every pod Pending at 85% used). The running kubelet's configuration."""
    config = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{name}/proxy/configz"))["kubeletconfig"]
    assert config["evictionHard"] == {"memory.available": "100Mi", "nodefs.available": "0%",
                                      "nodefs.inodesFree": "0%", "imagefs.available": "0%"}


def test_no_bootstrap_token_lives_forever():
    out = node(MASTER).check_output("kubeadm token list -o json")
    decoder, pos, tokens = json.JSONDecoder(), 0, []
    while pos < len(out):
        if out[pos].isspace():
            pos += 1
            continue
        item, pos = decoder.raw_decode(out, pos)
        tokens.append(item)
    for token in tokens:
        assert token.get("expires"), f"token {token.get('token', '')[:6]}... has no expiry"


@pytest.mark.parametrize("name", sorted(NODES))
def test_kubelet_refuses_anonymous_requests(name):
    probe = (
        "import ssl, urllib.request, urllib.error\n"
        "ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n"
        f"try:\n urllib.request.urlopen('https://{NODES[name].ip}:10250/pods', context=ctx, timeout=5)\n"
        " print('200')\n"
        "except urllib.error.HTTPError as e:\n print(e.code)\n"
    )
    out = node(MASTER).run(f"python3 -c \"{probe}\"")
    assert out.stdout.strip() == "401", out.stdout + out.stderr


def test_admin_kubeconfig_on_the_controller_is_private():
    assert CONTROLLER_KUBECONFIG.is_file(), CONTROLLER_KUBECONFIG
    assert oct(CONTROLLER_KUBECONFIG.stat().st_mode & 0o777) == "0o600"


def test_a_join_with_a_wrong_ca_pin_is_refused_by_kubeadm():
    """Real kubeadm's discovery refuses a CA it was not told to trust, and the module says why. The node
    is told it has not joined (a kubelet kubeconfig path that does not exist); discovery fails on the
    pin before kubeadm writes anything (--dry-run would skip discovery, so it is not used)."""
    worker = node(WORKERS[0])
    before = worker.check_output("sha256sum /etc/kubernetes/kubelet.conf /var/lib/kubelet/config.yaml")
    token = node(MASTER).check_output("kubeadm token create --ttl 5m")
    try:
        result = module(WORKERS[0], "kubeadm_join", (
            f"api_server_endpoint={NODES[MASTER].ip}:6443 token={token} ca_cert_hashes=sha256:{'0' * 64} "
            "kubelet_kubeconfig=/nonexistent/kubelet.conf extra_args=--ignore-preflight-errors=all timeout=20"))
    finally:
        node(MASTER).run(f"kubeadm token delete {token}")
    assert result.get("failed") is True, result.get("msg")
    assert result["state"] == "failed"
    assert "none of the public keys" in result["msg"] and "are pinned" in result["msg"], result["msg"]
    assert token not in json.dumps(result)
    assert worker.check_output("sha256sum /etc/kubernetes/kubelet.conf /var/lib/kubelet/config.yaml") == before


@pytest.fixture(scope="module")
def lab_settled(workload):
    """Every node Ready and every pod of the lab running and ready again: what health.yml judges."""
    return wait_for("every node Ready and every pod ready", settled)


def test_health_reports_a_healthy_lab(lab_settled):
    result = playbook("health.yml", "-e", "health_strict=true")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Overall: healthy" in result.stdout


def test_recover_finds_nothing_to_fix(lab_settled):
    result = playbook("recover.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    hosts = recap(result.stdout)
    assert hosts and all(counts["changed"] == 0 for counts in hosts.values()), hosts


def test_the_workload_answers_from_every_node(workload):
    """Node to ClusterIP to a pod, possibly on another node: kube-proxy and the pod routes together."""
    cluster_ip = kubectl_json("get", "service", APP)["spec"]["clusterIP"]
    for name in NODES:
        out = fetch_on(name, f"http://{cluster_ip}/")
        assert out.rc == 0, f"{name}: {out.stderr}"
        assert out.stdout.strip() == f"k8s-lab test web {TAG}"
