"""Kubernetes releases of the lab, in one place: which release a version names, which release a node
runs, and whether an upgrade may go ahead.

Shared by the inventory plugin (lab_topology: the topology's kubernetes_version), the filters of
plugins/filter/kubernetes_release.py (site.yml's rule for each node, the bundle's files and images of
a release, playbooks/upgrade.yml's checks) and the kubernetes_installed module, which runs on the
nodes: standard library only, and Python 3.9 (Rocky 9's system Python).
"""

from __future__ import annotations

import re

# A release as Kubernetes tags it, and as the bundle, kubeadm and the kubelet name it.
RELEASE_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# A version as a person writes it: a minor (1.37) or a patch (1.37.2), with or without the v.
VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
# `kubelet --version` prints "Kubernetes v1.37.2".
KUBELET_VERSION_RE = re.compile(r"^Kubernetes (v\d+\.\d+\.\d+)\s*$")
# The image line of a static pod manifest as kubeadm writes it: "    image: registry.k8s.io/kube-apiserver:v1.37.2".
MANIFEST_IMAGE_RE = re.compile(r"^\s*-?\s*image:\s*[\"']?([^\s\"']+)[\"']?\s*$", re.MULTILINE)
# The control plane's static pods whose image tag is the cluster's release (etcd has its own versions).
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# kubeadm upgrade apply moves kube-proxy last (after CoreDNS): at the release, the apply has finished.
KUBE_PROXY = "kube-proxy"
# Images a worker does not run: the control plane's own.
CONTROL_PLANE_IMAGE_RE = re.compile(r"/(kube-apiserver|kube-controller-manager|kube-scheduler|etcd):")


class ReleaseError(ValueError):
    """A version names no release of those given; the message says which there are."""


def parse_release(release) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a release like v1.37.2; None for anything else."""
    match = RELEASE_RE.match(release) if isinstance(release, str) else None
    return tuple(int(part) for part in match.groups()) if match else None


def minor_of(release: str) -> str:
    """1.37 for v1.37.2."""
    major, minor, _ = parse_release(release)
    return f"{major}.{minor}"


def spellings(releases) -> list[str]:
    """What a topology may write for these releases: each one's minor and its patch, newest first."""
    ordered = sorted({r for r in releases if parse_release(r)}, key=parse_release, reverse=True)
    return [form for release in ordered for form in (minor_of(release), release[1:])]


def release_of(version, releases) -> str:
    """The release of `releases` that a version names: a minor (1.37) the one release of that minor,
    a patch (1.37.2 or v1.37.2) that exact release. ReleaseError when none does, or when a minor
    names several (the version would not say which)."""
    releases = [r for r in releases if parse_release(r)]
    match = VERSION_RE.match(version) if isinstance(version, str) else None
    if not match:
        raise ReleaseError(f"{version!r} is no Kubernetes version like 1.37 or 1.37.2")
    major, minor, patch = match.groups()
    wanted = (int(major), int(minor))
    found = [r for r in releases if parse_release(r)[:2] == wanted
             and (patch is None or parse_release(r)[2] == int(patch))]
    if len(found) == 1:
        return found[0]
    known = ", ".join(sorted(releases, key=parse_release, reverse=True)) or "none"
    if not found:
        raise ReleaseError(f"{version!r} names none of the releases there are ({known})")
    raise ReleaseError(f"{version!r} names several releases ({', '.join(sorted(found))}): give the patch")


def kubelet_release(version_output) -> str:
    """v1.37.2 from what `kubelet --version` printed; "" when it printed no release."""
    match = KUBELET_VERSION_RE.match((version_output or "").strip())
    return match.group(1) if match else ""


def image_release(image) -> str:
    """The tag of an image reference when it is a release (registry.k8s.io/kube-proxy:v1.37.2 ->
    v1.37.2); "" for anything else (a digest, another tag, no image)."""
    if not isinstance(image, str) or "@" in image:
        return ""
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return tag if parse_release(tag) else ""


def manifest_release(text) -> str:
    """The release a kubeadm static pod manifest runs: the tag of its (single) container's image.
    Read without a YAML library, which the nodes' Python may lack."""
    images = MANIFEST_IMAGE_RE.findall(text or "")
    return image_release(images[0]) if len(images) == 1 else ""


def node_release(kubelet: str, cluster: str, topology: str, installable) -> str:
    """The release a node runs, so that site.yml never moves a node to another one:
    (1) the kubelet it has, when the lab can install that release (a node already built, or upgraded);
    (2) else the running cluster's, its API server's (a new worker joins the cluster at its version);
    (3) else the topology's (a new lab)."""
    if kubelet and kubelet in installable:
        return kubelet
    return cluster or topology


def bundle_images(manifest, release: str, control_plane: bool = True) -> list[str]:
    """The images of a bundle's manifest.json (format 2) a node of that release imports: kubeadm's
    images of that release (those whose kubernetes_versions name it; not the control plane's own on
    a worker) and every application's image (MetalLB's, the monitoring stack's)."""
    names = []
    for image in (manifest or {}).get("images", []):
        if image.get("used_by") == "kubeadm":
            if "kubernetes_versions" not in image:
                raise ReleaseError(
                    f"the bundle's manifest.json (format {manifest.get('format', 1)}) does not say which Kubernetes "
                    f"release {image.get('name')} belongs to (kubernetes_versions): rebuild the bundle (make bundle)")
            if release not in image["kubernetes_versions"]:
                continue
            if not control_plane and CONTROL_PLANE_IMAGE_RE.search(image.get("name", "")):
                continue
        names.append(image["name"])
    return names


def bundle_files(release: str, names, install_dir: str) -> list[dict]:
    """{src, dest} of Kubernetes binaries of a release: where the bundle keeps them
    (kubernetes/<release>/bin/<name>) and where they are installed."""
    if not parse_release(release):
        raise ReleaseError(f"{release!r} is no Kubernetes release like v1.37.2")
    return [{"src": f"kubernetes/{release}/bin/{name}", "dest": f"{install_dir.rstrip('/')}/{name}"} for name in names]


def _skipped_minors(start: tuple, target: tuple) -> str:
    return ", ".join(f"v{target[0]}.{minor}" for minor in range(start[1] + 1, target[1]))


def plan_upgrade(target, available, control_plane, kubelets, control_plane_node, marked=()) -> dict:
    """Whether an upgrade of the cluster to `target` may go ahead, and what it has left to do.

    available: the releases the bundle carries. control_plane: component -> the release it runs (the
    first control plane's static pod manifests, kube-proxy's DaemonSet). kubelets: node -> the release
    its kubelet reports. control_plane_node: the node `kubeadm upgrade apply` runs on. marked: nodes an
    earlier run drained and did not put back (the upgrade's annotation).

    Returns {"problems": [why it must not start], "apply": whether kubeadm upgrade apply is still to
    run, "pending": the nodes still to upgrade (or to put back), "cluster": the API server's release}.
    Nothing is refused for being done already: a node at the target is simply not pending."""
    wanted = parse_release(target)
    if not wanted:
        return {"problems": [f"upgrade_to: {target!r} is no Kubernetes release like v1.37.2"],
                "apply": False, "pending": [], "cluster": control_plane.get("kube-apiserver", "")}
    problems = []
    carried = sorted((r for r in available if parse_release(r)), key=parse_release, reverse=True)
    if target not in carried:
        problems.append(
            f"the bundle lacks Kubernetes {target} (it carries {', '.join(carried) or 'no release'}): pin it in "
            f"bundle/versions.yml and rebuild the bundle (make bundle), or upgrade to a release it carries")

    cluster = control_plane.get("kube-apiserver", "")
    running = [(f"the API server on {control_plane_node}", cluster)]
    running += [(f"the kubelet of {node}", release) for node, release in kubelets.items()]
    newer, skipping, unknown = {}, {}, []
    for who, release in running:
        have = parse_release(release)
        if not have:
            unknown.append(f"{who} ({release or 'nothing found'})")
        elif have > wanted:
            newer.setdefault(release, []).append(who)
        elif have[0] != wanted[0] or wanted[1] - have[1] > 1:
            skipping.setdefault(release, []).append(who)
    if unknown:
        problems.append(f"cannot tell which Kubernetes release runs: {'; '.join(unknown)}")
    for release, whos in sorted(newer.items()):
        problems.append(
            f"{target} is a downgrade: {', '.join(whos)} run{'s' if len(whos) == 1 else ''} {release}, and kubeadm "
            f"does not downgrade (restore the etcd backup taken before the upgrade instead)")
    for release, whos in sorted(skipping.items()):
        have = parse_release(release)
        skipped = _skipped_minors(have, wanted) if have[0] == wanted[0] else f"v{wanted[0]}.x"
        problems.append(
            f"{target} skips a minor release: {', '.join(whos)} run{'s' if len(whos) == 1 else ''} {release}, and "
            f"kubeadm upgrades one minor at a time: upgrade to v{have[0]}.{have[1] + 1} first (skipped: {skipped})")

    apply = any(control_plane.get(name) != target for name in (*CONTROL_PLANE_COMPONENTS, KUBE_PROXY))
    pending = [node for node, release in kubelets.items()
               if release != target or node in marked or (apply and node == control_plane_node)]
    return {"problems": problems, "apply": apply, "pending": pending, "cluster": cluster}
