"""The common role's state on a real systemd node: what kubeadm's preflight and the kubelet need."""

import re

import pytest

REQUIRED_SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}


@pytest.fixture(scope="module")
def ansible_vars(host):
    return host.ansible.get_variables()


def test_no_swap_is_active(host):
    swaps = host.file("/proc/swaps").content_string.strip().splitlines()
    assert swaps[1:] == []


def test_swap_cannot_come_back_at_boot(host):
    assert host.run("systemctl is-enabled swap.target").stdout.strip() == "masked"


def test_fstab_swap_entries_are_commented_out(host):
    lines = host.file("/etc/fstab").content_string.splitlines()
    active_swap = [line for line in lines if re.match(r"^[^#\s]\S*\s+\S+\s+swap\s", line)]
    assert active_swap == []
    assert any(line.startswith("# /swapfile none swap") for line in lines)


def test_modules_load_at_boot(host):
    modules = host.file("/etc/modules-load.d/k8s.conf")
    assert modules.mode == 0o644
    listed = [line for line in modules.content_string.splitlines() if line and not line.startswith("#")]
    assert listed == ["br_netfilter", "overlay"]


def test_modules_are_active(host):
    # Built into the host kernel here; these files exist only while the modules are active.
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists
    assert host.file("/sys/module/overlay").exists


def test_sysctls_persist(host):
    conf = host.file("/etc/sysctl.d/99-kubernetes.conf").content_string
    for key, value in REQUIRED_SYSCTLS.items():
        assert re.search(rf"^{re.escape(key)}\s*=\s*{value}$", conf, re.M), key


@pytest.mark.parametrize(("key", "value"), REQUIRED_SYSCTLS.items())
def test_sysctls_are_live(host, key, value):
    assert host.sysctl(key) == int(value)


def test_hosts_file_lists_every_node(host, ansible_vars):
    hosts = host.file("/etc/hosts").content_string.splitlines()
    for node in ansible_vars["common_hosts_entries"]:
        assert f"{node['ip']} {node['name']}" in hosts
    assert host.run("getent hosts w1-k8s").stdout.split()[0] == "192.168.1.101"


def test_resolv_conf_is_managed(host):
    resolv = host.file("/etc/resolv.conf").content_string
    assert resolv.startswith("# Managed by Ansible")
    assert re.search(r"^nameserver \S+$", resolv, re.M)


def test_vi_starts_vim(host):
    assert host.run("bash -lc 'alias vi'").stdout.strip() == "alias vi='vim'"
    assert host.exists("vim")


def test_base_packages(host):
    for name in ("git", "curl", "conntrack", "socat", "chrony"):
        assert host.package(name).is_installed, name


def test_time_sync_runs_against_configured_servers_only(host, ansible_vars):
    chrony = host.service("chrony")
    assert chrony.is_running
    assert chrony.is_enabled
    conf = host.file("/etc/chrony/chrony.conf").content_string
    servers = re.findall(r"^(?:server|pool) (\S+)", conf, re.M)
    assert servers == ansible_vars["common_timesync_servers"]


def test_selinux_handling_applies_only_to_el(host):
    facts = host.ansible("setup", "gather_subset=min")["ansible_facts"]
    if facts["ansible_os_family"] == "RedHat":
        assert host.run("getenforce").stdout.strip() in ("Permissive", "Disabled")
    else:
        assert not host.exists("getenforce")
