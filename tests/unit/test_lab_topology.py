"""The topology file: what it computes, what it refuses, and that Ansible and Vagrant agree."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from lab_topology import TopologyError, build_topology, connection_vars

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "workers": 3,
    "kubernetes_version": "1.37",
    "provider": "virtualbox",
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
}


def settings(**overrides):
    return {**DEFAULTS, **overrides}


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
    ],
)
def test_bad_settings_name_the_setting(overrides, setting):
    with pytest.raises(TopologyError, match=rf"^{re.escape(setting)}\b"):
        build_topology(settings(**overrides))


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


def run_inventory(tmp_path, **overrides):
    topology = yaml.safe_load((ROOT / "inventory" / "topology.yml").read_text())
    topology.update(overrides)
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "topology.yml").write_text(yaml.safe_dump(topology))
    return subprocess.run(
        ["ansible-inventory", "-i", str(inventory / "topology.yml"), "--list"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )


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


def vagrant_machines(project):
    result = subprocess.run(["vagrant", "status", "--machine-readable"], capture_output=True, text=True,
                            cwd=project, check=False, env={"PATH": "/usr/bin:/bin", "HOME": str(project)})
    return result, sorted({line.split(",")[1] for line in result.stdout.splitlines() if ",state," in line})


def test_vagrant_defines_the_same_machines(tmp_path):
    result = run_inventory(tmp_path, workers=2)
    assert result.returncode == 0, result.stderr
    (tmp_path / "Vagrantfile").write_text((ROOT / "Vagrantfile").read_text())
    status, machines = vagrant_machines(tmp_path)
    assert machines == ["m-k8s", "w1-k8s", "w2-k8s"], status.stderr


def test_vagrant_stops_on_a_bad_setting(tmp_path):
    run_inventory(tmp_path, workers=0)
    (tmp_path / "Vagrantfile").write_text((ROOT / "Vagrantfile").read_text())
    status, _ = vagrant_machines(tmp_path)
    assert status.returncode != 0
    assert "workers: must be between 1 and 154" in status.stdout + status.stderr
