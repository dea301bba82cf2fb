"""Secrets the roles keep on the controller: in the lab's own .cache/, in directories no one else
can enter. The password tasks of the jenkins and monitoring roles are run by real Ansible on
localhost; the lab's wiring is read through Ansible with the lab's inventory."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.role_tasks import run_role_tasks

ROOT = Path(__file__).resolve().parents[3]
PASSWORD_FILES = {"jenkins": "jenkins_admin_password_file", "monitoring": "monitoring_grafana_admin_password_file"}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def lab_value(variable: str) -> str:
    """variable as the lab's inventory and group_vars give it to the first control-plane node."""
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_PROVIDER", "LAB_PROJECT_DIR")}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_FACT_CACHING="memory")
    ansible = str(Path(sys.executable).with_name("ansible"))
    done = subprocess.run([ansible, "-i", str(ROOT / "inventory"), "control_plane[0]", "-m", "ansible.builtin.debug",
                           "-a", f"var={variable}"], cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout[done.stdout.index("{"):])
    (result,) = report["plays"][0]["tasks"][0]["hosts"].values()
    return result[variable]


@pytest.mark.parametrize("variable", sorted(PASSWORD_FILES.values()))
def test_the_lab_keeps_its_passwords_in_its_own_cache(variable):
    """Not beside a playbook's parent (the repository's parent directory, for site.yml)."""
    path = Path(lab_value(variable))
    assert path.parent == ROOT / ".cache" / "secrets", path


@pytest.mark.parametrize("role", sorted(PASSWORD_FILES))
def test_a_new_secrets_directory_and_its_cache_are_private(tmp_path, role):
    lab = tmp_path / "lab"
    password = lab / ".cache" / "secrets" / "admin"
    # A permissive umask: what the role creates must not depend on it.
    run = run_role_tasks(tmp_path, role, "password.yml", umask=0o022, **{PASSWORD_FILES[role]: str(password)})
    assert run.code == 0, run.output
    assert mode(lab / ".cache") == 0o700
    assert mode(lab / ".cache" / "secrets") == 0o700
    assert mode(password) == 0o600
    assert len(password.read_text().strip()) >= 16


@pytest.mark.parametrize("role", sorted(PASSWORD_FILES))
def test_an_existing_secrets_directory_is_made_private(tmp_path, role):
    secrets = tmp_path / "lab" / ".cache" / "secrets"
    secrets.mkdir(parents=True)
    secrets.chmod(0o755)
    run = run_role_tasks(tmp_path, role, "password.yml", **{PASSWORD_FILES[role]: str(secrets / "admin")})
    assert run.code == 0, run.output
    assert mode(secrets) == 0o700


@pytest.mark.parametrize("role", sorted(PASSWORD_FILES))
def test_the_roles_default_is_beside_the_playbook(role):
    """Standalone, a role keeps its password in .cache/secrets/ of the playbook's directory, as the
    other roles keep their controller files, never in the directory above it."""
    import yaml

    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    assert defaults[PASSWORD_FILES[role]].startswith("{{ playbook_dir }}/.cache/secrets/")
