"""The destructive playbooks' guards, which --limit, --start-at-task and --skip-tags cannot get round:
reset.yml without reset_confirm, remove-worker.yml naming the control plane or a group, maintenance.yml
on a host that is not a lab node. Each is run by ansible-playbook against an inventory of its own,
whose nodes are SSH hosts on a closed loopback port: a guard that fires stops the run on the
controller, before any connection; a guard that does not fire shows as an unreachable node (and
nothing leaves this machine either way). The same refusals on the real cluster, with the nodes'
/etc/kubernetes compared before and after: molecule/kubeadm/tests/test_guards.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
# Port 9 (discard) on loopback: nothing listens there, so a connection is refused at once.
NODE = {"ansible_host": "127.0.0.1", "ansible_port": 9, "ansible_user": "root",
        "ansible_ssh_common_args": "-o ConnectTimeout=3 -o BatchMode=yes"}


@pytest.fixture
def lab(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    inventory = {"all": {
        "vars": {"lab_kubeconfig": str(kubeconfig)},
        "hosts": {"nfs-box": dict(NODE)},
        "children": {"k8s_cluster": {"children": {
            "control_plane": {"hosts": {"m-k8s": dict(NODE)}},
            "workers": {"hosts": {"w1-k8s": dict(NODE), "w2-k8s": dict(NODE)}},
        }}},
    }}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return tmp_path


def play(lab: Path, playbook: str, *args: str) -> tuple[int, dict, str]:
    """Run ROOT/playbooks/PLAYBOOK on the lab's inventory; (exit code, stats per host, output)."""
    env = dict(os.environ, HOME=str(lab), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_FACT_CACHING="memory",
               ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(lab / "inventory.yml"), str(ROOT / "playbooks" / playbook), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    start = done.stdout.find("{")
    stats = json.loads(done.stdout[start:])["stats"] if start >= 0 else {}
    return done.returncode, stats, done.stdout + done.stderr


def untouched(stats: dict, host: str) -> bool:
    """The host was never connected to and nothing changed on it."""
    return stats[host]["unreachable"] == 0 and stats[host]["changed"] == 0


REFUSED = {
    "reset one worker": (
        "reset.yml", ["--limit", "w1-k8s"], "w1-k8s", "Run it with -e reset_confirm=yes"),
    "reset the control plane": (
        "reset.yml", ["--limit", "m-k8s"], "m-k8s", "Run it with -e reset_confirm=yes"),
    "remove the control plane": (
        "remove-worker.yml", ["-e", "remove_worker_node=m-k8s", "--limit", "m-k8s"], "m-k8s",
        "The control plane cannot be removed"),
    "remove a group of workers": (
        "remove-worker.yml", ["-e", "remove_worker_node=workers", "--limit", "w1-k8s"], "w1-k8s",
        "Set remove_worker_node to one worker of the inventory"),
    "maintain a host that is no lab node": (
        "maintenance.yml", ["-e", "maintenance_nodes=all", "-e", "maintenance_reboot=true", "--limit", "nfs-box"],
        "nfs-box", "matches hosts that are not lab nodes"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_limited_run_is_refused_before_it_connects(lab, case):
    playbook, args, host, message = REFUSED[case]
    code, stats, out = play(lab, playbook, *args)
    assert code != 0, out[-3000:]
    assert message in out, out[-3000:]
    assert stats[host]["failures"] == 1 and stats[host]["ok"] == 0, stats
    assert untouched(stats, host), stats


def test_a_reset_limited_to_this_machine_keeps_the_kubeconfig(lab):
    # --limit localhost needs localhost in the inventory (the implicit one matches no limit).
    inventory = yaml.safe_load((lab / "inventory.yml").read_text())
    inventory["all"]["hosts"]["localhost"] = {"ansible_connection": "local",
                                              "ansible_python_interpreter": sys.executable}
    (lab / "inventory.yml").write_text(yaml.safe_dump(inventory))
    code, stats, out = play(lab, "reset.yml", "--limit", "localhost")
    assert code != 0, out[-3000:]
    assert "This removes the lab's kubeconfig from this machine" in out, out[-3000:]
    assert stats["localhost"]["failures"] == 1 and stats["localhost"]["ok"] == 0, stats
    assert (lab / "kubeconfig").is_file()


# Skipping the assert (it comes before the named task, or carries the skipped tag) skips what it
# guards too: the destructive steps sit under the same condition.
BYPASSED = {
    "reset, started at the removal": (
        "reset.yml", ["--limit", "w1-k8s", "--start-at-task", "Remove the cluster's configuration"], "w1-k8s"),
    "reset, the guard's tag skipped": ("reset.yml", ["--limit", "w1-k8s", "--skip-tags", "always"], "w1-k8s"),
    "remove the control plane, started at kubeadm reset": (
        "remove-worker.yml", ["-e", "remove_worker_node=m-k8s", "--start-at-task", "Run kubeadm reset"], "m-k8s"),
    "reboot a host that is no lab node": (
        "maintenance.yml", ["-e", "maintenance_nodes=nfs-box", "-e", "maintenance_reboot=true",
                            "--limit", "nfs-box", "--start-at-task", "Reboot the node"], "nfs-box"),
}


@pytest.mark.parametrize("case", sorted(BYPASSED))
def test_skipping_the_guard_skips_what_it_guards(lab, case):
    playbook, args, host = BYPASSED[case]
    _code, stats, out = play(lab, playbook, *args)
    assert host in stats, out[-3000:]
    assert stats[host]["skipped"] > 0, stats
    assert untouched(stats, host), stats
    assert (lab / "kubeconfig").is_file()
