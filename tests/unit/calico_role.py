"""Runs task files of the calico role with real Ansible and kubernetes.core against the API server
test double (kube_apiserver_test_double.FakeApiServer), through tests/unit/calico_tasks.yml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(__file__).with_name("calico_tasks.yml")
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def run_tasks(server, tmp_path: Path, tasks: str, **variables):
    """Run tasks (wait.yml, crds.yml) against server; return (exit code, {task: message of its
    failure}, {task: its results}, output)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(server.kubeconfig())
    inventory = tmp_path / "inventory"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        HOME=str(tmp_path),
        # kubernetes.core caches API discovery in the temporary directory, one file per server.
        TMPDIR=str(tmp_path),
        ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
        ANSIBLE_FACT_CACHING="memory",
        ANSIBLE_NOCOLOR="1",
    )
    extra = {"calico_test_tasks": tasks, "calico_kubeconfig": str(kubeconfig), **variables}
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(PLAYBOOK), "-e", json.dumps(extra)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    output = done.stdout + done.stderr
    start = done.stdout.find("{")
    report = json.loads(done.stdout[start:]) if start >= 0 else {"plays": []}
    failed, results = {}, {}
    for play in report["plays"]:
        for task in play["tasks"]:
            outcome = task["hosts"].get("localhost", {})
            # Without the "calico : " of tasks run from the role.
            name = task["task"]["name"].split(" : ", 1)[-1]
            results[name] = outcome
            if outcome.get("failed"):
                failed[name] = outcome.get("msg", "")
    return done.returncode, failed, results, output
