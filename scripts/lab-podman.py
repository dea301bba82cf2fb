#!/usr/bin/env python3
"""The lab's podman provider: every node of inventory/topology.yml as a systemd container.

    scripts/lab-podman.py [--topology FILE] [--prefix P] [--network NAME] up|down|status

up      builds or reuses the node image (scripts/build-node-image.sh), generates the lab's SSH key once,
        drops the pod and service networks on the host (blackhole routes) before any node runs,
        creates the podman network (the topology's subnet, gateway .1) and starts one container per
        node with its static address. Nodes that run are left alone, stopped ones are started (the
        path after a reboot of the machine), and a node whose image or options differ from what the
        topology asks for is reported, not recreated (`down` and `up` recreate it, losing its /var).
        Every node sees the offline bundle (LAB_BUNDLE_DIR, else .cache/bundle of the project) at
        /opt/k8s-lab/bundle, bind-mounted read-only, so that the roles install from it without
        copying it over SSH; `make bundle` replaces the bundle's contents in place, so the nodes see
        a rebuilt bundle at once. Only a directory that holds nothing but the files its SHA256SUMS
        lists is mounted (never .cache/ itself, with the lab's keys and kubeconfig); without a bundle
        the nodes get no mount. A running node whose mount shows another bundle (a bundle directory
        replaced by other means) is reported.
        Ends when every node's systemd has booted and its SSH server lets the lab's key in.
        With podman_nat_interface: true in the topology, every node has the shape of a Vagrant VM: a
        first interface (eth0) on a NAT network of its own (LAB_PODMAN_NAT_SUBNET, default
        10.0.2.0/24 as VirtualBox's NAT) that carries the default route, and the lab network second
        (eth1), internal, without a route out.
down    removes the lab's containers, their /var volumes, the networks and the routes `up` added.
status  one line per node: name, address, state.

Options fall back to environment variables: LAB_TOPOLOGY, LAB_PODMAN_PREFIX (prepended to container
and volume names, for a second lab or a test next to the real one), LAB_PODMAN_NETWORK (default
k8s-lab; it also labels the lab's containers and volumes), LAB_PODMAN_NAT_SUBNET, LAB_PODMAN_TIMEOUT
(seconds to wait for the nodes, default 180), LAB_BUNDLE_DIR (the bundle the nodes see). The topology
is read with the inventory plugin's own code, so this script and Ansible agree on names and addresses;
LAB_PROVIDER and LAB_PROJECT_DIR mean what they mean to the plugin. The SSH key, the known_hosts
file Ansible checks the nodes against and this lab's state are in .cache/lab-podman/ of the project
directory.

Traffic safety: the pod and service networks get blackhole routes on the host (protocol 173 marks
them as this script's), so that a packet a node sends there before kube-proxy and the pod network
are ready is dropped here instead of following the host's default route out. The load-balancer
range needs none: the plugin keeps it inside the lab subnet, which is on-link on the lab's bridge,
so the host answers for it on that bridge and never routes it elsewhere (`up` checks this); the
host must reach those addresses once MetalLB hands them out. After a reboot of the host the routes
are gone but so are the running nodes; `up` puts the routes back before it starts any node.

Needs root (host routes, a rootful bridge network with static addresses), podman with runc (the
project's scripts/podman/containers.conf, used unless CONTAINERS_CONF says otherwise), ip and ssh.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The inventory plugin of the collection k8s_lab.lab (this repository, through its symlink).
sys.path.insert(0, str(ROOT / "collections"))
try:
    from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology
except ImportError as exc:  # the plugin needs Ansible, which lives in the project's venv
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606 - same script, venv's Python
    sys.exit(f"lab-podman: cannot import the inventory plugin ({exc}); run `make setup-lab` first")

LAB_LABEL = "k8s-lab.lab"
NODE_LABEL = "k8s-lab.node"
SPEC_LABEL = "k8s-lab.spec"
# Routing protocol number that marks the blackhole routes this script adds (unassigned in Linux's
# rtnetlink.h; `ip route show proto 173` lists them).
ROUTE_PROTO = "173"
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
NOT_CONFLICTING_ROUTE_TYPES = {"local", "broadcast", "anycast", "multicast"}
DROPPING_ROUTE_TYPES = {"blackhole", "unreachable", "prohibit"}


class LabError(Exception):
    """Something is in the way; the message says what and what to do."""


def say(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is not installed") from exc
    if check and result.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed ({result.returncode}): {result.stderr.strip()}")
    return result


def podman_json(*argv: str) -> list | dict | None:
    """Parsed JSON output of a podman inspect-like command; None when the object does not exist."""
    result = run(["podman", *argv], check=False)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout or "null")


@dataclass
class Lab:
    topology: lab_topology.Topology
    topology_path: Path
    provider: str
    prefix: str
    network: str
    project_dir: Path
    timeout: float
    nat_subnet: ipaddress.IPv4Network
    # The offline bundle to mount into every node (it may not exist yet).
    bundle_path: Path | None = None

    @functools.cached_property
    def bundle(self) -> Path | None:
        """The bundle the nodes see, checked when first needed (`down` needs none), or None."""
        return mountable_bundle(self.bundle_path) if self.bundle_path else None

    @property
    def nat_network(self) -> str | None:
        """The NAT network of Vagrant-shaped nodes (podman_nat_interface), or None."""
        return f"{self.network}-nat" if self.topology.nat_interface else None

    @property
    def networks(self) -> list[tuple[str, ipaddress.IPv4Network]]:
        """The lab's podman networks with their subnets, the NAT network (if any) first."""
        nat = [(self.nat_network, self.nat_subnet)] if self.nat_network else []
        return [*nat, (self.network, self.subnet)]

    @property
    def paths(self) -> dict:
        return {key: Path(value) for key, value in lab_topology.podman_paths(str(self.project_dir)).items()}

    @property
    def state_file(self) -> Path:
        return self.paths["state_dir"] / f"{self.network}.json"

    def container(self, node: lab_topology.Node) -> str:
        return f"{self.prefix}{node.name}"

    def volume(self, node: lab_topology.Node) -> str:
        return f"{self.prefix}{node.name}-var"

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.topology.group_vars["lab_subnet"])

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def drop_cidrs(self) -> list[tuple[str, str]]:
        return [("pod_cidr", self.topology.group_vars["lab_pod_cidr"]),
                ("service_cidr", self.topology.group_vars["lab_service_cidr"])]


def load_lab(args: argparse.Namespace) -> Lab:
    path = Path(args.topology).resolve()
    for key, value, required in (("--prefix", args.prefix, False), ("--network", args.network, True)):
        if (value or required) and not NAME_RE.match(value):
            raise LabError(f"{key}: {value!r} is not a usable podman name (letters, digits, _ . -)")
    try:
        settings = lab_topology.read_settings(str(path))
        topology = lab_topology.build_topology(settings)
    except (OSError, lab_topology.TopologyError) as exc:
        raise LabError(f"{path}: {exc}") from exc
    try:
        nat_subnet = ipaddress.IPv4Network(args.nat_subnet, strict=True)
    except ValueError as exc:
        raise LabError(f"--nat-subnet: {args.nat_subnet!r} is not an IPv4 network ({exc})") from exc
    project_dir = Path(lab_topology.project_dir_of(str(path)))
    bundle = Path(args.bundle or lab_topology.bundle_dir(str(project_dir), os.environ))
    lab = Lab(topology=topology, topology_path=path, provider=settings["provider"], prefix=args.prefix,
              network=args.network, project_dir=project_dir, timeout=args.timeout, nat_subnet=nat_subnet,
              bundle_path=bundle)
    for name, cidr in (("subnet", lab.subnet), *lab.drop_cidrs):
        if lab.nat_network and ipaddress.IPv4Network(cidr).overlaps(nat_subnet):
            raise LabError(f"--nat-subnet: {nat_subnet} overlaps the topology's {name} {cidr}")
    return lab


# --- the bundle the nodes see -----------------------------------------------------------------------

SUMS_FILE = "SHA256SUMS"
MANIFEST_FILE = "manifest.json"
# Read-only, and nothing in it runs or acts as a device on the node: the roles copy what they install.
BUNDLE_MOUNT_OPTIONS = "ro,nosuid,nodev,noexec"


def listed_files(sums_text: str) -> set[str]:
    """The paths a SHA256SUMS lists ("<sha256>  <path>" or "<sha256> *<path>" per line)."""
    return {line.split(None, 1)[1].lstrip("*") for line in sums_text.splitlines() if len(line.split(None, 1)) == 2}


def mountable_bundle(path: Path) -> Path | None:
    """path, resolved, when it is a bundle the nodes may see; None when there is none yet. The nodes
    see all of a mounted directory, so it must hold the bundle's files and nothing else: a
    LAB_BUNDLE_DIR pointing at .cache/ (the lab's SSH key, the kubeconfig, .cache/secrets) or at a
    home directory is refused, naming what it holds besides the bundle."""
    if not path.exists():
        return None
    path = path.resolve()
    if not (path / SUMS_FILE).is_file() or not (path / MANIFEST_FILE).is_file():
        raise LabError(f"bundle: {path} is no offline bundle (it needs {MANIFEST_FILE} and {SUMS_FILE}): run "
                       f"`make bundle`, or point LAB_BUNDLE_DIR at a bundle")
    listed = listed_files((path / SUMS_FILE).read_text()) | {SUMS_FILE}
    extra = []
    for found in sorted(path.rglob("*")):
        rel = found.relative_to(path).as_posix()
        if not found.is_dir() and rel not in listed:
            extra.append(rel)
            if len(extra) == 5:
                break
    if extra:
        raise LabError(f"bundle: {path} holds files its {SUMS_FILE} does not list ({', '.join(extra)}"
                       f"{' ...' if len(extra) == 5 else ''}); every node would see them. Mount only a bundle "
                       f"directory `make bundle` wrote: point LAB_BUNDLE_DIR at one")
    return path


def sums_digest(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def stale_bundle_mount(lab: Lab, node: lab_topology.Node) -> str | None:
    """Why a running node's mount does not show the lab's bundle, or None when it does. A bind
    mount keeps the directory it was made of: a bundle directory deleted and made again (by hand,
    or by a bundle tool other than make bundle) leaves the node looking at the deleted one."""
    if lab.bundle is None:
        return None
    wanted = sums_digest((lab.bundle / SUMS_FILE).read_bytes())
    result = run(["podman", "exec", lab.container(node), "sha256sum", f"{lab_topology.NODE_BUNDLE_DIR}/{SUMS_FILE}"],
                 check=False)
    seen = result.stdout.split()[0] if result.returncode == 0 and result.stdout.strip() else None
    return bundle_mount_problem(wanted, seen)


def bundle_mount_problem(wanted: str, seen: str | None) -> str | None:
    if seen is None:
        return f"it has no {SUMS_FILE} at {lab_topology.NODE_BUNDLE_DIR}"
    if seen != wanted:
        return f"its {lab_topology.NODE_BUNDLE_DIR}/{SUMS_FILE} has sha256 {seen[:12]}, the bundle's has {wanted[:12]}"
    return None


# --- the host: routes, addresses, the lab's bridge -------------------------------------------------

def host_routes() -> list[dict]:
    return json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]")


def host_addresses() -> list[tuple[str, ipaddress.IPv4Interface]]:
    links = json.loads(run(["ip", "-j", "-4", "address", "show"]).stdout or "[]")
    return [(link["ifname"], ipaddress.IPv4Interface(f"{info['local']}/{info['prefixlen']}"))
            for link in links for info in link.get("addr_info", []) if info.get("family") == "inet"]


def route_network(route: dict) -> ipaddress.IPv4Network | None:
    dst = route.get("dst", "")
    if dst == "default":
        return None
    return ipaddress.IPv4Network(dst, strict=False)


def is_lab_blackhole(route: dict, cidr: str) -> bool:
    return (route.get("type") == "blackhole" and route.get("dst") == cidr
            and route.get("protocol") == ROUTE_PROTO and route.get("table", "main") == "main")


def conflicts(lab: Lab, bridges: set[str]) -> list[str]:
    """What the host already has in the lab's networks (other than the lab's own bridges)."""
    routes, addresses = host_routes(), host_addresses()
    found = []
    nat = [("the NAT network", lab.nat_subnet, False)] if lab.nat_network else []
    for setting, network, dropped_ok in (("subnet", lab.subnet, False), *nat,
                                         *((name, ipaddress.IPv4Network(cidr), True) for name, cidr in lab.drop_cidrs)):
        for route in routes:
            net = route_network(route)
            if net is None or not net.overlaps(network) or route.get("type") in NOT_CONFLICTING_ROUTE_TYPES:
                continue
            if route.get("dev") in bridges:
                continue
            # Pod and service networks may already be dropped (by an earlier `up`, or by hand).
            if dropped_ok and route.get("type") in DROPPING_ROUTE_TYPES:
                continue
            where = f"dev {route['dev']}" if route.get("dev") else route.get("type", "route")
            found.append(f"{setting} {network} overlaps the host's route to {route['dst']} ({where})")
        for ifname, address in addresses:
            if ifname not in bridges and address.network.overlaps(network):
                found.append(f"{setting} {network} overlaps address {address} on {ifname}")
    return found


def other_podman_networks(lab: Lab) -> list[str]:
    networks = podman_json("network", "ls", "--format", "json") or []
    ours = {name for name, _ in lab.networks}
    found = []
    for network in networks:
        if network.get("name") in ours:
            continue
        for subnet in network.get("subnets") or []:
            for name, wanted in lab.networks:
                if ipaddress.ip_network(subnet["subnet"], strict=False).overlaps(wanted):
                    found.append(f"{name}'s subnet {wanted} overlaps podman network {network['name']} "
                                 f"({subnet['subnet']})")
    return found


def existing_network(lab: Lab, name: str, subnet: ipaddress.IPv4Network) -> dict | None:
    """The lab's podman network name as podman has it, None when absent; LabError when it is not
    the lab's or not what the topology asks for."""
    info = podman_json("network", "inspect", name)
    if not info:
        return None
    info = info[0]
    if (info.get("labels") or {}).get(LAB_LABEL) != lab.network:
        raise LabError(f"podman network {name} exists but was not made for this lab; remove it or pick another "
                       f"--network")
    subnets = [(s.get("subnet"), s.get("gateway")) for s in info.get("subnets") or []]
    internal = name == lab.network and bool(lab.nat_network)
    if subnets != [(str(subnet), str(subnet.network_address + 1))] or bool(info.get("internal")) != internal:
        raise LabError(f"podman network {name} has {subnets}{' (internal)' if info.get('internal') else ''}, the "
                       f"topology wants subnet {subnet} gateway {subnet.network_address + 1}"
                       f"{' (internal)' if internal else ''}: run `scripts/lab-podman.py down` first")
    return info


def bridge_of(lab: Lab) -> str | None:
    info = podman_json("network", "inspect", lab.network)
    return info[0].get("network_interface") if info else None


def ensure_blackholes(lab: Lab, state: dict) -> None:
    """Drop the pod and service networks on the host; remember which routes this lab added."""
    routes = host_routes()
    added = set(state.get("routes", []))
    for setting, cidr in lab.drop_cidrs:
        exact = [r for r in routes if r.get("dst") == cidr and r.get("table", "main") == "main"]
        dropping = [r["type"] for r in exact if r.get("type") in DROPPING_ROUTE_TYPES]
        if any(is_lab_blackhole(r, cidr) for r in exact):
            note = ("present" if cidr in added else
                    "present but not this lab's (another lab's, or its state in .cache is gone): left in place")
        elif dropping:
            note = f"already dropped by the host's own {dropping[0]} route: left alone"
        else:
            run(["ip", "route", "replace", "blackhole", cidr, "proto", ROUTE_PROTO])
            added.add(cidr)
            note = "added"
        say(f"host: blackhole route for {setting} {cidr}: {note}")
    state["routes"] = sorted(added)
    save_state(lab, state)


def check_loadbalancer_on_link(lab: Lab, bridge: str) -> None:
    for key in ("lab_loadbalancer_first_ip", "lab_loadbalancer_last_ip"):
        address = lab.topology.group_vars[key]
        route = json.loads(run(["ip", "-j", "route", "get", address]).stdout)[0]
        if route.get("dev") != bridge or route.get("gateway"):
            raise LabError(f"load-balancer address {address} is routed via {route.get('gateway') or '-'} dev "
                           f"{route.get('dev')}, not on the lab bridge {bridge}: check the host's routes")


# --- state -----------------------------------------------------------------------------------------

def load_state(lab: Lab) -> dict:
    try:
        return json.loads(lab.state_file.read_text())
    except FileNotFoundError:
        return {}


def save_state(lab: Lab, state: dict) -> None:
    lab.paths["state_dir"].mkdir(parents=True, exist_ok=True, mode=0o700)
    state.update(network=lab.network, prefix=lab.prefix, topology=str(lab.topology_path),
                 nodes=sorted({*state.get("nodes", []), *(n.ip for n in lab.topology.nodes)}))
    tmp = lab.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(lab.state_file)


def ensure_key(lab: Lab) -> bool:
    """The lab's SSH key, generated once. True when it was generated now."""
    key = lab.paths["private_key"]
    if key.exists():
        return False
    key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"k8s-lab-podman@{lab.network}", "-f", str(key)])
    say(f"ssh key: generated {key}")
    return True


def write_known_hosts(lab: Lab, keys: dict[str, str]) -> None:
    """known_hosts lines for the lab's addresses, from the host keys the nodes really have."""
    path = lab.paths["known_hosts"]
    lines = path.read_text().splitlines() if path.exists() else []
    lines = [line for line in lines if line.split(" ", 1)[0] not in keys]
    lines += [f"{ip} {key}" for ip, key in sorted(keys.items())]
    path.write_text("".join(f"{line}\n" for line in lines))


def forget_known_hosts(lab: Lab, addresses: set[str]) -> None:
    path = lab.paths["known_hosts"]
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if line.split(" ", 1)[0] not in addresses]
        path.write_text("".join(f"{line}\n" for line in lines))


# --- nodes -----------------------------------------------------------------------------------------

def node_image() -> tuple[str, str]:
    """The node image (built or reused by scripts/build-node-image.sh) and its ID."""
    result = subprocess.run([str(ROOT / "scripts" / "build-node-image.sh")], stdout=subprocess.PIPE,
                            text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise LabError("scripts/build-node-image.sh failed; see its output above")
    image = result.stdout.strip().splitlines()[-1]
    image_id = podman_json("image", "inspect", image)
    if not image_id:
        raise LabError(f"node image {image} is not in podman's store")
    return image, image_id[0]["Id"]


def create_options(lab: Lab, node: lab_topology.Node, image: str) -> list[str]:
    """`podman create` arguments of a node, without the label that carries their hash."""
    if lab.nat_network:
        # As a Vagrant VM: NAT first (eth0, the default route), the lab network second.
        networks = ["--network", f"{lab.nat_network}:interface_name=eth0",
                    "--network", f"{lab.network}:ip={node.ip},interface_name=eth1"]
    else:
        networks = ["--network", lab.network, "--ip", node.ip]
    options = [
        "--name", lab.container(node), "--hostname", node.name, *networks,
        # Limits, not reservations: the topology's CPUs may exceed the host's.
        "--cpus", str(node.cpus), "--memory", f"{node.memory}m",
        # A VM has no cap on processes; podman's default (2048) counts every thread of etcd,
        # the API server and the JVMs of the lab's pods.
        "--pids-limit", "-1",
        # kubelet, containerd, kube-proxy and Calico change sysctls, iptables and mounts, create
        # devices and cgroups: a node needs the privileges of a machine.
        "--privileged",
        # The node sees its own cgroup tree as the root (kind does the same), so kubelet and
        # containerd manage cgroups below it rather than the host's.
        "--cgroupns", "private",
        # /sbin/init is systemd, but podman's systemd mode stays off: on a cgroup v1 host that mode
        # bind-mounts the host's whole name=systemd hierarchy over the node's private one, so every
        # node's systemd takes the hierarchy's root as its own; stopping one node then removed the
        # others' cgroups (`podman exec` into them failed). What the mode would add is set here:
        # systemd's container marker, its stop signal and tmpfs where it expects volatile files.
        "--systemd", "false", "--env", "container=podman", "--stop-signal", "SIGRTMIN+3",
        # A reboot inside the node (playbooks/maintenance.yml) ends its systemd; podman then starts
        # the container again, as a VM's firmware would. `podman stop` and `down` still stop it.
        "--restart", "on-failure",
        "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",  # noqa: S108 - the node's own /tmp
        # containerd's snapshots and kubelet's pod volumes on the container's overlayfs would be
        # overlay on overlay, which fails; the volume keeps them, the package state and the logs
        # across restarts. suid, exec, dev: pods' images may carry setuid binaries and devices.
        "--volume", f"{lab.volume(node)}:/var:suid,exec,dev",
        # The common role writes the lab's hosts file itself.
        "--no-hosts",
        "--label", f"{LAB_LABEL}={lab.network}", "--label", f"{NODE_LABEL}={node.name}",
    ]
    if Path("/lib/modules").is_dir():
        # modprobe and kubeadm's preflight look here; the host kernel's modules, read-only.
        options += ["--volume", "/lib/modules:/lib/modules:ro"]
    if lab.bundle is not None:
        # The nodes share this machine's disk: the roles read the bundle here instead of receiving
        # a copy of it over SSH (bundle_install_node_source: mounted).
        options += ["--volume", f"{lab.bundle}:{lab_topology.NODE_BUNDLE_DIR}:{BUNDLE_MOUNT_OPTIONS}"]
    return [*options, image, "/sbin/init"]


def spec_hash(options: list[str]) -> str:
    return hashlib.sha256(json.dumps(options).encode()).hexdigest()[:16]


def inspect_container(name: str) -> dict | None:
    info = podman_json("container", "inspect", name)
    return info[0] if info else None


def seed_files(lab: Lab, name: str, hostname: str) -> None:
    """Files a new node needs before its first boot: the lab's public key for root, a host key of
    its own (the image's are shared by every container of it) and a machine ID of its own."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        host_key = work / "ssh_host_ed25519_key"
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{hostname}", "-f", str(host_key)])
        sshd_conf = work / "k8s-lab.conf"
        sshd_conf.write_text("# Written by scripts/lab-podman.py: the node's own key, in known_hosts.\n"
                             "HostKey /etc/ssh/ssh_host_ed25519_key\n")
        machine_id = work / "machine-id"
        machine_id.write_text(uuid.uuid4().hex + "\n")
        authorized = work / "authorized_keys"
        shutil.copyfile(lab.paths["private_key"].with_suffix(".pub"), authorized)
        for path, mode in ((authorized, 0o600), (sshd_conf, 0o644), (machine_id, 0o444),
                           (host_key, 0o600), (host_key.with_suffix(".pub"), 0o644)):
            path.chmod(mode)
        for source, target in ((authorized, "/root/.ssh/authorized_keys"),
                               (host_key, "/etc/ssh/ssh_host_ed25519_key"),
                               (host_key.with_suffix(".pub"), "/etc/ssh/ssh_host_ed25519_key.pub"),
                               (sshd_conf, "/etc/ssh/sshd_config.d/k8s-lab.conf"),
                               (machine_id, "/etc/machine-id")):
            run(["podman", "cp", str(source), f"{name}:{target}"])


def push_authorized_key(lab: Lab, name: str) -> None:
    """After the lab's key was regenerated (.cache removed), existing nodes learn the new one."""
    with tempfile.TemporaryDirectory() as tmp:
        authorized = Path(tmp) / "authorized_keys"
        shutil.copyfile(lab.paths["private_key"].with_suffix(".pub"), authorized)
        authorized.chmod(0o600)
        run(["podman", "cp", str(authorized), f"{name}:/root/.ssh/authorized_keys"])


def differences_of(lab: Lab, node: lab_topology.Node, info: dict, image: str, image_id: str) -> list[str]:
    """How an existing node differs from what the topology and the node image ask for."""
    found = []
    if info.get("Image") != image_id:
        found.append(f"it runs image {info.get('Image', '?')[:12]}, the node image {image} is now {image_id[:12]}")
    if (info.get("Config", {}).get("Labels") or {}).get(SPEC_LABEL) != spec_hash(create_options(lab, node, image)):
        found.append("its podman options differ from the topology's (CPUs, memory, address, mounts ...)")
    return found


def ensure_node(lab: Lab, node: lab_topology.Node, image: str, image_id: str, new_key: bool) -> str:
    """Create, start or leave alone one node; returns what was done."""
    name = lab.container(node)
    options = create_options(lab, node, image)
    wanted = spec_hash(options)
    info = inspect_container(name)
    if info is None:
        volume = podman_json("volume", "inspect", lab.volume(node))
        if volume is None:
            run(["podman", "volume", "create", "--label", f"{LAB_LABEL}={lab.network}", lab.volume(node)])
        elif any(Path(volume[0]["Mountpoint"]).iterdir()):
            # /var (the package database, containerd's and kubelet's state) and the rest of the
            # node's files (in the container) belong together: a new container on an old /var
            # would believe in packages it does not have.
            raise LabError(f"{node.name}: volume {lab.volume(node)} holds the /var of a node whose container is "
                           f"gone; remove it (`podman volume rm {lab.volume(node)}`, or `scripts/lab-podman.py "
                           f"down` for the whole lab) and run up again")
        run(["podman", "create", "--label", f"{SPEC_LABEL}={wanted}", *options])
        try:
            seed_files(lab, name, node.name)
            run(["podman", "start", name])
        except LabError:
            # Half-made: gone again, with its volume, so that the next `up` starts clean.
            run(["podman", "rm", "--force", name], check=False)
            run(["podman", "volume", "rm", "--force", lab.volume(node)], check=False)
            raise
        return "created"

    labels = info.get("Config", {}).get("Labels") or {}
    if labels.get(LAB_LABEL) != lab.network:
        raise LabError(f"{node.name}: a container named {name} exists but is not a node of lab {lab.network}; "
                       f"remove it or pick another --prefix")
    differences = differences_of(lab, node, info, image, image_id)
    if differences:
        warn(f"{node.name}: {'; '.join(differences)}. Left as it is; `scripts/lab-podman.py down` and `up` "
             f"recreate it (its /var, and so its cluster state, is lost).")
    if new_key:
        push_authorized_key(lab, name)
    if info.get("State", {}).get("Running"):
        stale = None if differences else stale_bundle_mount(lab, node)
        if stale:
            warn(f"{node.name}: its bundle mount does not show {lab.bundle}: {stale} (the directory was replaced "
                 f"while the node ran). Left as it is; `podman restart {name}` mounts the bundle again.")
        return "running, left alone"
    run(["podman", "start", name])
    return "started"


def wait_booted(lab: Lab, node: lab_topology.Node, deadline: float) -> str:
    """Wait until the node's systemd has finished booting; returns running or degraded."""
    name, state = lab.container(node), "unknown"
    while time.monotonic() < deadline:
        info = inspect_container(name)
        if not info or not info["State"].get("Running"):
            logs = run(["podman", "logs", "--tail", "20", name], check=False)
            raise LabError(f"{node.name}: container {name} stopped while booting:\n{logs.stdout}{logs.stderr}")
        result = run(["podman", "exec", name, "systemctl", "is-system-running"], check=False)
        if result.returncode >= 125:  # podman or the runtime failed, not systemctl
            raise LabError(f"{node.name}: `podman exec {name}` fails: {result.stderr.strip()}")
        state = result.stdout.strip() or result.stderr.strip()
        if state in ("running", "degraded"):
            return state
        time.sleep(1)
    raise LabError(f"{node.name}: systemd has not finished booting after {lab.timeout:.0f} s "
                   f"(systemctl is-system-running: {state}); see `podman exec {name} systemctl list-jobs`")


def ssh_argv(lab: Lab, node: lab_topology.Node, *command: str) -> list[str]:
    return ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR",
            "-o", f"UserKnownHostsFile={lab.paths['known_hosts']}", "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes", "-i", str(lab.paths["private_key"]), "-p", "22",
            f"root@{node.ip}", *command]


def wait_ssh(lab: Lab, node: lab_topology.Node, deadline: float) -> None:
    error = ""
    while time.monotonic() < deadline:
        result = run(ssh_argv(lab, node, "true"), check=False)
        if result.returncode == 0:
            return
        error = result.stderr.strip()
        time.sleep(1)
    raise LabError(f"{node.name}: SSH to root@{node.ip} with {lab.paths['private_key']} does not answer "
                   f"after {lab.timeout:.0f} s: {error or 'no error output'}")


def failed_units(lab: Lab, node: lab_topology.Node) -> list[str]:
    result = run(["podman", "exec", lab.container(node), "systemctl", "--failed", "--no-legend", "--plain"],
                 check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


# --- commands --------------------------------------------------------------------------------------

def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the podman lab needs root: its bridge network takes static addresses and the host "
                       "gets routes (run as root or with sudo)")
    for tool in ("podman", "ip", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            raise LabError(f"{tool} is not installed")


def cmd_up(lab: Lab) -> None:
    require_root()
    image, image_id = node_image()
    say(f"image: {image} ({image_id[:12]})")
    say(f"bundle: {lab.bundle}, read-only at {lab_topology.NODE_BUNDLE_DIR} in every node" if lab.bundle else
        f"bundle: none yet ({lab_topology.bundle_dir(str(lab.project_dir), os.environ)}); the nodes get no mount")
    new_key = ensure_key(lab)

    present = {name: existing_network(lab, name, subnet) for name, subnet in lab.networks}
    bridges = {info["network_interface"] for info in present.values() if info and info.get("network_interface")}

    # The host is made safe before the first node starts.
    problems = conflicts(lab, bridges) + other_podman_networks(lab)
    if problems:
        raise LabError("the lab's networks collide with what this host already has:\n  - "
                       + "\n  - ".join(problems)
                       + f"\nChange subnet/pod_cidr/service_cidr in {lab.topology_path}"
                       + (" or LAB_PODMAN_NAT_SUBNET." if lab.nat_network else "."))
    state = load_state(lab)
    ensure_blackholes(lab, state)

    for name, subnet in lab.networks:
        if present[name]:
            say(f"network {name}: present")
            continue
        # The nodes use the host's resolver, as the VMs do; no podman DNS search domain in pods.
        options = ["--subnet", str(subnet), "--gateway", str(subnet.network_address + 1), "--disable-dns"]
        if name == lab.network and lab.nat_network:
            # The lab network of Vagrant-shaped nodes is a host-only network: no route out of it.
            options.append("--internal")
        run(["podman", "network", "create", *options, "--label", f"{LAB_LABEL}={lab.network}", name])
        say(f"network {name}: created ({subnet}, gateway {subnet.network_address + 1}"
            f"{', internal' if '--internal' in options else ''})")

    for node in lab.topology.nodes:
        say(f"{node.name}: {ensure_node(lab, node, image, image_id, new_key)}")

    deadline = time.monotonic() + lab.timeout
    host_keys = {}
    for node in lab.topology.nodes:
        booted = wait_booted(lab, node, deadline)
        if booted == "degraded":
            warn(f"{node.name}: systemd is degraded; failed units: {', '.join(failed_units(lab, node)) or '?'}")
        result = run(["podman", "exec", lab.container(node), "cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        host_keys[node.ip] = " ".join(result.stdout.split()[:2])
    write_known_hosts(lab, host_keys)
    for node in lab.topology.nodes:
        wait_ssh(lab, node, deadline)

    bridge = bridge_of(lab)
    if bridge:
        check_loadbalancer_on_link(lab, bridge)
    save_state(lab, state)
    cmd_status(lab)
    if lab.provider != "podman":
        say(f"note: {lab.topology_path} says provider: {lab.provider}; set provider: podman there (or export "
            f"LAB_PROVIDER=podman) so that Ansible reaches these nodes")


def lab_containers(lab: Lab) -> list[str]:
    result = run(["podman", "ps", "-a", "--filter", f"label={LAB_LABEL}={lab.network}", "--format", "{{.Names}}"])
    return result.stdout.split()


def cmd_down(lab: Lab) -> None:
    require_root()
    removed = []
    containers = lab_containers(lab)
    if containers:
        run(["podman", "rm", "--force", "--time", "10", *containers])
        removed += [f"container {name}" for name in containers]
    volumes = run(["podman", "volume", "ls", "-q", "--filter", f"label={LAB_LABEL}={lab.network}"]).stdout.split()
    if volumes:
        run(["podman", "volume", "rm", "--force", *volumes])
        removed += [f"volume {name}" for name in volumes]
    # The NAT network too, whatever the topology says now: it may have said otherwise at `up`.
    for name in (f"{lab.network}-nat", lab.network):
        network = podman_json("network", "inspect", name)
        if network:
            if (network[0].get("labels") or {}).get(LAB_LABEL) == lab.network:
                run(["podman", "network", "rm", name])
                removed.append(f"network {name}")
            else:
                warn(f"podman network {name} was not made by this lab; left alone")
    state = load_state(lab)
    routes = host_routes()
    for cidr in state.get("routes", []):
        if any(is_lab_blackhole(route, cidr) for route in routes):
            run(["ip", "route", "del", "blackhole", cidr, "proto", ROUTE_PROTO])
            removed.append(f"blackhole route {cidr}")
    forget_known_hosts(lab, {*state.get("nodes", []), *(n.ip for n in lab.topology.nodes)})
    with contextlib.suppress(FileNotFoundError):
        lab.state_file.unlink()
    say("removed: " + ", ".join(removed) if removed else f"nothing of lab {lab.network} left to remove")


def cmd_status(lab: Lab) -> None:
    require_root()
    known = set()
    for node in lab.topology.nodes:
        name = lab.container(node)
        known.add(name)
        info = inspect_container(name)
        if info is None:
            state = "absent"
        elif (info.get("Config", {}).get("Labels") or {}).get(LAB_LABEL) != lab.network:
            state = f"name taken by a container of another lab ({name})"
        else:
            state = info["State"].get("Status", "unknown")
            image = info.get("ImageName", "")
            image_info = podman_json("image", "inspect", image) if image else None
            if image_info and differences_of(lab, node, info, image, image_info[0]["Id"]):
                state += " (differs from the topology or the node image: see `up`)"
        say(f"{node.name:<10} {node.ip:<16} {state}")
    for name in sorted(set(lab_containers(lab)) - known):
        say(f"{name:<10} {'-':<16} not in the topology (down removes it)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--topology", default=os.environ.get("LAB_TOPOLOGY", ROOT / "inventory" / "topology.yml"),
                        help="topology file (env LAB_TOPOLOGY; default inventory/topology.yml)")
    parser.add_argument("--prefix", default=os.environ.get("LAB_PODMAN_PREFIX", ""),
                        help="prepended to container and volume names (env LAB_PODMAN_PREFIX; default none)")
    parser.add_argument("--network", default=os.environ.get("LAB_PODMAN_NETWORK", "k8s-lab"),
                        help="podman network, also the lab's label (env LAB_PODMAN_NETWORK; default k8s-lab)")
    parser.add_argument("--nat-subnet", default=os.environ.get("LAB_PODMAN_NAT_SUBNET", "10.0.2.0/24"),
                        help="the NAT network of nodes with podman_nat_interface (env LAB_PODMAN_NAT_SUBNET)")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("LAB_PODMAN_TIMEOUT", "180")),
                        help="seconds to wait for the nodes to boot and answer SSH (env LAB_PODMAN_TIMEOUT)")
    parser.add_argument("--bundle", default=os.environ.get("LAB_BUNDLE_DIR", ""),
                        help="the offline bundle mounted into every node (env LAB_BUNDLE_DIR; default "
                             ".cache/bundle of the project directory)")
    args = parser.parse_args(argv)
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "scripts" / "podman" / "containers.conf"))
    try:
        lab = load_lab(args)
        {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](lab)
    except LabError as exc:
        print(f"lab-podman {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
