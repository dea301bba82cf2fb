"""The rendered manifests of the lab's applications: valid for Kubernetes 1.37, and consistent."""

from __future__ import annotations

import copy
import ipaddress

import kubernetes_validate
import pytest
from apps_lib import VARIANTS, containers, documents, find, pod_specs, render, role_defaults

KUBERNETES_VERSION = "1.37.0"
# Custom resources the 1.37 schema cannot know; checked structurally below.
METALLB_KINDS = {"IPAddressPool", "L2Advertisement"}
LAB_SUBNET = ipaddress.ip_network("192.168.1.0/24")


def core_documents(variant):
    return [d for d in documents(variant) if d["kind"] not in METALLB_KINDS]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_core_manifest_validates_strictly_against_kubernetes_1_37(variant):
    docs = core_documents(variant)
    assert len(docs) > 30
    for doc in docs:
        # strict: unknown fields are errors, so a misspelt or misplaced key cannot pass.
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_an_unknown_field():
    deployment = copy.deepcopy(find(documents(), "Deployment", "jenkins", "jenkins"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_metallb_resources_are_well_formed(variant):
    """IPAddressPool and L2Advertisement are CRs: checked against MetalLB's v1beta1 API by hand."""
    docs = documents(variant)
    pools = [d for d in docs if d["kind"] == "IPAddressPool"]
    adverts = [d for d in docs if d["kind"] == "L2Advertisement"]
    assert len(pools) == 1 and len(adverts) == 1
    for doc in pools + adverts:
        assert doc["apiVersion"] == "metallb.io/v1beta1"
        assert doc["metadata"]["namespace"] == "metallb-system"
    pool = pools[0]
    assert set(pool["spec"]) <= {"addresses", "autoAssign", "avoidBuggyIPs", "serviceAllocation"}
    assert isinstance(pool["spec"]["autoAssign"], bool)
    for block in pool["spec"]["addresses"]:
        first, last = (ipaddress.ip_address(a) for a in block.split("-"))
        assert first <= last and first in LAB_SUBNET and last in LAB_SUBNET
    advert = adverts[0]
    assert set(advert["spec"]) <= {"ipAddressPools", "ipAddressPoolSelectors", "nodeSelectors", "interfaces"}
    assert advert["spec"]["ipAddressPools"] == [pool["metadata"]["name"]]
    assert all(isinstance(i, str) and i for i in advert["spec"].get("interfaces", []))


def test_default_pool_is_the_books_range():
    pool = next(d for d in documents() if d["kind"] == "IPAddressPool")
    assert pool["spec"]["addresses"] == ["192.168.1.11-192.168.1.29"]
    assert pool["spec"]["autoAssign"] is True


def _user_services(docs):
    return {
        "jenkins": find(docs, "Service", "jenkins", "jenkins"),
        "prometheus": find(docs, "Service", "prometheus", "monitoring"),
        "grafana": find(docs, "Service", "grafana", "monitoring"),
        **({"alertmanager": find(docs, "Service", "alertmanager", "monitoring")}
           if any(d["kind"] == "Service" and d["metadata"]["name"] == "alertmanager" for d in docs) else {}),
    }


def test_load_balancer_addresses_are_the_books_and_inside_the_pool():
    docs = documents()
    pool = next(d for d in docs if d["kind"] == "IPAddressPool")
    first, last = (ipaddress.ip_address(a) for a in pool["spec"]["addresses"][0].split("-"))
    expected = {"jenkins": "192.168.1.11", "prometheus": "192.168.1.12", "grafana": "192.168.1.13",
                "alertmanager": "192.168.1.14"}
    services = _user_services(docs)
    assert set(services) == set(expected)
    for name, service in services.items():
        assert service["spec"]["type"] == "LoadBalancer"
        address = service["metadata"]["annotations"]["metallb.io/loadBalancerIPs"]
        assert address == expected[name]
        assert first <= ipaddress.ip_address(address) <= last
        assert service["spec"]["ports"][0]["port"] == 80


def test_without_metallb_the_services_are_node_ports():
    services = _user_services(documents("minimal"))
    assert set(services) == {"jenkins", "prometheus", "grafana"}
    for service in services.values():
        assert service["spec"]["type"] == "NodePort"
        assert "metallb.io/loadBalancerIPs" not in service["metadata"]["annotations"]
    assert services["jenkins"]["spec"]["ports"][0]["nodePort"] == 30080


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_service_selects_a_workload_and_a_named_port(variant):
    docs = documents(variant)
    workloads = pod_specs(docs)
    for service in (d for d in docs if d["kind"] == "Service"):
        namespace = service["metadata"]["namespace"]
        selector = service["spec"]["selector"]
        targets = [t for w, t in workloads if w["metadata"]["namespace"] == namespace
                   and selector.items() <= t["metadata"]["labels"].items()]
        assert len(targets) == 1, f"service {service['metadata']['name']} selects {len(targets)} workloads"
        port_names = {p.get("name") for c in targets[0]["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_workload_selectors_match_their_pod_labels(variant):
    for workload, template in pod_specs(documents(variant)):
        assert workload["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_mounted_claims_configmaps_and_secrets_exist(variant):
    docs = documents(variant)
    names = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in docs}
    for workload, template in pod_specs(docs):
        namespace = workload["metadata"]["namespace"]
        for volume in template["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", namespace, volume["persistentVolumeClaim"]["claimName"]) in names
            if "configMap" in volume:
                assert ("ConfigMap", namespace, volume["configMap"]["name"]) in names
        for container in containers(template):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = find(docs, "Secret", ref["name"], namespace)
                    assert ref["key"] in secret["data"]
            mounts = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounts <= {v["name"] for v in template["spec"].get("volumes", [])}
        account = template["spec"].get("serviceAccountName")
        if account:
            assert ("ServiceAccount", namespace, account) in names


def test_every_claim_has_its_reserved_nfs_volume():
    docs = documents()
    claims = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    volumes = [d for d in docs if d["kind"] == "PersistentVolume"]
    assert {c["metadata"]["name"] for c in claims} == {
        "jenkins-home", "prometheus-data", "alertmanager-data", "grafana-data"}
    for claim in claims:
        matching = [v for v in volumes if v["spec"]["claimRef"] == {
            "namespace": claim["metadata"]["namespace"], "name": claim["metadata"]["name"]}]
        assert len(matching) == 1, f"no PersistentVolume reserved for {claim['metadata']['name']}"
        volume = matching[0]
        # A claim naming no class binds only to volumes of class "" when there is no default class.
        assert volume["spec"]["storageClassName"] == claim["spec"].get("storageClassName", "")
        assert volume["spec"]["capacity"]["storage"] == claim["spec"]["resources"]["requests"]["storage"]
        assert set(claim["spec"]["accessModes"]) <= set(volume["spec"]["accessModes"])
        assert volume["spec"]["nfs"]["server"] == "192.168.1.10"
        assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"


def test_nfs_directories_belong_to_the_users_the_pods_run_as():
    docs = documents()
    owners = {v["claim_name"]: v["owner"] for v in role_defaults("storage")["storage_nfs_volumes"]}
    for _, template in pod_specs(docs):
        for volume in template["spec"].get("volumes", []):
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert template["spec"]["securityContext"]["runAsUser"] == owners[claim], claim


def test_jenkins_runs_on_the_control_plane_as_in_the_book():
    spec = find(documents(), "Deployment", "jenkins", "jenkins")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "m-k8s"}
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
            "effect": "NoSchedule"} in spec["tolerations"]


def test_jenkins_may_run_on_any_node():
    spec = find(documents("minimal"), "Deployment", "jenkins", "jenkins")["spec"]["template"]["spec"]
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert {"name": "jenkins-home", "emptyDir": {}} in spec["volumes"]


def test_node_exporter_runs_on_every_node_including_the_control_plane():
    daemonset = find(documents(), "DaemonSet", "node-exporter", "monitoring-node-exporter")
    spec = daemonset["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert any(t["key"] == "node-role.kubernetes.io/control-plane" and t["effect"] == "NoSchedule"
               for t in spec["tolerations"])


def test_rbac_is_minimal():
    docs = documents()
    prometheus = find(docs, "ClusterRole", "k8s-lab-prometheus")
    for rule in prometheus["rules"]:
        assert set(rule["verbs"]) <= {"get", "list", "watch"}
    ksm = find(docs, "ClusterRole", "k8s-lab-kube-state-metrics")
    granted = {r for rule in ksm["rules"] for r in rule["resources"]}
    assert "secrets" not in granted and "configmaps" not in granted
    for rule in ksm["rules"]:
        assert set(rule["verbs"]) == {"list", "watch"}
    ksm_pod = find(docs, "Deployment", "kube-state-metrics", "monitoring")["spec"]["template"]["spec"]
    args = ksm_pod["containers"][0]["args"]
    reported = next(a for a in args if a.startswith("--resources=")).split("=", 1)[1].split(",")
    assert set(reported) == granted
    jenkins = find(docs, "Role", "jenkins-agents", "jenkins")
    granted = {(resource, verb) for r in jenkins["rules"] for resource in r["resources"] for verb in r["verbs"]}
    assert {resource for resource, _ in granted} == {"pods", "pods/exec", "pods/log", "events"}
    assert ("pods", "create") in granted and ("pods/exec", "create") in granted
    assert not {verb for resource, verb in granted if resource in ("pods/log", "events")} - {"get", "list", "watch"}
    # Jenkins' service account is bound to that Role alone: no ClusterRole, nothing outside its namespace.
    bindings = [b for b in docs if b["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    bound = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings
             for subject in b["subjects"] if subject.get("namespace") == "jenkins"}
    assert bound == {("Role", "jenkins-agents")}
    assert not [d for d in docs if d["kind"] == "ClusterRoleBinding"
                and d["roleRef"]["name"] in ("cluster-admin", "admin", "edit")]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_containers_do_not_run_as_root_or_escalate(variant):
    for workload, template in pod_specs(documents(variant)):
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for container in containers(template):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_nfs_volumes_are_exported_to_the_nodes_alone_with_root_squashed():
    """The storage role's exports file, as the server gets it: every volume to each of the lab's
    node addresses (inventory/topology.yml), never a subnet or a wildcard, root squashed."""
    exports = (render() / "manifests" / "storage-k8s-lab.exports").read_text().splitlines()
    entries = [line.split() for line in exports if line and not line.startswith("#")]
    volumes = {v["name"] for v in role_defaults("storage")["storage_nfs_volumes"]}
    assert {entry[0] for entry in entries} == {f"/srv/nfs/k8s-lab/{name}" for name in volumes}
    nodes = {"192.168.1.10", "192.168.1.101", "192.168.1.102", "192.168.1.103"}
    for _path, *clients in entries:
        assert {client.split("(", 1)[0] for client in clients} == nodes, clients
        for client in clients:
            options = client.split("(", 1)[1].rstrip(")").split(",")
            assert "root_squash" in options and "rw" in options, client
            assert not {"no_root_squash", "insecure"} & set(options), client
