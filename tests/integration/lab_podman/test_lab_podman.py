"""The podman provider (scripts/lab-podman.py) on this machine: a one-worker lab of its own.

The lab here has its own topology file, network name, subnet, pod and service ranges and name
prefix, so it never meets the real lab (k8s-lab, m-k8s ...) or a Molecule scenario's. The tests run
in file order on one lab: up, checks, the bundle the nodes see (rebuilt, then replaced behind their
back), up again, a stopped node, down. Its project directory has a small bundle of its own. Needs root, podman and runc,
like the Molecule scenarios; the node image comes from scripts/build-node-image.sh (`make test`
builds it first)."""

import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml
from bundler.build import replace_contents

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "lab-podman.py"
PREFIX = "k8s-lab-test-"
NETWORK = "k8s-lab-test"
TOPOLOGY = {
    "plugin": "k8s_lab.lab.lab_topology",
    "provider": "podman",
    "workers": 1,
    "worker_memory": 2048,
    "subnet": "10.251.77.0/24",
    "pod_cidr": "10.252.0.0/16",
    "service_cidr": "10.253.0.0/16",
}
NODES = {"m-k8s": "10.251.77.10", "w1-k8s": "10.251.77.101"}
# Where the nodes see the project's bundle (lab_topology.NODE_BUNDLE_DIR).
NODE_BUNDLE = "/opt/k8s-lab/bundle"
LOADBALANCER_IP = "10.251.77.11"
# Every command is bounded; the script's own wait for the nodes is LAB_PODMAN_TIMEOUT.
NODE_TIMEOUT = 90
COMMAND_TIMEOUT = NODE_TIMEOUT + 60


class Lab:
    def __init__(self, project: Path):
        self.project = project
        self.topology = project / "inventory" / "topology.yml"
        self.state = project / ".cache" / "lab-podman"
        self.bundle = project / ".cache" / "bundle"
        env = {k: v for k, v in os.environ.items() if k not in ("LAB_PROVIDER", "LAB_PROJECT_DIR", "LAB_BUNDLE_DIR")}
        self.env = {**env, "LAB_TOPOLOGY": str(self.topology), "LAB_PODMAN_PREFIX": PREFIX,
                    "LAB_PODMAN_NETWORK": NETWORK, "LAB_PODMAN_TIMEOUT": str(NODE_TIMEOUT),
                    "CONTAINERS_CONF": str(ROOT / "scripts" / "podman" / "containers.conf")}

    def run(self, *argv, timeout=30, check=True):
        result = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        if check:
            assert result.returncode == 0, f"{' '.join(map(str, argv))}:\n{result.stdout}\n{result.stderr}"
        return result

    def script(self, command, check=True):
        return self.run(str(SCRIPT), command, timeout=COMMAND_TIMEOUT, check=check)

    def podman(self, *argv, check=True):
        return self.run("podman", *argv, check=check)

    def inspect(self, node):
        return json.loads(self.podman("container", "inspect", PREFIX + node).stdout)[0]

    def ssh(self, node, *command, check=True):
        return self.run("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                        "-o", f"UserKnownHostsFile={self.state / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
                        "-o", "IdentitiesOnly=yes", "-i", str(self.state / "id_ed25519"), f"root@{NODES[node]}",
                        *command, check=check)

    def snapshot(self):
        """What `up` must not change when the lab is up."""
        containers = {node: (info["Id"], info["State"]["StartedAt"])
                      for node in NODES for info in [self.inspect(node)]}
        network = json.loads(self.podman("network", "inspect", NETWORK).stdout)[0]["id"]
        volumes = self.podman("volume", "ls", "-q", "--filter", f"label=k8s-lab.lab={NETWORK}").stdout.split()
        return containers, network, sorted(volumes), blackholes(), (self.state / "known_hosts").read_text()


def blackholes():
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "type", "blackhole"], capture_output=True,
                                       text=True, check=True, timeout=10).stdout or "[]")
    return {route["dst"]: route.get("protocol") for route in routes}


def route_get(*argv):
    """`ip route get`: the route, or None when the kernel drops the address (blackhole)."""
    result = subprocess.run(["ip", "-j", "route", "get", *argv], capture_output=True, text=True, check=False,
                            timeout=10)
    return json.loads(result.stdout)[0] if result.returncode == 0 else None


def make_bundle(path: Path, version: str) -> Path:
    """A bundle as make bundle lays it out, small: manifest.json, one file, SHA256SUMS."""
    files = {"manifest.json": json.dumps({"images": [], "files": {}, "version": version}),
             "bin/tool": f"tool {version}\n"}
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    (path / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(text.encode()).hexdigest()}  {rel}\n"
                                             for rel, text in files.items()))
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    project = tmp_path_factory.mktemp("lab-podman")
    (project / "inventory").mkdir()
    (project / "inventory" / "topology.yml").write_text(yaml.safe_dump(TOPOLOGY))
    lab = Lab(project)
    make_bundle(lab.bundle, "1")
    lab.script("down")  # what an interrupted run may have left
    lab.up = lab.script("up")
    yield lab
    lab.script("down", check=False)


def test_nodes_run_with_their_names_and_addresses(lab):
    for node, ip in NODES.items():
        info = lab.inspect(node)
        assert info["State"]["Running"], node
        assert info["Config"]["Hostname"] == node
        assert info["NetworkSettings"]["Networks"][NETWORK]["IPAddress"] == ip
        assert lab.podman("exec", PREFIX + node, "hostname").stdout.strip() == node
        assert f"{node}: created" in lab.up.stdout
    status = lab.script("status").stdout.splitlines()
    assert [line.split() for line in status] == [[node, ip, "running"] for node, ip in NODES.items()]


def test_ssh_with_the_generated_key_reaches_a_booted_systemd(lab):
    for node in NODES:
        state = lab.ssh(node, "systemctl", "is-system-running", check=False).stdout.strip()
        failed = lab.ssh(node, "systemctl", "--failed", "--no-legend", "--plain").stdout.split("\n")
        failed = [line.split()[0] for line in failed if line.strip()]
        assert state in ("running", "degraded"), f"{node}: systemd is {state}; failed units: {failed}"
        if state == "degraded":
            warnings.warn(f"{node} booted degraded; failed units: {', '.join(failed)}", stacklevel=1)
        # Every node has a host key and a machine ID of its own.
        assert lab.ssh(node, "hostname").stdout.strip() == node
    ids = {lab.ssh(node, "cat", "/etc/machine-id").stdout for node in NODES}
    assert len(ids) == len(NODES)


def test_var_is_a_volume_not_overlayfs(lab):
    for node in NODES:
        assert lab.ssh(node, "stat", "-f", "-c", "%T", "/var").stdout.strip() != "overlayfs", node
        mounts = [line.split() for line in lab.ssh(node, "cat", "/proc/mounts").stdout.splitlines()]
        options = [fields[3].split(",") for fields in mounts if fields[1] == "/var"][-1]
        assert not {"nosuid", "nodev", "noexec"} & set(options), f"{node}: /var is mounted {options}"


def node_sees(lab, node, rel: str) -> str:
    return lab.podman("exec", PREFIX + node, "cat", f"{NODE_BUNDLE}/{rel}").stdout


def test_every_node_sees_the_bundle_read_only(lab):
    for node in NODES:
        assert node_sees(lab, node, "SHA256SUMS") == (lab.bundle / "SHA256SUMS").read_text(), node
        mounts = [line.split() for line in lab.podman("exec", PREFIX + node, "cat", "/proc/mounts").stdout.splitlines()]
        options = [fields[3].split(",") for fields in mounts if fields[1] == NODE_BUNDLE][-1]
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(options), f"{node}: {NODE_BUNDLE} is mounted {options}"
        assert lab.podman("exec", PREFIX + node, "touch", f"{NODE_BUNDLE}/written", check=False).returncode != 0
    assert not (lab.bundle / "written").exists()


def test_a_rebuilt_bundle_is_seen_by_the_running_nodes(lab):
    started = {node: lab.inspect(node)["State"]["StartedAt"] for node in NODES}
    # What make bundle does with a bundle it built again (scripts/bundler/build.py).
    replace_contents(lab.bundle, make_bundle(lab.bundle.with_name("bundle.tmp"), "2"))
    for node in NODES:
        assert json.loads(node_sees(lab, node, "manifest.json"))["version"] == "2", node
        assert node_sees(lab, node, "bin/tool") == "tool 2\n"
    assert {node: lab.inspect(node)["State"]["StartedAt"] for node in NODES} == started


def test_a_bundle_directory_replaced_behind_the_nodes_is_reported_and_a_restart_mounts_it_again(lab):
    # Renamed away and made anew (by hand, or as make bundle did before it replaced contents): the
    # nodes' mounts keep the old directory, deleted.
    replaced = lab.bundle.with_name("bundle.replaced")
    lab.bundle.rename(replaced)
    make_bundle(lab.bundle, "3")
    shutil.rmtree(replaced)
    result = lab.script("up")
    for node in NODES:
        assert f"{node}: its bundle mount does not show {lab.bundle}" in result.stderr, result.stderr
    lab.podman("restart", "--time", "10", PREFIX + "w1-k8s")
    result = lab.script("up")
    assert "w1-k8s: its bundle mount" not in result.stderr and "m-k8s: its bundle mount" in result.stderr
    assert json.loads(node_sees(lab, "w1-k8s", "manifest.json"))["version"] == "3"
    lab.podman("restart", "--time", "10", PREFIX + "m-k8s")
    assert "its bundle mount" not in lab.script("up").stderr


def test_the_host_drops_the_pod_and_service_networks(lab):
    routes = blackholes()
    for cidr in (TOPOLOGY["pod_cidr"], TOPOLOGY["service_cidr"]):
        assert routes.get(cidr) == "173", f"no blackhole route of the lab for {cidr}: {routes}"
    default_dev = json.loads(subprocess.run(["ip", "-j", "route", "show", "default"], capture_output=True,
                                            text=True, check=True, timeout=10).stdout or "[{}]")[0].get("dev")
    bridge = json.loads(lab.podman("network", "inspect", NETWORK).stdout)[0]["network_interface"]
    pod_address = str(ipaddress.IPv4Network(TOPOLOGY["pod_cidr"]).network_address + 5)
    service_address = str(ipaddress.IPv4Network(TOPOLOGY["service_cidr"]).network_address + 1)
    for address in (pod_address, service_address):
        # From the host itself, and as a node's packet forwarded by the host.
        for how in ([address], [address, "from", NODES["w1-k8s"], "iif", bridge]):
            route = route_get(*how)
            assert route is None or route.get("dev") not in (default_dev, None), f"{how} leaves: {route}"
    # The load-balancer range is on-link on the lab's bridge: it cannot follow the default route.
    assert route_get(LOADBALANCER_IP)["dev"] == bridge


def test_ansible_reaches_the_nodes_through_the_inventory(lab):
    log = lab.project / "ansible-ping.log"
    env = {**lab.env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(lab.project / "cp"), "ANSIBLE_NOCOLOR": "1"}
    # Output to a file: SSH's ControlPersist masters outlive the command and would hold a pipe open.
    with log.open("w") as out:
        result = subprocess.run(["ansible", "-i", str(lab.topology), "k8s_cluster", "-m", "ansible.builtin.ping"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, timeout=120, check=False)
    for socket in (lab.project / "cp").iterdir():  # end the masters now, not 120 s after the test
        lab.run("ssh", "-o", f"ControlPath={socket}", "-O", "exit", "node", check=False)
    output = log.read_text()
    assert result.returncode == 0, output
    assert output.count("SUCCESS") == len(NODES), output


def test_up_again_changes_nothing(lab):
    before = lab.snapshot()
    output = lab.script("up").stdout
    assert lab.snapshot() == before
    for node in NODES:
        assert f"{node}: running, left alone" in output
    assert "added" not in output and "created" not in output, output


def test_a_stopped_node_is_started_again(lab):
    master_started = lab.inspect("m-k8s")["State"]["StartedAt"]
    worker_started = lab.inspect("w1-k8s")["State"]["StartedAt"]
    lab.podman("stop", "--time", "10", PREFIX + "w1-k8s")
    assert not lab.inspect("w1-k8s")["State"]["Running"]
    # Stopping one node leaves the others whole (their cgroups, so `podman exec`, included).
    lab.podman("exec", PREFIX + "m-k8s", "true")
    output = lab.script("up").stdout
    assert "w1-k8s: started" in output and "m-k8s: running, left alone" in output, output
    assert lab.inspect("w1-k8s")["State"]["StartedAt"] != worker_started
    assert lab.inspect("m-k8s")["State"]["StartedAt"] == master_started
    assert lab.ssh("w1-k8s", "systemctl", "is-system-running", check=False).stdout.strip() == "running"


def test_down_removes_containers_volumes_network_and_routes(lab):
    output = lab.script("down").stdout
    assert "removed:" in output
    assert lab.podman("ps", "-aq", "--filter", f"label=k8s-lab.lab={NETWORK}").stdout.split() == []
    assert lab.podman("volume", "ls", "-q", "--filter", f"label=k8s-lab.lab={NETWORK}").stdout.split() == []
    assert lab.podman("network", "exists", NETWORK, check=False).returncode != 0
    routes = blackholes()
    assert TOPOLOGY["pod_cidr"] not in routes and TOPOLOGY["service_cidr"] not in routes, routes
    known_hosts = (lab.state / "known_hosts").read_text()
    assert not any(ip in known_hosts for ip in NODES.values()), known_hosts
    assert "left to remove" in lab.script("down").stdout
