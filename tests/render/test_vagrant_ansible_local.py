"""The Windows host's path (Vagrantfile, ansible_local on the last VM), checked without Vagrant VMs.

tests/render/vagrant_provision.rb loads the Vagrantfile as on a Windows host and runs the installed
Vagrant's own ansible_local provisioner against a stand-in Rocky VM, recording what it would do.
From that: the VM builds a venv of Rocky's python3.12 (its /usr/bin/python3 is 3.9; ansible-core
2.19 needs 3.11, kubernetes 37 needs 3.10) before Ansible runs, Vagrant installs no Ansible of its
own, and the playbook command Vagrant builds, run here with the same inventory arguments, gives the
nodes the system Python and leaves localhost (the Kubernetes API tasks) on the venv's."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("vagrant_provision.rb")
PROBE = Path(__file__).with_name("interpreter_probe.yml")
# The collection k8s_lab.lab as Ansible imports it (collections/ holds the committed symlink).
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import read_topology

NODES = [node.name for node in read_topology(str(REPO / "inventory" / "topology.yml")).nodes]
SYSTEM_PYTHON = "/usr/bin/python3"


@functools.cache
def provisioners() -> list[dict]:
    """The provisioners of the VM that provisions the lab, as Vagrant on a Windows host sees them."""
    ruby = shutil.which("ruby")
    # Debian's vagrant package (`make setup-test`) brings ruby and installs Vagrant as its gem.
    assert ruby, "ruby is missing: install the vagrant package (make setup-test)"
    # The Python that runs the inventory plugin for the Vagrantfile: this one.
    env = dict(os.environ, VAGRANT_PROBE_WINDOWS="1", LAB_PYTHON=sys.executable)
    result = subprocess.run([ruby, str(HARNESS), str(REPO / "Vagrantfile")], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    vms = json.loads(result.stdout)["vms"]
    assert [vm["name"] for vm in vms] == NODES
    assert all(not vm["provisioners"] for vm in vms[:-1]), "only the last VM provisions"
    return vms[-1]["provisioners"]


def ansible_local() -> dict:
    found = [p for p in provisioners() if p["type"] == "ansible_local"]
    assert len(found) == 1, provisioners()
    return found[0]


def venv_script() -> str:
    shells = [p for p in provisioners() if p["type"] == "shell"]
    assert shells, "no shell provisioner builds a venv for Ansible"
    assert provisioners().index(shells[0]) < provisioners().index(ansible_local()), "the venv comes first"
    return shells[0]["options"]["inline"]


def playbook_command() -> list[str]:
    """The ansible-playbook command line Vagrant runs on the guest, from `cd /vagrant && `."""
    commands = [c for c in ansible_local()["run"]["commands"] if c.startswith("cd ")]
    assert len(commands) == 1, ansible_local()["run"]
    cd, command = commands[0].split(" && ", 1)
    assert cd == "cd /vagrant"
    return shlex.split(command)


def split_env(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    env = {}
    while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
        key, value = argv.pop(0).split("=", 1)
        env[key] = value
    return env, argv


def test_vagrant_installs_no_ansible_of_its_own():
    run = ansible_local()["run"]
    assert run["error"] is None
    # Vagrant's installer pip-installs into the system Python (3.9 on Rocky 9).
    assert [c for c in run["capabilities"] if c[0] == "ansible_install"] == []
    assert ansible_local()["options"]["install"] is False
    # No "compatibility mode not detected" fallback: the venv is not on the PATH Vagrant looks at.
    assert run["warnings"] == []


def test_ansible_playbook_comes_from_the_venv():
    venv = re.search(r"^venv=(\S+)$", venv_script(), re.MULTILINE).group(1)
    _, argv = split_env(playbook_command())
    assert argv[0] == f"{venv}/bin/ansible-playbook"
    assert argv[-1] == "site.yml"
    assert "--limit=all" in argv


def test_the_interpreter_is_no_extra_var():
    _, argv = split_env(playbook_command())
    extra = [a for a in argv if a.startswith(("--extra-vars", "-e"))]
    assert not any("ansible_python_interpreter" in a for a in extra), extra


def run_script(script: str, sandbox: Path, log: Path) -> list[str]:
    subprocess.run(["bash", "-c", script], env={"PATH": f"{sandbox / 'bin'}:/usr/bin:/bin", "SANDBOX": str(sandbox),
                                                   "LOG": str(log)},
                   check=True, capture_output=True, text=True, timeout=60)
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


STUBS = {
    # Rocky's package tools: what is installed is a marker file in the sandbox.
    "rpm": 'echo "rpm $*" >>"$LOG"; [ -e "$SANDBOX/installed" ]',
    "dnf": 'echo "dnf $*" >>"$LOG"; touch "$SANDBOX/installed"',
    # python3.12: the version check runs on this Python; `-m venv DIR` makes a venv of stubs.
    "python3.12": f"""echo "python3.12 $*" >>"$LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\necho "pip $*" >>"$LOG"\\n' >"$3/bin/pip"
  printf '#!/bin/sh\\n' >"$3/bin/python"
  chmod +x "$3/bin/pip" "$3/bin/python"
else
  exec {sys.executable} "$@"
fi""",
}


def test_the_venv_script_installs_python312_then_ansible_and_reruns_as_a_no_op(tmp_path):
    script = venv_script()
    subprocess.run(["bash", "-n", "-c", script], check=True)
    venv = re.search(r"^venv=(\S+)$", script, re.MULTILINE).group(1)
    # The same script with its absolute paths moved into a sandbox with stand-in commands.
    collections, _ = collections_link()
    script = (script.replace(venv, str(tmp_path / "venv")).replace(collections, str(tmp_path / "collections"))
              .replace("/vagrant", f"{tmp_path}/vagrant"))
    (tmp_path / "bin").mkdir()
    for name, body in STUBS.items():
        (tmp_path / "bin" / name).write_text(f"#!/bin/bash\n{body}\n")
        (tmp_path / "bin" / name).chmod(0o755)
    (tmp_path / "vagrant").mkdir()
    shutil.copy(REPO / "requirements.txt", tmp_path / "vagrant" / "requirements.txt")
    log = tmp_path / "log"

    first = run_script(script, tmp_path, log)
    assert "dnf -y -q install python3.12 python3.12-pip" in first
    assert f"python3.12 -m venv {tmp_path}/venv" in first
    pip = [line for line in first if line.startswith("pip ")]
    assert pip == [f"pip install --quiet --disable-pip-version-check -r {tmp_path}/vagrant/requirements.txt"]
    assert first.index("dnf -y -q install python3.12 python3.12-pip") < first.index(pip[0])

    link = tmp_path / "collections" / "ansible_collections" / "k8s_lab" / "lab"
    assert link.is_symlink() and link.resolve() == (tmp_path / "vagrant").resolve()

    again = run_script(script, tmp_path, log)
    assert not [line for line in again if line.startswith(("dnf", "pip")) or " -m venv " in line], again

    (tmp_path / "vagrant" / "requirements.txt").write_text("ansible==99.0.0\n")
    changed = run_script(script, tmp_path, log)
    assert [line for line in changed if line.startswith("pip ")] == pip


def collections_link() -> tuple[str, str]:
    """(the collections path, where its k8s_lab/lab points) as the venv script makes them on the VM."""
    found = re.search(r"^ln -sfn (\S+) (\S+)/ansible_collections/k8s_lab/lab$", venv_script(), re.MULTILINE)
    assert found, "the venv script links no collection k8s_lab.lab"
    return found[2], found[1]


def test_ansible_finds_the_collection_through_the_vms_own_link():
    """Git for Windows checks the repository's collection symlink out as a plain file: the VM links
    /vagrant itself, and ansible-playbook is told to look there."""
    path, target = collections_link()
    assert target == "/vagrant"
    env, _ = split_env(playbook_command())
    assert env["ANSIBLE_COLLECTIONS_PATH"] == path


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """The command Vagrant builds, run here with the probe in place of site.yml, this checkout's
    ansible-playbook in place of the venv's and the VM's collection link made here to this checkout:
    which Python each node and localhost get."""
    env, argv = split_env(playbook_command())
    collections = tmp_path_factory.mktemp("collections")
    (collections / "ansible_collections" / "k8s_lab").mkdir(parents=True)
    (collections / "ansible_collections" / "k8s_lab" / "lab").symlink_to(REPO)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    ansible_playbook = Path(sys.executable).with_name("ansible-playbook")
    argv = [str(ansible_playbook), *argv[1:-1], str(PROBE)]
    run_env = {**os.environ, **env, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
               # The probe's facts must not reach the lab's fact cache in .cache/facts.
               "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.memory"}
    result = subprocess.run(argv, cwd=REPO, env=run_env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    tasks = json.loads(result.stdout[result.stdout.index("{"):])["plays"][0]["tasks"]
    by_name = {task["task"]["name"]: task["hosts"] for task in tasks}
    return {
        "nodes": {host: r["msg"] for host, r in by_name["Report the interpreter set for the node"].items()},
        "playbook_python": next(iter(by_name["Report the Python that runs ansible-playbook"].values()))["msg"],
        "localhost": next(iter(by_name["Run a module on localhost as the Kubernetes API tasks do"].values()))
        ["ansible_facts"]["ansible_python"]["executable"],
    }


def test_the_nodes_run_modules_on_the_system_python(probe):
    assert probe["nodes"] == dict.fromkeys(NODES, SYSTEM_PYTHON)


def test_localhost_keeps_the_python_of_ansible_playbook(probe):
    """The Kubernetes API tasks are delegated to localhost and need the kubernetes client, which
    only the venv has."""
    assert probe["localhost"] == probe["playbook_python"]
    assert probe["localhost"] != SYSTEM_PYTHON
