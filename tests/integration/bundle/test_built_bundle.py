"""The bundle `make bundle` built: every file checksummed, every binary at its pinned version, both
Kubernetes releases (the pin and the previous minor) each with the images its own kubeadm asks for,
MetalLB's images and the manifest that runs them, the monitoring role's images, and a tampered copy
refused."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from bundler.build import check_layout, manifest_images
from bundler.checksums import SUMS_FILE, parse_sums, sha256_file, verify_tree
from bundler.gobuild import check_versions
from bundler.images import short_name
from bundler.oci import extract_file, read_archive
from bundler.recipes import ALERTMANAGER_APP, BY_NAME, KUBERNETES, METALLB_APP, MONITORING_APPS
from bundler.versions import derived_versions, load

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = load(ROOT / "bundle" / "versions.yml", ROOT / "inventory" / "topology.yml", ROOT / "roles")
METALLB_MANIFEST = "manifests/metallb-native.yaml"
RELEASES = VERSIONS.kubernetes_releases


def kube_bin(release: str) -> str:
    return KUBERNETES.node_path(release)


@pytest.fixture(scope="module")
def manifest(bundle_dir):
    return json.loads((bundle_dir / "manifest.json").read_text())


def test_every_file_matches_sha256sums(bundle_dir):
    sums = verify_tree(bundle_dir)
    assert "manifest.json" in sums
    for release in RELEASES:
        assert f"{kube_bin(release)}/kubeadm" in sums, release
    check_layout(bundle_dir)


def test_the_manifest_records_the_pins(manifest):
    assert manifest["format"] == 2
    assert manifest["kubernetes_version"] == VERSIONS.kubernetes
    assert sorted(manifest["kubernetes_releases"]) == sorted(RELEASES)
    for name, version in VERSIONS.pins.items():
        assert manifest["components"][name]["version"] == version, name
    assert manifest["components"]["previous"]["kubernetes"]["version"] == VERSIONS.kubernetes_previous


@pytest.mark.parametrize(("component", "version"), [
    ("kubernetes", VERSIONS.kubernetes), ("kubernetes", VERSIONS.kubernetes_previous), ("containerd", None),
    ("runc", None), ("cri_tools", None), ("cni_plugins", None),
])
def test_node_binaries_report_their_pinned_version(bundle_dir, component, version):
    recipe = BY_NAME[component]
    version = version or VERSIONS.pins[component]
    checked = set(recipe.checks) & set(recipe.node_binaries)
    assert checked, component
    check_versions(recipe, version, bundle_dir / recipe.node_path(version), only=checked)


def test_runc_is_built_with_seccomp(bundle_dir):
    out = subprocess.run([bundle_dir / "bin" / "runc", "--version"], capture_output=True, text=True, check=True)
    assert "seccomp" in out.stdout.lower(), out.stdout


@pytest.mark.parametrize("binary", [f"{kube_bin(r)}/{b}" for r in RELEASES for b in ("kubeadm", "kubelet")]
                         + ["bin/containerd", "bin/runc", "bin/crictl", "cni/bin/bridge"])
def test_binaries_are_static(bundle_dir, binary):
    # ldd exits non-zero for a static binary; a dynamic one lists its libraries.
    out = subprocess.run(["ldd", bundle_dir / binary], capture_output=True, text=True, check=False)
    assert "not a dynamic executable" in out.stdout + out.stderr or "statically linked" in out.stdout, out.stdout


@pytest.mark.parametrize("release", RELEASES)
def test_images_are_exactly_what_each_kubeadm_asks_for(bundle_dir, manifest, release):
    listed = subprocess.run(
        [bundle_dir / kube_bin(release) / "kubeadm", "config", "images", "list", "--kubernetes-version", release],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert manifest["kubernetes_releases"][release]["images"] == listed
    kubeadm = [i for i in manifest["images"] if i["used_by"] == "kubeadm"]
    assert sorted(i["name"] for i in kubeadm if release in i["kubernetes_versions"]) == sorted(listed)
    assert {i["name"] for i in kubeadm} == {n for r in RELEASES for n in manifest["kubernetes_releases"][r]["images"]}
    # Besides kubeadm's, only MetalLB's and the monitoring role's.
    assert {i["used_by"] for i in manifest["images"]} == {"kubeadm", "metallb", "monitoring"}
    for image in manifest["images"]:
        assert read_archive(bundle_dir / image["file"])["name"] == image["name"]


def test_metallb_images_are_its_upstream_names_at_the_pin(manifest):
    images = {i["name"]: i for i in manifest["images"] if i["used_by"] == "metallb"}
    assert sorted(images) == [f"quay.io/metallb/controller:{VERSIONS.pins['metallb']}",
                              f"quay.io/metallb/speaker:{VERSIONS.pins['metallb']}"]
    for name, image in images.items():
        assert manifest["files"][image["file"]] == {"component": "metallb", "version": VERSIONS.pins["metallb"]}, name


def app_binary(bundle_dir: Path, manifest: dict, app, binary: str, into: Path) -> Path:
    """binary from app's image in the bundle, checked to be the image's entrypoint, written into `into`."""
    name = app.references(VERSIONS.pins[app.component.name])[binary]
    archive = bundle_dir / next(i for i in manifest["images"] if i["name"] == name)["file"]
    path = app.binary_path(binary)
    assert read_archive(archive)["config"]["config"]["Entrypoint"] == [f"/{path}"]
    written = into / binary
    written.write_bytes(extract_file(archive, path))
    written.chmod(0o755)
    return written


@pytest.mark.parametrize("binary", ["controller", "speaker"])
def test_metallb_images_run_their_binary_at_its_pinned_version(bundle_dir, manifest, tmp_path, binary):
    app_binary(bundle_dir, manifest, METALLB_APP, binary, tmp_path)
    name = METALLB_APP.references(VERSIONS.pins["metallb"])[binary]
    content = read_archive(bundle_dir / next(i for i in manifest["images"] if i["name"] == name)["file"])
    assert binary in content["files"] and "etc/passwd" in content["files"]
    check_versions(BY_NAME["metallb"], VERSIONS.pins["metallb"], tmp_path, only={binary})


def test_monitoring_images_are_the_roles_images(manifest):
    role = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())
    images = {i["name"]: i for i in manifest["images"] if i["used_by"] == "monitoring"}
    assert sorted(images) == sorted(role[app.role_default] for app in MONITORING_APPS)
    for app in MONITORING_APPS:
        version = VERSIONS.pins[app.component.name]
        (name,) = app.references(version).values()
        assert manifest["files"][images[name]["file"]] == {"component": app.component.name, "version": version}


@pytest.mark.parametrize("app", MONITORING_APPS, ids=lambda app: app.component.name)
def test_monitoring_images_run_their_binary_at_its_pinned_version(bundle_dir, manifest, tmp_path, app):
    (binary,) = app.repositories
    app_binary(bundle_dir, manifest, app, binary, tmp_path)
    check_versions(app.component, VERSIONS.pins[app.component.name], tmp_path, only={binary})


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local http URL)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_alertmanager_serves_its_api_without_the_web_ui(bundle_dir, manifest, tmp_path):
    """Built without ui/app/dist (recipes.ALERTMANAGER): it starts with the role's kind of arguments and
    serves /-/ready and the API; the web UI pages are not there."""
    (binary,) = ALERTMANAGER_APP.repositories
    alertmanager = app_binary(bundle_dir, manifest, ALERTMANAGER_APP, binary, tmp_path)
    (tmp_path / "alertmanager.yml").write_text("route: {receiver: x}\nreceivers: [{name: x}]\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([str(alertmanager), f"--config.file={tmp_path}/alertmanager.yml",
                                f"--storage.path={tmp_path}/data", "--cluster.listen-address=",
                                f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = _get(f"{base}/-/ready")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "alertmanager did not start"
                time.sleep(0.2)
        assert status == 200
        status, body = _get(f"{base}/api/v2/status")
        assert status == 200
        assert json.loads(body)["versionInfo"]["version"] == VERSIONS.pins["alertmanager"].removeprefix("v")
        assert _get(f"{base}/")[0] == 404
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_the_metallb_manifest_runs_exactly_the_bundled_images(bundle_dir, manifest):
    assert manifest["files"][METALLB_MANIFEST] == {"component": "metallb", "version": VERSIONS.pins["metallb"]}
    bundled = {i["name"] for i in manifest["images"] if i["used_by"] == "metallb"}
    assert manifest_images((bundle_dir / METALLB_MANIFEST).read_text()) == bundled


def test_the_metallb_manifest_is_the_one_the_metallb_role_pins(bundle_dir):
    # The role applies it only if it is the release's file, by the checksum it knows for the pin.
    known = yaml.safe_load((ROOT / "roles/metallb/vars/main.yml").read_text())["__metallb_manifest_checksums"]
    assert f"sha256:{sha256_file(bundle_dir / METALLB_MANIFEST)}" == known[VERSIONS.pins["metallb"]]


def release_image(bundle_dir: Path, manifest: dict, release: str, short: str) -> tuple[Path, str]:
    """The archive of the image named short (etcd, kube-proxy...) that release's kubeadm asks for, and its tag."""
    (name,) = [n for n in manifest["kubernetes_releases"][release]["images"] if short_name(n) == short]
    (image,) = [i for i in manifest["images"] if i["name"] == name]
    return bundle_dir / image["file"], name.rsplit(":", 1)[1]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize(("image", "member", "component", "binary"), [
    ("kube-apiserver", "usr/local/bin/kube-apiserver", "kubernetes", "kube-apiserver"),
    ("kube-controller-manager", "usr/local/bin/kube-controller-manager", "kubernetes", "kube-controller-manager"),
    ("kube-scheduler", "usr/local/bin/kube-scheduler", "kubernetes", "kube-scheduler"),
    ("kube-proxy", "usr/local/bin/kube-proxy", "kubernetes", "kube-proxy"),
    ("etcd", "usr/local/bin/etcd", "etcd", "etcd"),
    ("etcd", "usr/local/bin/etcdctl", "etcd", "etcdctl"),
    ("coredns", "coredns", "coredns", "coredns"),
])
def test_image_binaries_report_the_versions_each_kubeadm_expects(bundle_dir, manifest, tmp_path, release, image,
                                                                 member, component, binary):
    archive, _ = release_image(bundle_dir, manifest, release, image)
    asks = manifest["kubernetes_releases"][release]
    version = release if component == "kubernetes" else derived_versions(asks)[component]
    (tmp_path / binary).write_bytes(extract_file(archive, member))
    (tmp_path / binary).chmod(0o755)
    check_versions(BY_NAME[component], version, tmp_path, only={binary})


@pytest.mark.parametrize("release", RELEASES)
def test_pause_reports_its_version(bundle_dir, manifest, tmp_path, release):
    archive, version = release_image(bundle_dir, manifest, release, "pause")
    assert version == manifest["kubernetes_releases"][release]["pause"]
    (tmp_path / "pause").write_bytes(extract_file(archive, "pause"))
    (tmp_path / "pause").chmod(0o755)
    out = subprocess.run([tmp_path / "pause", "-v"], capture_output=True, text=True, check=False)
    assert f"pause.c v{version}" in out.stdout + out.stderr


@pytest.mark.parametrize("release", RELEASES)
def test_kube_proxy_image_has_its_dataplane_tools(bundle_dir, manifest, release):
    files = set(read_archive(release_image(bundle_dir, manifest, release, "kube-proxy")[0])["files"])
    for tool in ("usr/sbin/iptables", "usr/sbin/nft", "usr/sbin/conntrack", "usr/sbin/ipset"):
        assert tool in files, tool


def _linked_copy(src: Path, dest: Path, tampered: str) -> None:
    """A copy of the bundle that shares every file but one by hard link: the real bundle (whose files are
    hard links into the build cache) is never written."""
    for rel in parse_sums((src / SUMS_FILE).read_text()):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel == tampered:
            shutil.copyfile(src / rel, dest / rel)
        else:
            os.link(src / rel, dest / rel)
    shutil.copyfile(src / SUMS_FILE, dest / SUMS_FILE)


def test_verify_refuses_a_tampered_copy(bundle_dir, tmp_path):
    copy = tmp_path / "bundle"
    _linked_copy(bundle_dir, copy, "bin/crictl")
    with (copy / "bin/crictl").open("r+b") as handle:
        handle.seek(4096)
        byte = handle.read(1)
        handle.seek(4096)
        handle.write(bytes([byte[0] ^ 0xFF]))
    out = subprocess.run([sys.executable, ROOT / "scripts/bundle.py", "verify", copy],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert "checksum mismatch: bin/crictl" in out.stderr
