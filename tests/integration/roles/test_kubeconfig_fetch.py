"""The admin kubeconfig on the controller is private from its first byte: kubeadm_master's
tasks/fetch.yml, run by real Ansible on localhost (the "control plane" is this machine)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from fixtures.role_tasks import run_role_tasks

FETCH = Path(__file__).resolve().parents[3] / "roles" / "kubeadm_master" / "tasks" / "fetch.yml"
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: not-a-secret}\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def fetch(tmp_path, local_path, umask=0o000):
    admin = tmp_path / "admin.conf"
    admin.write_text(KUBECONFIG)
    # umask 000: what fetch creates would be world-readable but for the directory.
    return run_role_tasks(tmp_path, "kubeadm_master", "fetch.yml", umask=umask,
                          __kubeadm_master_admin_conf=str(admin), kubeadm_master_kubeconfig_local_path=str(local_path))


def test_the_directory_is_private_before_the_file_arrives():
    tasks = yaml.safe_load(FETCH.read_text())
    modules = [next(key for key in task if key.startswith("ansible.builtin.")) for task in tasks]
    first_fetch = modules.index("ansible.builtin.fetch")
    directory = tasks[modules.index("ansible.builtin.file")]
    assert modules.index("ansible.builtin.file") < first_fetch
    assert directory["ansible.builtin.file"] == {
        "path": "{{ kubeadm_master_kubeconfig_local_path | dirname }}", "state": "directory", "mode": "0700"}
    assert directory["delegate_to"] == "localhost"


@pytest.mark.parametrize("cache_exists", [False, True])
def test_the_fetched_kubeconfig_and_its_directory_are_private(tmp_path, cache_exists):
    cache = tmp_path / "lab" / ".cache"
    if cache_exists:
        # As Ansible's own fact cache (.cache/facts) leaves it before any task runs.
        (cache / "facts").mkdir(parents=True)
        cache.chmod(0o755)
    local = cache / "kubeconfig"
    run = fetch(tmp_path, local)
    assert run.code == 0, run.output
    assert local.read_text() == KUBECONFIG
    assert mode(cache) == 0o700
    assert mode(local) == 0o600
