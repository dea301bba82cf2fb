"""The download source against a loopback HTTPS server that serves releases in the official layout:
files whose checksum matches what the project publishes are unpacked, anything else is refused, and
so is a mirror, or an answer, that is not https://."""

import hashlib
from pathlib import Path

import pytest
from bundler.download import DownloadError, download_component, fetch, mirrored
from bundler.gobuild import check_versions
from bundler.recipes import BY_NAME
from bundler.versions import load
from fixtures.release_server import serve, serve_https, tgz

import bundle

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = load(ROOT / "bundle" / "versions.yml")


@pytest.fixture
def server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    with serve_https(root, tmp_path / "certs") as (base, ca_file):
        # Python's default TLS context trusts what OpenSSL reads from SSL_CERT_FILE.
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        yield root, base


def _script(text: str) -> bytes:
    """A stand-in binary: a shell script that prints what the real one prints for its version."""
    return f"#!/bin/sh\necho '{text}'\n".encode()


def _publish(root: Path, url: str, data: bytes, sums_url: str, sums_text: str | None = None) -> None:
    for target, content in ((url, data), (sums_url, None)):
        path = root / mirrored(target, "https://x").removeprefix("https://x/")
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
    name = url.rsplit("/", 1)[-1]
    sums_path = root / mirrored(sums_url, "https://x").removeprefix("https://x/")
    if sums_text is None:
        sums_text = f"{hashlib.sha256(data).hexdigest()}  {name}\n"
    sums_path.write_text(sums_text)


def _url(key, version, name=""):
    return VERSIONS.download[key].format(version=version, bare=version.lstrip("v"), arch="amd64", name=name)


def test_mirrored_url_keeps_host_and_path():
    assert mirrored("https://dl.k8s.io/release/v1/bin/kubeadm", "https://127.0.0.1:8/") == (
        "https://127.0.0.1:8/dl.k8s.io/release/v1/bin/kubeadm"
    )
    assert mirrored("https://dl.k8s.io/a", None) == "https://dl.k8s.io/a"


@pytest.mark.parametrize("mirror", ["http://mirror.example/", "HTTP://mirror.example", "ftp://mirror.example",
                                    "mirror.example"])
def test_a_mirror_that_is_not_https_is_refused(mirror):
    with pytest.raises(DownloadError, match=r"only https:// mirrors are accepted"):
        mirrored("https://dl.k8s.io/a", mirror)


def test_bundle_build_refuses_an_http_mirror_before_it_builds_anything(capsys):
    with pytest.raises(SystemExit) as stopped:
        bundle.main(["--cache", "/nonexistent", "build", "--source", "download", "--mirror", "http://127.0.0.1:9/"])
    assert stopped.value.code == 2
    assert "only https:// mirrors are accepted" in capsys.readouterr().err


def test_a_plain_http_server_is_not_fetched_from(tmp_path):
    with serve(tmp_path) as base, pytest.raises(DownloadError, match=r"over https:// only"):
        fetch(f"{base}/anything")


def test_an_answer_redirected_off_https_is_refused(tmp_path, monkeypatch):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "kubeadm").write_bytes(b"from plain http")
    with serve(tmp_path / "plain") as plain, serve_https(
        tmp_path / "plain", tmp_path / "certs", redirects={"/kubeadm": f"{plain}/kubeadm"}
    ) as (base, ca_file):
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        with pytest.raises(DownloadError, match=r"redirected to http://127\.0\.0\.1:\d+/kubeadm, not https://"):
            fetch(f"{base}/kubeadm")


def test_a_server_whose_certificate_is_not_trusted_is_refused(server, monkeypatch):
    root, base = server
    (root / "file").write_bytes(b"data")
    assert fetch(f"{base}/file") == b"data"
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(DownloadError, match=r"CERTIFICATE_VERIFY_FAILED"):
        fetch(f"{base}/file")


def test_an_archive_release_is_verified_and_unpacked(server, tmp_path):
    root, base = server
    version = VERSIONS.pins["cri_tools"]
    archive = tgz({"crictl": _script(f"crictl version {version}")})
    _publish(root, _url("cri_tools", version), archive, _url("cri_tools_sha256", version),
             sums_text=hashlib.sha256(archive).hexdigest() + "\n")
    out = tmp_path / "out"
    out.mkdir()
    download_component("cri_tools", version, "amd64", VERSIONS.download, base, out)
    assert (out / "crictl").read_bytes() == _script(f"crictl version {version}")
    check_versions(BY_NAME["cri_tools"], version, out)


def test_per_binary_release_with_bare_digests(server, tmp_path):
    root, base = server
    version = VERSIONS.kubernetes
    for binary, check in BY_NAME["kubernetes"].checks.items():
        data = _script(check.expect(version))
        _publish(root, _url("kubernetes", version, binary), data, _url("kubernetes_sha256", version, binary),
                 sums_text=hashlib.sha256(data).hexdigest())
    out = tmp_path / "out"
    out.mkdir()
    download_component("kubernetes", version, "amd64", VERSIONS.download, base, out)
    check_versions(BY_NAME["kubernetes"], version, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(BY_NAME["kubernetes"].checks)


def test_a_single_file_release_is_renamed(server, tmp_path):
    root, base = server
    version = VERSIONS.pins["runc"]
    data = _script(f"runc version {version[1:]}")
    sums = f"{hashlib.sha256(b'other').hexdigest()}  runc.arm64\n{hashlib.sha256(data).hexdigest()}  runc.amd64\n"
    _publish(root, _url("runc", version), data, _url("runc_sha256", version), sums_text=sums)
    out = tmp_path / "out"
    out.mkdir()
    download_component("runc", version, "amd64", VERSIONS.download, base, out)
    assert (out / "runc").read_bytes() == data


def test_a_tampered_file_is_refused_and_nothing_written(server, tmp_path):
    root, base = server
    version = VERSIONS.pins["containerd"]
    genuine = tgz({"bin/containerd": _script("genuine")})
    _publish(root, _url("containerd", version), genuine, _url("containerd_sha256", version))
    tampered = tgz({"bin/containerd": _script("tampered")})
    (root / mirrored(_url("containerd", version), "https://x").removeprefix("https://x/")).write_bytes(tampered)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError, match=r"checksum mismatch for .*containerd-.*linux-amd64\.tar\.gz"):
        download_component("containerd", version, "amd64", VERSIONS.download, base, out)
    assert list(out.iterdir()) == []


def test_a_release_without_a_checksum_file_is_refused(server, tmp_path):
    _, base = server
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError, match=r"cannot fetch .*\.sha256"):
        download_component("cni_plugins", VERSIONS.pins["cni_plugins"], "amd64", VERSIONS.download, base, out)


def test_an_archive_lacking_a_binary_is_refused(server, tmp_path):
    root, base = server
    version = VERSIONS.pins["containerd"]
    archive = tgz({"bin/containerd": _script("only containerd")})
    _publish(root, _url("containerd", version), archive, _url("containerd_sha256", version))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DownloadError, match="lacks containerd-shim-runc-v2, ctr"):
        download_component("containerd", version, "amd64", VERSIONS.download, base, out)


def test_a_binary_reporting_another_version_is_refused(tmp_path):
    (tmp_path / "crictl").write_bytes(_script("crictl version v1.36.0"))
    (tmp_path / "crictl").chmod(0o755)
    with pytest.raises(Exception, match=r"does not report 'crictl version v1\.37\.0'"):
        check_versions(BY_NAME["cri_tools"], "v1.37.0", tmp_path)
