"""The download source against a loopback HTTPS server serving the built bundle's binaries in the
official release layout (dl.k8s.io and each project's GitHub releases, under MIRROR/HOST/PATH), both
Kubernetes releases' from the same URL templates: it must reproduce the built bundle file for file,
less MetalLB (which publishes no release binaries) and the monitoring images (built from source
only), and refuse a tampered file with nothing written."""

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from bundler.checksums import SUMS_FILE, parse_sums
from bundler.download import mirrored
from bundler.images import short_name
from bundler.oci import extract_file
from bundler.recipes import GO_COMPONENTS, KUBERNETES
from bundler.versions import load
from fixtures.release_server import serve_https, tgz

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = load(ROOT / "bundle" / "versions.yml")
CACHE = Path(os.environ.get("LAB_BUNDLE_CACHE") or "/var/tmp/k8s-lab/bundle")  # noqa: S108 - the build's cache


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _release_tree(bundle: Path, manifest: dict, www: Path) -> dict[str, Path]:
    """Publish the bundle's binaries as each project publishes its release, both Kubernetes releases
    and the previous one's own etcd and CoreDNS included; return the published paths (the current
    release's under the binary's or component's name, the previous one's under previous/NAME)."""
    arch = VERSIONS.arch
    current = manifest["components"]
    previous = current["previous"]

    def url(key: str, name: str = "", components: dict = current) -> str:
        version = components[key.removesuffix("_sha256")]["version"]
        return VERSIONS.download[key].format(version=version, bare=version.lstrip("v"), arch=arch, name=name)

    def put(target: str, data: bytes) -> Path:
        path = www / mirrored(target, "https://m").removeprefix("https://m/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def image_file(release: str, short: str) -> Path:
        """The archive of the image named short that release's kubeadm asks for."""
        (name,) = [n for n in manifest["kubernetes_releases"][release]["images"] if short_name(n) == short]
        return bundle / next(i["file"] for i in manifest["images"] if i["name"] == name)

    published = {}
    for components, label in ((current, ""), (previous, "previous/")):
        release = components["kubernetes"]["version"]
        for name in ("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                     "kube-proxy"):
            data = (bundle / KUBERNETES.node_path(release) / name).read_bytes() if name in KUBERNETES.node_binaries \
                else extract_file(image_file(release, name), f"usr/local/bin/{name}")
            published[f"{label}{name}"] = put(url("kubernetes", name, components), data)
            put(url("kubernetes_sha256", name, components), _sha(data).encode())  # dl.k8s.io: the bare digest

    def archive(key: str, files: dict[str, bytes], sums_style: str = "line", components: dict = current,
                label: str = "") -> None:
        data = tgz(files)
        target = url(key, components=components)
        published[f"{label}{key}"] = put(target, data)
        filename = target.rsplit("/", 1)[-1]
        text = _sha(data) if sums_style == "bare" else f"{_sha(b'other')}  other.tgz\n{_sha(data)}  {filename}\n"
        put(url(f"{key}_sha256", components=components), text.encode())

    for components, release, label in ((current, VERSIONS.kubernetes, ""),
                                       (previous, VERSIONS.kubernetes_previous, "previous/")):
        # The previous release's etcd and CoreDNS are published only when they are its own.
        if "etcd" in components:
            etcd_dir = f"etcd-{components['etcd']['version']}-linux-{arch}"
            archive("etcd", {f"{etcd_dir}/{b}": extract_file(image_file(release, "etcd"), f"usr/local/bin/{b}")
                             for b in ("etcd", "etcdctl", "etcdutl")}, components=components, label=label)
        if "coredns" in components:
            archive("coredns", {"coredns": extract_file(image_file(release, "coredns"), "coredns")},
                    components=components, label=label)
    archive("containerd", {f"bin/{b}": (bundle / "bin" / b).read_bytes()
                           for b in ("containerd", "containerd-shim-runc-v2", "ctr")})
    archive("cri_tools", {"crictl": (bundle / "bin/crictl").read_bytes()}, sums_style="bare")
    archive("cni_plugins", {f"./{p.name}": p.read_bytes() for p in sorted((bundle / "cni/bin").iterdir())})
    runc = (bundle / "bin/runc").read_bytes()
    published["runc"] = put(url("runc"), runc)
    put(url("runc_sha256"), f"{_sha(b'arm64')}  runc.arm64\n{_sha(runc)}  runc.{arch}\n".encode())
    return published


def _build(mirror: str, ca_file: Path, out: Path) -> subprocess.CompletedProcess:
    # The mirror's certificate comes from the test's own CA; the machine's CAs stay trusted beside
    # it (the go command, which the build runs, reads SSL_CERT_FILE too).
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    trusted = ca_file.with_name("trusted.pem")
    trusted.write_bytes((system.read_bytes() if system.is_file() else b"") + ca_file.read_bytes())
    return subprocess.run(
        [sys.executable, ROOT / "scripts/bundle.py", "--cache", CACHE, "build", "--source", "download",
         "--mirror", mirror, "--out", out],
        env={**os.environ, "SSL_CERT_FILE": str(trusted)},
        capture_output=True, text=True, timeout=1800, check=False,
    )


@pytest.fixture(scope="module")
def release(bundle_dir, tmp_path_factory):
    www = tmp_path_factory.mktemp("www")
    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    published = _release_tree(bundle_dir, manifest, www)
    yield www, published
    # The downloaded artifacts are this test's; the built ones stay.
    for stale in [*(CACHE / "artifacts").glob("dl-*"), *(CACHE / "artifacts").glob("previous-dl-*")]:
        shutil.rmtree(stale, ignore_errors=True)


def test_download_source_reproduces_the_built_bundle_less_metallb_and_monitoring(bundle_dir, release, tmp_path):
    www, _ = release
    with serve_https(www, tmp_path / "certs") as (mirror, ca_file):
        result = _build(mirror, ca_file, tmp_path / "bundle")
    assert result.returncode == 0, result.stderr[-3000:]
    left_out = [c.name for c in GO_COMPONENTS if not c.release_binaries]
    assert left_out == ["metallb", "prometheus", "node_exporter", "kube_state_metrics", "alertmanager"]
    for name in left_out:
        assert f"{name}: left out, its images are built from source only" in result.stderr
    built_manifest = json.loads((bundle_dir / "manifest.json").read_text())
    source_only = {rel for rel, entry in built_manifest["files"].items() if entry["component"] in left_out}
    assert source_only == {"images/metallb-controller.tar", "images/metallb-speaker.tar",
                           "manifests/metallb-native.yaml", "images/monitoring-prometheus.tar",
                           "images/monitoring-node-exporter.tar", "images/monitoring-kube-state-metrics.tar",
                           "images/monitoring-alertmanager.tar"}
    built = parse_sums((bundle_dir / SUMS_FILE).read_text())
    downloaded = parse_sums((tmp_path / "bundle" / SUMS_FILE).read_text())
    built.pop("manifest.json")
    downloaded.pop("manifest.json")
    assert downloaded == {rel: digest for rel, digest in built.items() if rel not in source_only}
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["source"] == "download"
    assert not set(left_out) & set(manifest["components"])
    assert manifest["images"] == [i for i in built_manifest["images"] if i["used_by"] == "kubeadm"]


@pytest.mark.parametrize("file", ["kubeadm", "previous/kubeadm"])
def test_download_source_refuses_a_tampered_file(release, tmp_path, file):
    www, published = release
    kubeadm = published[file]
    original = kubeadm.read_bytes()
    kubeadm.write_bytes(original[:-1] + bytes([original[-1] ^ 0xFF]))
    try:
        with serve_https(www, tmp_path / "certs") as (mirror, ca_file):
            result = _build(mirror, ca_file, tmp_path / "bundle")
    finally:
        kubeadm.write_bytes(original)
    assert result.returncode == 1
    assert "checksum mismatch for" in result.stderr and f"/{kubeadm.relative_to(www)}" in result.stderr, \
        result.stderr[-2000:]
    assert not (tmp_path / "bundle").exists()
