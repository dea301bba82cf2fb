"""The offline bundle installed on a node, checked live: versions, checksums, images, a container.

Expected versions come from bundle/versions.yml (the pins the bundle is built from) and the image
names and digests from the bundle's manifest.json, read on the controller; everything else is read
from the node.
"""

import json
import os
import re
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BUNDLE = Path(os.environ.get("LAB_BUNDLE_DIR") or REPO / ".cache" / "bundle")
MANIFEST = json.loads((BUNDLE / "manifest.json").read_text(encoding="utf-8"))
SUMS = dict(
    reversed(line.split(None, 1)) for line in (BUNDLE / "SHA256SUMS").read_text(encoding="utf-8").splitlines() if line
)
PINS = yaml.safe_load((REPO / "bundle" / "versions.yml").read_text(encoding="utf-8"))
IMAGES = {image["name"]: image for image in MANIFEST["images"]}
PAUSE = next(name for name in IMAGES if re.search(r"/pause:", name))

BIN = "/usr/local/bin"
SBIN = "/usr/local/sbin"
CNI_BIN = "/opt/cni/bin"
KUBE_BIN = "/usr/bin"
CNI_PLUGINS = sorted(Path(rel).name for rel in MANIFEST["files"] if rel.startswith("cni/bin/"))
# Where each file of the bundle is installed on the node (role defaults).
INSTALLED = {
    f"{BIN}/containerd": "bin/containerd",
    f"{BIN}/containerd-shim-runc-v2": "bin/containerd-shim-runc-v2",
    f"{BIN}/ctr": "bin/ctr",
    f"{BIN}/crictl": "bin/crictl",
    f"{SBIN}/runc": "bin/runc",
    f"{KUBE_BIN}/kubeadm": "bin/kubeadm",
    f"{KUBE_BIN}/kubelet": "bin/kubelet",
    f"{KUBE_BIN}/kubectl": "bin/kubectl",
    **{f"{CNI_BIN}/{name}": f"cni/bin/{name}" for name in CNI_PLUGINS},
}
CTR = f"{BIN}/ctr --namespace k8s.io"


@pytest.fixture(scope="module")
def scenario_vars(host):
    return host.ansible.get_variables()


def run_ok(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def ctr_images(host):
    """containerd's k8s.io images: name -> (digest, labels). Columns: REF TYPE DIGEST SIZE PLATFORMS
    LABELS, where SIZE holds a space ("301.6 KiB") and LABELS comes last."""
    rows = [line.split() for line in run_ok(host, f"{CTR} images ls").splitlines()[1:] if line.strip()]
    return {row[0]: (row[2], row[-1].split(",")) for row in rows}


# Versions: each installed binary reports the pinned version.


def test_containerd_version(host):
    assert run_ok(host, f"{BIN}/containerd --version").split()[2] == PINS["containerd"]
    assert run_ok(host, f"{BIN}/ctr --version").split()[2] == PINS["containerd"]
    assert f"Version:  {PINS['containerd']}" in run_ok(host, f"{BIN}/containerd-shim-runc-v2 -v")


def test_runc_version_with_seccomp(host):
    lines = run_ok(host, f"{SBIN}/runc --version").splitlines()
    assert lines[0] == f"runc version {PINS['runc'].removeprefix('v')}"
    assert [line for line in lines if re.fullmatch(r"libseccomp: \d+\.\d+\.\d+", line)], lines
    features = json.loads(run_ok(host, f"{SBIN}/runc features"))
    assert features["linux"]["seccomp"]["enabled"] is True


def test_runc_is_the_one_containerd_finds(host):
    # containerd's shim runs the first runc on systemd's PATH: the bundle's, not another.
    environment = run_ok(host, "systemctl show containerd --property Environment --value")
    path = dict(kv.split("=", 1) for kv in environment.split() if "=" in kv).get(
        "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    )
    found = [f"{d}/runc" for d in path.split(":") if host.file(f"{d}/runc").exists]
    assert found and found[0] == f"{SBIN}/runc", found


def test_crictl_version(host):
    assert run_ok(host, f"{BIN}/crictl --version").strip() == f"crictl version {PINS['cri_tools']}"


def test_kubeadm_version(host):
    assert run_ok(host, f"{KUBE_BIN}/kubeadm version -o short").strip() == PINS["kubernetes"]


def test_kubelet_version(host):
    assert run_ok(host, f"{KUBE_BIN}/kubelet --version").strip() == f"Kubernetes {PINS['kubernetes']}"


def test_kubectl_version(host):
    assert f"Client Version: {PINS['kubernetes']}" in run_ok(host, f"{KUBE_BIN}/kubectl version --client").splitlines()


@pytest.mark.parametrize("plugin", CNI_PLUGINS)
def test_cni_plugin_version(host, plugin):
    # Without CNI_COMMAND a plugin prints its name and version and exits.
    result = host.run(f"{CNI_BIN}/{plugin}")
    assert result.rc == 0, result.stderr
    assert f"CNI {plugin} plugin {PINS['cni_plugins']}" in result.stdout + result.stderr


# The installed files are the bundle's, byte for byte.


@pytest.mark.parametrize("dest", sorted(INSTALLED))
def test_installed_file_matches_bundle(host, dest):
    installed = host.file(dest)
    assert installed.is_file and not installed.is_symlink
    assert installed.user == "root" and installed.mode == 0o755
    assert installed.sha256sum == SUMS[INSTALLED[dest]]


def test_no_docker_engine(host):
    assert not host.exists("dockerd")
    assert host.run("systemctl cat docker.service").rc != 0


# containerd: the bundle's unit, running, configured for kubeadm.


def test_containerd_runs_from_its_bundle_unit(host):
    unit = host.service("containerd")
    assert unit.is_running and unit.is_enabled
    show = run_ok(host, "systemctl show containerd --property FragmentPath,Type,Delegate,KillMode")
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props == {
        "FragmentPath": "/etc/systemd/system/containerd.service",
        "Type": "notify",
        "Delegate": "yes",
        "KillMode": "process",
    }
    assert f"path={BIN}/containerd " in run_ok(host, "systemctl show containerd --property ExecStart")


def test_containerd_live_config(host, scenario_vars):
    # The role writes schema 3 for containerd 2.x; 2.3+ migrates it to 4 at startup (4 only moves
    # the top-level grpc/ttrpc/debug/metrics sections, which the role does not set).
    written = tomllib.loads(host.file("/etc/containerd/config.toml").content_string)
    assert written["version"] == 3
    config = tomllib.loads(run_ok(host, f"{BIN}/containerd config dump"))
    assert config["version"] >= 3
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == PAUSE
    assert images["snapshotter"] == scenario_vars["docker_containerd_snapshotter"]
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
    assert runtime["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert runtime["cni"]["bin_dirs"] == [CNI_BIN]


def test_cri_answers_through_the_bundles_crictl(host):
    version = dict(
        line.split(":", 1) for line in run_ok(host, f"{BIN}/crictl version").splitlines() if ":" in line
    )
    assert version["RuntimeName"].strip() == "containerd"
    assert version["RuntimeVersion"].strip() == PINS["containerd"]
    info = json.loads(run_ok(host, f"{BIN}/crictl info"))
    conditions = {c["type"]: c["status"] for c in info["status"]["conditions"]}
    assert conditions["RuntimeReady"] is True


# Images: imported under kubeadm's names, with the manifest's digests, pinned.


def test_images_in_containerd_with_digest_and_pinned(host):
    listed = ctr_images(host)
    for name, image in IMAGES.items():
        assert name in listed, f"{name} not in `ctr -n k8s.io images ls`: {sorted(listed)}"
        digest, labels = listed[name]
        assert digest == image["digest"], name
        assert "io.cri-containerd.pinned=pinned" in labels, (name, labels)


def test_crictl_lists_the_images_pinned(host):
    images = json.loads(run_ok(host, f"{BIN}/crictl images --output json"))["images"]
    by_tag = {tag: image for image in images for tag in image.get("repoTags") or []}
    for name in IMAGES:
        assert name in by_tag, f"{name} not listed by crictl images: {sorted(by_tag)}"
        assert by_tag[name]["pinned"] is True, name


def test_images_are_what_the_installed_kubeadm_asks_for(host):
    wanted = run_ok(host, f"{KUBE_BIN}/kubeadm config images list --kubernetes-version {PINS['kubernetes']}")
    assert sorted(wanted.split()) == sorted(IMAGES)
    assert set(wanted.split()) <= set(ctr_images(host))


def test_container_runs_from_an_imported_image(host, scenario_vars):
    # containerd, its shim and runc run pause's own binary from the imported image.
    name = f"k8s-lab-test-{uuid.uuid4().hex[:8]}"
    out = run_ok(
        host,
        f"{CTR} run --rm --snapshotter {scenario_vars['docker_containerd_snapshotter']} {PAUSE} {name} /pause -v",
    )
    assert out.strip() == f"pause.c v{PAUSE.rsplit(':', 1)[1]}"


# The kubelet: installed from the bundle, enabled, not started before kubeadm.


def test_kubelet_unit_starts_the_bundles_kubelet(host):
    assert host.service("kubelet").is_enabled
    show = run_ok(host, "systemctl show kubelet --property FragmentPath,ExecStart")
    assert "FragmentPath=/etc/systemd/system/kubelet.service" in show
    assert f"path={KUBE_BIN}/kubelet " in show


# The tampered copy of the bundle (converge.yml's first run) was refused on the node.


def test_tampered_bundle_was_refused_before_installing(host, scenario_vars):
    tampered = scenario_vars["bundle_test_tampered_file"]
    record = json.loads(host.file(scenario_vars["bundle_test_tampered_record"]).content_string)
    assert "SHA256SUMS" in record["task"]
    assert f"{tampered} (expected {SUMS[tampered]}," in record["message"]
    # Nothing the docker role installs existed after the refused run (the first converge).
    assert record["installed_after"] == []
    # The refusal came from the checksum of the copy on the node: the copy there is the changed file.
    staged = host.file(f"{scenario_vars['bundle_test_tampered_node_dir']}/{tampered}")
    assert staged.exists
    assert staged.size == (BUNDLE / tampered).stat().st_size
    assert staged.sha256sum != SUMS[tampered]
    assert f"got {staged.sha256sum})" in record["message"]
