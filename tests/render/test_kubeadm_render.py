"""The kubeadm configuration and the Calico manifest, rendered by Ansible for the default
topology and validated offline: Calico's objects against the Kubernetes 1.37 OpenAPI schema
(kubernetes-validate), the kubeadm and kubelet configurations (not API objects) field by field.
Bad networks must stop the roles in their validation."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).with_name("kubeadm_render.yml")
WIRING = Path(__file__).with_name("kubeadm_wiring.yml")
TOPOLOGY = REPO / "inventory" / "topology.yml"
K8S_VERSION = "1.37.0"


def tool(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else shutil.which(name) or name


def run_playbook(inventory: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_INVENTORY_UNPARSED_FAILED="true", ANSIBLE_NOCOLOR="1")
    cmd = [tool("ansible-playbook"), "-i", str(inventory), str(PLAYBOOK), "-e", f"kubeadm_render_dir={out}", *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def failures(result: subprocess.CompletedProcess) -> dict[str, str]:
    """host -> message of its failed task, from the json callback's output."""
    report = json.loads(result.stdout[result.stdout.index("{"):])
    found = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, outcome in task["hosts"].items():
                if outcome.get("failed"):
                    # A loop's message is in its failed items.
                    items = [r.get("msg", "") for r in outcome.get("results", []) if r.get("failed")]
                    found[host] = " ".join([outcome.get("msg", ""), *items])
    return found


@functools.cache
def rendered(tmp_root: str) -> Path:
    out = Path(tmp_root)
    result = run_playbook(TOPOLOGY, out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory):
    return rendered(str(tmp_path_factory.mktemp("kubeadm-render")))


@pytest.fixture(scope="session")
def topology():
    return yaml.safe_load(TOPOLOGY.read_text())


@pytest.fixture(scope="session")
def kubeadm_docs(out_dir):
    docs = [d for d in yaml.safe_load_all((out_dir / "m-k8s-kubeadm-config.yaml").read_text()) if d]
    return {d["kind"]: d for d in docs}


@pytest.fixture(scope="session")
def calico_docs(out_dir):
    return [d for d in yaml.safe_load_all((out_dir / "m-k8s-calico.yaml").read_text()) if d]


# --- kubeadm configuration ---------------------------------------------------------------------

# Fields of kubeadm.k8s.io/v1beta4 used or allowed here (a typo or a v1beta3-only field fails).
INIT_FIELDS = {"apiVersion", "kind", "bootstrapTokens", "nodeRegistration", "localAPIEndpoint",
               "certificateKey", "skipPhases", "patches", "timeouts", "dryRun"}
CLUSTER_FIELDS = {"apiVersion", "kind", "etcd", "networking", "kubernetesVersion", "controlPlaneEndpoint",
                  "apiServer", "controllerManager", "scheduler", "dns", "proxy", "certificatesDir",
                  "imageRepository", "featureGates", "clusterName", "encryptionAlgorithm",
                  "certificateValidityPeriod", "caCertificateValidityPeriod"}
REGISTRATION_FIELDS = {"name", "criSocket", "taints", "kubeletExtraArgs", "ignorePreflightErrors",
                       "imagePullPolicy", "imagePullSerial"}


def test_kubeadm_config_has_the_three_documents(kubeadm_docs):
    assert set(kubeadm_docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    assert kubeadm_docs["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert kubeadm_docs["ClusterConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert kubeadm_docs["KubeletConfiguration"]["apiVersion"] == "kubelet.config.k8s.io/v1beta1"


def test_init_configuration(kubeadm_docs):
    init = kubeadm_docs["InitConfiguration"]
    assert set(init) <= INIT_FIELDS
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.1.10", "bindPort": 6443}
    registration = init["nodeRegistration"]
    assert set(registration) <= REGISTRATION_FIELDS
    assert registration["name"] == "m-k8s"
    assert registration["criSocket"] == "unix:///run/containerd/containerd.sock"
    # v1beta4 takes kubelet flags as a list of name/value pairs.
    assert registration["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.168.1.10"}]
    (token,) = init["bootstrapTokens"]
    assert "token" not in token, "no fixed token: kubeadm generates it"
    assert token["ttl"] == "30m0s"
    assert set(token["usages"]) == {"signing", "authentication"}
    assert token["groups"] == ["system:bootstrappers:kubeadm:default-node-token"]


def test_cluster_configuration(kubeadm_docs, topology):
    cluster = kubeadm_docs["ClusterConfiguration"]
    assert set(cluster) <= CLUSTER_FIELDS
    assert cluster["kubernetesVersion"] == "v1.37.0"
    assert cluster["controlPlaneEndpoint"] == "192.168.1.10:6443"
    assert cluster["networking"] == {"podSubnet": topology["pod_cidr"], "serviceSubnet": topology["service_cidr"],
                                     "dnsDomain": "cluster.local"}
    assert {"192.168.1.10", "m-k8s", "127.0.0.1"} <= set(cluster["apiServer"]["certSANs"])
    assert set(cluster["apiServer"]) == {"certSANs"}


def test_kubelet_configuration(kubeadm_docs):
    assert kubeadm_docs["KubeletConfiguration"] == {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
    }


# --- Calico manifest ----------------------------------------------------------------------------

def test_calico_objects_are_valid_for_kubernetes_1_37(calico_docs):
    assert len(calico_docs) == 15
    for doc in calico_docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_calico_has_the_core_objects(calico_docs):
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in calico_docs)
    assert ("DaemonSet", "calico-node") in kinds
    assert ("Deployment", "calico-kube-controllers") in kinds
    assert ("ConfigMap", "calico-config") in kinds
    assert [name for kind, name in kinds if kind == "ClusterRole"] == [
        "calico-cni-plugin", "calico-kube-controllers", "calico-node", "calico-tier-getter"]
    assert len([k for k in kinds if k[0] == "ClusterRoleBinding"]) == 4
    assert len([k for k in kinds if k[0] == "ServiceAccount"]) == 3


# What each Calico component is allowed, as the pinned release grants it (its manifests/calico.yaml,
# read for these facts): ClusterRole -> apiGroup -> verbs -> resources; "resource[name]" is a grant on
# one object. calico-node's watches get 403 for any kind it lacks, and it never becomes Ready.
CALICO_GRANTS_VERSION = "v3.31.3"
CALICO = "crd.projectcalico.org"
CRUD = "create delete get list update watch"
CALICO_GRANTS = {
    "calico-kube-controllers": {
        "": {"get list watch": "namespaces nodes pods", "get list update watch": "services services/status"},
        CALICO: {CRUD: "blockaffinities hostendpoints ipamblocks ipamconfigs ipamhandles tiers",
                 "create get list update watch": "clusterinformations kubecontrollersconfigurations",
                 "list watch": "ippools", "list": "ipreservations"},
    },
    "calico-node": {
        "": {"get": "configmaps", "get list watch": "endpoints namespaces nodes pods services",
             "patch update": "nodes/status", "patch": "pods/status", "list watch": "serviceaccounts",
             "create": "serviceaccounts/token[calico-cni-plugin]"},
        "apps": {"get": "daemonsets"},
        CALICO: {"create get list update watch": "bgpconfigurations bgppeers clusterinformations felixconfigurations "
                                                 "ippools",
                 "get list watch": "bgpfilters globalbgpconfigs globalfelixconfigs globalnetworkpolicies "
                                   "globalnetworksets hostendpoints ipreservations networkpolicies networksets "
                                   "stagedglobalnetworkpolicies stagedkubernetesnetworkpolicies stagednetworkpolicies",
                 CRUD: "blockaffinities ipamblocks", "get list update watch": "caliconodestatuses",
                 "create get": "ipamconfigs", "create delete get list update": "ipamhandles",
                 "create get list watch": "tiers"},
        "discovery.k8s.io": {"list watch": "endpointslices"},
        "networking.k8s.io": {"list watch": "networkpolicies"},
        "policy.networking.k8s.io": {"list watch": "adminnetworkpolicies baselineadminnetworkpolicies"},
    },
    "calico-cni-plugin": {
        "": {"get": "namespaces nodes pods", "patch": "pods/status"},
        CALICO: {"create delete get list update": "blockaffinities clusterinformations ipamblocks ipamconfigs "
                                                  "ipamhandles ippools ipreservations"},
    },
    "calico-tier-getter": {"projectcalico.org": {"get": "tiers"}},
}
# Who each ClusterRole is bound to (the binding has the role's name).
CALICO_SUBJECTS = {
    "calico-kube-controllers": ("ServiceAccount", "calico-kube-controllers"),
    "calico-node": ("ServiceAccount", "calico-node"),
    "calico-cni-plugin": ("ServiceAccount", "calico-cni-plugin"),
    "calico-tier-getter": ("User", "system:kube-controller-manager"),
}


def expected_permissions(grants: dict) -> set[tuple[str, str, str, str]]:
    return {(group, *(resource[:-1].split("[") if "[" in resource else (resource, "*")), verb)
            for group, by_verbs in grants.items() for verbs, resources in by_verbs.items()
            for resource in resources.split() for verb in verbs.split()}


def rendered_permissions(role: dict) -> set[tuple[str, str, str, str]]:
    """Every (apiGroup, resource, resourceName or *, verb) a ClusterRole's rules grant."""
    assert all(not rule.get("nonResourceURLs") for rule in role["rules"])
    return {(group, resource, name, verb) for rule in role["rules"]
            for group in rule.get("apiGroups") or [] for resource in rule.get("resources") or []
            for name in rule.get("resourceNames") or ["*"] for verb in rule.get("verbs") or []}


def test_calico_grants_are_the_releases(calico_docs):
    version = yaml.safe_load((REPO / "roles" / "calico" / "defaults" / "main.yml").read_text())["calico_version"]
    assert version == CALICO_GRANTS_VERSION, f"read Calico {version}'s RBAC into CALICO_GRANTS"
    roles = {d["metadata"]["name"]: d for d in calico_docs if d["kind"] == "ClusterRole"}
    assert set(roles) == set(CALICO_GRANTS)
    differences = []
    for name, grants in CALICO_GRANTS.items():
        missing = sorted(expected_permissions(grants) - rendered_permissions(roles[name]))
        extra = sorted(rendered_permissions(roles[name]) - expected_permissions(grants))
        if missing or extra:
            differences.append(f"ClusterRole/{name}: missing {missing}, not in the release {extra}")
    assert differences == [], "\n".join(differences)


def test_calico_bindings_are_the_releases(calico_docs):
    bindings = {d["metadata"]["name"]: d for d in calico_docs if d["kind"] == "ClusterRoleBinding"}
    assert set(bindings) == set(CALICO_SUBJECTS)
    for name, (kind, subject) in CALICO_SUBJECTS.items():
        assert bindings[name]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": name}
        assert [(s["kind"], s["name"]) for s in bindings[name]["subjects"]] == [(kind, subject)]
        if kind == "ServiceAccount":
            assert bindings[name]["subjects"][0]["namespace"] == "kube-system"


def test_the_grant_comparison_sees_one_verb_less(calico_docs):
    """The comparison above is not vacuous: one verb less on one rule is a difference."""
    changed = json.loads(json.dumps(calico_docs))
    role = next(d for d in changed if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "calico-node")
    rule = next(r for r in role["rules"] if "policy.networking.k8s.io" in r["apiGroups"])
    rule["verbs"] = rule["verbs"][1:]
    assert rendered_permissions(role) < expected_permissions(CALICO_GRANTS["calico-node"])


def calico_node_env(calico_docs):
    daemonset = next(d for d in calico_docs if d["kind"] == "DaemonSet")
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"]}


def test_calico_pool_and_autodetection_come_from_the_topology(calico_docs, topology):
    env = calico_node_env(calico_docs)
    assert env["CALICO_IPV4POOL_CIDR"] == topology["pod_cidr"]
    # Bound to the lab network, not to Vagrant's NAT NIC.
    assert env["IP_AUTODETECTION_METHOD"] == f"cidr={topology['subnet']}"
    assert env["CALICO_IPV4POOL_IPIP"] == "Always"
    assert env["CALICO_IPV4POOL_VXLAN"] == "Never"


def test_calico_images_are_pinned(calico_docs):
    defaults = yaml.safe_load((REPO / "roles" / "calico" / "defaults" / "main.yml").read_text())
    images = []
    for doc in calico_docs:
        if doc["kind"] in ("DaemonSet", "Deployment"):
            spec = doc["spec"]["template"]["spec"]
            images += [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
    assert images
    assert all(image.endswith(":" + defaults["calico_version"]) for image in images), images


# --- bad input stops the roles --------------------------------------------------------------------

def write_inventory(path: Path, cases: dict[str, dict]) -> Path:
    hosts = {name: {"ansible_connection": "local", **values} for name, values in cases.items()}
    path.write_text(yaml.safe_dump({"all": {"children": {"control_plane": {"hosts": hosts}}}}))
    return path


GOOD = {
    "lab_kubernetes_version": "1.37", "lab_node_ip": "192.168.1.10", "lab_master_ip": "192.168.1.10",
    "lab_pod_cidr": "172.16.0.0/16", "lab_service_cidr": "10.96.0.0/12", "lab_api_endpoint": "192.168.1.10:6443",
    "lab_subnet": "192.168.1.0/24", "lab_nodes": [{"name": "m-k8s", "ip": "192.168.1.10"}],
}
BAD = {
    "host-bits": ({"lab_pod_cidr": "172.16.0.1/16"}, "kubeadm_master_pod_subnet"),
    "prefix-33": ({"lab_pod_cidr": "172.16.0.0/33"}, "kubeadm_master_pod_subnet"),
    "octet-300": ({"lab_pod_cidr": "300.16.0.0/16"}, "kubeadm_master_pod_subnet"),
    "not-cidr": ({"lab_pod_cidr": "banana"}, "kubeadm_master_pod_subnet"),
    "too-small": ({"lab_pod_cidr": "172.16.0.0/29"}, "kubeadm_master_pod_subnet"),
    "overlap": ({"lab_pod_cidr": "10.96.0.0/16"}, "overlaps kubeadm_master_service_subnet"),
    "bad-service": ({"lab_service_cidr": "10.96.0.0/40"}, "kubeadm_master_service_subnet"),
    # Fine for kubeadm, smaller than one Calico block (/26).
    "calico-only": ({"lab_pod_cidr": "172.16.0.0/27"}, "calico_ipv4pool_cidr"),
    "calico-autodetect": ({"lab_subnet": "10.0.2.15"}, "calico_ip_autodetection_method"),
    # The CRD file is applied only as the bytes a checksum pins; no checksum, no run.
    "calico-crds-unpinned": ({"calico_crds_checksum": ""}, "calico_crds_checksum"),
    "calico-crds-not-sha256": ({"calico_crds_checksum": "md5:" + "0" * 32}, "calico_crds_checksum"),
    "calico-version-without-checksum": ({"calico_version": "v3.31.4"}, "calico_crds_checksum"),
    "calico-wait-timeout": ({"calico_wait_timeout": 0}, "calico_wait_timeout"),
    "calico-wait-retries": ({"calico_wait_retries": 60}, "calico_wait_retries"),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kubeadm-bad")
    # One host per case, each with the lab_* variables the inventory plugin would set: one run.
    cases = {"good": GOOD} | {name: GOOD | values for name, (values, _) in BAD.items()}
    result = run_playbook(write_inventory(tmp / "inventory.yml", cases), tmp)
    return result, failures(result)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_with_a_message_naming_the_variable(bad_run, case):
    _, failed = bad_run
    assert case in failed, f"{case} was accepted"
    assert BAD[case][1] in failed[case]


def test_good_input_passes_alongside(bad_run):
    result, failed = bad_run
    assert "good" not in failed
    assert result.returncode != 0


def test_bad_pod_cidr_in_the_topology_is_refused(tmp_path):
    """A network the inventory plugin rejects never reaches the roles."""
    topology = TOPOLOGY.read_text().replace("pod_cidr: 172.16.0.0/16", "pod_cidr: 172.16.0.1/16")
    assert "172.16.0.1/16" in topology
    (tmp_path / "topology.yml").write_text(topology)
    result = run_playbook(tmp_path / "topology.yml", tmp_path)
    assert result.returncode != 0
    assert "pod_cidr" in result.stdout + result.stderr


def test_too_large_pod_cidr_in_the_topology_stops_the_role(tmp_path):
    """A network the inventory accepts but kubeadm/Calico cannot use stops the role's assert (the
    role wants /8 to /28; the inventory refuses anything without a /24 for each node itself)."""
    topology = TOPOLOGY.read_text().replace("pod_cidr: 172.16.0.0/16", "pod_cidr: 172.0.0.0/7")
    (tmp_path / "topology.yml").write_text(topology)
    result = run_playbook(tmp_path / "topology.yml", tmp_path)
    assert result.returncode != 0
    assert "kubeadm_master_pod_subnet" in failures(result)["m-k8s"]


def test_wiring_matches_group_vars():
    """Once the wiring is in inventory/group_vars/all.yml, it must say what the tests render with."""
    wiring = yaml.safe_load(WIRING.read_text())
    group_vars = yaml.safe_load((REPO / "inventory" / "group_vars" / "all.yml").read_text()) or {}
    differing = {key: (value, group_vars[key]) for key, value in wiring.items()
                 if key in group_vars and group_vars[key] != value}
    assert differing == {}
