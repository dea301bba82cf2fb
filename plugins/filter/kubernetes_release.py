"""Filters for the Kubernetes release each node runs and for playbooks/upgrade.yml, over the functions of
module_utils/kubernetes_release.py (documented in the .yml files beside this one, one per filter)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubernetes_release import (
    KUBE_PROXY,
    ReleaseError,
    bundle_files,
    bundle_images,
    image_release,
    node_release,
    plan_upgrade,
    release_of,
)


def node_release_filter(kubelet, cluster, topology, installable):
    """The release a node runs: its kubelet's when installable, else the cluster's, else the topology's."""
    return node_release(kubelet or "", cluster or "", topology, list(installable or []))


def bundle_release(manifest, version):
    """The release of the bundle's kubernetes_releases that a version names (1.37, 1.37.2, v1.37.2);
    "" when it names none, so that the caller's check can say what the bundle holds."""
    try:
        return release_of(version, list(((manifest or {}).get("kubernetes_releases") or {}).keys()))
    except ReleaseError:
        return ""


def bundle_images_filter(manifest, release, control_plane=True):
    try:
        return bundle_images(manifest, release, bool(control_plane))
    except ReleaseError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def kubernetes_bundle_files(release, names, install_dir):
    try:
        return bundle_files(release, list(names), install_dir)
    except ReleaseError as exc:
        raise AnsibleFilterError(f"kubernetes_bundle_files: {exc}") from exc


def _kube_proxy_release(daemonsets) -> str:
    for daemonset in daemonsets or []:
        containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        for container in containers:
            if container.get("name") == KUBE_PROXY:
                return image_release(container.get("image"))
    return ""


def upgrade_plan(nodes, target, available, control_plane, control_plane_node, kube_proxy=None, marker=""):
    """plan_upgrade over what the API returns: the Node objects (their kubelets' releases and the
    upgrade's annotation) and kube-proxy's DaemonSet."""
    kubelets, marked = {}, []
    for node in nodes or []:
        name = (node.get("metadata") or {}).get("name", "")
        kubelets[name] = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        if marker and marker in ((node.get("metadata") or {}).get("annotations") or {}):
            marked.append(name)
    running = {**(control_plane or {}), KUBE_PROXY: _kube_proxy_release(kube_proxy)}
    plan = plan_upgrade(target, list(available or []), running, kubelets, control_plane_node, marked)
    return {**plan, "marked": marked, "kubelets": kubelets}


class FilterModule:
    """k8s_lab.lab.node_release, bundle_release, bundle_images, kubernetes_bundle_files and upgrade_plan."""

    def filters(self):
        return {
            "node_release": node_release_filter,
            "bundle_release": bundle_release,
            "bundle_images": bundle_images_filter,
            "kubernetes_bundle_files": kubernetes_bundle_files,
            "upgrade_plan": upgrade_plan,
        }
