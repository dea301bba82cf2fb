"""make lab's first decision (scripts/lab_host.py): where the nodes run, and what to install first."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import lab_host
from lab_host import CannotPrepare, Host, plan, prepare

DEBIAN = {"ID": "debian", "VERSION_ID": "12"}
UBUNTU = {"ID": "ubuntu", "ID_LIKE": "debian"}
CONTAINER_TOOLS = ("podman", "runc", "debootstrap", "ssh", "ssh-keygen", "ip")


def host(*tools, euid=0, os_release=DEBIAN, plugins=""):
    return Host(which=lambda name: f"/usr/bin/{name}" if name in tools else None, euid=euid,
                os_release=os_release, vagrant_plugins=lambda: plugins)


def test_a_working_vm_provider_is_used():
    assert plan("virtualbox", host("vagrant", "VBoxManage")) == lab_host.Plan("virtualbox")
    assert plan("libvirt", host("vagrant", "virsh", plugins="vagrant-libvirt (0.12.2, global)")).provider == "libvirt"


def test_libvirt_without_its_vagrant_plugin_is_not_usable():
    assert plan("libvirt", host("vagrant", "virsh", *CONTAINER_TOOLS)).fallback is True


@pytest.mark.parametrize("os_release", [DEBIAN, UBUNTU])
def test_a_bare_machine_falls_back_to_podman_and_installs_its_tools(os_release):
    chosen = plan("virtualbox", host("ssh", "ssh-keygen", "ip", os_release=os_release))
    assert (chosen.provider, chosen.fallback) == ("podman", True)
    assert chosen.packages == ("debootstrap", "podman", "runc")
    assert chosen.commands[0] == ("apt-get", "update", "-qq")
    assert chosen.commands[1][-4:] == ("-qq", "debootstrap", "podman", "runc")
    assert "install" in chosen.commands[1]


def test_nothing_is_installed_when_the_tools_are_there():
    chosen = plan("virtualbox", host(*CONTAINER_TOOLS))
    assert (chosen.provider, chosen.fallback, chosen.packages, chosen.commands) == ("podman", True, (), ())


def test_podman_asked_for_is_no_fallback():
    assert plan("podman", host(*CONTAINER_TOOLS, "vagrant", "VBoxManage")) == lab_host.Plan("podman")


def test_without_root_it_says_the_command_to_run():
    with pytest.raises(CannotPrepare, match=r"no VM provider works here \(vagrant .*needs root.*Run: sudo make lab$"):
        plan("virtualbox", host(euid=1000))


def test_off_debian_it_names_the_packages_and_installs_nothing():
    with pytest.raises(CannotPrepare, match=r"needs debootstrap, podman, runc, .*on Fedora Linux 41 install them"):
        plan("virtualbox", host("ssh", "ssh-keygen", "ip",
                                os_release={"ID": "fedora", "PRETTY_NAME": "Fedora Linux 41"}))


def test_another_working_vm_provider_is_named_not_replaced():
    with pytest.raises(CannotPrepare, match=r"provider virtualbox cannot run here .* but libvirt can: set provider"):
        plan("virtualbox", host("vagrant", "virsh", plugins="vagrant-libvirt (0.12.2, global)"))


def test_an_unknown_provider_is_refused():
    with pytest.raises(CannotPrepare, match=r"provider: 'hyperv' is unknown"):
        plan("hyperv", host(*CONTAINER_TOOLS))


def test_prepare_runs_the_install_commands_and_stops_when_one_fails(capsys):
    ran = []
    chosen = prepare("virtualbox", host("ssh", "ssh-keygen", "ip"), lambda argv: ran.append(argv) or 0)
    assert ran == list(chosen.commands)
    assert "installing debootstrap podman runc with apt" in capsys.readouterr().err
    with pytest.raises(CannotPrepare, match=r"`apt-get update -qq` failed; run it yourself"):
        prepare("virtualbox", host("ssh", "ssh-keygen", "ip"), lambda argv: 100)


def test_the_script_runs_apt_get_from_path_when_podman_is_missing(tmp_path):
    """The real script, as make lab runs it, on a PATH with neither podman, runc nor any VM
    provider: it runs apt-get (a recording stand-in here, so nothing is installed) and answers podman."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "apt-get.calls"
    for tool, script in {"apt-get": f'echo "$*" >> {record}\n', "ssh": "", "ssh-keygen": "", "ip": "",
                         "env": 'shift; exec "$@"\n'}.items():
        (bin_dir / tool).write_text(f"#!/bin/sh\n{script}")
        (bin_dir / tool).chmod(0o755)
    if lab_host.os.geteuid() != 0 or not lab_host.is_debian_like(lab_host.read_os_release()):
        pytest.fail("this check runs as root on a Debian-like machine, as make test does")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lab_host.py"), "prepare", "virtualbox"],
                            capture_output=True, text=True, check=False, env={"PATH": str(bin_dir)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["fallback", "podman"]
    assert record.read_text().splitlines() == ["update -qq", "install -y -qq debootstrap podman runc"]
