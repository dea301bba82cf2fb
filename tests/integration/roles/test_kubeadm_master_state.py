"""What kubeadm_master decides from what a node holds (its tasks/state.yml, run by real Ansible on
this machine against a directory standing in for the node's /etc/kubernetes and /var/lib/etcd): a
fresh node is initialised, a recorded or answering control plane is left alone, and anything else
(a CA, etcd data or admin.conf, no marker, no API server answering) stops the role with what it
found, unless kubeadm_master_force_reinit. kubectl is a stand-in that answers /readyz or not. (On the
real control plane: molecule/kubeadm/tests/test_guards.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
PATHS = {
    "admin.conf": "etc/kubernetes/admin.conf",
    "ca.crt": "etc/kubernetes/pki/ca.crt",
    "etcd": "var/lib/etcd/member",
    "marker": "etc/kubernetes/k8s-lab-init-complete",
}
VARIABLES = {"admin.conf": "__kubeadm_master_admin_conf", "ca.crt": "__kubeadm_master_ca_cert",
             "etcd": "__kubeadm_master_etcd_member_dir", "marker": "__kubeadm_master_init_marker"}
PLAY = [{
    "name": "Decide as kubeadm_master does", "hosts": "localhost", "gather_facts": False,
    "tasks": [
        {"name": "Find what the node holds", "ansible.builtin.include_role": {
            "name": "kubeadm_master", "tasks_from": "state.yml", "public": True}},
        {"name": "Write the decision", "ansible.builtin.copy": {
            "dest": "{{ decision_file }}", "mode": "0644",
            "content": "{{ {'init': __kubeadm_master_needs_init | bool, 'reset': __kubeadm_master_needs_init | bool"
                       " and not __kubeadm_master_fresh | bool} | to_json }}"}},
    ],
}]


@pytest.fixture
def node(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Exits as READYZ_RC says, and notes each call.
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/kubectl.calls\nexit "${{READYZ_RC:-1}}"\n')
    (bin_dir / "kubectl").chmod(0o755)
    (tmp_path / "play.yml").write_text(json.dumps(PLAY))
    (tmp_path / "inventory").write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return tmp_path


def holding(node: Path, *names: str) -> None:
    for name in names:
        path = node / PATHS[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "etcd":
            (path / "snap").mkdir(parents=True)
        else:
            path.write_text("x\n")


def decide(node: Path, *, readyz_rc: int = 1, force: bool = False) -> tuple[int, dict | None, str]:
    """(exit code, {init, reset} or None when the role stopped, output)."""
    extra = {VARIABLES[name]: str(node / rel) for name, rel in PATHS.items()}
    extra.update(decision_file=str(node / "decision.json"), kubeadm_master_api_wait_seconds=0,
                 kubeadm_master_force_reinit=force)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", HOME=str(node),
               ANSIBLE_FACT_CACHING="memory", ANSIBLE_STDOUT_CALLBACK="default", READYZ_RC=str(readyz_rc),
               PATH=f"{node / 'bin'}:{os.environ['PATH']}")
    done = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(node / "inventory"), str(node / "play.yml"), "-e", json.dumps(extra)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    decision = node / "decision.json"
    return done.returncode, json.loads(decision.read_text()) if decision.exists() else None, done.stdout + done.stderr


def asked_the_api(node: Path) -> bool:
    return (node / "kubectl.calls").exists()


def test_a_fresh_node_is_initialised(node):
    code, decision, out = decide(node)
    assert code == 0, out[-3000:]
    assert decision == {"init": True, "reset": False}
    assert not asked_the_api(node)


def test_a_recorded_control_plane_is_left_alone_without_asking_the_api(node):
    holding(node, "admin.conf", "ca.crt", "etcd", "marker")
    code, decision, out = decide(node)
    assert code == 0, out[-3000:]
    assert decision == {"init": False, "reset": False}
    assert not asked_the_api(node)


def test_an_unrecorded_control_plane_whose_api_answers_is_adopted(node):
    holding(node, "admin.conf", "ca.crt", "etcd")
    code, decision, out = decide(node, readyz_rc=0)
    assert code == 0, out[-3000:]
    assert decision == {"init": False, "reset": False}
    assert asked_the_api(node)


@pytest.mark.parametrize("held", [("admin.conf", "ca.crt", "etcd"), ("ca.crt",), ("etcd",), ("admin.conf",)])
def test_anything_else_stops_the_role_saying_what_it_found(node, held):
    holding(node, *held)
    code, decision, out = decide(node)
    assert code != 0
    assert decision is None, "the role went past its refusal"
    text = " ".join(out.split())
    assert "is not reset without proof that it holds nothing worth keeping" in text, out[-3000:]
    for name, rel in PATHS.items():
        assert f"{node / rel} {'present' if name in held else 'absent'};" in text, (name, out[-3000:])
    reason = "did not answer /readyz within 0 s" if "admin.conf" in held else "no admin.conf to ask"
    assert reason in text, out[-3000:]
    assert "-e kubeadm_master_force_reinit=true" in text and "playbooks/reset.yml" in text
    assert asked_the_api(node) == ("admin.conf" in held)


def test_forced_an_unrecorded_control_plane_is_reset_and_initialised(node):
    holding(node, "admin.conf", "ca.crt", "etcd")
    code, decision, out = decide(node, force=True)
    assert code == 0, out[-3000:]
    assert decision == {"init": True, "reset": True}


@pytest.mark.parametrize("readyz_rc", [0, 1])
def test_forcing_never_resets_a_recorded_or_answering_control_plane(node, readyz_rc):
    holding(node, "admin.conf", "ca.crt", "etcd", *(["marker"] if readyz_rc else []))
    code, decision, out = decide(node, readyz_rc=readyz_rc, force=True)
    assert code == 0, out[-3000:]
    assert decision == {"init": False, "reset": False}
