"""The bundle_install role run by real Ansible on this machine (connection local) with a small bundle
of its own: check mode on a node that has nothing yet, the install, the rerun, and a tampered file
refused in check mode as in a real run; with SHA256SUMS pinned (bundle_install_sums_sha256), a file
changed together with its line in SHA256SUMS refused before anything is copied, which without the pin
goes through. The same with the bundle read where the node sees it (bundle_install_node_source:
mounted): a tampered or missing file refused on the node, and a node that sees another bundle.
(On real nodes: molecule/kubeadm/tests/test_bundle.py.)"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
FILES = {"bin/tool": b"#!/bin/sh\necho tool\n", "bin/other": b"#!/bin/sh\necho other\n"}


@pytest.fixture
def lab(tmp_path):
    bundle = tmp_path / "bundle"
    for path, data in FILES.items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_bytes(data)
    (bundle / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(d).hexdigest()}  {p}\n" for p, d in FILES.items()))
    (bundle / "manifest.json").write_text(json.dumps({"images": [], "files": {}}))
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "Install from the bundle", "hosts": "localhost", "gather_facts": False,
        "roles": [{"role": "bundle_install", "vars": {
            "bundle_install_dir": str(bundle),
            "bundle_install_node_dir": str(tmp_path / "node"),
            "bundle_install_files": [{"src": p, "dest": str(tmp_path / "installed" / Path(p).name)} for p in FILES],
        }}],
    }]))
    return tmp_path


def run(lab: Path, *args: str) -> tuple[int, dict, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FACT_CACHING="memory", ANSIBLE_STDOUT_CALLBACK="default")
    inventory = f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
    (lab / "inventory").write_text(inventory)
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(lab / "inventory"), str(lab / "play.yml"), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    found = re.search(r"^localhost\s+:\s+(ok=.*)$", done.stdout, re.MULTILINE)
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", found[1])} if found else {}
    return done.returncode, counts, done.stdout + done.stderr


def test_check_mode_on_a_fresh_node_reports_the_install_and_writes_nothing(lab):
    code, counts, output = run(lab, "--check")
    assert code == 0, output[-3000:]
    assert counts["changed"] > 0
    assert not (lab / "node").exists() or not any((lab / "node").rglob("tool"))
    assert not (lab / "installed").exists()


def test_install_then_rerun_and_check_mode_change_nothing(lab):
    code, counts, output = run(lab)
    assert code == 0, output[-3000:]
    assert counts["changed"] > 0
    for path, data in FILES.items():
        assert (lab / "installed" / Path(path).name).read_bytes() == data
    for args in ((), ("--check",)):
        code, counts, output = run(lab, *args)
        assert code == 0 and counts["changed"] == 0, output[-3000:]


def test_check_mode_refuses_a_tampered_bundle_file_naming_it(lab):
    (lab / "bundle" / "bin" / "other").write_bytes(b"#!/bin/sh\necho tampered\n")
    code, _, output = run(lab, "--check")
    assert code != 0
    assert "SHA256SUMS mismatch" in output, output[-3000:]
    # Only the tampered file: the intact one, not copied either, is not "got no file".
    assert "bin/other (expected" in output and "bin/tool (expected" not in output, output[-3000:]
    assert not (lab / "installed").exists()


def sums_digest(lab: Path) -> str:
    return hashlib.sha256((lab / "bundle" / "SHA256SUMS").read_bytes()).hexdigest()


def tamper_with_matching_line(lab: Path, path: str, data: bytes) -> None:
    """What SHA256SUMS alone cannot catch: the file changed and its line rewritten to match."""
    (lab / "bundle" / path).write_bytes(data)
    sums = lab / "bundle" / "SHA256SUMS"
    lines = [line for line in sums.read_text().splitlines() if not line.endswith(f"  {path}")]
    sums.write_text("\n".join([*lines, f"{hashlib.sha256(data).hexdigest()}  {path}"]) + "\n")


def test_a_pinned_bundle_installs(lab):
    code, counts, output = run(lab, "-e", f"bundle_install_sums_sha256={sums_digest(lab).upper()}")
    assert code == 0, output[-3000:]
    assert counts["changed"] > 0
    assert (lab / "installed" / "tool").read_bytes() == FILES["bin/tool"]


def test_a_file_changed_with_its_line_is_refused_when_pinned_before_anything_is_copied(lab):
    pin = sums_digest(lab)
    tamper_with_matching_line(lab, "bin/other", b"#!/bin/sh\necho tampered\n")
    for args in ((), ("--check",)):
        code, _, output = run(lab, "-e", f"bundle_install_sums_sha256={pin}", *args)
        assert code != 0
        text = " ".join(output.split())
        assert "is not the one pinned, nothing installed" in text, output[-3000:]
        assert f"its SHA256SUMS has sha256 {sums_digest(lab)}, bundle_install_sums_sha256 says {pin}" in text
        assert not (lab / "node").exists()
        assert not (lab / "installed").exists()


def test_without_a_pin_a_file_changed_with_its_line_goes_through(lab):
    """The limit the pin is there for: SHA256SUMS vouches for itself."""
    tamper_with_matching_line(lab, "bin/other", b"#!/bin/sh\necho tampered\n")
    code, _, output = run(lab)
    assert code == 0, output[-3000:]
    assert (lab / "installed" / "other").read_bytes() == b"#!/bin/sh\necho tampered\n"


def test_a_pin_that_is_not_a_sha256_is_refused(lab):
    code, _, output = run(lab, "-e", "bundle_install_sums_sha256=sha256:" + sums_digest(lab))
    assert code != 0
    assert "must be empty or 64 hexadecimal digits" in " ".join(output.split()), output[-3000:]
    assert not (lab / "node").exists()


def test_a_manifest_that_does_not_match_its_line_is_refused(lab):
    sums = lab / "bundle" / "SHA256SUMS"
    manifest = (lab / "bundle" / "manifest.json").read_bytes()
    sums.write_text(sums.read_text() + f"{hashlib.sha256(manifest).hexdigest()}  manifest.json\n")
    code, _, output = run(lab, "--check")
    assert code == 0, output[-3000:]
    (lab / "bundle" / "manifest.json").write_text(json.dumps({"images": [{"name": "evil"}], "files": {}}))
    code, _, output = run(lab, "--check")
    assert code != 0
    assert "match its line in SHA256SUMS" in " ".join(output.split()), output[-3000:]


# Mounted: the node sees the bundle itself (a podman node's read-only bind mount of the controller's
# bundle; here the same directory, or a copy standing for what a node's mount shows).


def mounted(path: Path) -> tuple[str, ...]:
    return ("-e", "bundle_install_node_source=mounted", "-e", f"bundle_install_mounted_dir={path}")


def test_mounted_installs_from_the_bundle_copies_nothing_and_reruns_unchanged(lab):
    code, counts, output = run(lab, *mounted(lab / "bundle"))
    assert code == 0, output[-3000:]
    assert counts["changed"] > 0
    for path, data in FILES.items():
        assert (lab / "installed" / Path(path).name).read_bytes() == data
    assert not (lab / "node").exists()
    for args in ((), ("--check",)):
        code, counts, output = run(lab, *mounted(lab / "bundle"), *args)
        assert code == 0 and counts["changed"] == 0, output[-3000:]


def test_mounted_refuses_a_tampered_file_on_the_node_before_anything_is_installed(lab):
    (lab / "bundle" / "bin" / "other").write_bytes(b"#!/bin/sh\necho tampered\n")
    for args in ((), ("--check",)):
        code, _, output = run(lab, *mounted(lab / "bundle"), *args)
        text = " ".join(output.split())
        assert code != 0
        assert "SHA256SUMS mismatch on localhost, nothing installed" in text, output[-3000:]
        digest = hashlib.sha256(b"#!/bin/sh\necho tampered\n").hexdigest()
        assert f"bin/other (expected {hashlib.sha256(FILES['bin/other']).hexdigest()}, got {digest})" in text, \
            output[-3000:]
        assert f"(the node reads it at {lab}/bundle)" in text
        assert "bin/tool (expected" not in text
        assert not (lab / "installed").exists()


def node_view(lab: Path) -> Path:
    """A copy of the bundle standing for what a node's mount shows."""
    view = lab / "view"
    shutil.copytree(lab / "bundle", view)
    return view


def test_mounted_refuses_a_file_missing_on_the_node(lab):
    view = node_view(lab)
    (view / "bin" / "other").unlink()
    code, _, output = run(lab, *mounted(view))
    text = " ".join(output.split())
    assert code != 0
    assert f"bin/other (expected {hashlib.sha256(FILES['bin/other']).hexdigest()}, got no file)" in text, \
        output[-3000:]
    assert "bin/tool (expected" not in text
    assert not (lab / "installed").exists()


def test_mounted_refuses_a_node_that_sees_another_bundle_before_the_gate(lab):
    view = node_view(lab)
    tamper_with_matching_line(lab, "bin/other", b"#!/bin/sh\necho rebuilt\n")
    code, _, output = run(lab, *mounted(view))
    text = " ".join(output.split())
    assert code != 0
    assert "localhost does not see the bundle at" in text, output[-3000:]
    assert f"its {view}/SHA256SUMS has sha256 {hashlib.sha256((view / 'SHA256SUMS').read_bytes()).hexdigest()}" \
        in text, output[-3000:]
    assert f"the SHA256SUMS on the controller has sha256 {sums_digest(lab)}" in text
    assert "SHA256SUMS mismatch" not in text
    assert not (lab / "installed").exists()


def test_mounted_without_a_mount_is_named(lab):
    code, _, output = run(lab, *mounted(lab / "nothing-mounted-here"))
    text = " ".join(output.split())
    assert code != 0
    assert f"its {lab}/nothing-mounted-here/SHA256SUMS is missing" in text, output[-3000:]
    assert not (lab / "installed").exists()


def test_mounted_needs_an_absolute_mount_path(lab):
    code, _, output = run(lab, "-e", "bundle_install_node_source=mounted", "-e", "bundle_install_mounted_dir=bundle")
    assert code != 0
    assert "must be absolute: got 'bundle'" in " ".join(output.split()), output[-3000:]
