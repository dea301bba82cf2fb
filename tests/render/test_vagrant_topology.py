"""The Vagrantfile gives Vagrant the lab the inventory plugin describes, field by field.

The Vagrantfile reads nothing of inventory/topology.yml itself: it runs the plugin as a program
(`python plugins/inventory/lab_topology.py FILE`) and copies what that prints. Here every setting the
Vagrantfile gives a machine, recorded by tests/render/vagrant_provision.rb without any VM, is
compared with the plugin's describe() for the same file, on a topology whose every value differs
from the defaults; the plugin's program is held to ansible-inventory, so Vagrant and Ansible see one
lab. Then how the Vagrantfile finds a Python for the program, and what it says when there is none.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("vagrant_provision.rb")
# The collection k8s_lab.lab as Ansible imports it (collections/ holds the committed symlink).
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import describe

# Every value away from the plugin's defaults, so that no default on either side hides a difference.
TOPOLOGY = {
    "plugin": "k8s_lab.lab.lab_topology",
    "workers": 2,
    "kubernetes_version": "1.37",
    "provider": "libvirt",
    "box": "generic/debian12",
    "box_version": ">= 4.3.12",
    "vm_group": "/lab-under-test",
    "master_cpus": 3,
    "master_memory": 4096,
    "worker_cpus": 2,
    "worker_memory": 2048,
    "subnet": "192.168.56.0/24",
    "pod_cidr": "172.20.0.0/16",
    "service_cidr": "10.112.0.0/12",
    "master_ssh_port": 2210,
    "worker_ssh_port_base": 2300,
}
# What else decides the provider or where the Vagrantfile looks for Python: none of it from here.
OUTSIDE = ("LAB_PROVIDER", "LAB_PROJECT_DIR", "VAGRANT_DEFAULT_PROVIDER", "LAB_PYTHON", "VAGRANT_OLD_ENV_PATH")


def lab(tmp_path: Path, **settings) -> Path:
    """A project directory: this Vagrantfile, this collection's plugins and a topology of its own."""
    (tmp_path / "inventory").mkdir(parents=True)
    (tmp_path / "inventory" / "topology.yml").write_text(yaml.safe_dump({**TOPOLOGY, **settings}))
    shutil.copy(REPO / "Vagrantfile", tmp_path / "Vagrantfile")
    (tmp_path / "plugins").symlink_to(REPO / "plugins")
    return tmp_path


def environment(**env) -> dict:
    return {**{k: v for k, v in os.environ.items() if k not in OUTSIDE}, **env}


def load(project: Path, windows: bool = False, **env) -> subprocess.CompletedProcess:
    """The Vagrantfile of project loaded by the harness (Vagrant's own classes, no VM)."""
    ruby = shutil.which("ruby")
    assert ruby, "ruby is missing: install the vagrant package (make setup-test)"
    env = {"LAB_PYTHON": sys.executable, **env}
    return subprocess.run([ruby, str(HARNESS), str(project / "Vagrantfile")], cwd=project, capture_output=True,
                          text=True, timeout=120, check=False,
                          env=environment(VAGRANT_PROBE_WINDOWS="1" if windows else "0", **env))


def recorded(project: Path, **env) -> dict:
    result = load(project, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def fields(config: dict, prefix: str = "") -> dict:
    """Every setting of a recorded Vagrant config, one key each: vm.hostname, vm.network
    forwarded_port, vm.provider virtualbox.cpus, ..."""
    found = {}

    def add(key, value):
        assert key not in found, f"{key} is set twice"
        found[key] = value

    for name, value in config["attrs"].items():
        add(prefix + name, value)
    for call in config["calls"]:
        args = list(call["args"])
        key = prefix + call["method"] + (f" {args.pop(0)}" if args and isinstance(args[0], str) else "")
        if "block" in call:
            assert not args and not call["kwargs"], call
            for name, value in fields(call["block"], f"{key}.").items():
                add(name, value)
        else:
            add(key, {**({"args": args} if args else {}), **call["kwargs"]})
    for child, sub in config["children"].items():
        for name, value in fields(sub, f"{prefix}{child}.").items():
            add(name, value)
    return found


def machine_fields(node: dict, vagrant: dict) -> dict:
    """What the Vagrantfile must give the machine of one node of describe()."""
    return {
        "vm.hostname": node["name"],
        "vm.network private_network": {"ip": node["ip"]},
        # Bound to loopback; Ansible reaches the VM there (the plugin's ansible_port).
        "vm.network forwarded_port": {"id": "ssh", "guest": 22, "host": node["ssh_port"], "host_ip": "127.0.0.1",
                                      "auto_correct": False},
        "vm.provider virtualbox.name": node["name"],
        "vm.provider virtualbox.cpus": node["cpus"],
        "vm.provider virtualbox.memory": node["memory"],
        "vm.provider virtualbox.customize": {"args": [["modifyvm", "id", "--groups", vagrant["vm_group"]]]},
        "vm.provider libvirt.cpus": node["cpus"],
        "vm.provider libvirt.memory": node["memory"],
    }


def common_fields(vagrant: dict) -> dict:
    """What the Vagrantfile gives every machine."""
    return {
        "vm.box": vagrant["box"],
        **({"vm.box_version": vagrant["box_version"]} if vagrant["box_version"] else {}),
        "vm.synced_folder .": {"args": ["/vagrant"], "disabled": True},
    }


@pytest.mark.parametrize("which", ["this lab", "every value changed"])
def test_every_setting_of_every_machine_is_the_plugins(tmp_path, which):
    project = REPO if which == "this lab" else lab(tmp_path)
    # The project's own record of `make lab` plays no part: only the file's values are compared.
    expected = describe(str(project / "inventory" / "topology.yml"), environ={"LAB_PROJECT_DIR": str(tmp_path)})
    vagrant = recorded(project)

    assert [vm["name"] for vm in vagrant["vms"]] == [node["name"] for node in expected["nodes"]]
    assert fields(vagrant["config"]) == common_fields(expected["vagrant"])
    for vm, node in zip(vagrant["vms"], expected["nodes"], strict=True):
        assert fields(vm["config"]) == machine_fields(node, expected["vagrant"]), vm["name"]


def test_the_custom_lab_is_what_its_file_says(tmp_path):
    """The values compared above are the file's, not defaults that happen to agree."""
    described = describe(str(lab(tmp_path) / "inventory" / "topology.yml"), environ={})
    assert [(n["name"], n["ip"], n["ssh_port"], n["cpus"], n["memory"]) for n in described["nodes"]] == [
        ("m-k8s", "192.168.56.10", 2210, 3, 4096),
        ("w1-k8s", "192.168.56.101", 2301, 2, 2048),
        ("w2-k8s", "192.168.56.102", 2302, 2, 2048),
    ]
    assert described["vagrant"] == {"box": "generic/debian12", "box_version": ">= 4.3.12",
                                    "vm_group": "/lab-under-test"}


def plain(value):
    """ansible-core 2.19 marks values from plugins as unsafe in its JSON output."""
    return value.get("__ansible_unsafe") if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_ansible_reaches_the_machines_vagrant_makes(tmp_path):
    """The program the Vagrantfile runs and the inventory Ansible builds agree on every node: name,
    group, lab address and the forwarded SSH port Vagrant opens."""
    topology = lab(tmp_path) / "inventory" / "topology.yml"
    result = subprocess.run(["ansible-inventory", "-i", str(topology), "--list"], cwd=REPO, capture_output=True,
                            text=True, check=False, env=environment(LAB_CONNECTION="host"))
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    hostvars = inventory["_meta"]["hostvars"]
    groups = {"control_plane": inventory["control_plane"]["hosts"], "worker": inventory["workers"]["hosts"]}
    for node in describe(str(topology), environ={})["nodes"]:
        host = {key: plain(value) for key, value in hostvars[node["name"]].items()}
        assert node["name"] in groups[node["role"]]
        assert (host["lab_node_ip"], host["lab_node_role"]) == (node["ip"], node["role"])
        assert (host["ansible_host"], host["ansible_port"]) == ("127.0.0.1", node["ssh_port"])


def test_the_vagrantfile_reads_no_yaml():
    """The topology is the plugin's to read."""
    vagrantfile = (REPO / "Vagrantfile").read_text()
    assert not re.search(r"\bYAML\b|require \"yaml\"", vagrantfile)


def vagrant_status(project: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Vagrant itself loading the project's Vagrantfile (no VM is made)."""
    result = subprocess.run(["vagrant", "status", "--machine-readable"], capture_output=True, text=True,
                            cwd=project, check=False,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(project), "LAB_PYTHON": sys.executable})
    return result, sorted({line.split(",")[1] for line in result.stdout.splitlines() if ",state," in line})


def test_vagrant_defines_the_plugins_machines(tmp_path):
    status, machines = vagrant_status(lab(tmp_path, provider="virtualbox"))
    assert machines == ["m-k8s", "w1-k8s", "w2-k8s"], status.stdout + status.stderr


def test_vagrant_stops_on_a_bad_setting_naming_it(tmp_path):
    project = lab(tmp_path, workers=0)
    status, _ = vagrant_status(project)
    assert status.returncode != 0
    assert f"{project}/inventory/topology.yml: workers: must be between 1 and 154" in status.stdout + status.stderr


def test_vagrant_points_podman_at_make_lab(tmp_path):
    status, _ = vagrant_status(lab(tmp_path, provider="podman"))
    assert status.returncode != 0
    assert "provider: podman runs the nodes as containers" in status.stdout + status.stderr


def stand_in(directory: Path, name: str, body: str) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_text(f"#!/bin/sh\n{body}\n")
    (directory / name).chmod(0o755)


# A Python without PyYAML, as a fresh Windows or macOS python3 is.
WITHOUT_YAML = "echo \"ModuleNotFoundError: No module named 'yaml'\" >&2; exit 1"


def test_windows_asks_the_python_launcher_and_passes_over_a_python_without_pyyaml(tmp_path):
    project = lab(tmp_path / "lab")
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "py", f'echo "$@" >"{tmp_path}/py-args"; {WITHOUT_YAML}')
    stand_in(bin_dir, "python3", f'exec {sys.executable} "$@"')
    vagrant = recorded(project, windows=True, LAB_PYTHON="", PATH=str(bin_dir))
    assert [vm["name"] for vm in vagrant["vms"]] == ["m-k8s", "w1-k8s", "w2-k8s"]
    assert (tmp_path / "py-args").read_text().split()[0] == "-3"


def test_the_python_of_ansible_playbook_will_do(tmp_path):
    """Where Ansible runs on this host (the ansible provisioner needs it), its Python has PyYAML."""
    project = lab(tmp_path / "lab")
    bin_dir = tmp_path / "bin"
    stand_in(bin_dir, "python3", WITHOUT_YAML)
    (bin_dir / "ansible-playbook").write_text(f"#!{sys.executable}\n")
    (bin_dir / "ansible-playbook").chmod(0o755)
    vagrant = recorded(project, LAB_PYTHON="", PATH=str(bin_dir))
    assert [vm["name"] for vm in vagrant["vms"]] == ["m-k8s", "w1-k8s", "w2-k8s"]


@pytest.mark.parametrize("python", ["none", "without PyYAML"])
def test_without_a_python_for_the_plugin_vagrant_says_what_to_install(tmp_path, python):
    project = lab(tmp_path / "lab")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if python == "without PyYAML":
        stand_in(bin_dir, "python", WITHOUT_YAML)
    result = load(project, windows=True, LAB_PYTHON="", PATH=str(bin_dir))
    assert result.returncode != 0
    assert "It needs Python 3 with PyYAML (not Ansible)" in result.stderr
    assert "winget install Python.Python.3.12" in result.stderr and "LAB_PYTHON" in result.stderr
    if python == "none":
        assert "no Python was found" in result.stderr
    else:
        assert f"{bin_dir}/python: ModuleNotFoundError: No module named 'yaml'" in result.stderr
