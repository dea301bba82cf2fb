"""The topology file: what it computes, what it refuses, and what the plugin gives Ansible and, as a
program, everything else (tests/render/test_vagrant_topology.py holds the Vagrantfile to it)."""

import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology
from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import (
    DOCUMENTATION,
    PODMAN_SSH_ARGS,
    SETTINGS,
    TopologyError,
    build_topology,
    connection_vars,
    describe,
    kubernetes_minor,
    option_defaults,
    pinned_kubernetes,
    pinned_releases,
    project_dir_of,
    provider_source,
    read_settings,
)

ROOT = Path(__file__).resolve().parents[3]
# What decides the provider besides the files (provider_source).
PROVIDER_ENVIRONMENT = ("LAB_PROVIDER", "LAB_PROJECT_DIR", "VAGRANT_DEFAULT_PROVIDER")
DEFAULTS = {
    "workers": 3,
    "kubernetes_version": "1.37",
    # Unset: the plugin's rule decides (provider_source).
    "provider": None,
    "master_cpus": 2,
    "master_memory": 3072,
    "worker_cpus": 1,
    "worker_memory": 2560,
    "subnet": "192.168.1.0/24",
    "loadbalancer_first": 11,
    "loadbalancer_last": 29,
    "pod_cidr": "172.16.0.0/16",
    "service_cidr": "10.96.0.0/12",
    "master_ssh_port": 60010,
    "worker_ssh_port_base": 60100,
    "podman_nat_interface": False,
    "box": "bento/rockylinux-9",
    "box_version": "",
    "vm_group": "/k8s-lab",
}


def settings(**overrides):
    return {**DEFAULTS, "provider": "virtualbox", **overrides}


def test_book_addresses_and_ports():
    topology = build_topology(settings())
    assert [(n.name, n.ip, n.ssh_port) for n in topology.nodes] == [
        ("m-k8s", "192.168.1.10", 60010),
        ("w1-k8s", "192.168.1.101", 60101),
        ("w2-k8s", "192.168.1.102", 60102),
        ("w3-k8s", "192.168.1.103", 60103),
    ]
    assert topology.group_vars["lab_api_endpoint"] == "192.168.1.10:6443"
    assert topology.group_vars["lab_loadbalancer_first_ip"] == "192.168.1.11"
    assert topology.group_vars["lab_loadbalancer_last_ip"] == "192.168.1.29"
    assert topology.group_vars["lab_kubernetes_minor"] == "1.37"


def test_worker_count_drives_the_nodes():
    names = [n.name for n in build_topology(settings(workers=5)).nodes]
    assert names == ["m-k8s", "w1-k8s", "w2-k8s", "w3-k8s", "w4-k8s", "w5-k8s"]


def test_patch_version_keeps_its_minor():
    assert build_topology(settings(kubernetes_version="1.37.2")).group_vars["lab_kubernetes_minor"] == "1.37"


@pytest.mark.parametrize(("version", "release"), [
    ("1.37", "v1.37.2"), ("1.37.2", "v1.37.2"), ("1.36", "v1.36.3"), ("1.36.3", "v1.36.3"),
])
def test_either_pin_names_its_release(version, release):
    """A new lab at the current pin, or at the previous minor (an older lab, to upgrade from)."""
    group_vars = build_topology(settings(kubernetes_version=version)).group_vars
    assert group_vars["lab_kubernetes_release"] == release
    assert group_vars["lab_kubernetes_minor"] == release[1:].rsplit(".", 1)[0]
    assert group_vars["lab_kubernetes_version"] == version
    assert group_vars["lab_kubernetes_pinned"] == ["v1.37.2", "v1.36.3"]


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": 155}, "workers"),
        ({"workers": "3"}, "workers"),
        ({"workers": 1, "subnet": "192.168.1.0/26", "loadbalancer_first": 11, "loadbalancer_last": 29}, "workers"),
        ({"provider": "hyperv"}, "provider"),
        ({"subnet": "192.168.1.1/24"}, "subnet"),
        ({"subnet": "not-a-network"}, "subnet"),
        ({"pod_cidr": "192.168.0.0/16"}, "pod_cidr"),
        ({"service_cidr": "172.16.128.0/20"}, "service_cidr"),
        ({"service_cidr": "192.168.1.128/25"}, "service_cidr"),
        ({"kubernetes_version": "1.18.4"}, "kubernetes_version"),
        ({"kubernetes_version": "v1.37"}, "kubernetes_version"),
        ({"master_cpus": 1}, "master_cpus"),
        ({"worker_memory": 1024}, "worker_memory"),
        ({"loadbalancer_first": 5, "loadbalancer_last": 20}, "loadbalancer_first"),
        ({"loadbalancer_first": 30, "loadbalancer_last": 20}, "loadbalancer_last"),
        ({"master_ssh_port": 60101}, "master_ssh_port"),
        ({"worker_ssh_port_base": 65534}, "worker_ssh_port_base"),
        # Versions the project does not pin (bundle/versions.yml: v1.37.2 and v1.36.3).
        ({"kubernetes_version": "1.99"}, "kubernetes_version"),
        ({"kubernetes_version": "1.35"}, "kubernetes_version"),
        ({"kubernetes_version": "1.38"}, "kubernetes_version"),
        ({"kubernetes_version": "1.37.1"}, "kubernetes_version"),
        ({"kubernetes_version": "1.36.2"}, "kubernetes_version"),
        ({"kubernetes_version": 1.37}, "kubernetes_version"),
        ({"kubernetes_version": None}, "kubernetes_version"),
        # Ports a host cannot have.
        ({"master_ssh_port": 70000}, "master_ssh_port"),
        ({"master_ssh_port": 0}, "master_ssh_port"),
        ({"worker_ssh_port_base": 70000}, "worker_ssh_port_base"),
        # MetalLB handing out the host's .1, the network address, or the broadcast address.
        ({"loadbalancer_first": 1, "loadbalancer_last": 9}, "loadbalancer_first"),
        ({"loadbalancer_first": 0, "loadbalancer_last": 9}, "loadbalancer_first"),
        ({"loadbalancer_first": 11, "loadbalancer_last": 255}, "loadbalancer_first"),
        # A pod network without a /24 for each node, a service network without a 10th address.
        ({"pod_cidr": "172.16.0.0/25"}, "pod_cidr"),
        ({"pod_cidr": "172.16.0.0/23"}, "pod_cidr"),
        ({"workers": 4, "pod_cidr": "172.16.0.0/22"}, "pod_cidr"),
        ({"service_cidr": "10.96.0.0/29"}, "service_cidr"),
        # Ranges that mean something else to every host.
        ({"subnet": "127.0.0.0/24"}, "subnet"),
        ({"subnet": "0.0.0.0/24"}, "subnet"),
        ({"subnet": "169.254.1.0/24"}, "subnet"),
        ({"pod_cidr": "224.0.0.0/16"}, "pod_cidr"),
        ({"pod_cidr": "240.0.0.0/16"}, "pod_cidr"),
        ({"service_cidr": "127.96.0.0/12"}, "service_cidr"),
        ({"service_cidr": "169.254.0.0/16"}, "service_cidr"),
        # What only the Vagrantfile uses: a box, a version as text (an unquoted 4.3 is a number), a
        # VirtualBox group.
        ({"box": ""}, "box"),
        ({"box": None}, "box"),
        ({"box_version": 4.3}, "box_version"),
        ({"vm_group": "k8s-lab"}, "vm_group"),
    ],
)
def test_bad_settings_name_the_setting(overrides, setting):
    with pytest.raises(TopologyError, match=rf"^{re.escape(setting)}\b"):
        build_topology(settings(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"kubernetes_version": "1.37.2"},
        {"pod_cidr": "172.16.0.0/22"},
        {"workers": 1, "pod_cidr": "172.16.0.0/23"},
        {"service_cidr": "10.96.0.0/28"},
        {"loadbalancer_first": 2, "loadbalancer_last": 9},
        {"loadbalancer_first": 11, "loadbalancer_last": 100},
        {"master_ssh_port": 65535, "worker_ssh_port_base": 60100},
        {"worker_ssh_port_base": 65532},
    ],
)
def test_settings_at_the_limits_are_accepted(overrides):
    build_topology(settings(**overrides))


def test_the_known_kubernetes_is_the_bundles_pins():
    """Written once, in bundle/versions.yml: a bumped pin moves what the topology may ask for."""
    pins = yaml.safe_load((ROOT / "bundle" / "versions.yml").read_text())
    assert pinned_kubernetes() == pins["kubernetes"] == "v1.37.2"
    assert pinned_releases() == [pins["kubernetes"], pins["kubernetes_previous"]] == ["v1.37.2", "v1.36.3"]
    bumped = build_topology(settings(kubernetes_version="1.38"), pinned="v1.38.0")
    assert bumped.group_vars["lab_kubernetes_minor"] == "1.38"
    assert bumped.group_vars["lab_kubernetes_pinned"] == ["v1.38.0"]
    with pytest.raises(TopologyError, match=r'^kubernetes_version: \'1\.37\' is not .* use "1\.38" or "1\.38\.0"'):
        build_topology(settings(), pinned="v1.38.0")


def test_a_version_neither_pin_names_lists_both():
    with pytest.raises(TopologyError) as error:
        build_topology(settings(kubernetes_version="1.35"))
    assert str(error.value) == (
        "kubernetes_version: '1.35' is not a Kubernetes this project pins: use \"1.37\", \"1.37.2\", \"1.36\" or "
        "\"1.36.3\" (bundle/versions.yml pins v1.37.2 and v1.36.3; to move to another version, bump both together)")


def test_kubernetes_minor_keeps_its_meaning_for_one_pin_or_both():
    """scripts/bundler checks the topology with it: one pin (the current) or every pin."""
    assert kubernetes_minor("1.37.2", "v1.37.2") == "1.37"
    assert kubernetes_minor("1.36", ["v1.37.2", "v1.36.3"]) == "1.36"
    with pytest.raises(TopologyError, match=r"^kubernetes_version: '1\.36' is not"):
        kubernetes_minor("1.36", "v1.37.2")


def test_without_a_previous_pin_only_the_current_one_is_known(tmp_path):
    (tmp_path / "versions.yml").write_text("kubernetes: v1.37.2\n")
    assert pinned_releases(str(tmp_path / "versions.yml")) == ["v1.37.2"]
    (tmp_path / "versions.yml").write_text("kubernetes: v1.37.2\nkubernetes_previous: '1.36'\n")
    with pytest.raises(TopologyError, match=r"pins no Kubernetes like v1\.37\.2 \(kubernetes_previous: '1\.36'\)"):
        pinned_releases(str(tmp_path / "versions.yml"))


def test_a_missing_pin_file_is_named(tmp_path):
    with pytest.raises(TopologyError, match=r"^kubernetes_version: cannot read the project's pins"):
        pinned_kubernetes(str(tmp_path / "versions.yml"))
    (tmp_path / "versions.yml").write_text("kubernetes: latest\n")
    with pytest.raises(TopologyError, match=r"^kubernetes_version: .* pins no Kubernetes"):
        pinned_kubernetes(str(tmp_path / "versions.yml"))


def test_an_unquoted_version_is_refused_with_a_hint_to_quote_it():
    # `kubernetes_version: 1.40` arrives as the float 1.4: it must not be read as "1.4".
    with pytest.raises(TopologyError, match=r'^kubernetes_version: 1\.4 is a YAML number.*quote it.*"1\.40"'):
        build_topology(settings(kubernetes_version=1.40))


def test_the_load_balancer_message_names_what_the_range_must_avoid():
    with pytest.raises(TopologyError) as error:
        build_topology(settings(loadbalancer_first=1, loadbalancer_last=9))
    assert "the host (.1)" in str(error.value) and "192.168.1.0/24" in str(error.value)


def test_a_small_pod_network_names_the_size_needed():
    with pytest.raises(TopologyError, match=r"^pod_cidr: 172\.16\.0\.0/23 is too small.* 4 nodes need a /22"):
        build_topology(settings(pod_cidr="172.16.0.0/23"))


def test_host_connection_uses_loopback_forwarded_port():
    node = build_topology(settings()).nodes[2]
    assert connection_vars(node, "host", "libvirt", "/lab", "laptop") == {
        "ansible_host": "127.0.0.1",
        "ansible_port": 60102,
        "ansible_user": "vagrant",
        "ansible_ssh_private_key_file": "/lab/.vagrant/machines/w2-k8s/libvirt/private_key",
    }


def test_guest_connection_is_local_on_its_own_vm():
    nodes = build_topology(settings()).nodes
    assert connection_vars(nodes[3], "guest", "virtualbox", "/vagrant", "w3-k8s") == {"ansible_connection": "local"}
    assert connection_vars(nodes[0], "guest", "virtualbox", "/vagrant", "w3-k8s")["ansible_host"] == "192.168.1.10"


def test_podman_connection_reaches_the_lab_address_as_root():
    node = build_topology(settings(provider="podman")).nodes[1]
    state = "/lab/.cache/lab-podman"
    assert connection_vars(node, "host", "podman", "/lab", "laptop") == {
        "ansible_host": "192.168.1.101",
        "ansible_port": 22,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": f"{state}/id_ed25519",
        "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=120s -o IdentitiesOnly=yes",
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={state}/known_hosts -o StrictHostKeyChecking=yes",
        "ansible_host_key_checking": True,
    }
    # A host name that matches a node does not turn podman nodes into local ones.
    assert connection_vars(node, "guest", "podman", "/lab", "w1-k8s")["ansible_host"] == "192.168.1.101"


def test_podman_ssh_args_are_ansible_cfg_minus_the_null_known_hosts():
    """The podman nodes replace ansible.cfg's ssh_args: everything else must stay the same."""
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    cfg_args = config["ssh_connection"]["ssh_args"]
    assert "-o UserKnownHostsFile=/dev/null" in cfg_args
    assert PODMAN_SSH_ARGS.split() == cfg_args.replace("-o UserKnownHostsFile=/dev/null", "").split()


def test_login_user_follows_the_provider():
    assert build_topology(settings(provider="podman")).group_vars["lab_login_user"] == "root"
    assert build_topology(settings(provider="libvirt")).group_vars["lab_login_user"] == "vagrant"


def test_only_podman_nodes_see_the_bundle_on_their_own_disk():
    # Podman nodes: bundle_install reads the provider's read-only mount; VMs: it copies over SSH.
    assert build_topology(settings(provider="podman")).group_vars["lab_node_bundle_dir"] == "/opt/k8s-lab/bundle"
    assert build_topology(settings(provider="virtualbox")).group_vars["lab_node_bundle_dir"] == ""


def test_the_bundle_is_the_projects_unless_lab_bundle_dir_says_otherwise(tmp_path):
    assert lab_topology.bundle_dir(str(tmp_path), {}) == str(tmp_path / ".cache" / "bundle")
    assert lab_topology.bundle_dir(str(tmp_path), {"LAB_BUNDLE_DIR": "/srv/bundle"}) == "/srv/bundle"


def test_read_settings_uses_the_documented_defaults(tmp_path):
    topology = tmp_path / "topology.yml"
    topology.write_text("plugin: k8s_lab.lab.lab_topology\nworkers: 1\nprovider: podman\n")
    defaults = yaml.safe_load(DOCUMENTATION)["options"]
    assert read_settings(str(topology), environ={}) == {
        **{key: defaults[key].get("default") for key in SETTINGS}, "workers": 1, "provider": "podman"}
    assert option_defaults() == DEFAULTS, "the tests' defaults must be the plugin's"
    assert read_settings(str(topology), environ={"LAB_PROVIDER": "libvirt"})["provider"] == "libvirt"
    # The project directory of the repository's own file may hold a record of `make lab`'s: not here.
    assert read_settings(str(ROOT / "inventory" / "topology.yml"), environ={"LAB_PROJECT_DIR": str(tmp_path)}) == {
        **DEFAULTS, "provider": "virtualbox",
        **{k: v for k, v in yaml.safe_load((ROOT / "inventory" / "topology.yml").read_text()).items()
           if k in SETTINGS}}


def write_topology(tmp_path, text):
    path = tmp_path / "topology.yml"
    path.write_text("plugin: k8s_lab.lab.lab_topology\n" + text)
    return str(path)


def test_read_settings_refuses_an_unknown_key_with_the_nearest_name(tmp_path):
    with pytest.raises(TopologyError, match=r"^workerz: unknown setting; did you mean 'workers'\?$"):
        read_settings(write_topology(tmp_path, "workerz: 5\n"), environ={})
    with pytest.raises(TopologyError, match=r"^zzz: unknown setting \(known: .*workers"):
        read_settings(write_topology(tmp_path, "zzz: 5\n"), environ={})


def test_every_documented_option_is_a_known_key(tmp_path):
    """The plugin's own options (plugin, connection, project_dir included) are all accepted."""
    options = yaml.safe_load(DOCUMENTATION)["options"]
    topology = {key: option.get("default") for key, option in options.items() if key != "plugin"}
    topology["project_dir"] = str(tmp_path)
    read_settings(write_topology(tmp_path, yaml.safe_dump(topology)), environ={})


def test_known_keys_follow_the_documentation(tmp_path, monkeypatch):
    """An option added to DOCUMENTATION is a known key without another list to update."""
    path = write_topology(tmp_path, "future_option: true\n")
    with pytest.raises(TopologyError, match=r"^future_option: unknown setting"):
        read_settings(path, environ={})
    documentation = yaml.safe_load(DOCUMENTATION)
    documentation["options"]["future_option"] = {"description": "x", "type": "bool", "default": False}
    monkeypatch.setattr(lab_topology, "DOCUMENTATION", yaml.safe_dump(documentation))
    assert read_settings(path, environ={})["workers"] == 3


def test_read_settings_refuses_other_files(tmp_path):
    other = tmp_path / "topology.yml"
    other.write_text("plugin: ansible.builtin.yaml\n")
    with pytest.raises(TopologyError, match=r"^plugin\b"):
        read_settings(str(other), environ={})


def run_inventory(tmp_path, env=None, exist_ok=False, **overrides):
    topology = yaml.safe_load((ROOT / "inventory" / "topology.yml").read_text())
    topology.update(overrides)
    inventory = tmp_path / "inventory"
    inventory.mkdir(exist_ok=exist_ok)
    (inventory / "topology.yml").write_text(yaml.safe_dump(topology))
    environ = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENVIRONMENT}
    return subprocess.run(
        ["ansible-inventory", "-i", str(inventory / "topology.yml"), "--list"],
        capture_output=True, text=True, cwd=ROOT, check=False, env={**environ, **(env or {})},
    )


def plain(value):
    """ansible-core 2.19 marks values from plugins as unsafe in its JSON output."""
    return value.get("__ansible_unsafe") if isinstance(value, dict) and "__ansible_unsafe" in value else value


def test_ansible_inventory_reads_the_topology(tmp_path):
    result = run_inventory(tmp_path, workers=2)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert inventory["control_plane"]["hosts"] == ["m-k8s"]
    assert inventory["workers"]["hosts"] == ["w1-k8s", "w2-k8s"]
    node_ip = inventory["_meta"]["hostvars"]["w2-k8s"]["lab_node_ip"]
    # ansible-core 2.19 marks values from plugins as unsafe in its JSON output.
    assert (node_ip.get("__ansible_unsafe") if isinstance(node_ip, dict) else node_ip) == "192.168.1.102"


def test_ansible_inventory_stops_on_a_bad_setting(tmp_path):
    result = run_inventory(tmp_path, workers=0)
    assert result.returncode != 0
    assert "workers: must be between 1 and 154" in result.stderr


def test_ansible_inventory_stops_on_an_unknown_key(tmp_path):
    """Ansible itself ignores keys that are no option of the plugin; the plugin does not."""
    result = run_inventory(tmp_path, workerz=5)
    assert result.returncode != 0
    assert "workerz: unknown setting; did you mean 'workers'?" in result.stderr


def test_ansible_inventory_refuses_an_unquoted_version(tmp_path):
    """Ansible would turn the number 1.4 into the text "1.4": the plugin reads the value as written."""
    result = run_inventory(tmp_path, kubernetes_version=1.40)
    assert result.returncode != 0
    assert "kubernetes_version: 1.4 is a YAML number" in result.stderr
    assert 'quote it, as in kubernetes_version: "1.40"' in result.stderr


def test_ansible_inventory_accepts_the_pinned_patch(tmp_path):
    result = run_inventory(tmp_path, workers=1, kubernetes_version="1.37.2")
    assert result.returncode == 0, result.stderr
    assert plain(json.loads(result.stdout)["_meta"]["hostvars"]["m-k8s"]["lab_kubernetes_minor"]) == "1.37"


def test_ansible_inventory_resolves_the_previous_minor_to_its_release(tmp_path):
    """Ansible loads the plugin through the collection, with the module_utils it imports."""
    result = run_inventory(tmp_path, workers=1, kubernetes_version="1.36")
    assert result.returncode == 0, result.stderr
    assert plain(json.loads(result.stdout)["_meta"]["hostvars"]["w1-k8s"]["lab_kubernetes_release"]) == "v1.36.3"


@pytest.mark.parametrize("how", ["file", "LAB_PROVIDER"])
def test_ansible_inventory_describes_podman_nodes(tmp_path, how):
    if how == "file":
        result = run_inventory(tmp_path, workers=1, provider="podman")
    else:
        result = run_inventory(tmp_path, env={"LAB_PROVIDER": "podman"}, workers=1, provider="virtualbox")
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    hostvars = {key: plain(value) for key, value in inventory["_meta"]["hostvars"]["w1-k8s"].items()}
    assert hostvars["ansible_host"] == "192.168.1.101"
    assert hostvars["ansible_user"] == "root"
    assert hostvars["ansible_ssh_private_key_file"] == str(tmp_path / ".cache" / "lab-podman" / "id_ed25519")
    assert f"UserKnownHostsFile={tmp_path}/.cache/lab-podman/known_hosts" in hostvars["ansible_ssh_common_args"]


@pytest.mark.parametrize("how", ["file", "LAB_PROJECT_DIR", "default"])
def test_scripts_find_the_project_directory_the_plugin_finds(tmp_path, how):
    """lab-podman.py keeps node keys in the project's .cache; the inventory must point there too."""
    chosen = tmp_path / "elsewhere"
    overrides = {"project_dir": str(chosen)} if how == "file" else {}
    env = {"LAB_PROJECT_DIR": str(chosen)} if how == "LAB_PROJECT_DIR" else {}
    result = run_inventory(tmp_path, env=env, workers=1, provider="podman", **overrides)
    assert result.returncode == 0, result.stderr
    plugin_dir = plain(json.loads(result.stdout)["_meta"]["hostvars"]["w1-k8s"]["lab_project_dir"])
    expected = tmp_path if how == "default" else chosen
    assert plugin_dir == str(expected)
    assert project_dir_of(str(tmp_path / "inventory" / "topology.yml"), environ=env) == str(expected)


def test_ansible_inventory_names_podman_among_the_providers(tmp_path):
    result = run_inventory(tmp_path, provider="hyperv")
    assert result.returncode != 0
    assert "podman" in result.stderr


@pytest.mark.parametrize(("environ", "configured", "recorded", "expected"), [
    ({}, None, None, ("virtualbox", "default")),
    ({"VAGRANT_DEFAULT_PROVIDER": "libvirt"}, None, None, ("libvirt", "VAGRANT_DEFAULT_PROVIDER")),
    ({"VAGRANT_DEFAULT_PROVIDER": "libvirt"}, None, "podman", ("podman", ".cache/lab-provider")),
    ({}, "libvirt", "podman", ("libvirt", "topology")),
    ({"LAB_PROVIDER": "virtualbox"}, "libvirt", "podman", ("virtualbox", "LAB_PROVIDER")),
])
def test_one_rule_decides_the_provider(tmp_path, environ, configured, recorded, expected):
    if recorded:
        (tmp_path / ".cache").mkdir()
        (tmp_path / ".cache" / "lab-provider").write_text(f"{recorded}\n")
    assert provider_source(configured, str(tmp_path), environ) == expected


def hostvars_of(result, host="w1-k8s"):
    assert result.returncode == 0, result.stderr
    return {key: plain(value) for key, value in json.loads(result.stdout)["_meta"]["hostvars"][host].items()}


def test_inventory_reaches_the_nodes_make_lab_recorded(tmp_path):
    """After `make lab` fell back to container nodes, plain ansible-playbook reaches them."""
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "lab-provider").write_text("podman\n")
    hostvars = hostvars_of(run_inventory(tmp_path, workers=1))
    assert (hostvars["ansible_host"], hostvars["ansible_port"], hostvars["ansible_user"]) == \
        ("192.168.1.101", 22, "root")
    assert hostvars["lab_provider"] == "podman"


@pytest.mark.parametrize("how", ["topology", "LAB_PROVIDER"])
def test_an_explicit_provider_wins_over_the_record(tmp_path, how):
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "lab-provider").write_text("podman\n")
    if how == "topology":
        result = run_inventory(tmp_path, workers=1, provider="libvirt")
    else:
        result = run_inventory(tmp_path, env={"LAB_PROVIDER": "libvirt"}, workers=1)
    hostvars = hostvars_of(result)
    assert (hostvars["ansible_host"], hostvars["ansible_port"], hostvars["ansible_user"]) == \
        ("127.0.0.1", 60101, "vagrant")
    assert hostvars["ansible_ssh_private_key_file"].endswith("/.vagrant/machines/w1-k8s/libvirt/private_key")


def test_the_nat_interface_shapes_podman_nodes_only():
    assert build_topology(settings(provider="podman", podman_nat_interface=True)).nat_interface is True
    assert build_topology(settings(provider="podman")).nat_interface is False
    with pytest.raises(TopologyError, match=r"^podman_nat_interface: shapes podman nodes"):
        build_topology(settings(provider="virtualbox", podman_nat_interface=True))
    with pytest.raises(TopologyError, match=r"^podman_nat_interface: must be true or false"):
        build_topology(settings(provider="podman", podman_nat_interface="yes"))


def test_the_vagrant_settings_are_the_files():
    assert build_topology(settings(box="generic/debian12", box_version=">= 4.3", vm_group="/lab")).vagrant == {
        "box": "generic/debian12", "box_version": ">= 4.3", "vm_group": "/lab"}


def test_ansible_inventory_reads_the_file_as_written(tmp_path):
    """Ansible would turn workers: "3" into 3 (an option of type int); the plugin reads the file as
    every script does, and refuses it as they do."""
    result = run_inventory(tmp_path, workers="3")
    assert result.returncode != 0
    assert "workers: must be between 1 and 154" in result.stderr


def test_describe_is_the_lab_as_data(tmp_path):
    path = write_topology(tmp_path, "workers: 1\nprovider: libvirt\nmaster_ssh_port: 2222\n")
    assert describe(path, environ={"LAB_PROVIDER": "virtualbox"}) == {
        "provider": "virtualbox",
        "provider_source": "LAB_PROVIDER",
        "provider_configured": "libvirt",
        "subnet": "192.168.1.0/24",
        "vagrant": {"box": "bento/rockylinux-9", "box_version": "", "vm_group": "/k8s-lab"},
        "nodes": [
            {"name": "m-k8s", "role": "control_plane", "ip": "192.168.1.10", "ssh_port": 2222, "cpus": 2,
             "memory": 3072},
            {"name": "w1-k8s", "role": "worker", "ip": "192.168.1.101", "ssh_port": 60101, "cpus": 1,
             "memory": 2560},
        ],
    }


PROGRAM = ROOT / "plugins" / "inventory" / "lab_topology.py"
# The program run with Ansible made impossible to import, as on a host that has none.
WITHOUT_ANSIBLE = (
    "import runpy, sys; sys.modules['ansible'] = None; sys.argv = sys.argv[1:]; "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_program(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENVIRONMENT}
    return subprocess.run([sys.executable, "-c", WITHOUT_ANSIBLE, str(PROGRAM), *args], capture_output=True,
                          text=True, check=False, env={**environ, **(env or {})})


def test_the_program_prints_describe_without_ansible(tmp_path):
    path = write_topology(tmp_path, "workers: 2\nsubnet: 192.168.56.0/24\n")
    result = run_program(path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == describe(path, environ={})


def test_the_program_reads_the_labs_own_topology_by_default(tmp_path):
    result = run_program(env={"LAB_PROJECT_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == describe(str(ROOT / "inventory" / "topology.yml"),
                                                 environ={"LAB_PROJECT_DIR": str(tmp_path)})


@pytest.mark.parametrize(("text", "message"), [
    ("workers: 0\n", "workers: must be between 1 and 154"),
    ("workerz: 2\n", "workerz: unknown setting; did you mean 'workers'?"),
    ("workers: [\n", "while parsing"),
])
def test_the_program_names_a_wrong_setting(tmp_path, text, message):
    path = write_topology(tmp_path, text)
    result = run_program(path)
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error.startswith(f"{path}: ") and message in error


GROUP_VARS = ROOT / "inventory" / "group_vars"


def test_each_kind_of_node_sets_every_setting_that_differs():
    """container_nodes.yml and vm_nodes.yml set the same settings, and all.yml none of them: one
    place for each, and no kind left with another's value."""
    container = yaml.safe_load((GROUP_VARS / "container_nodes.yml").read_text())
    vm = yaml.safe_load((GROUP_VARS / "vm_nodes.yml").read_text())
    shared = yaml.safe_load((GROUP_VARS / "all.yml").read_text())
    assert set(container) == set(vm)
    assert not set(container) & set(shared)
    assert not [key for key in container if container[key] == vm[key]]


@pytest.mark.parametrize(("provider", "group", "other", "source"), [
    ("podman", "container_nodes", "vm_nodes", "bundle"),
    ("libvirt", "vm_nodes", "container_nodes", "packages"),
])
def test_every_node_is_in_the_group_of_its_kind_with_its_settings(tmp_path, provider, group, other, source):
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "group_vars").symlink_to(GROUP_VARS)
    result = run_inventory(tmp_path, workers=1, provider=provider, exist_ok=True)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    assert sorted(inventory[group]["hosts"]) == ["m-k8s", "w1-k8s"]
    assert not inventory.get(other, {}).get("hosts")
    assert group in inventory["k8s_cluster"]["children"]
    for name in ("m-k8s", "w1-k8s"):
        assert plain(inventory["_meta"]["hostvars"][name]["lab_install_source"]) == source
