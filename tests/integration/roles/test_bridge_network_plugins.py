"""bridge_network's check of the CNI plugins, run by real Ansible on this machine (connection local)
against a plugin directory of its own: all four present passes, and the missing ones are named,
a directory with a plugin's name not counting as the plugin. (On real nodes the check runs in every
converge of the kubeadm scenario.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def check(tmp_path: Path, present: tuple[str, ...], directories: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    cni_bin = tmp_path / "cni-bin"
    cni_bin.mkdir()
    for name in present:
        (cni_bin / name).write_bytes(b"\x7fELF")
        (cni_bin / name).chmod(0o755)
    for name in directories:
        (cni_bin / name).mkdir()
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "Check the CNI plugins", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Run the role's checks", "ansible.builtin.include_role": {
            "name": "bridge_network", "tasks_from": "validate"},
            "vars": {"bridge_network_cni_bin_dir": str(cni_bin)}}],
    }]))
    (tmp_path / "inventory").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FACT_CACHING="memory", ANSIBLE_STDOUT_CALLBACK="default")
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "inventory"), str(playbook)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)


def test_every_plugin_present_passes(tmp_path):
    done = check(tmp_path, PLUGINS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("missing", [("portmap",), ("bridge", "loopback")])
def test_missing_plugins_are_named(tmp_path, missing):
    done = check(tmp_path, tuple(p for p in PLUGINS if p not in missing))
    assert done.returncode != 0
    assert f"bridge_network: {', '.join(missing)} not found in {tmp_path / 'cni-bin'}" in done.stdout


def test_a_directory_is_not_a_plugin(tmp_path):
    done = check(tmp_path, tuple(p for p in PLUGINS if p != "host-local"), directories=("host-local",))
    assert done.returncode != 0
    assert "bridge_network: host-local not found in" in done.stdout
