"""module_utils/kubernetes_release: which release a version names, which one a node runs, the bundle's
files and images of a release, and the upgrade's version policy."""

from __future__ import annotations

import pytest

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubernetes_release import (
    ReleaseError,
    bundle_files,
    bundle_images,
    image_release,
    kubelet_release,
    manifest_release,
    node_release,
    plan_upgrade,
    release_of,
    spellings,
)

PINS = ["v1.37.2", "v1.36.3"]


@pytest.mark.parametrize(("version", "release"), [
    ("1.37", "v1.37.2"), ("1.37.2", "v1.37.2"), ("v1.37.2", "v1.37.2"),
    ("1.36", "v1.36.3"), ("1.36.3", "v1.36.3"), ("v1.36", "v1.36.3"),
])
def test_a_minor_or_a_patch_names_its_release(version, release):
    assert release_of(version, PINS) == release


@pytest.mark.parametrize("version", ["1.35", "1.37.1", "1.38", "2.37", "v1.36.2"])
def test_a_version_of_no_release_is_refused_naming_the_releases(version):
    with pytest.raises(ReleaseError, match=r"names none of the releases there are \(v1\.37\.2, v1\.36\.3\)"):
        release_of(version, PINS)


@pytest.mark.parametrize("version", ["", "1", "latest", "1.37.x", "v1.37.2-rc.0", None, 1.37])
def test_what_is_no_version_is_refused(version):
    with pytest.raises(ReleaseError, match="is no Kubernetes version"):
        release_of(version, PINS)


def test_a_minor_of_two_releases_asks_for_the_patch():
    with pytest.raises(ReleaseError, match=r"several releases \(v1\.37\.1, v1\.37\.2\): give the patch"):
        release_of("1.37", ["v1.37.2", "v1.37.1"])
    assert release_of("1.37.1", ["v1.37.2", "v1.37.1"]) == "v1.37.1"


def test_spellings_are_each_minor_and_patch_newest_first():
    assert spellings(["v1.36.3", "v1.37.2", "junk"]) == ["1.37", "1.37.2", "1.36", "1.36.3"]


@pytest.mark.parametrize(("output", "release"), [
    ("Kubernetes v1.37.2\n", "v1.37.2"),
    ("Kubernetes v1.36.3", "v1.36.3"),
    ("", ""),
    ("Kubernetes v1.37.2-dirty", ""),
    ("kubelet test double 1.0", ""),
])
def test_the_kubelets_release_is_read_from_its_version_line(output, release):
    assert kubelet_release(output) == release


@pytest.mark.parametrize(("image", "release"), [
    ("registry.k8s.io/kube-apiserver:v1.37.2", "v1.37.2"),
    ("localhost:5000/kube-proxy:v1.36.3", "v1.36.3"),
    ("registry.k8s.io/etcd:3.7.0-0", ""),
    ("registry.k8s.io/kube-apiserver@sha256:" + "0" * 64, ""),
    ("registry.k8s.io/kube-apiserver", ""),
    (None, ""),
])
def test_an_images_tag_is_its_release_only_when_it_is_one(image, release):
    assert image_release(image) == release


MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=192.168.77.10
    image: registry.k8s.io/kube-apiserver:v1.36.3
    imagePullPolicy: Never
    name: kube-apiserver
"""


def test_a_static_pod_manifest_runs_its_images_release():
    assert manifest_release(MANIFEST) == "v1.36.3"
    assert manifest_release(MANIFEST.replace("    image: registry", '    image: "registry').replace(
        "v1.36.3\n", 'v1.36.3"\n')) == "v1.36.3"


def test_a_manifest_with_no_or_several_images_names_no_release():
    assert manifest_release("") == ""
    assert manifest_release(MANIFEST.replace("    image:", "    notimage:")) == ""
    two = MANIFEST + "  - image: registry.k8s.io/pause:3.10.2\n    name: sidecar\n"
    assert manifest_release(two) == ""


@pytest.mark.parametrize(("kubelet", "cluster", "expected", "why"), [
    ("", "", "v1.36.3", "a new lab: the topology's"),
    ("", "v1.37.2", "v1.37.2", "a new worker joins an upgraded cluster at its version"),
    ("v1.37.2", "v1.37.2", "v1.37.2", "an upgraded node keeps its kubelet's release, whatever the topology says"),
    ("v1.36.3", "v1.37.2", "v1.36.3", "a worker the upgrade has not reached yet stays where it is"),
    ("v1.37.2", "", "v1.37.2", "a control plane reset after its upgrade is rebuilt at its kubelet's release"),
    ("v1.35.0", "v1.36.3", "v1.36.3", "a kubelet the lab cannot install gives way to the cluster's"),
    ("v1.35.0", "", "v1.36.3", "... and to the topology's without a cluster"),
])
def test_the_node_release_rule(kubelet, cluster, expected, why):
    assert node_release(kubelet, cluster, "v1.36.3", PINS) == expected, why


def image(name, used_by="kubeadm", versions=None):
    entry = {"name": name, "file": "images/" + name.rsplit("/", 1)[-1].replace(":", "-") + ".tar",
             "digest": "sha256:" + "0" * 64, "used_by": used_by}
    if versions is not None:
        entry["kubernetes_versions"] = versions
    return entry


BUNDLE = {
    "format": 2,
    "kubernetes_version": "v1.37.2",
    "kubernetes_releases": {"v1.37.2": {"etcd": "3.7.0-0"}, "v1.36.3": {"etcd": "3.6.8-0"}},
    "images": [
        image("registry.k8s.io/kube-apiserver:v1.37.2", versions=["v1.37.2"]),
        image("registry.k8s.io/kube-apiserver:v1.36.3", versions=["v1.36.3"]),
        image("registry.k8s.io/kube-proxy:v1.37.2", versions=["v1.37.2"]),
        image("registry.k8s.io/kube-proxy:v1.36.3", versions=["v1.36.3"]),
        image("registry.k8s.io/etcd:3.7.0-0", versions=["v1.37.2"]),
        image("registry.k8s.io/etcd:3.6.8-0", versions=["v1.36.3"]),
        image("registry.k8s.io/coredns/coredns:v1.14.2", versions=["v1.36.3"]),
        image("registry.k8s.io/pause:3.10.2", versions=["v1.36.3", "v1.37.2"]),
        image("quay.io/metallb/speaker:v0.15.3", used_by="metallb"),
        image("quay.io/prometheus/prometheus:v3.15.0", used_by="monitoring"),
    ],
}


def test_a_control_plane_imports_its_releases_images_and_the_apps():
    assert bundle_images(BUNDLE, "v1.36.3") == [
        "registry.k8s.io/kube-apiserver:v1.36.3", "registry.k8s.io/kube-proxy:v1.36.3",
        "registry.k8s.io/etcd:3.6.8-0", "registry.k8s.io/coredns/coredns:v1.14.2", "registry.k8s.io/pause:3.10.2",
        "quay.io/metallb/speaker:v0.15.3", "quay.io/prometheus/prometheus:v3.15.0"]


def test_a_worker_leaves_the_control_planes_own_images_out():
    assert bundle_images(BUNDLE, "v1.37.2", control_plane=False) == [
        "registry.k8s.io/kube-proxy:v1.37.2", "registry.k8s.io/pause:3.10.2",
        "quay.io/metallb/speaker:v0.15.3", "quay.io/prometheus/prometheus:v3.15.0"]


def test_a_release_the_bundle_lacks_gets_only_the_apps():
    apps = ["quay.io/metallb/speaker:v0.15.3", "quay.io/prometheus/prometheus:v3.15.0"]
    assert bundle_images(BUNDLE, "v1.38.0") == apps


def test_a_bundle_of_format_1_is_refused_with_the_way_out():
    old = {"images": [{"name": "registry.k8s.io/pause:3.10.2", "used_by": "kubeadm"}]}
    with pytest.raises(ReleaseError, match=r"format 1.*pause:3\.10\.2.*rebuild the bundle \(make bundle\)"):
        bundle_images(old, "v1.37.2")


def test_the_bundle_keeps_each_releases_binaries_under_its_name():
    assert bundle_files("v1.36.3", ["kubeadm", "kubelet"], "/usr/bin/") == [
        {"src": "kubernetes/v1.36.3/bin/kubeadm", "dest": "/usr/bin/kubeadm"},
        {"src": "kubernetes/v1.36.3/bin/kubelet", "dest": "/usr/bin/kubelet"},
    ]
    with pytest.raises(ReleaseError):
        bundle_files("1.36", ["kubeadm"], "/usr/bin")


# The upgrade's version policy.

CP = "m-k8s"
OLD = {"kube-apiserver": "v1.36.3", "kube-controller-manager": "v1.36.3", "kube-scheduler": "v1.36.3",
       "kube-proxy": "v1.36.3"}
NEW = dict.fromkeys(OLD, "v1.37.2")
KUBELETS_OLD = {"m-k8s": "v1.36.3", "w1-k8s": "v1.36.3", "w2-k8s": "v1.36.3"}
KUBELETS_NEW = dict.fromkeys(KUBELETS_OLD, "v1.37.2")


def plan(target="v1.37.2", available=PINS, control_plane=OLD, kubelets=KUBELETS_OLD, marked=()):
    return plan_upgrade(target, available, control_plane, kubelets, CP, marked)


def test_the_next_minor_goes_ahead_control_plane_first():
    assert plan() == {"problems": [], "apply": True, "pending": ["m-k8s", "w1-k8s", "w2-k8s"], "cluster": "v1.36.3"}


def test_an_upgraded_cluster_has_nothing_left():
    assert plan(control_plane=NEW, kubelets=KUBELETS_NEW) == {
        "problems": [], "apply": False, "pending": [], "cluster": "v1.37.2"}


def test_a_rerun_after_a_failed_worker_continues_with_the_workers_left():
    kubelets = {"m-k8s": "v1.37.2", "w1-k8s": "v1.36.3", "w2-k8s": "v1.36.3"}
    assert plan(control_plane=NEW, kubelets=kubelets) == {
        "problems": [], "apply": False, "pending": ["w1-k8s", "w2-k8s"], "cluster": "v1.37.2"}


def test_a_node_left_drained_at_the_target_is_still_to_put_back():
    kubelets = {"m-k8s": "v1.37.2", "w1-k8s": "v1.37.2", "w2-k8s": "v1.36.3"}
    assert plan(control_plane=NEW, kubelets=kubelets, marked=["w1-k8s"])["pending"] == ["w1-k8s", "w2-k8s"]


@pytest.mark.parametrize("component", ["kube-scheduler", "kube-proxy"])
def test_an_apply_that_stopped_half_way_runs_again(component):
    """kubeadm moves the static pods one by one and kube-proxy last: any of them behind means the
    apply did not finish, even when the API server and the control plane's kubelet are at the target."""
    result = plan(control_plane={**NEW, component: "v1.36.3"}, kubelets=KUBELETS_NEW)
    assert result["apply"] is True and result["pending"] == ["m-k8s"] and result["problems"] == []


def test_a_skipped_minor_is_refused_naming_the_minor_to_go_through():
    problems = plan(target="v1.38.0", available=[*PINS, "v1.38.0"])["problems"]
    assert problems == [
        "v1.38.0 skips a minor release: the API server on m-k8s, the kubelet of m-k8s, the kubelet of w1-k8s, "
        "the kubelet of w2-k8s run v1.36.3, and kubeadm upgrades one minor at a time: upgrade to v1.37 first "
        "(skipped: v1.37)"]


def test_a_worker_left_two_minors_behind_is_refused_too():
    kubelets = {**KUBELETS_NEW, "w2-k8s": "v1.35.4"}
    problems = plan(target="v1.37.2", control_plane=NEW, kubelets=kubelets)["problems"]
    assert len(problems) == 1 and problems[0].startswith("v1.37.2 skips a minor release: the kubelet of w2-k8s runs "
                                                         "v1.35.4")


def test_a_downgrade_is_refused():
    result = plan(target="v1.36.3", control_plane=NEW, kubelets=KUBELETS_NEW)
    assert result["problems"] == [
        "v1.36.3 is a downgrade: the API server on m-k8s, the kubelet of m-k8s, the kubelet of w1-k8s, the kubelet "
        "of w2-k8s run v1.37.2, and kubeadm does not downgrade (restore the etcd backup taken before the upgrade "
        "instead)"]


def test_a_patch_downgrade_is_a_downgrade():
    assert "is a downgrade" in plan(target="v1.36.1", available=[*PINS, "v1.36.1"])["problems"][0]


def test_a_release_the_bundle_lacks_is_refused_naming_what_it_carries():
    assert plan(target="v1.37.1")["problems"] == [
        "the bundle lacks Kubernetes v1.37.1 (it carries v1.37.2, v1.36.3): pin it in bundle/versions.yml and "
        "rebuild the bundle (make bundle), or upgrade to a release it carries"]


def test_every_reason_is_given_at_once():
    problems = plan(target="v1.38.0")["problems"]
    assert [p.split(" ", 3)[:3] for p in problems] == [["the", "bundle", "lacks"], ["v1.38.0", "skips", "a"]]


@pytest.mark.parametrize("target", ["1.37.2", "v1.37", "", "latest", None])
def test_a_target_that_is_no_release_is_refused(target):
    assert plan(target=target)["problems"] == [f"upgrade_to: {target!r} is no Kubernetes release like v1.37.2"]


def test_a_node_whose_release_cannot_be_read_is_refused():
    problems = plan(control_plane={}, kubelets={**KUBELETS_OLD, "w2-k8s": ""})["problems"]
    assert problems == ["cannot tell which Kubernetes release runs: the API server on m-k8s (nothing found); "
                        "the kubelet of w2-k8s (nothing found)"]


def test_a_patch_upgrade_goes_ahead():
    result = plan(target="v1.37.5", available=[*PINS, "v1.37.5"], control_plane=NEW, kubelets=KUBELETS_NEW)
    assert result["problems"] == [] and result["apply"] is True
