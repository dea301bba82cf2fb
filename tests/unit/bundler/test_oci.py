"""OCI archives written without a container engine: names, contents, reproducibility."""

import io
import json
import tarfile

from bundler.oci import CONTAINERD_NAME, Entry, Image, extract_file, manifest_digest, read_archive, write_archive


def _image(tmp_path, content=b"\x7fELF scheduler", **extra):
    binary = tmp_path / "kube-scheduler"
    binary.write_bytes(content)
    return Image(
        name="registry.k8s.io/kube-scheduler:v1.37.2",
        entries=[Entry("usr/local/bin/kube-scheduler", 0o755, source=binary), Entry("tmp", 0o1777, directory=True)],
        entrypoint=["/usr/local/bin/kube-scheduler"],
        epoch=1_700_000_000,
        created="2023-11-14T22:13:20Z",
        **extra,
    )


def test_archive_names_the_image_for_containerd(tmp_path):
    dest = tmp_path / "out" / "kube-scheduler.tar"
    digest = write_archive(_image(tmp_path), dest)
    with tarfile.open(dest) as tar:
        index = json.load(tar.extractfile("index.json"))
        assert json.load(tar.extractfile("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
    desc = index["manifests"][0]
    assert desc["annotations"][CONTAINERD_NAME] == "registry.k8s.io/kube-scheduler:v1.37.2"
    assert desc["platform"] == {"architecture": "amd64", "os": "linux"}
    assert desc["digest"] == digest == manifest_digest(dest)


def test_archive_holds_the_files_and_config(tmp_path):
    dest = tmp_path / "kube-scheduler.tar"
    write_archive(_image(tmp_path), dest)
    content = read_archive(dest)
    assert content["files"] == ["tmp", "usr", "usr/local", "usr/local/bin", "usr/local/bin/kube-scheduler"]
    assert content["config"]["config"]["Entrypoint"] == ["/usr/local/bin/kube-scheduler"]
    assert content["config"]["config"]["Env"][0].startswith("PATH=")
    assert extract_file(dest, "/usr/local/bin/kube-scheduler") == b"\x7fELF scheduler"


def test_layer_metadata_is_normalised(tmp_path):
    dest = tmp_path / "kube-scheduler.tar"
    write_archive(_image(tmp_path), dest)
    with tarfile.open(dest) as tar:
        for member in tar.getmembers():
            assert member.mtime == 1_700_000_000, member.name


def test_same_inputs_give_identical_bytes(tmp_path):
    first, second = tmp_path / "a.tar", tmp_path / "b.tar"
    write_archive(_image(tmp_path), first)
    write_archive(_image(tmp_path), second)
    assert first.read_bytes() == second.read_bytes()


def test_a_different_binary_changes_the_digest(tmp_path):
    first = write_archive(_image(tmp_path), tmp_path / "a.tar")
    assert write_archive(_image(tmp_path, b"\x7fELF other scheduler"), tmp_path / "b.tar") != first


def test_base_layer_lies_below_the_entries(tmp_path):
    base = tmp_path / "base.tar"
    with tarfile.open(base, "w") as tar:
        info = tarfile.TarInfo("usr/sbin/iptables")
        data = b"iptables"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "kube-proxy.tar"
    write_archive(_image(tmp_path, base_layer=base), dest)
    content = read_archive(dest)
    assert content["files"][0] == "usr/sbin/iptables"
    assert len(content["config"]["rootfs"]["diff_ids"]) == 2
