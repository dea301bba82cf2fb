"""bridge_network's check of the CNI plugins, run by real Ansible on this machine (connection local)
against a plugin directory of its own: all four present passes, and the missing ones are named,
a directory with a plugin's name not counting as the plugin. (On real nodes the check runs in every
converge of the kubeadm scenario.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.role_tasks import Run, run_role_tasks

PLUGINS = ("bridge", "host-local", "portmap", "loopback")
REPORT = "Report missing CNI plugins"


def check(tmp_path: Path, present: tuple[str, ...], directories: tuple[str, ...] = ()) -> Run:
    cni_bin = tmp_path / "cni-bin"
    cni_bin.mkdir()
    for name in present:
        (cni_bin / name).write_bytes(b"\x7fELF")
        (cni_bin / name).chmod(0o755)
    for name in directories:
        (cni_bin / name).mkdir()
    return run_role_tasks(tmp_path, "bridge_network", "validate", bridge_network_cni_bin_dir=str(cni_bin))


def test_every_plugin_present_passes(tmp_path):
    done = check(tmp_path, PLUGINS)
    assert done.code == 0 and not done.failed, done.output[-3000:]


@pytest.mark.parametrize("missing", [("portmap",), ("bridge", "loopback")])
def test_missing_plugins_are_named(tmp_path, missing):
    done = check(tmp_path, tuple(p for p in PLUGINS if p not in missing))
    assert done.code != 0
    assert done.failed[REPORT].startswith(f"bridge_network: {', '.join(missing)} not found in {tmp_path / 'cni-bin'};")


def test_a_directory_is_not_a_plugin(tmp_path):
    done = check(tmp_path, tuple(p for p in PLUGINS if p != "host-local"), directories=("host-local",))
    assert done.code != 0
    assert done.failed[REPORT].startswith("bridge_network: host-local not found in")
