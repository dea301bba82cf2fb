"""The podman provider's bundle mount (scripts/lab-podman.py): which directory the nodes may see, how
it is mounted, and how a running node's stale mount is told apart. No podman here: the container
side is tests/integration/lab_podman/ and the kubeadm scenario."""

import argparse
import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("lab_podman", ROOT / "scripts" / "lab-podman.py")
lab_podman = importlib.util.module_from_spec(_spec)
# Its dataclasses look their module up by name while they are made.
sys.modules["lab_podman"] = lab_podman
_spec.loader.exec_module(lab_podman)

FILES = {"manifest.json": "{}", "bin/kubelet": "kubelet", "images/pause.tar": "pause"}


def make_bundle(path: Path, files=FILES) -> Path:
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    sums = "".join(f"{hashlib.sha256(text.encode()).hexdigest()}  {rel}\n" for rel, text in files.items())
    (path / "SHA256SUMS").write_text(sums)
    return path


def load_lab(project: Path, bundle: Path | None = None):
    (project / "inventory").mkdir(parents=True, exist_ok=True)
    topology = project / "inventory" / "topology.yml"
    topology.write_text(yaml.safe_dump({"plugin": "k8s_lab.lab.lab_topology", "provider": "podman", "workers": 1}))
    args = argparse.Namespace(topology=str(topology), prefix="", network="k8s-lab", nat_subnet="10.0.2.0/24",
                              timeout=10.0, bundle=str(bundle) if bundle else "")
    return lab_podman.load_lab(args)


def volumes(options: list[str]) -> list[str]:
    return [options[i + 1] for i, option in enumerate(options) if option == "--volume"]


def test_the_projects_bundle_is_mounted_read_only_where_the_roles_read_it(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_BUNDLE_DIR", raising=False)
    bundle = make_bundle(tmp_path / ".cache" / "bundle")
    lab = load_lab(tmp_path)
    options = lab_podman.create_options(lab, lab.topology.nodes[0], "image")
    assert f"{bundle}:/opt/k8s-lab/bundle:ro,nosuid,nodev,noexec" in volumes(options)


def test_without_a_bundle_the_nodes_get_no_mount(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB_BUNDLE_DIR", raising=False)
    lab = load_lab(tmp_path)
    assert lab.bundle is None
    assert not [v for v in volumes(lab_podman.create_options(lab, lab.topology.nodes[0], "image")) if "bundle" in v]


def test_the_mount_is_part_of_the_nodes_spec(tmp_path, monkeypatch):
    # A node made before the bundle existed (or from another bundle directory) is reported as
    # differing, as for any other option.
    monkeypatch.delenv("LAB_BUNDLE_DIR", raising=False)
    node = load_lab(tmp_path).topology.nodes[0]
    without = lab_podman.spec_hash(lab_podman.create_options(load_lab(tmp_path), node, "image"))
    make_bundle(tmp_path / ".cache" / "bundle")
    assert lab_podman.spec_hash(lab_podman.create_options(load_lab(tmp_path), node, "image")) != without


def test_lab_bundle_dir_is_the_one_mounted(tmp_path, monkeypatch):
    elsewhere = make_bundle(tmp_path / "elsewhere")
    make_bundle(tmp_path / "project" / ".cache" / "bundle")
    monkeypatch.setenv("LAB_BUNDLE_DIR", str(elsewhere))
    assert load_lab(tmp_path / "project").bundle == elsewhere.resolve()


def test_a_directory_with_more_than_the_bundle_is_refused_naming_what_else_it_holds(tmp_path):
    # A LAB_BUNDLE_DIR pointing at a directory that holds a bundle's files next to secrets.
    home = make_bundle(tmp_path / "home")
    (home / ".ssh").mkdir()
    (home / ".ssh" / "id_ed25519").write_text("private key")
    with pytest.raises(lab_podman.LabError, match=r"does not list \(\.ssh/id_ed25519\)"):
        lab_podman.mountable_bundle(home)


def test_the_projects_cache_is_no_bundle(tmp_path):
    cache = tmp_path / ".cache"
    make_bundle(cache / "bundle")
    (cache / "kubeconfig").write_text("admin credentials")
    with pytest.raises(lab_podman.LabError, match="is no offline bundle"):
        lab_podman.mountable_bundle(cache)


def test_a_bundle_without_its_sha256sums_is_refused(tmp_path):
    bundle = make_bundle(tmp_path / "bundle")
    (bundle / "SHA256SUMS").unlink()
    with pytest.raises(lab_podman.LabError, match=r"needs manifest\.json and SHA256SUMS"):
        lab_podman.mountable_bundle(bundle)


def test_a_bundle_is_found_through_a_symbolic_link_and_mounted_as_its_target(tmp_path):
    bundle = make_bundle(tmp_path / "real")
    (tmp_path / "link").symlink_to(bundle)
    assert lab_podman.mountable_bundle(tmp_path / "link") == bundle.resolve()


def test_a_mount_showing_the_bundle_is_fine_another_or_none_is_named():
    wanted = "a" * 64
    assert lab_podman.bundle_mount_problem(wanted, wanted) is None
    assert "has no SHA256SUMS at /opt/k8s-lab/bundle" in lab_podman.bundle_mount_problem(wanted, None)
    assert "sha256 bbbbbbbbbbbb, the bundle's has aaaaaaaaaaaa" in lab_podman.bundle_mount_problem(wanted, "b" * 64)
