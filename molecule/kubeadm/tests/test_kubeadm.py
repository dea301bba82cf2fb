"""The kubeadm bootstrap, checked on the nodes after converge (and again after a restart).

kubeadm, kubelet and kubectl are TEST DOUBLES here (files/*_test_double.py): the checks are
about what the roles gave them, which the doubles record, and the files and services the roles
manage.
"""

import datetime as dt
import hashlib
import json
import os

import testinfra
import testinfra.utils.ansible_runner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

RUNNER = testinfra.utils.ansible_runner.AnsibleRunner(os.environ["MOLECULE_INVENTORY_FILE"])
# The inventory names are the container names; podman exec is much faster than one Ansible run
# per check.
testinfra_hosts = [f"podman://{name}" for name in RUNNER.get_hosts("k8s_cluster")]

MASTER = RUNNER.get_hosts("control_plane")[0]
UNSAFE = "unsafe"


def node(name):
    return testinfra.get_host(f"podman://{name}")


def node_ip(host):
    """The node's address on the scenario's network: the address of its default route's device."""
    device = host.check_output("ip -4 -o route show default").split(" dev ")[1].split()[0]
    return host.check_output(f"ip -4 -o addr show dev {device}").split(" inet ")[1].split("/")[0]


def kubeadm_log(host):
    text = host.file("/var/log/kubeadm-test-double.log").content_string
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def pin_of(pem: bytes) -> str:
    """The CA pin, computed here from the certificate independently of the roles' code."""
    spki = x509.load_pem_x509_certificate(pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def master_tokens():
    output = node(MASTER).check_output("kubeadm token list -o json")
    decoder, pos, tokens = json.JSONDecoder(), 0, []
    while pos < len(output):
        if output[pos].isspace():
            pos += 1
            continue
        item, pos = decoder.raw_decode(output, pos)
        tokens.append(item)
    return tokens


# --- every node ---------------------------------------------------------------------------------

def test_binaries_installed_from_offline_files(host):
    for name in ("kubeadm", "kubelet", "kubectl"):
        binary = host.file(f"/usr/bin/{name}")
        assert binary.is_file
        assert binary.mode == 0o755
        assert "TEST DOUBLE" in binary.content_string
    assert host.check_output("kubeadm version -o short") == "v1.37.0"


def test_kubelet_unit_and_kubeadm_drop_in(host):
    unit = host.file("/etc/systemd/system/kubelet.service").content_string
    assert "ExecStart=/usr/bin/kubelet" in unit
    drop_in = host.file("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf").content_string
    assert "EnvironmentFile=-/etc/default/kubelet" in drop_in
    assert "$KUBELET_EXTRA_ARGS" in drop_in


def test_node_ip_setting(host):
    env = host.file("/etc/default/kubelet")
    assert env.mode == 0o644
    assert f"KUBELET_EXTRA_ARGS=--node-ip={node_ip(host)}\n" in env.content_string


def test_kubelet_runs_with_the_node_ip(host):
    kubelet = host.service("kubelet")
    assert kubelet.is_enabled
    assert kubelet.is_running
    # The flags systemd really started the kubelet with: unit, drop-in and /etc/default/kubelet.
    argv = json.loads(host.file("/var/log/kubelet-test-double.json").content_string)["argv"]
    assert f"--node-ip={node_ip(host)}" in argv
    assert "--config=/var/lib/kubelet/config.yaml" in argv
    assert "--kubeconfig=/etc/kubernetes/kubelet.conf" in argv


def test_kubelet_kubeconfig_points_at_the_master(host):
    conf = host.file("/etc/kubernetes/kubelet.conf")
    assert conf.mode == 0o600
    assert f"server: https://{node_ip(node(MASTER))}:6443" in conf.content_string


# --- the control plane --------------------------------------------------------------------------

def test_init_ran_once_with_the_templated_config(host):
    if host.backend.get_hostname() != MASTER:
        assert not any(e["argv"][:1] == ["init"] for e in kubeadm_log(host))
        return
    inits = [e for e in kubeadm_log(host) if e["argv"][:1] == ["init"]]
    assert len(inits) == 1, "kubeadm init must run exactly once, the rerun leaves the master alone"
    assert inits[0]["argv"] == ["init", "--config", "/etc/kubernetes/kubeadm-config.yaml"]
    config = inits[0]["config"]
    ip = node_ip(host)
    assert "apiVersion: kubeadm.k8s.io/v1beta4" in config
    assert f'advertiseAddress: "{ip}"' in config
    assert 'podSubnet: "172.16.0.0/16"' in config
    assert 'cgroupDriver: "systemd"' in config
    # The version of the installed kubeadm, not one looked up on the internet.
    assert 'kubernetesVersion: "v1.37.0"' in config
    assert f'value: "{ip}"' in config


def test_admin_kubeconfigs(host):
    if host.backend.get_hostname() != MASTER:
        assert not host.file("/etc/kubernetes/admin.conf").exists
        return
    admin = host.file("/etc/kubernetes/admin.conf")
    for user, home in (("root", "/root"), ("vagrant", "/home/vagrant")):
        copy = host.file(f"{home}/.kube/config")
        assert copy.user == user
        assert copy.mode == 0o600
        assert copy.content == admin.content
        assert host.file(f"{home}/.kube").mode == 0o700
    fetched = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "kubeconfig")
    assert oct(os.stat(fetched).st_mode & 0o777) == oct(0o600)
    with open(fetched, "rb") as handle:
        assert handle.read() == admin.content


def test_apiserver_test_double_serves(host):
    if host.backend.get_hostname() != MASTER:
        return
    assert host.service("kube-apiserver-test-double").is_running
    assert host.socket("tcp://0.0.0.0:6443").is_listening


# --- the workers --------------------------------------------------------------------------------

def test_workers_joined_securely(host):
    if host.backend.get_hostname() == MASTER:
        assert not any(e["argv"][:1] == ["join"] for e in kubeadm_log(host))
        return
    joins = [e for e in kubeadm_log(host) if e["argv"][:1] == ["join"]]
    assert len(joins) == 1, "join must run once; the rerun finds kubelet.conf and leaves the node"
    argv = joins[0]["argv"]
    assert argv[:2] == ["join", "--config"]
    assert not any(UNSAFE in arg for arg in argv)
    config = json.loads(joins[0]["config"])
    bootstrap = config["discovery"]["bootstrapToken"]

    master = node(MASTER)
    assert bootstrap["apiServerEndpoint"] == f"{node_ip(master)}:6443"
    assert "unsafeSkipCAVerification" not in bootstrap

    # The real pin of the master's real CA.
    assert bootstrap["caCertHashes"] == [pin_of(master.file("/etc/kubernetes/pki/ca.crt").content)]

    # A token that the master knows, short-lived, for node bootstrap.
    tokens = {t["token"]: t for t in master_tokens()}
    assert bootstrap["token"] in tokens
    token = tokens[bootstrap["token"]]
    expires = dt.datetime.fromisoformat(token["expires"].replace("Z", "+00:00"))
    remaining = expires - dt.datetime.now(dt.UTC)
    ttl = int(RUNNER.get_variables(MASTER)["kubeadm_master_token_ttl_minutes"])
    assert dt.timedelta(0) < remaining <= dt.timedelta(minutes=ttl)
    assert "system:bootstrappers:kubeadm:default-node-token" in token["groups"]

    assert config["nodeRegistration"]["name"] == host.check_output("hostname")
    assert config["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": node_ip(host)}]
    assert config["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"


def test_worker_trusts_the_master_ca(host):
    if host.backend.get_hostname() == MASTER:
        return
    master_ca = node(MASTER).file("/etc/kubernetes/pki/ca.crt").content
    assert host.file("/etc/kubernetes/pki/ca.crt").content == master_ca


def test_no_join_file_left_behind(host):
    assert host.check_output("find /tmp -maxdepth 1 -name 'kubeadm-join-*'") == ""
