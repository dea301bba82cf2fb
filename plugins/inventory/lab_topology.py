"""Inventory plugin that turns the lab's topology file into hosts, groups and lab_* variables.

It is the one reader of inventory/topology.yml. Scripts and tests import it as Ansible does
(ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology); the Vagrantfile runs this file as
a program, `python plugins/inventory/lab_topology.py [FILE]`, which prints the lab as JSON (describe()
below) and needs Python 3 with PyYAML only, no Ansible (a Windows host has none)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: lab_topology
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
short_description: The k8s-lab nodes, read from the lab's topology file
description:
  - Reads C(inventory/topology.yml), the single source of truth for the lab, and defines
    C(m-k8s) and C(w1-k8s) ... C(wN-k8s) with their lab addresses and SSH settings.
  - It is the only code that reads that file. The Vagrantfile runs this plugin's file as a program
    (C(python plugins/inventory/lab_topology.py)), which prints the nodes, their addresses,
    forwarded SSH ports, CPUs and memory, and the Vagrant box, as JSON; it needs Python 3 with
    PyYAML, not Ansible.
  - The nodes are Vagrant VMs (providers C(virtualbox), C(libvirt)) or systemd containers on a
    podman bridge (provider C(podman), started by C(scripts/lab-podman.py)).
  - Groups are C(control_plane), C(workers) and their parent C(k8s_cluster). Every node is also in
    the group of its kind, C(container_nodes) (provider C(podman)) or C(vm_nodes) (the Vagrant
    providers), a child of C(k8s_cluster). The settings that differ between the two are the group
    variables of those groups (C(inventory/group_vars/container_nodes.yml), C(vm_nodes.yml)).
  - Every host gets C(lab_node_ip) and C(lab_node_role); the topology itself is exposed to all
    hosts as C(lab_*) variables (C(lab_pod_cidr), C(lab_master_ip), C(lab_nodes), ...), and
    C(lab_project_dir) is the directory that holds the lab's C(.cache/) (see I(project_dir)).
  - C(lab_node_bundle_dir) is where the nodes see the controller's offline bundle, read-only
    (C(/opt/k8s-lab/bundle) on podman nodes, which C(scripts/lab-podman.py) mounts it into), or
    empty where the files must be copied to the nodes (VMs).
  - Bad settings stop the run with a message that names the setting, and so do settings this
    plugin does not know, with the nearest known name (a misspelt one would otherwise be ignored).
  - I(kubernetes_version) must name a Kubernetes release the project pins in C(bundle/versions.yml)
    of the collection, C(kubernetes) (what a new lab runs) or C(kubernetes_previous) (the minor before,
    an older lab's), as its minor or that exact patch. C(lab_kubernetes_release) is the release it names
    (v1.36.3), C(lab_kubernetes_pinned) every pinned release. A node already built keeps its own
    release (the P(k8s_lab.lab.node_release#filter) rule); C(playbooks/upgrade.yml) moves it.
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
    description:
      - Kubernetes minor (C(1.37)) or patch (C(1.37.2)) version, quoted (an unquoted C(1.40) is the
        YAML number 1.4). It must be the minor or the exact patch of a Kubernetes pinned in
        C(bundle/versions.yml) (C(kubernetes) or C(kubernetes_previous)).
      - The release a new lab is built at; a built lab is upgraded with C(playbooks/upgrade.yml).
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
    description: Vagrant box (used by the Vagrantfile only).
    type: str
    default: bento/rockylinux-9
  box_version:
    description:
      - Vagrant box version or constraint, quoted (used by the Vagrantfile only); empty for the
        newest.
    type: str
    default: ""
  vm_group:
    description: VirtualBox group of the VMs, starting with C(/) (used by the Vagrantfile only).
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
    description:
      - The lab (host-only) subnet. m-k8s is host .10, wN-k8s is host .100+N; .1 is the host (the
        gateway).
      - Neither this nor I(pod_cidr) nor I(service_cidr) may touch the loopback, link-local,
        multicast, reserved or C(0.0.0.0/8) ranges.
    type: str
    default: 192.168.1.0/24
  loadbalancer_first:
    description:
      - First host number of the subnet handed to LoadBalancer services.
      - The range must stay clear of the network address, .1 (the host), m-k8s (.10) and the
        workers' numbers (.101 and up).
    type: int
    default: 11
  loadbalancer_last:
    description: Last host number of the subnet handed to LoadBalancer services.
    type: int
    default: 29
  pod_cidr:
    description:
      - Pod network; must not overlap the lab subnet or the service network.
      - kubeadm gives each node a /24 of it, so it must be a /24 or larger with a /24 for every
        node.
    type: str
    default: 172.16.0.0/16
  service_cidr:
    description:
      - Service network; must not overlap the lab subnet or the pod network.
      - A /28 or larger (kubeadm puts the API service on its 1st address and cluster DNS on its
        10th).
    type: str
    default: 10.96.0.0/12
  master_ssh_port:
    description: Host port forwarded to the SSH port of m-k8s (1024-65535).
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

import argparse
import dataclasses
import difflib
import ipaddress
import json
import os
import re
import socket
import sys
from dataclasses import dataclass, field

import yaml

if __name__ == "__main__":
    # Run as a program (main() below): the nodes for the Vagrantfile, on a host that may have no
    # Ansible at all. The same on every host, so the tests that run it prove the Ansible-free path.
    # Without Ansible there is no ansible_collections package (and a Windows checkout has the
    # collections/ symlink as a plain file): the release rules, standard library only, load by path.
    import importlib.util

    BaseInventoryPlugin = object
    _RELEASE_SPEC = importlib.util.spec_from_file_location("kubernetes_release", os.path.join(
        os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "module_utils", "kubernetes_release.py"))
    _release = importlib.util.module_from_spec(_RELEASE_SPEC)
    sys.modules[_RELEASE_SPEC.name] = _release
    _RELEASE_SPEC.loader.exec_module(_release)
    ReleaseError, minor_of, release_of, spellings = (
        _release.ReleaseError, _release.minor_of, _release.release_of, _release.spellings)
else:
    from ansible.errors import AnsibleParserError
    from ansible.plugins.inventory import BaseInventoryPlugin

    from ansible_collections.k8s_lab.lab.plugins.module_utils.kubernetes_release import (
        ReleaseError,
        minor_of,
        release_of,
        spellings,
    )

PLUGIN_NAME = "k8s_lab.lab.lab_topology"
MASTER_NAME = "m-k8s"
MASTER_HOST_NUMBER = 10
WORKER_HOST_BASE = 100
PROVIDERS = ("virtualbox", "libvirt", "podman")
VAGRANT_PROVIDERS = ("virtualbox", "libvirt")
# The group of each kind of node: the provider-specific settings are its group_vars.
CONTAINER_NODES_GROUP = "container_nodes"
VM_NODES_GROUP = "vm_nodes"


def node_kind_group(provider: str) -> str:
    """The group a provider's nodes are in, besides control_plane or workers."""
    return CONTAINER_NODES_GROUP if provider == "podman" else VM_NODES_GROUP
# Where scripts/lab-podman.py keeps the podman lab's SSH key, known_hosts file and state, relative to
# the project directory.
PODMAN_STATE_DIR = os.path.join(".cache", "lab-podman")
# What `make lab` chose (scripts/lab.py writes it, `make lab-destroy` removes it), relative to the
# project directory.
RECORDED_PROVIDER_FILE = os.path.join(".cache", "lab-provider")
# The offline bundle `make bundle` builds, relative to the project directory (LAB_BUNDLE_DIR wins).
BUNDLE_DIR = os.path.join(".cache", "bundle")
# Where a podman node sees the controller's bundle: scripts/lab-podman.py bind-mounts it there,
# read-only, and bundle_install reads it there instead of copying it over SSH (lab_node_bundle_dir).
NODE_BUNDLE_DIR = "/opt/k8s-lab/bundle"
DEFAULT_PROVIDER = "virtualbox"
# What Ansible's ssh_args of ansible.cfg say, minus its UserKnownHostsFile=/dev/null: podman nodes
# are checked against the known_hosts file lab-podman.py writes from the nodes' own host keys.
PODMAN_SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=120s -o IdentitiesOnly=yes"
KUBERNETES_VERSION_RE = re.compile(r"^1\.(\d+)(\.\d+)?$")
PIN_RE = re.compile(r"^v1\.\d+\.\d+$")
# The Kubernetes the project knows is what it pins for its offline bundle: `kubernetes:` of
# bundle/versions.yml and the minor before it, `kubernetes_previous:` (scripts/bundle.py builds exactly
# those, and checks this file against them with kubernetes_release() below). The plugin runs from the
# collection, whose root is the repository (plugins/inventory/ is two levels down; galaxy.yml keeps
# bundle/versions.yml in a built collection).
PIN_KEYS = ("kubernetes", "kubernetes_previous")
COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
VERSIONS_FILE = os.path.join(COLLECTION_ROOT, "bundle", "versions.yml")
# The lab's topology, what the program reads when given no file.
TOPOLOGY_FILE = os.path.join(COLLECTION_ROOT, "inventory", "topology.yml")
# Networks no lab range may touch: a pod, service or node address there would be unroutable or
# mean something else to every host. (0.0.0.0/8 is "this network"; 240.0.0.0/4 holds the limited
# broadcast address 255.255.255.255.)
SPECIAL_NETWORKS = tuple((ipaddress.IPv4Network(net), label) for net, label in (
    ("0.0.0.0/8", "unspecified ('this network')"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
))
# kubeadm has the controller-manager give each node a /24 of the pod network (its default
# node-cidr-mask-size for IPv4); the bridge pod network of the container-node lab uses exactly that.
NODE_POD_PREFIX = 24
# kubeadm puts the kubernetes API Service on the first address of the service network and cluster
# DNS on the tenth: a /28 (16 addresses) is the smallest network that holds both.
MAX_SERVICE_PREFIX = 28
GATEWAY_HOST_NUMBER = 1
PORT_MIN = 1024
PORT_MAX = 65535


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
    # What only the Vagrantfile uses: box, box_version, vm_group.
    vagrant: dict = field(default_factory=dict)


def _network(settings: dict, key: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(str(settings[key]), strict=True)
    except ValueError as exc:
        raise TopologyError(f"{key}: {settings[key]!r} is not an IPv4 network ({exc})") from exc
    for special, label in SPECIAL_NETWORKS:
        if network.overlaps(special):
            raise TopologyError(f"{key}: {network} overlaps the {label} range {special}; use a private range")
    return network


def _positive(settings: dict, key: str, minimum: int = 1) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TopologyError(f"{key}: must be a whole number >= {minimum} (got {value!r})")
    return value


def _text(settings: dict, key: str) -> str:
    value = settings[key]
    if not isinstance(value, str):
        raise TopologyError(f"{key}: must be text; quote it (got {value!r})")
    return value


def _vagrant(settings: dict) -> dict:
    """The Vagrant box and the VirtualBox group of the VMs."""
    vagrant = {key: _text(settings, key) for key in VAGRANT_SETTINGS}
    if not vagrant["box"].strip():
        raise TopologyError("box: names no Vagrant box")
    if not vagrant["vm_group"].startswith("/"):
        raise TopologyError(f"vm_group: a VirtualBox group starts with / (got {vagrant['vm_group']!r})")
    return vagrant


def _port(settings: dict, key: str) -> int:
    value = settings[key]
    if isinstance(value, bool) or not isinstance(value, int) or not PORT_MIN <= value <= PORT_MAX:
        raise TopologyError(f"{key}: must be a port number between {PORT_MIN} and {PORT_MAX} (got {value!r})")
    return value


def pinned_releases(path: str = VERSIONS_FILE) -> list[str]:
    """The Kubernetes releases the project pins, the current one first: `kubernetes:` of
    bundle/versions.yml (v1.37.2) and, where the file has it, `kubernetes_previous:` (v1.36.3)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise TopologyError(f"kubernetes_version: cannot read the project's pins from {path} ({exc})") from exc
    data = data if isinstance(data, dict) else {}
    pins = []
    for key in PIN_KEYS:
        pin = data.get(key)
        if pin is None and key != "kubernetes":
            continue
        if not isinstance(pin, str) or not PIN_RE.match(pin):
            raise TopologyError(f"kubernetes_version: {path} pins no Kubernetes like v1.37.2 ({key}: {pin!r})")
        pins.append(pin)
    return pins


def pinned_kubernetes(path: str = VERSIONS_FILE) -> str:
    """The Kubernetes a new lab runs (v1.37.2): `kubernetes:` of bundle/versions.yml."""
    return pinned_releases(path)[0]


def _either(forms) -> str:
    quoted = [f'"{form}"' for form in forms]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def kubernetes_release(version, pinned) -> str:
    """The release (v1.36.3) a topology's kubernetes_version names, which must be the minor or the exact
    patch of a pinned release (pinned: one release, or several): the project builds, tests and bundles
    those only."""
    pins = [pinned] if isinstance(pinned, str) else list(pinned)
    forms = spellings(pins)
    if isinstance(version, bool) or not isinstance(version, (str, int, float)):
        raise TopologyError(f"kubernetes_version: {version!r} is no version; use {_either(forms)}")
    if not isinstance(version, str):
        # YAML reads an unquoted 1.40 as the number 1.4: reading it back as text would pick 1.4.
        raise TopologyError(
            f"kubernetes_version: {version!r} is a YAML number, not text (an unquoted 1.40 is read as 1.4): "
            f'quote it, as in kubernetes_version: "1.40" (this project pins {_either(forms[::2])})'
        )
    if not KUBERNETES_VERSION_RE.match(version):
        raise TopologyError(f"kubernetes_version: {version!r} must look like 1.MINOR or 1.MINOR.PATCH")
    try:
        return release_of(version, pins)
    except ReleaseError as exc:
        raise TopologyError(
            f"kubernetes_version: {version!r} is not {'the' if len(pins) == 1 else 'a'} Kubernetes this project "
            f"pins: use {_either(forms)} "
            f"(bundle/versions.yml pins {' and '.join(pins)}; to move to another version, bump both together)"
        ) from exc


def kubernetes_minor(version, pinned) -> str:
    """The minor (1.37) of the release a topology's kubernetes_version names (kubernetes_release)."""
    return minor_of(kubernetes_release(version, pinned))


def build_topology(settings: dict, pinned: str | list[str] | None = None) -> Topology:
    """Validate the topology settings and compute the nodes and the lab_* variables. pinned is the
    Kubernetes release the project pins, or all of them (read from bundle/versions.yml when not given)."""
    provider = settings["provider"]
    if provider not in PROVIDERS:
        raise TopologyError(f"provider: {provider!r} is unknown; use one of {', '.join(PROVIDERS)}")

    version = settings["kubernetes_version"]
    pins = [pinned] if isinstance(pinned, str) else list(pinned or pinned_releases())
    release = kubernetes_release(version, pins)

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

    nodes_count = workers + 1
    if pod_cidr.prefixlen > NODE_POD_PREFIX or 2 ** (NODE_POD_PREFIX - pod_cidr.prefixlen) < nodes_count:
        needed = NODE_POD_PREFIX - (nodes_count - 1).bit_length()
        raise TopologyError(
            f"pod_cidr: {pod_cidr} is too small: kubeadm gives each node a /{NODE_POD_PREFIX} of it, so "
            f"{nodes_count} nodes need a /{needed} or larger"
        )
    if service_cidr.prefixlen > MAX_SERVICE_PREFIX:
        raise TopologyError(
            f"service_cidr: {service_cidr} is too small: use a /{MAX_SERVICE_PREFIX} or larger (kubeadm puts "
            f"the API service on its 1st address and cluster DNS on its 10th)"
        )

    lb_first = _positive(settings, "loadbalancer_first")
    lb_last = _positive(settings, "loadbalancer_last")
    if lb_last < lb_first:
        raise TopologyError(f"loadbalancer_last: {lb_last} is below loadbalancer_first {lb_first}")
    # Host numbers 0 (the network) and the last (broadcast) are no hosts; .1 is the machine that
    # runs the lab (the host-only adapter, the podman bridge's gateway). The workers' numbers are
    # kept free as a whole, so that raising workers never meets an address MetalLB handed out.
    broadcast = subnet.num_addresses - 1
    if (lb_first <= GATEWAY_HOST_NUMBER or lb_last >= broadcast
            or lb_first <= MASTER_HOST_NUMBER <= lb_last or lb_last > WORKER_HOST_BASE):
        raise TopologyError(
            f"loadbalancer_first/loadbalancer_last: {lb_first}-{lb_last} must lie inside {subnet} and stay "
            f"clear of the network address (.0), the host (.{GATEWAY_HOST_NUMBER}), m-k8s "
            f"(.{MASTER_HOST_NUMBER}), the workers (.{WORKER_HOST_BASE + 1} and up) and the broadcast "
            f"address (.{broadcast})"
        )

    if _positive(settings, "master_cpus") < 2:
        raise TopologyError("master_cpus: kubeadm needs at least 2 CPUs on the control plane")
    # kubeadm's preflight check refuses nodes with less than 1700 MB.
    _positive(settings, "master_memory", 1700)
    _positive(settings, "worker_cpus")
    _positive(settings, "worker_memory", 1700)
    master_port = _port(settings, "master_ssh_port")
    worker_port_base = _port(settings, "worker_ssh_port_base")
    if worker_port_base + workers > PORT_MAX:
        raise TopologyError(f"worker_ssh_port_base: {worker_port_base} + {workers} workers exceeds {PORT_MAX}")
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
        "lab_kubernetes_minor": minor_of(release),
        # The release a new lab is built at; every release the project pins (what a node may run).
        "lab_kubernetes_release": release,
        "lab_kubernetes_pinned": pins,
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
        # Podman nodes share this machine's disk: the provider mounts the bundle into them. VMs have
        # none ("") and get their files copied over SSH.
        "lab_node_bundle_dir": NODE_BUNDLE_DIR if provider == "podman" else "",
    }
    return Topology(nodes=nodes, group_vars=group_vars, nat_interface=nat_interface, vagrant=_vagrant(settings))


def podman_paths(project_dir: str) -> dict:
    """The files scripts/lab-podman.py writes and Ansible reads for a podman lab."""
    state_dir = os.path.join(project_dir, PODMAN_STATE_DIR)
    return {
        "state_dir": state_dir,
        "private_key": os.path.join(state_dir, "id_ed25519"),
        "known_hosts": os.path.join(state_dir, "known_hosts"),
    }


def bundle_dir(project_dir: str, environ) -> str:
    """The controller's bundle for a project directory: LAB_BUNDLE_DIR, else its .cache/bundle (as
    lab_bundle_dir in inventory/group_vars/all.yml and scripts/bundle.py decide it)."""
    return environ.get("LAB_BUNDLE_DIR") or os.path.join(project_dir, BUNDLE_DIR)


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


VAGRANT_SETTINGS = ("box", "box_version", "vm_group")
# What build_topology reads: every option of a topology file but plugin, connection and project_dir.
SETTINGS = (
    "workers", "kubernetes_version", "provider", "master_cpus", "master_memory", "worker_cpus",
    "worker_memory", "subnet", "loadbalancer_first", "loadbalancer_last", "pod_cidr",
    "service_cidr", "master_ssh_port", "worker_ssh_port_base", "podman_nat_interface",
    *VAGRANT_SETTINGS,
)


def documented_options() -> dict:
    """The plugin's options as DOCUMENTATION declares them (plugin, connection and project_dir
    included): the keys a topology file may have."""
    return yaml.safe_load(DOCUMENTATION)["options"]


def option_defaults() -> dict:
    """The defaults of the plugin's options, as DOCUMENTATION declares them."""
    options = documented_options()
    return {key: options[key].get("default") for key in SETTINGS}


def check_known_keys(data: dict, known) -> None:
    """Refuse keys that are no option: Ansible would ignore them, so a misspelt setting (workerz)
    silently left the default in place."""
    known = sorted(str(key) for key in known)
    unknown = sorted(str(key) for key in data if str(key) not in known)
    if unknown:
        problems = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            problems.append(f"{key}: unknown setting; did you mean {close[0]!r}?" if close
                            else f"{key}: unknown setting (known: {', '.join(known)})")
        raise TopologyError("; ".join(problems))


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return data if isinstance(data, dict) else {}


def read_settings(path: str, environ: dict | None = None) -> dict:
    """The settings of a topology file with the plugin's defaults and the provider decided as the
    plugin decides it: what build_topology reads, for the plugin and for every script and test."""
    environ = os.environ if environ is None else environ
    data = _load(path)
    if data.get("plugin") != PLUGIN_NAME:
        raise TopologyError(f"plugin: {path} is not a lab_topology file (plugin: {PLUGIN_NAME})")
    check_known_keys(data, documented_options())
    settings = option_defaults()
    settings.update({key: data[key] for key in SETTINGS if key in data})
    return {**settings, "provider": decide_provider(settings["provider"], project_dir_of(path, environ), environ)}


def read_topology(path: str, environ: dict | None = None) -> Topology:
    """The lab a topology file describes, validated: its nodes and lab_* variables."""
    return build_topology(read_settings(path, environ))


def describe(path: str, environ: dict | None = None) -> dict:
    """The lab a topology file describes, as JSON-ready data for programs outside Ansible (what
    `python plugins/inventory/lab_topology.py` prints for the Vagrantfile): every node with its role,
    lab address, forwarded SSH port, CPUs and memory; the Vagrant box and VirtualBox group; the lab
    subnet; the provider this plugin decides, what decided it and what the file itself says."""
    environ = os.environ if environ is None else environ
    topology = read_topology(path, environ)
    configured = _load(path).get("provider")
    provider, source = provider_source(configured, project_dir_of(path, environ), environ)
    return {
        "provider": provider,
        "provider_source": source,
        "provider_configured": configured,
        "subnet": topology.group_vars["lab_subnet"],
        "vagrant": topology.vagrant,
        "nodes": [dataclasses.asdict(node) for node in topology.nodes],
    }


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
    return (_load(path).get("project_dir") or environ.get("LAB_PROJECT_DIR")
            or os.path.dirname(os.path.dirname(os.path.abspath(path))))


class InventoryModule(BaseInventoryPlugin):
    NAME = PLUGIN_NAME

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("topology.yml", "topology.yaml"))

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        # Ansible's own reading of the file sets the options that are no topology (connection).
        self._read_config_data(path)
        project_dir = project_dir_of(path)
        try:
            # The topology as every script reads it, not through get_option: Ansible would turn an
            # option of type str given as the number 1.4 into "1.4" (hiding an unquoted 1.40), and
            # ignores keys that are no option.
            topology = read_topology(path)
        except TopologyError as exc:
            raise AnsibleParserError(f"{path}: {exc}") from exc
        provider = topology.group_vars["lab_provider"]

        mode = self.get_option("connection")
        local_name = socket.gethostname().split(".")[0]
        if mode == "auto":
            mode = "guest" if local_name in {node.name for node in topology.nodes} else "host"

        self.inventory.add_group("k8s_cluster")
        kind = node_kind_group(provider)
        for group in ("control_plane", "workers", kind):
            self.inventory.add_group(group)
            self.inventory.add_child("k8s_cluster", group)
        for key, value in topology.group_vars.items():
            self.inventory.set_variable("k8s_cluster", key, value)
        self.inventory.set_variable("k8s_cluster", "lab_project_dir", project_dir)

        for node in topology.nodes:
            group = "control_plane" if node.role == "control_plane" else "workers"
            self.inventory.add_host(node.name, group=group)
            self.inventory.add_child(kind, node.name)
            host_vars = {"lab_node_ip": node.ip, "lab_node_role": node.role}
            host_vars.update(connection_vars(node, mode, provider, project_dir, local_name))
            for key, value in host_vars.items():
                self.inventory.set_variable(node.name, key, value)


def main(argv: list[str] | None = None) -> int:
    """`python plugins/inventory/lab_topology.py [FILE]`: the lab FILE (default: this collection's
    inventory/topology.yml) describes, as one JSON object (describe()), or {"error": "FILE: setting:
    message"} and exit status 1 when a setting is wrong."""
    parser = argparse.ArgumentParser(prog="lab_topology.py", description="Print the lab a topology file describes.")
    parser.add_argument("topology", nargs="?", default=TOPOLOGY_FILE, help="topology file")
    args = parser.parse_args(argv)
    try:
        described = describe(args.topology)
    except (OSError, yaml.YAMLError, TopologyError) as exc:
        print(json.dumps({"error": f"{args.topology}: {exc}"}))
        return 1
    print(json.dumps(described, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
