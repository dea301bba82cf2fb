"""Inventory plugin that turns the lab's topology file into hosts, groups and lab_* variables."""

from __future__ import annotations

DOCUMENTATION = r"""
name: lab_topology
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
short_description: The k8s-lab nodes, read from the topology file the Vagrantfile also reads
description:
  - Reads C(inventory/topology.yml), the single source of truth for the lab, and defines
    C(m-k8s) and C(w1-k8s) ... C(wN-k8s) with their lab addresses and SSH settings.
  - The nodes are Vagrant VMs (providers C(virtualbox), C(libvirt)) or systemd containers on a
    podman bridge (provider C(podman), started by C(scripts/lab-podman.py)).
  - Groups are C(control_plane), C(workers) and their parent C(k8s_cluster).
  - Every host gets C(lab_node_ip) and C(lab_node_role); the topology itself is exposed to all
    hosts as C(lab_*) variables (C(lab_pod_cidr), C(lab_master_ip), C(lab_nodes), ...), and
    C(lab_project_dir) is the directory that holds the lab's C(.cache/) (see I(project_dir)).
  - Bad settings stop the run with a message that names the setting.
options:
  plugin:
    description: Marks the file as one for this plugin.
    required: true
    choices: [k8s_lab.lab.lab_topology]
  workers:
    description: Number of worker nodes.
    type: int
    default: 3
  kubernetes_version:
    description: Kubernetes minor (C(1.37)) or patch (C(1.37.1)) version.
    type: str
    default: "1.37"
  provider:
    description:
      - What the nodes run on. C(virtualbox) and C(libvirt) are Vagrant providers; Ansible reaches
        the VMs on forwarded ports with the keys Vagrant keeps in C(.vagrant/machines/).
      - C(podman) runs each node as a privileged systemd container on a podman bridge network
        (C(scripts/lab-podman.py up)). Ansible reaches a node as root on its lab address, port 22,
        with the key and the known_hosts file that script writes to C(.cache/lab-podman/) of the
        project directory.
      - One rule decides, first match wins - the environment variable C(LAB_PROVIDER); this
        setting, when the file has it; the provider C(make lab) recorded in C(.cache/lab-provider)
        of the project directory (it falls back to podman on a machine without VirtualBox or
        libvirt, and C(make lab-destroy) forgets it); C(VAGRANT_DEFAULT_PROVIDER); C(virtualbox).
    type: str
    choices: [virtualbox, libvirt, podman]
  podman_nat_interface:
    description:
      - Podman nodes only. Give every node the shape of a Vagrant VM - a first interface on a NAT
        network of its own that carries the default route, and the lab network second - so that a
        setting that follows the default route instead of the lab address shows on container
        nodes as it would on a laptop's VMs.
    type: bool
    default: false
  box:
    description: Vagrant box (read by the Vagrantfile only).
    type: str
    default: bento/rockylinux-9
  box_version:
    description: Vagrant box version (read by the Vagrantfile only).
    type: str
    default: ""
  vm_group:
    description: VirtualBox group of the VMs (read by the Vagrantfile only).
    type: str
    default: /k8s-lab
  master_cpus:
    description: CPUs of m-k8s; kubeadm needs at least 2 on a control-plane node.
    type: int
    default: 2
  master_memory:
    description: Memory of m-k8s in MB.
    type: int
    default: 3072
  worker_cpus:
    description: CPUs of each worker.
    type: int
    default: 1
  worker_memory:
    description: Memory of each worker in MB.
    type: int
    default: 2560
  subnet:
    description: The lab (host-only) subnet. m-k8s is host .10, wN-k8s is host .100+N.
    type: str
    default: 192.168.1.0/24
  loadbalancer_first:
    description: First host number of the subnet handed to LoadBalancer services.
    type: int
    default: 11
  loadbalancer_last:
    description: Last host number of the subnet handed to LoadBalancer services.
    type: int
    default: 29
  pod_cidr:
    description: Pod network; must not overlap the lab subnet or the service network.
    type: str
    default: 172.16.0.0/16
  service_cidr:
    description: Service network; must not overlap the lab subnet or the pod network.
    type: str
    default: 10.96.0.0/12
  master_ssh_port:
    description: Host port forwarded to the SSH port of m-k8s.
    type: int
    default: 60010
  worker_ssh_port_base:
    description: Host port of wN-k8s is this plus N.
    type: int
    default: 60100
  connection:
    description:
      - C(host) when Ansible runs on the machine that runs Vagrant (forwarded ports on 127.0.0.1).
      - C(guest) when Ansible runs inside one of the lab's VMs (Vagrant's ansible_local on Windows
        hosts); that VM is local, the others are reached on their lab addresses.
      - C(auto) picks C(guest) when this machine's host name is one of the lab's nodes.
    type: str
    default: auto
    choices: [auto, host, guest]
    env:
      - name: LAB_CONNECTION
  project_dir:
    description:
      - Directory holding the Vagrantfile, C(.vagrant/) and C(.cache/); defaults to the parent of
        the inventory directory.
    type: path
    env:
      - name: LAB_PROJECT_DIR
"""

EXAMPLES = r"""
# inventory/topology.yml
plugin: k8s_lab.lab.lab_topology
workers: 2
subnet: 192.168.56.0/24
"""

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field

import yaml
from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

PLUGIN_NAME = "k8s_lab.lab.lab_topology"
MASTER_NAME = "m-k8s"
MASTER_HOST_NUMBER = 10
WORKER_HOST_BASE = 100
PROVIDERS = ("virtualbox", "libvirt", "podman")
VAGRANT_PROVIDERS = ("virtualbox", "libvirt")
# Where scripts/lab-podman.py keeps the podman lab's SSH key, known_hosts file and state, relative to
# the project directory.
PODMAN_STATE_DIR = os.path.join(".cache", "lab-podman")
# What `make lab` chose (scripts/lab-up.sh writes it, `make lab-destroy` removes it), relative to the
# project directory.
RECORDED_PROVIDER_FILE = os.path.join(".cache", "lab-provider")
DEFAULT_PROVIDER = "virtualbox"
# What Ansible's ssh_args of ansible.cfg say, minus its UserKnownHostsFile=/dev/null: podman nodes
# are checked against the known_hosts file lab-podman.py writes from the nodes' own host keys.
PODMAN_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=120s -o IdentitiesOnly=yes"
KUBERNETES_VERSION_RE = re.compile(r"^1\.(\d+)(\.\d+)?$")
# The oldest minor still served by the upstream package repositories the roles install from.
OLDEST_KUBERNETES_MINOR = 31


class TopologyError(ValueError):
    """A setting of the topology file is invalid; the message names it."""


@dataclass(frozen=True)
class Node:
    name: str
    role: str
    ip: str
    ssh_port: int
    cpus: int
    memory: int


@dataclass(frozen=True)
class Topology:
    nodes: list[Node]
    group_vars: dict = field(default_factory=dict)
    # Podman nodes in the shape of Vagrant VMs (podman_nat_interface).
    nat_interface: bool = False


def _network(settings: dict, key: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(str(settings[key]), strict=True)
    except ValueError as exc:
        raise TopologyError(f"{key}: {settings[key]!r} is not an IPv4 network ({exc})") from exc


def _positive(settings: dict, key: str, minimum: int = 1) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TopologyError(f"{key}: must be a whole number >= {minimum} (got {value!r})")
    return value


def build_topology(settings: dict) -> Topology:
    """Validate the topology settings and compute the nodes and the lab_* variables."""
    provider = settings["provider"]
    if provider not in PROVIDERS:
        raise TopologyError(f"provider: {provider!r} is unknown; use one of {', '.join(PROVIDERS)}")

    version = str(settings["kubernetes_version"])
    match = KUBERNETES_VERSION_RE.match(version)
    if not match or int(match.group(1)) < OLDEST_KUBERNETES_MINOR:
        raise TopologyError(
            f"kubernetes_version: {version!r} must look like 1.MINOR or 1.MINOR.PATCH with "
            f"MINOR >= {OLDEST_KUBERNETES_MINOR}"
        )

    subnet = _network(settings, "subnet")
    pod_cidr = _network(settings, "pod_cidr")
    service_cidr = _network(settings, "service_cidr")
    for (name_a, net_a), (name_b, net_b) in (
        (("subnet", subnet), ("pod_cidr", pod_cidr)),
        (("subnet", subnet), ("service_cidr", service_cidr)),
        (("pod_cidr", pod_cidr), ("service_cidr", service_cidr)),
    ):
        if net_a.overlaps(net_b):
            raise TopologyError(f"{name_b}: {net_b} overlaps {name_a} {net_a}")

    host_count = subnet.num_addresses - 2
    max_workers = host_count - WORKER_HOST_BASE
    workers = settings["workers"]
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= max_workers:
        raise TopologyError(
            f"workers: must be between 1 and {max(max_workers, 0)} for subnet {subnet} (got {workers!r})"
        )

    lb_first = _positive(settings, "loadbalancer_first")
    lb_last = _positive(settings, "loadbalancer_last")
    if lb_last < lb_first:
        raise TopologyError(f"loadbalancer_last: {lb_last} is below loadbalancer_first {lb_first}")
    if lb_first <= MASTER_HOST_NUMBER <= lb_last or lb_last > WORKER_HOST_BASE:
        raise TopologyError(
            f"loadbalancer_first/loadbalancer_last: {lb_first}-{lb_last} must stay clear of m-k8s "
            f"(.{MASTER_HOST_NUMBER}) and the workers (.{WORKER_HOST_BASE + 1} and up)"
        )

    if _positive(settings, "master_cpus") < 2:
        raise TopologyError("master_cpus: kubeadm needs at least 2 CPUs on the control plane")
    # kubeadm's preflight check refuses nodes with less than 1700 MB.
    _positive(settings, "master_memory", 1700)
    _positive(settings, "worker_cpus")
    _positive(settings, "worker_memory", 1700)
    master_port = _positive(settings, "master_ssh_port", 1024)
    worker_port_base = _positive(settings, "worker_ssh_port_base", 1024)
    if worker_port_base + workers > 65535:
        raise TopologyError(f"worker_ssh_port_base: {worker_port_base} + {workers} workers exceeds 65535")
    if worker_port_base < master_port <= worker_port_base + workers:
        raise TopologyError(f"master_ssh_port: {master_port} collides with the worker ports")

    def host(number: int) -> str:
        return str(subnet.network_address + number)

    nodes = [
        Node(MASTER_NAME, "control_plane", host(MASTER_HOST_NUMBER), master_port,
             settings["master_cpus"], settings["master_memory"])
    ]
    nodes += [
        Node(f"w{i}-k8s", "worker", host(WORKER_HOST_BASE + i), worker_port_base + i,
             settings["worker_cpus"], settings["worker_memory"])
        for i in range(1, workers + 1)
    ]
    nat_interface = settings.get("podman_nat_interface", False)
    if not isinstance(nat_interface, bool):
        raise TopologyError(f"podman_nat_interface: must be true or false (got {nat_interface!r})")
    if nat_interface and provider != "podman":
        raise TopologyError(f"podman_nat_interface: shapes podman nodes; provider {provider} makes VMs, "
                            "which have their NAT interface already")

    master_ip = nodes[0].ip
    group_vars = {
        "lab_kubernetes_version": version,
        "lab_kubernetes_minor": f"1.{match.group(1)}",
        "lab_provider": provider,
        # The account users log in with: Vagrant boxes have vagrant, podman nodes only root.
        "lab_login_user": "root" if provider == "podman" else "vagrant",
        "lab_subnet": str(subnet),
        "lab_subnet_prefix": subnet.prefixlen,
        "lab_pod_cidr": str(pod_cidr),
        "lab_service_cidr": str(service_cidr),
        "lab_master_ip": master_ip,
        "lab_api_endpoint": f"{master_ip}:6443",
        "lab_loadbalancer_first_ip": host(lb_first),
        "lab_loadbalancer_last_ip": host(lb_last),
        "lab_nodes": [{"name": n.name, "ip": n.ip, "role": n.role} for n in nodes],
    }
    return Topology(nodes=nodes, group_vars=group_vars, nat_interface=nat_interface)


def podman_paths(project_dir: str) -> dict:
    """The files scripts/lab-podman.py writes and Ansible reads for a podman lab."""
    state_dir = os.path.join(project_dir, PODMAN_STATE_DIR)
    return {
        "state_dir": state_dir,
        "private_key": os.path.join(state_dir, "id_ed25519"),
        "known_hosts": os.path.join(state_dir, "known_hosts"),
    }


def connection_vars(node: Node, mode: str, provider: str, project_dir: str, local_name: str) -> dict:
    """How Ansible reaches a node: over the forwarded port from the host, or from inside a VM; or,
    for podman nodes, on the node's lab address over the podman bridge."""
    if provider == "podman":
        paths = podman_paths(project_dir)
        # The nodes are throwaway, but their host keys are not guessed: lab-podman.py gives each
        # node its own key and writes the known_hosts file from what the node really has, so
        # checking stays strict and a node recreated behind Ansible's back is refused.
        return {
            "ansible_host": node.ip, "ansible_port": 22, "ansible_user": "root",
            "ansible_ssh_private_key_file": paths["private_key"],
            "ansible_ssh_args": PODMAN_SSH_ARGS,
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={paths['known_hosts']} -o StrictHostKeyChecking=yes"
            ),
            "ansible_host_key_checking": True,
        }
    if mode == "guest" and node.name == local_name:
        return {"ansible_connection": "local"}
    key = os.path.join(project_dir, ".vagrant", "machines", node.name, provider, "private_key")
    if mode == "guest":
        return {"ansible_host": node.ip, "ansible_port": 22, "ansible_user": "vagrant",
                "ansible_ssh_private_key_file": key}
    return {"ansible_host": "127.0.0.1", "ansible_port": node.ssh_port, "ansible_user": "vagrant",
            "ansible_ssh_private_key_file": key}


SETTINGS = (
    "workers", "kubernetes_version", "provider", "master_cpus", "master_memory", "worker_cpus",
    "worker_memory", "subnet", "loadbalancer_first", "loadbalancer_last", "pod_cidr",
    "service_cidr", "master_ssh_port", "worker_ssh_port_base", "podman_nat_interface",
)


def option_defaults() -> dict:
    """The defaults of the plugin's options, as DOCUMENTATION declares them."""
    options = yaml.safe_load(DOCUMENTATION)["options"]
    return {key: options[key].get("default") for key in SETTINGS}


def read_settings(path: str, environ: dict | None = None) -> dict:
    """The settings of a topology file with the plugin's defaults and the provider decided as the
    plugin decides it, for scripts that run outside Ansible (scripts/lab-podman.py, scripts/lab-up.sh)."""
    environ = os.environ if environ is None else environ
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict) or data.get("plugin") != PLUGIN_NAME:
        raise TopologyError(f"plugin: {path} is not a lab_topology file (plugin: {PLUGIN_NAME})")
    settings = option_defaults()
    settings.update({key: data[key] for key in SETTINGS if key in data})
    return {**settings, "provider": decide_provider(settings["provider"], project_dir_of(path, environ), environ)}


def recorded_provider(project_dir: str) -> str:
    """The provider `make lab` recorded for this project directory, or ''."""
    try:
        with open(os.path.join(project_dir, RECORDED_PROVIDER_FILE), encoding="utf-8") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return ""


def provider_source(configured: str | None, project_dir: str, environ) -> tuple[str, str]:
    """The lab's provider and what decided it: LAB_PROVIDER, then the topology file's provider, then
    what `make lab` recorded, then VAGRANT_DEFAULT_PROVIDER, then virtualbox."""
    for value, source in (
        (environ.get("LAB_PROVIDER", ""), "LAB_PROVIDER"),
        (configured or "", "topology"),
        (recorded_provider(project_dir), RECORDED_PROVIDER_FILE),
        (environ.get("VAGRANT_DEFAULT_PROVIDER", ""), "VAGRANT_DEFAULT_PROVIDER"),
    ):
        if value:
            return value, source
    return DEFAULT_PROVIDER, "default"


def decide_provider(configured: str | None, project_dir: str, environ) -> str:
    return provider_source(configured, project_dir, environ)[0]


def project_dir_of(path: str, environ=None) -> str:
    """The project directory of a topology file, decided as the plugin decides it: the file's
    project_dir, then LAB_PROJECT_DIR, then the parent of the inventory directory."""
    environ = os.environ if environ is None else environ
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return (data.get("project_dir") or environ.get("LAB_PROJECT_DIR")
            or os.path.dirname(os.path.dirname(os.path.abspath(path))))


class InventoryModule(BaseInventoryPlugin):
    NAME = PLUGIN_NAME

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("topology.yml", "topology.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        project_dir = project_dir_of(path)
        settings = {key: self.get_option(key) for key in SETTINGS}
        settings["provider"] = decide_provider(settings["provider"], project_dir, os.environ)
        try:
            topology = build_topology(settings)
        except TopologyError as exc:
            raise AnsibleParserError(f"{path}: {exc}") from exc

        mode = self.get_option("connection")
        local_name = socket.gethostname().split(".")[0]
        if mode == "auto":
            mode = "guest" if local_name in {node.name for node in topology.nodes} else "host"

        self.inventory.add_group("k8s_cluster")
        for group in ("control_plane", "workers"):
            self.inventory.add_group(group)
            self.inventory.add_child("k8s_cluster", group)
        for key, value in topology.group_vars.items():
            self.inventory.set_variable("k8s_cluster", key, value)
        self.inventory.set_variable("k8s_cluster", "lab_project_dir", project_dir)

        for node in topology.nodes:
            group = "control_plane" if node.role == "control_plane" else "workers"
            self.inventory.add_host(node.name, group=group)
            host_vars = {"lab_node_ip": node.ip, "lab_node_role": node.role}
            host_vars.update(connection_vars(node, mode, settings["provider"], project_dir, local_name))
            for key, value in host_vars.items():
                self.inventory.set_variable(node.name, key, value)
