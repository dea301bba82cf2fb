"""After a real reboot of the VM: what the roles set up came back from the boot itself.

Expected values come from the roles' defaults (the same files the converge used) and from the
scenario's inventory, not from literals repeated here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))


def role_defaults(role: str) -> dict:
    return yaml.safe_load((PROJECT / "roles" / role / "defaults" / "main.yml").read_text())


COMMON = role_defaults("common")


@pytest.fixture()
def ansible_vars(host):
    return host.ansible.get_variables()


def test_the_vm_really_rebooted(host):
    before = host.file("/root/boot_id.before-reboot").content_string.strip()
    now = host.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    assert before, "side effect did not record the boot id"
    assert now != before, "boot id unchanged: the VM did not reboot"


def test_swap_stays_off_although_the_swap_file_exists(host, ansible_vars):
    swap_file = ansible_vars["reboot_swap_file"]
    # The file is still a valid swap area: only the role's settings keep it off at boot.
    assert host.file(swap_file).exists
    assert "swap" in host.check_output("blkid -o value -s TYPE %s", swap_file)
    assert host.check_output("swapon --show=NAME --noheadings") == ""
    assert host.file("/proc/swaps").content_string.strip().count("\n") == 0
    fstab_swap = [line for line in host.file("/etc/fstab").content_string.splitlines() if swap_file in line]
    assert fstab_swap and all(line.lstrip().startswith("#") for line in fstab_swap)
    # is-enabled exits non-zero for a masked unit; its answer is what counts.
    assert host.run("systemctl is-enabled swap.target").stdout.strip() == "masked"


@pytest.mark.parametrize("module", [m["name"] for m in COMMON["common_kernel_modules"]])
def test_kernel_modules_were_loaded_at_boot(host, module):
    # /sys/module/NAME/initstate exists only for a loadable module: it was really loaded.
    assert host.file(f"/sys/module/{module}/initstate").content_string.strip() == "live"
    assert module in host.check_output("lsmod").split()
    assert module in host.file("/etc/modules-load.d/k8s.conf").content_string.split()
    assert host.check_output("systemctl show -P Result systemd-modules-load.service") == "success"


def test_br_netfilter_was_loaded_by_modules_load_not_later(host):
    # dockerd loads br_netfilter itself when it starts; the kernel's message of the module's
    # registration must come before systemd-modules-load finished, so the boot did it.
    registered = host.check_output(
        "journalctl -b -k -o short-monotonic --no-pager --grep 'Bridge firewalling registered'"
    )
    registered_at = float(registered.split("]")[0].lstrip("[").strip())
    modules_load_done_us = int(
        host.check_output("systemctl show -P ActiveEnterTimestampMonotonic systemd-modules-load.service")
    )
    docker_started_us = int(host.check_output("systemctl show -P ExecMainStartTimestampMonotonic docker.service"))
    assert registered_at <= modules_load_done_us / 1e6
    assert modules_load_done_us < docker_started_us


@pytest.mark.parametrize("name,value", sorted(COMMON["common_sysctl"].items()))
def test_sysctls_are_live(host, name, value):
    assert host.sysctl(name) == value


def test_sysctl_service_applied_them_at_boot(host):
    # systemd-sysctl runs after systemd-modules-load, so the bridge sysctls exist when it applies them.
    assert host.check_output("systemctl show -P Result systemd-sysctl.service") == "success"
    assert host.check_output("systemctl show -P ActiveState systemd-sysctl.service") == "active"


@pytest.mark.parametrize("service", ["containerd", "docker", "kubelet"])
def test_runtime_and_kubelet_are_enabled(host, service):
    assert host.service(service).is_enabled


@pytest.mark.parametrize("service", ["containerd", "docker"])
def test_runtime_came_up_at_boot(host, service):
    assert host.service(service).is_running


def test_systemd_started_the_kubelet_at_boot(host):
    # Before `kubeadm init` or `join` writes its configuration the real kubelet stops at once, naming
    # the file it waits for, and systemd starts it again until it is there (a kubeadm node's normal
    # state). Its own words in this boot's journal show that systemd started it after the reboot.
    pinned = yaml.safe_load((PROJECT / "bundle" / "versions.yml").read_text())["kubernetes"]
    assert host.check_output("kubelet --version") == f"Kubernetes {pinned}"
    this_boot = host.check_output("journalctl --boot --output cat --unit kubelet")
    assert "/var/lib/kubelet/config.yaml" in this_boot, this_boot[-2000:]


def test_lab_address_came_back(host, ansible_vars):
    assert f" {ansible_vars['lab_node_ip']}/" in host.check_output("ip -o -4 addr show")
