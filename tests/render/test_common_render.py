"""The common role on EL, where no EL node can be had: what it installs, the NetworkManager
configuration it writes for Calico, and its refusal of a running firewalld, rendered by Ansible on
this machine (tests/render/common_render.yml) for stand-in EL and Debian hosts. How the
NetworkManager tasks are wired (where they run, what they notify) is read from the role's YAML."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "common"
PLAYBOOK = Path(__file__).with_name("common_render.yml")
NM_CONF_DIR = "/etc/NetworkManager/conf.d/"
# What Calico's documentation (Troubleshooting, "Configure NetworkManager") asks for, in its order.
CALICO_UNMANAGED = ("interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico;"
                    "interface-name:vxlan-v6.calico;interface-name:wireguard.cali;interface-name:wg-v6.cali")

CASES = {
    "el9": ("RedHat", {}),
    "debian12": ("Debian", {}),
    "el9-firewalld-running": ("RedHat", {"common_firewalld_disabled": False}),
    # EL only: the role never touches firewalld elsewhere, so it refuses nothing there either.
    "debian12-firewalld-running": ("Debian", {"common_firewalld_disabled": False}),
    "el9-devices-joined": ("RedHat", {"common_networkmanager_unmanaged_devices": [CALICO_UNMANAGED]}),
    "el9-devices-string": ("RedHat", {"common_networkmanager_unmanaged_devices": "interface-name:cali*"}),
}
REFUSED = {
    "el9-firewalld-running": "common_firewalld_disabled is false",
    "el9-devices-joined": "common_networkmanager_unmanaged_devices",
    "el9-devices-string": "common_networkmanager_unmanaged_devices",
}


def tool(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else shutil.which(name) or name


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """host -> message of its failed task ("" when it passed), and the directory of the output."""
    out = tmp_path_factory.mktemp("common-render")
    hosts = {name: {"ansible_connection": "local", "render_os_family": family, **values}
             for name, (family, values) in CASES.items()}
    inventory = out / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_CACHE_PLUGIN="ansible.builtin.memory", ANSIBLE_NOCOLOR="1")
    result = subprocess.run([tool("ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
                             "-e", f"common_render_dir={out}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    report = json.loads(result.stdout[result.stdout.index("{"):])
    failed = dict.fromkeys(CASES, "")
    for task in report["plays"][0]["tasks"]:
        for host, outcome in task["hosts"].items():
            if outcome.get("failed"):
                failed[host] = outcome.get("msg", "")
    assert result.returncode != 0, "the refused cases must fail the run"
    return failed, out


# --- item: iproute-tc -----------------------------------------------------------------------------

def test_el_nodes_get_tc_for_kubeadm_preflight(rendered):
    failed, out = rendered
    assert failed["el9"] == ""
    packages = json.loads((out / "el9-packages.json").read_text())
    assert "iproute-tc" in packages
    assert {"conntrack-tools", "socat"} <= set(packages)
    # Debian's tc is in iproute2, which every Debian has; iproute-tc is EL's name.
    assert "iproute-tc" not in json.loads((out / "debian12-packages.json").read_text())


# --- item: NetworkManager leaves Calico's interfaces alone ----------------------------------------

def test_networkmanager_is_told_to_leave_calicos_interfaces_alone(rendered):
    failed, out = rendered
    for host in ("el9", "debian12"):
        assert failed[host] == ""
        conf = configparser.ConfigParser(interpolation=None)
        conf.read_string((out / f"{host}-networkmanager.conf").read_text())
        assert conf.sections() == ["keyfile"]
        assert dict(conf["keyfile"]) == {"unmanaged-devices": CALICO_UNMANAGED}


def role_yaml(*parts: str):
    return yaml.safe_load(ROLE.joinpath(*parts).read_text())


def networkmanager_tasks() -> dict[str, dict]:
    tasks = role_yaml("tasks", "networkmanager.yml")
    return {task["name"]: task for task in tasks}


def test_the_role_runs_the_networkmanager_tasks():
    imported = [task.get("ansible.builtin.import_tasks") for task in role_yaml("tasks", "main.yml")]
    assert "networkmanager.yml" in imported
    # Before the host is touched by anything that might need the network, after the validation.
    assert imported.index("validate.yml") < imported.index("networkmanager.yml")


def test_the_file_is_written_only_where_networkmanager_runs_and_then_reloads_it():
    tasks = list(networkmanager_tasks().values())
    (probe,) = [t for t in tasks if "ansible.builtin.stat" in t]
    assert probe["ansible.builtin.stat"]["path"] == "/run/NetworkManager"
    registered = probe["register"]
    (write,) = [t for t in tasks if "ansible.builtin.template" in t]
    (remove,) = [t for t in tasks if "ansible.builtin.file" in t]
    assert write["ansible.builtin.template"]["src"] == "networkmanager-unmanaged.conf.j2"
    dest = write["ansible.builtin.template"]["dest"]
    # NetworkManager reads only *.conf from conf.d.
    assert dest.startswith(NM_CONF_DIR) and dest.endswith(".conf")
    assert remove["ansible.builtin.file"] == {"path": dest, "state": "absent"}
    for task in (write, remove):
        assert f"{registered}.stat.exists" in task["when"]
        assert task["notify"] == "reload networkmanager"
    assert "common_networkmanager_unmanaged_devices | length > 0" in write["when"]
    assert "common_networkmanager_unmanaged_devices | length == 0" in remove["when"]


def test_the_handler_reloads_networkmanager():
    # The tasks notify the topic the handler listens to.
    handlers = {h.get("listen"): h for h in role_yaml("handlers", "main.yml")}
    handler = handlers["reload networkmanager"]
    assert handler["ansible.builtin.systemd_service"] == {"name": "NetworkManager", "state": "reloaded"}


# --- item: a running firewalld is refused, not half opened ------------------------------------------

@pytest.mark.parametrize("host", sorted(REFUSED))
def test_bad_settings_are_refused_with_a_message(rendered, host):
    failed, out = rendered
    assert REFUSED[host] in failed[host]
    assert not (out / f"{host}-packages.json").exists(), "refused before anything else ran"


def test_the_firewalld_refusal_names_the_ports_and_the_way_out(rendered):
    failed, _ = rendered
    message = failed["el9-firewalld-running"]
    for port in ("6443", "2379-2380", "10250", "10257", "10259", "30000-32767", "179", "4789", "7946", "2049"):
        assert port in message
    assert "IP protocol 4" in message
    assert "leave common_firewalld_disabled true" in message


def test_firewalld_is_an_el_matter_only(rendered):
    failed, _ = rendered
    assert failed["debian12-firewalld-running"] == ""
