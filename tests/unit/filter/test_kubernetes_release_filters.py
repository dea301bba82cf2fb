"""The kubernetes_release filters: what the roles and playbooks hand them (API objects, the bundle's
manifest) reaches the rules of module_utils/kubernetes_release.py, and errors come out as filter errors."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.filter.kubernetes_release import (
    FilterModule,
    bundle_images_filter,
    bundle_release,
    kubernetes_bundle_files,
    node_release_filter,
    upgrade_plan,
)

MARKER = "k8s-lab.lab/upgrading-to"
MANIFEST = {
    "format": 2,
    "kubernetes_releases": {"v1.37.2": {}, "v1.36.3": {}},
    "images": [
        {"name": "registry.k8s.io/kube-proxy:v1.37.2", "used_by": "kubeadm", "kubernetes_versions": ["v1.37.2"]},
        {"name": "registry.k8s.io/etcd:3.7.0-0", "used_by": "kubeadm", "kubernetes_versions": ["v1.37.2"]},
        {"name": "registry.k8s.io/pause:3.10.2", "used_by": "kubeadm", "kubernetes_versions": ["v1.36.3", "v1.37.2"]},
        {"name": "quay.io/metallb/speaker:v0.15.3", "used_by": "metallb"},
    ],
}


def node(name, kubelet, annotations=None):
    return {"metadata": {"name": name, "annotations": annotations or {"node.alpha.kubernetes.io/ttl": "0"}},
            "status": {"nodeInfo": {"kubeletVersion": kubelet}}}


def kube_proxy(image):
    return [{"metadata": {"name": "kube-proxy", "namespace": "kube-system"},
             "spec": {"template": {"spec": {"containers": [{"name": "kube-proxy", "image": image}]}}}}]


def test_node_release_takes_what_the_module_and_the_manifest_give():
    assert node_release_filter("v1.37.2", "v1.37.2", "v1.36.3", {"v1.37.2": {}, "v1.36.3": {}}.keys()) == "v1.37.2"
    # A fresh node: the module found no kubelet, the control plane no manifest.
    assert node_release_filter("", None, "v1.36.3", ["v1.37.2", "v1.36.3"]) == "v1.36.3"
    # A bundle of format 1 names no releases: nothing installed counts as installable.
    assert node_release_filter("v1.37.2", "", "v1.36.3", None) == "v1.36.3"


def test_bundle_release_names_the_bundles_release_or_nothing():
    assert bundle_release(MANIFEST, "1.37") == "v1.37.2"
    assert bundle_release(MANIFEST, "v1.36.3") == "v1.36.3"
    assert bundle_release(MANIFEST, "1.37.1") == ""
    assert bundle_release({"images": []}, "1.37") == ""
    assert bundle_release(None, "1.37") == ""


def test_bundle_images_takes_a_truthy_role_flag():
    assert bundle_images_filter(MANIFEST, "v1.37.2", 0) == [
        "registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/pause:3.10.2", "quay.io/metallb/speaker:v0.15.3"]


def test_bundle_images_of_an_old_bundle_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="rebuild the bundle"):
        bundle_images_filter({"images": [{"name": "registry.k8s.io/pause:3.10.2", "used_by": "kubeadm"}]}, "v1.37.2")


def test_kubernetes_bundle_files_refuses_a_version_that_is_no_release():
    assert kubernetes_bundle_files("v1.37.2", ("kubectl",), "/usr/bin") == [
        {"src": "kubernetes/v1.37.2/bin/kubectl", "dest": "/usr/bin/kubectl"}]
    with pytest.raises(AnsibleFilterError, match=r"kubernetes_bundle_files: '1\.37' is no Kubernetes release"):
        kubernetes_bundle_files("1.37", ["kubectl"], "/usr/bin")


def test_upgrade_plan_reads_kubelets_annotations_and_kube_proxy_from_the_api():
    nodes = [node("m-k8s", "v1.37.2"), node("w1-k8s", "v1.37.2", {MARKER: "v1.37.2"}), node("w2-k8s", "v1.36.3")]
    control_plane = dict.fromkeys(("kube-apiserver", "kube-controller-manager", "kube-scheduler"), "v1.37.2")
    result = upgrade_plan(nodes, "v1.37.2", ["v1.37.2", "v1.36.3"], control_plane, "m-k8s",
                          kube_proxy("registry.k8s.io/kube-proxy:v1.37.2"), MARKER)
    assert result == {
        "problems": [], "apply": False, "pending": ["w1-k8s", "w2-k8s"], "cluster": "v1.37.2",
        "marked": ["w1-k8s"], "kubelets": {"m-k8s": "v1.37.2", "w1-k8s": "v1.37.2", "w2-k8s": "v1.36.3"}}


def test_upgrade_plan_without_kube_proxy_still_has_the_apply_to_run():
    control_plane = dict.fromkeys(("kube-apiserver", "kube-controller-manager", "kube-scheduler"), "v1.37.2")
    result = upgrade_plan([node("m-k8s", "v1.37.2")], "v1.37.2", ["v1.37.2"], control_plane, "m-k8s", None, MARKER)
    assert result["apply"] is True and result["pending"] == ["m-k8s"]


def test_registered():
    assert set(FilterModule().filters()) == {
        "node_release", "bundle_release", "bundle_images", "kubernetes_bundle_files", "upgrade_plan"}
