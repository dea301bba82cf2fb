"""The lab's providers behind one interface (scripts/lab_providers.py) and make lab's use of them
(scripts/lab.py): what each runs, how it reads its nodes' states, how a failure is said. The
commands go to a recording runner; tests/integration/lab_podman and the cold `make lab` of
docs/measurements.md run them for real."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import lab
from lab_host import Host
from lab_providers import NodeState, Podman, ProviderError, Vagrant, for_name

LAB = {"provider": "podman", "provider_source": "topology",
       "nodes": [{"name": "m-k8s", "ip": "192.168.1.10", "role": "control_plane"},
                 {"name": "w1-k8s", "ip": "192.168.1.101", "role": "worker"}]}


class Recorder:
    """A runner that records (argv, env) and answers with the next of its replies."""

    def __init__(self, *replies):
        self.calls = []
        self.replies = list(replies)

    def __call__(self, argv, env, capture):
        self.calls.append((list(argv), dict(env)))
        code, out, err = self.replies.pop(0) if self.replies else (0, "", "")
        return subprocess.CompletedProcess(list(argv), code, out, err)


def test_podman_starts_builds_and_removes_its_nodes_with_its_own_settings():
    run = Recorder()
    provider = Podman(LAB, run)
    provider.up()
    provider.build()
    provider.down()
    script = str(ROOT / "scripts" / "lab-podman.py")
    assert [argv[1:] if argv[0] == sys.executable else argv for argv, _ in run.calls] == [
        [script, "up"], ["ansible-playbook", "site.yml"], [script, "down"]]
    # Ansible reaches the containers whatever the topology file says.
    assert all(env["LAB_PROVIDER"] == "podman" and env["CONTAINERS_CONF"] for _, env in run.calls)


def test_podman_reads_its_nodes_states():
    out = ("m-k8s      192.168.1.10     running\n"
           "w1-k8s     192.168.1.101    exited (differs from the topology or the node image: see `up`)\n"
           "old-w9     -                not in the topology (down removes it)\n")
    assert Podman(LAB, Recorder((0, out, ""))).status() == [
        NodeState("m-k8s", "192.168.1.10", "running"),
        NodeState("w1-k8s", "192.168.1.101", "exited (differs from the topology or the node image: see `up`)"),
        NodeState("old-w9", "-", "not in the topology (down removes it)")]


def test_vagrant_starts_the_vms_then_provisions_once_from_the_last():
    run = Recorder()
    provider = Vagrant(LAB, "libvirt", run)
    provider.up()
    provider.build()
    assert [argv for argv, _ in run.calls] == [
        ["vagrant", "up", "--provider", "libvirt", "--no-provision"], ["vagrant", "provision", "w1-k8s"]]
    assert all(env == {"VAGRANT_DEFAULT_PROVIDER": "libvirt"} for _, env in run.calls)


def test_vagrant_reads_its_machines_states():
    out = ("1765100000,m-k8s,metadata,provider,virtualbox\n1765100000,m-k8s,state,running\n"
           "1765100000,m-k8s,state-human-short,running\n1765100000,w1-k8s,state,poweroff\n")
    provider = Vagrant(LAB, "virtualbox", Recorder((0, out, "")), host=Host(which=lambda tool: f"/usr/bin/{tool}"))
    assert provider.status() == [NodeState("m-k8s", "192.168.1.10", "running"),
                                 NodeState("w1-k8s", "192.168.1.101", "poweroff")]


def test_vagrant_without_a_vm_provider_runs_nothing():
    run = Recorder()
    provider = Vagrant(LAB, "virtualbox", run, host=Host(which=lambda tool: None))
    provider.down()
    assert provider.status() == [NodeState("m-k8s", "192.168.1.10", "no VM provider here"),
                                 NodeState("w1-k8s", "192.168.1.101", "no VM provider here")]
    assert run.calls == []


def test_a_failed_command_is_named_with_its_exit_and_last_error_line():
    with pytest.raises(ProviderError, match=r"starting the VMs failed: `vagrant up --provider virtualbox "
                                            r"--no-provision` exited 1$"):
        Vagrant(LAB, "virtualbox", Recorder((1, "", "boom"))).up()
    with pytest.raises(ProviderError,
                       match=r"reading the container nodes failed: .* exited 1 \(lab-podman status: needs root\)$"):
        Podman(LAB, Recorder((1, "", "lab-podman status: needs root\n"))).status()


def test_each_provider_name_has_its_provider():
    assert isinstance(for_name("podman", LAB), Podman)
    assert for_name("libvirt", LAB).name == "libvirt"
    assert for_name("virtualbox", LAB).name == "virtualbox"
    with pytest.raises(ProviderError, match="'hyperv' is no Vagrant provider"):
        for_name("hyperv", LAB)


def test_each_step_is_timed_into_the_file(tmp_path):
    steps = lab.Steps(tmp_path / "times.tsv")
    steps.step("host: choose")
    steps.step("nodes: start")
    steps.step()
    assert [line.split("\t")[0] for line in (tmp_path / "times.tsv").read_text().splitlines()] == [
        "host: choose", "nodes: start"]


def test_status_asks_the_labs_provider(monkeypatch, capsys):
    monkeypatch.setattr(lab, "describe", lambda: LAB)
    monkeypatch.setattr(lab.lab_providers, "for_name",
                        lambda name, described: Podman(described, Recorder((0, "m-k8s 192.168.1.10 running\n", ""))))
    assert lab.main(["status"]) == 0
    assert capsys.readouterr().out.splitlines() == ["[lab] provider podman (topology)",
                                                    "[lab] m-k8s      192.168.1.10     running"]


def test_down_removes_the_nodes_and_forgets_the_provider(monkeypatch, tmp_path):
    run = Recorder()
    monkeypatch.setattr(lab, "describe", lambda: LAB)
    monkeypatch.setattr(lab, "RECORDED", tmp_path / "lab-provider")
    monkeypatch.setattr(lab, "TIMES", tmp_path / "times.tsv")
    (tmp_path / "lab-provider").write_text("podman\n")
    monkeypatch.setattr(lab.lab_providers, "for_name", lambda name, described: Podman(described, run))
    assert lab.main(["down"]) == 0
    assert run.calls[0][0][-1] == "down"
    assert not (tmp_path / "lab-provider").exists()


def test_a_provider_failure_ends_make_lab_with_its_message(monkeypatch, capsys):
    monkeypatch.setattr(lab, "describe", lambda: LAB)
    monkeypatch.setattr(lab.lab_providers, "for_name",
                        lambda name, described: Podman(described, Recorder((1, "", "needs root"))))
    assert lab.main(["status"]) == 1
    assert "make lab: reading the container nodes failed" in capsys.readouterr().err


def test_an_unknown_command_is_refused():
    assert lab.main(["start"]) == 2
