"""verified_install: what it installs from a verified directory, what it leaves alone, and what it
refuses, on real files (as the current user, who stands for root)."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from ansible_collections.k8s_lab.lab.plugins.module_utils.verified_install import (
    InstallError,
    install,
    parse_mode,
    wanted_files,
)

UID, GID = os.getuid(), os.getgid()
FILES = {"bin/kubelet": b"kubelet v1", "cni/bin/bridge": b"bridge v1"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def lab(tmp_path):
    src = tmp_path / "bundle"
    for rel, data in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    return tmp_path


def wanted(lab, **modes):
    files = [{"src": "bin/kubelet", "dest": str(lab / "usr" / "bin" / "kubelet"), "mode": modes.get("kubelet", "0755")},
             {"src": "cni/bin/bridge", "dest": str(lab / "opt" / "cni" / "bin" / "bridge")}]
    return wanted_files(files, {rel: sha(data) for rel, data in FILES.items()})


def run(lab, items, check_mode=False):
    return install(items, str(lab / "bundle"), UID, GID, os.replace, check_mode=check_mode)


def test_a_fresh_node_gets_every_file_with_its_mode_and_missing_directories(lab):
    result = run(lab, wanted(lab))
    assert result["changed"] is True
    assert result["installed"] == [str(lab / "usr/bin/kubelet"), str(lab / "opt/cni/bin/bridge")]
    assert result["directories_created"] == [str(lab / "opt"), str(lab / "opt/cni"), str(lab / "opt/cni/bin")]
    assert (lab / "usr/bin/kubelet").read_bytes() == FILES["bin/kubelet"]
    assert stat.S_IMODE((lab / "opt/cni/bin/bridge").stat().st_mode) == 0o755
    assert stat.S_IMODE((lab / "opt/cni").stat().st_mode) == 0o755
    # Nothing left beside the destinations.
    assert sorted(os.listdir(lab / "usr/bin")) == ["kubelet"]


def test_a_second_run_changes_nothing(lab):
    run(lab, wanted(lab))
    before = (lab / "usr/bin/kubelet").stat()
    result = run(lab, wanted(lab))
    assert result == {"changed": False, "installed": [], "attributes_set": [], "directories_created": []}
    assert (lab / "usr/bin/kubelet").stat().st_ino == before.st_ino


def test_other_content_is_replaced_by_a_new_file(lab):
    run(lab, wanted(lab))
    (lab / "usr/bin/kubelet").write_bytes(b"an older kubelet")
    inode = (lab / "usr/bin/kubelet").stat().st_ino
    result = run(lab, wanted(lab))
    assert result["installed"] == [str(lab / "usr/bin/kubelet")]
    assert (lab / "usr/bin/kubelet").read_bytes() == FILES["bin/kubelet"]
    # Renamed over it: a running kubelet keeps its inode until it restarts.
    assert (lab / "usr/bin/kubelet").stat().st_ino != inode


def test_right_content_with_another_mode_only_gets_its_mode(lab):
    run(lab, wanted(lab))
    os.chmod(lab / "usr/bin/kubelet", 0o700)
    inode = (lab / "usr/bin/kubelet").stat().st_ino
    result = run(lab, wanted(lab))
    assert (result["installed"], result["attributes_set"]) == ([], [str(lab / "usr/bin/kubelet")])
    assert stat.S_IMODE((lab / "usr/bin/kubelet").stat().st_mode) == 0o755
    assert (lab / "usr/bin/kubelet").stat().st_ino == inode


def test_check_mode_reports_and_writes_nothing(lab):
    result = run(lab, wanted(lab), check_mode=True)
    assert result["changed"] is True
    assert result["installed"] == [str(lab / "usr/bin/kubelet"), str(lab / "opt/cni/bin/bridge")]
    assert not (lab / "usr/bin/kubelet").exists() and not (lab / "opt").exists()


def test_check_mode_reads_no_source(lab):
    # Copy mode in check mode: the node has no kept copies yet, only the decision is wanted.
    for rel in FILES:
        (lab / "bundle" / rel).unlink()
    assert run(lab, wanted(lab), check_mode=True)["changed"] is True


def test_a_source_changed_since_it_was_verified_is_not_installed(lab):
    run(lab, wanted(lab))
    (lab / "usr/bin/kubelet").write_bytes(b"an older kubelet")
    (lab / "bundle/bin/kubelet").write_bytes(b"swapped after the gate")
    expected = f"has sha256 {sha(b'swapped after the gate')}, not {sha(FILES['bin/kubelet'])} as verified"
    with pytest.raises(InstallError, match=expected):
        run(lab, wanted(lab))
    assert (lab / "usr/bin/kubelet").read_bytes() == b"an older kubelet"
    assert sorted(os.listdir(lab / "usr/bin")) == ["kubelet"]


def test_a_source_that_is_gone_is_named(lab):
    (lab / "bundle/bin/kubelet").unlink()
    with pytest.raises(InstallError, match=r"its source .*bin/kubelet is gone"):
        run(lab, wanted(lab))
    assert not (lab / "usr/bin/kubelet").exists()


def test_every_file_needs_a_verified_digest_and_an_absolute_destination(lab):
    with pytest.raises(InstallError, match="bin/kubectl: no verified sha256"):
        wanted_files([{"src": "bin/kubectl", "dest": "/usr/bin/kubectl"}], {})
    with pytest.raises(InstallError, match="is not an absolute path"):
        wanted_files([{"src": "bin/kubelet", "dest": "usr/bin/kubelet"}], {"bin/kubelet": sha(b"x")})


@pytest.mark.parametrize(("value", "mode"), [("0755", 0o755), ("644", 0o644), (0o700, 0o700), (493, 0o755)])
def test_modes_as_yaml_and_jinja_give_them(value, mode):
    assert parse_mode(value) == mode


@pytest.mark.parametrize("value", ["rwx", "0999", True, 0o17777, None])
def test_what_is_no_mode_is_refused(value):
    with pytest.raises(InstallError):
        parse_mode(value)
