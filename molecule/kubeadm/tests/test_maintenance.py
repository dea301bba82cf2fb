"""maintenance.yml through a real node restart while the workload keeps answering. Runs once, after
the nodes were restarted and upgraded (ORDER in conftest.py); it leaves the cluster as it found it."""

from __future__ import annotations

import subprocess
import threading
import time

from cluster import MASTER, PREFIX, apply, kubectl, kubectl_json, node, playbook
from day2 import DRAINED, unschedulable


def test_maintenance_restarts_a_worker_while_the_workload_keeps_answering(images):
    """playbooks/maintenance.yml on a worker carrying one of the web replicas (test_cluster.py's
    workload, one per worker, with a budget that allows one disruption): drain, restart the node,
    Ready again, uncordon; the Service answers throughout from the replica on the other worker."""
    apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})
    cluster_ip = kubectl_json("get", "service", "web")["spec"]["clusterIP"]
    boot = node(DRAINED).check_output("cut -d' ' -f22 /proc/1/stat")
    failures, polls, stop = [], [], threading.Event()

    def poll():
        while not stop.is_set():
            fetch = f"import urllib.request; urllib.request.urlopen('http://{cluster_ip}/', timeout=3)"
            probe = subprocess.run(["podman", "exec", f"{PREFIX}{MASTER}", "python3", "-c", fetch],
                                   capture_output=True, text=True, check=False)
            polls.append(probe.returncode)
            if probe.returncode != 0:
                failures.append(probe.stderr[-300:])
            time.sleep(1)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        done = playbook("maintenance.yml", "-e", f"maintenance_nodes={DRAINED}", "-e", "maintenance_reboot=true")
    finally:
        stop.set()
        poller.join()
        kubectl("delete", "pdb", "web")
    assert done.returncode == 0, done.stdout[-3000:]
    assert node(DRAINED).check_output("cut -d' ' -f22 /proc/1/stat") != boot, "the node was not restarted"
    assert not unschedulable(DRAINED)
    assert len(polls) > 10 and not failures, failures[:3]
