"""playbooks/recover.yml on the rebooted VM: break what a reboot or a suspend breaks, recover.

Runs after test_reboot.py (ORDER in conftest.py), so the persistence checks see the VM exactly
as the reboot left it. The playbook runs from the controller as users run it,
against Molecule's inventory of the VM.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
# No API server here: point the cluster checks at a kubeconfig that does not exist, so that the
# result does not depend on the machine running the tests.
NO_KUBECONFIG = "/nonexistent/k8s-lab-reboot-test/kubeconfig"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
CALICO_KUBECONFIG = "/etc/cni/net.d/calico-kubeconfig"


def calico_kubeconfig(expires_in: int) -> str:
    """A CNI kubeconfig as calico-node writes it, with a token that expires in `expires_in` s.

    recover.yml reads only the token's exp claim, so the signature is a placeholder.
    """

    def b64url(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"sub": "system:serviceaccount:kube-system:calico-cni-plugin", "exp": int(time.time()) + expires_in}
    token = ".".join([b64url({"alg": "RS256", "typ": "JWT"}), b64url(claims), "c2lnbmF0dXJl"])
    return f"apiVersion: v1\nkind: Config\nusers:\n  - name: calico\n    user:\n      token: {token}\n"


def write_calico_kubeconfig(host, expires_in: int) -> None:
    host.run_expect([0], "install -d -m 0755 /etc/cni/net.d")
    host.run_expect([0], "printf '%%s' %s > %s", calico_kubeconfig(expires_in), CALICO_KUBECONFIG)


def plain(output: str) -> str:
    """The output without colours, with YAML's line folding undone (one space between words)."""
    return " ".join(ANSI_ESCAPE.sub("", output).split())


def run_recover(*extra: str) -> subprocess.CompletedProcess:
    inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    # Molecule forces colours for its own runs; this one is read by the tests.
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(inventory),
            "-e",
            f"recover_kubeconfig={NO_KUBECONFIG} health_kubeconfig={NO_KUBECONFIG}",
            *extra,
            str(PROJECT / "playbooks" / "recover.yml"),
        ],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


@pytest.fixture(scope="module")
def broken_then_recovered(host):
    """Break the node as a suspend, a `vagrant reload` or a careless user would; run recover.yml."""
    ansible_vars = host.ansible.get_variables()
    lab_ip = ansible_vars["lab_node_ip"]
    lab_nic = next(
        line.split()[1] for line in host.check_output("ip -o -4 addr show").splitlines() if f" {lab_ip}/" in line
    )
    host.run_expect([0], "swapon %s", ansible_vars["reboot_swap_file"])
    host.run_expect([0], "systemctl disable --now kubelet.service containerd.service")
    host.run_expect([0], "sysctl -w net.ipv4.ip_forward=0")
    # Nothing holds br_netfilter on a node without pods; unloading it also takes its sysctls away.
    host.run_expect([0], "modprobe -r br_netfilter")
    # What a reset VirtualBox host-only adapter leaves: the link down, its address gone.
    host.run_expect([0], "ip address flush dev %s", lab_nic)
    host.run_expect([0], "ip link set dev %s down", lab_nic)
    # What a suspend of more than the token's lifetime leaves behind.
    write_calico_kubeconfig(host, expires_in=-3600)
    # Software emulation is slow: the health report is left out here. That recover.yml changes
    # nothing on a healthy lab is checked on the real cluster (molecule/kubeadm).
    first = run_recover("--skip-tags", "health")
    host.run_expect([0], "rm -f %s", CALICO_KUBECONFIG)
    return {"vars": ansible_vars, "nic": lab_nic, "first": first}


def test_recover_succeeds(broken_then_recovered):
    first = broken_then_recovered["first"]
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]


def test_recover_repaired_the_node(host, broken_then_recovered):
    ansible_vars = broken_then_recovered["vars"]
    assert host.check_output("swapon --show=NAME --noheadings") == ""
    assert host.sysctl("net.ipv4.ip_forward") == 1
    assert host.sysctl("net.bridge.bridge-nf-call-iptables") == 1
    for service in ("containerd", "kubelet"):
        assert host.service(service).is_enabled
    assert host.service("containerd").is_running
    # The real kubelet of a node that never joined exits at once for want of kubeadm's
    # configuration; started, systemd keeps restarting it (activating) instead of leaving it inactive.
    assert host.check_output("systemctl show -P ActiveState kubelet") in ("active", "activating")
    assert f" {ansible_vars['lab_node_ip']}/" in host.check_output("ip -o -4 addr show")


def test_recover_says_what_it_repaired(broken_then_recovered):
    output = plain(broken_then_recovered["first"].stdout)
    lab_ip = broken_then_recovered["vars"]["lab_node_ip"]
    assert f"lab address {lab_ip} brought back (networkd)" in output
    assert "swap turned off" in output
    assert "modules loaded: br_netfilter" in output
    assert re.search(r"sysctls set: [^;'\"]*net\.ipv4\.ip_forward", output)
    assert "containerd enabled and started" in output
    assert "kubelet enabled and started" in output


def test_recover_reads_the_expiry_of_calicos_token(host, broken_then_recovered):
    hostname = host.ansible.get_variables()["inventory_hostname"]
    # No API server in this test, so the expired token is reported rather than renewed.
    expired = rf"{re.escape(hostname)}: [^'\"]*Calico CNI token EXPIRED, not repaired: no kubeconfig"
    assert re.search(expired, plain(broken_then_recovered["first"].stdout))
