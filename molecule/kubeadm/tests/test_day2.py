"""Day 2 on the real cluster: the kube_drain module against real evictions, side by side with the
bundle's `kubectl drain` on the same pods; the book's exercise playbooks on two tags of the local
test web image; health.yml and recover.yml on real failures; maintenance.yml through a node restart.
Then a worker joins (add-worker.yml), leaves (remove-worker.yml), is reset (reset.yml) and rebuilt
(site.yml). Runs once, after the nodes were restarted (see conftest.py), in file order: each part
leaves the cluster as it found it."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from cluster import (
    ADMIN,
    CONTROLLER_KUBECONFIG,
    MASTER,
    NODES,
    PREFIX,
    RELEASE,
    ROOT,
    TOPOLOGY_FILE,
    WORKERS,
    apply,
    fetch_on,
    import_test_image,
    kubectl,
    kubectl_json,
    module,
    node,
    playbook,
    pod_ready,
    ready_nodes,
    recap,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

from ansible_collections.k8s_lab.lab.plugins.inventory.lab_topology import read_topology

NS = "day2"
DRAINED, OTHER = WORKERS[0], WORKERS[1]
# The bundle's kubectl flags and the module's options that relax the same filters.
ALL_FLAGS = "--force --ignore-daemonsets --delete-emptydir-data"
ALL_OPTIONS = "force=true ignore_daemonsets=true delete_emptydir_data=true"


def pod_spec(tag: str = "v1", **extra) -> dict:
    return {
        # busybox httpd as PID 1 ignores SIGTERM; a short grace keeps evictions quick.
        "terminationGracePeriodSeconds": 1,
        "containers": [{
            "name": "web", "image": f"{TEST_IMAGE}:{tag}", "imagePullPolicy": "Never",
            "ports": [{"containerPort": TEST_PORT}],
            "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 1},
            **extra.pop("container", {}),
        }],
        **extra,
    }


def deployment(name: str, replicas: int, **spec) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec(**spec)}},
    }


def pdb(name: str, min_available: int) -> dict:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": NS},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": name}}},
    }


def pods(namespace: str = NS, selector: str = "") -> list[dict]:
    args = ["-n", namespace, "get", "pods"] + (["-l", selector] if selector else [])
    return [p for p in kubectl_json(*args)["items"] if not p["metadata"].get("deletionTimestamp")]


def on_node(name: str) -> set[str]:
    """namespace/name of every pod bound to the node."""
    found = kubectl_json("get", "pods", "-A", "--field-selector", f"spec.nodeName={name}")["items"]
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in found
            if not p["metadata"].get("deletionTimestamp")}


def uids(namespace: str = NS) -> dict[str, str]:
    return {p["metadata"]["name"]: p["metadata"]["uid"] for p in pods(namespace)}


def unschedulable(name: str) -> bool:
    return bool(kubectl_json("get", "node", name)["spec"].get("unschedulable"))


def drain(name: str, options: str = "", *, check_mode: bool = False, timeout: int = 60) -> dict:
    return module("localhost", "kube_drain",
                  f"name={name} kubeconfig={CONTROLLER_KUBECONFIG} timeout={timeout} {options}",
                  check_mode=check_mode)


def kubectl_drain(name: str, flags: str, *extra: str):
    """The bundle's kubectl drain on the control plane: (exit code, stdout and stderr together)."""
    cmd = node(MASTER).run(f"kubectl --kubeconfig {ADMIN} drain {name} {flags} {' '.join(extra)} 2>&1")
    return cmd.rc, cmd.stdout


def names(entries: list[dict]) -> set[str]:
    return {f"{e['namespace']}/{e['name']}" for e in entries}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Both tags of the local test image on every worker."""
    workdir = tmp_path_factory.mktemp("images")
    for tag in ("v1", "v2"):
        import_test_image(tag, WORKERS, workdir)


@pytest.fixture(scope="module")
def drain_workload(images):
    """On DRAINED, each kind of pod kubectl drain treats differently: two replicas of a Deployment
    whose PodDisruptionBudget allows no disruption, a Deployment's pod with an emptyDir volume, a
    pod that no controller manages and a DaemonSet's pod (kube-proxy's too). OTHER is cordoned while
    they are placed, so they all land on DRAINED; it is schedulable again for the checks."""
    kubectl("create", "namespace", NS)
    kubectl("cordon", OTHER)
    try:
        apply(deployment("guarded", 2))
        apply(pdb("guarded", 2))
        apply(deployment("scratch", 1, volumes=[{"name": "scratch", "emptyDir": {}}],
                         container={"volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]}))
        apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": NS},
               "spec": pod_spec()})
        apply({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": NS},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}}, "spec": pod_spec()}}})

        def placed():
            found = pods()
            mine = [p for p in found if p["spec"].get("nodeName") == DRAINED]
            return found if len(mine) == 5 and all(pod_ready(p) for p in found) else None

        wait_for("the day-2 pods Ready on " + DRAINED, placed)
    finally:
        kubectl("uncordon", OTHER)
    yield
    kubectl("delete", "namespace", NS, "--wait=true", "--timeout=120s")


def kubectl_dry_run_evictions(name: str) -> set[str]:
    rc, out = kubectl_drain(name, ALL_FLAGS, "--dry-run=client")
    assert rc == 0, out
    # "evicting pod NAMESPACE/NAME (dry run)"
    return set(re.findall(r"^evicting pod (\S+/\S+) \(dry run\)$", out, re.MULTILINE))


@pytest.mark.parametrize("name", [DRAINED, MASTER])
def test_check_mode_evicts_what_kubectl_would_and_changes_nothing(drain_workload, name):
    before = uids()
    result = drain(name, ALL_OPTIONS, check_mode=True)
    assert not result.get("failed"), result.get("msg")
    assert names(result["evicted"]) == kubectl_dry_run_evictions(name)
    assert not unschedulable(name)
    assert uids() == before
    skipped = {e["name"]: e["reason"] for e in result["kept"]}
    if name == MASTER:
        # The control plane's static pods: mirror pods, never evicted.
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert "mirror pod" in skipped[f"{component}-{MASTER}"]
    else:
        scratch = pods(selector="app=scratch")[0]["metadata"]["name"]
        assert {f"{NS}/bare", f"{NS}/{scratch}"} <= names(result["evicted"])
        agent = next(p["metadata"]["name"] for p in pods(selector="app=agent") if p["spec"]["nodeName"] == name)
        assert skipped[agent].startswith("managed by DaemonSet")


def kubectl_refusals(out: str) -> dict[str, set[str]]:
    """kubectl's filter errors, one line each after the summary:
    'cannot delete <what> (use --<flag> to <verb>): ns/a, ns/b' -> {flag: {ns/a, ns/b}}."""
    lines = re.findall(r"^cannot delete [^(]*\(use --([a-z-]+) to [a-z]+\): (.+)$", out, re.MULTILINE)
    return {flag: {p.strip() for p in listed.split(",")} for flag, listed in lines}


def test_pods_only_forced_or_allowed_are_refused_as_kubectl_refuses_them(drain_workload):
    before = uids()
    result = drain(DRAINED)
    assert result.get("failed") is True
    by_reason = {}
    for entry in result["blocked"]:
        key = ("force" if "declares no controller" in entry["reason"]
               else "delete-emptydir-data" if "emptyDir" in entry["reason"]
               else "ignore-daemonsets" if "DaemonSet" in entry["reason"] else entry["reason"])
        by_reason.setdefault(key, set()).add(f"{entry['namespace']}/{entry['name']}")
    # Nothing was evicted, and the node stays cordoned for a look.
    assert uids() == before
    assert unschedulable(DRAINED)

    kubectl("uncordon", DRAINED)
    rc, out = kubectl_drain(DRAINED, "", "--dry-run=client")
    assert rc != 0, out
    assert by_reason == kubectl_refusals(out), out
    assert set(by_reason) == {"force", "delete-emptydir-data", "ignore-daemonsets"}


def test_uncordon_reports_a_change_only_when_there_is_one(drain_workload):
    kubectl("cordon", DRAINED)
    first = drain(DRAINED, "state=uncordon")
    assert first.get("changed") is True and not first.get("failed"), first
    assert not unschedulable(DRAINED)
    again = drain(DRAINED, "state=uncordon")
    assert again.get("changed") is False and not again.get("failed"), again


def test_a_budget_allowing_no_disruption_stops_the_drain_like_kubectl(drain_workload):
    guarded = {p["metadata"]["name"] for p in pods(selector="app=guarded")}
    result = drain(DRAINED, ALL_OPTIONS, timeout=20)
    assert result.get("failed") is True
    # The budget refused the guarded pods every time; other pods were evicted (one with a longer
    # grace period than the timeout may still be terminating).
    refused = {e["name"]: e for e in result["blocked"] if "PodDisruptionBudget" in e["reason"]}
    assert set(refused) == guarded, result["blocked"]
    assert all(e["attempts"] > 1 for e in refused.values())
    assert all(e["reason"] == "still terminating" for e in result["blocked"] if e["name"] not in guarded)
    assert unschedulable(DRAINED)
    still = pods(selector="app=guarded")
    assert {p["metadata"]["name"] for p in still} == guarded
    assert all(p["spec"]["nodeName"] == DRAINED and pod_ready(p) for p in still)

    rc, out = kubectl_drain(DRAINED, ALL_FLAGS, "--timeout=15s")
    assert rc != 0, out
    refused = set(re.findall(r'evicting pods/"([^"]+)" -n "day2" \(will retry after 5s\): Cannot evict pod as it '
                             r"would violate the pod's disruption budget", out))
    assert refused == guarded, out


def guarded_ready() -> list[dict] | None:
    found = pods(selector="app=guarded")
    return found if len(found) == 2 and all(pod_ready(p) for p in found) else None


def test_a_budget_allowing_one_disruption_lets_the_drain_finish_like_kubectl(drain_workload):
    before = {p["metadata"]["uid"] for p in pods(selector="app=guarded")}
    apply(pdb("guarded", 1))
    result = drain(DRAINED, ALL_OPTIONS, timeout=300)
    assert not result.get("failed"), result.get("msg")
    assert result["blocked"] == []
    assert unschedulable(DRAINED)
    moved = wait_for("the guarded replicas Ready again", guarded_ready)
    assert {p["spec"]["nodeName"] for p in moved} == {OTHER}
    assert not before & {p["metadata"]["uid"] for p in moved}
    # Only DaemonSet pods stay on the drained node.
    left = on_node(DRAINED)
    assert left and all(p.startswith(("kube-system/kube-proxy-", f"{NS}/agent-")) for p in left), left

    # The same budget, kubectl the other way round: it finishes too, and the replicas come back.
    kubectl("uncordon", DRAINED)
    rc, out = kubectl_drain(OTHER, ALL_FLAGS, "--timeout=300s")
    assert rc == 0, out
    assert f"node/{OTHER} drained" in out
    back = wait_for("the guarded replicas Ready on " + DRAINED, guarded_ready)
    assert {p["spec"]["nodeName"] for p in back} == {DRAINED}
    uncordoned = drain(OTHER, "state=uncordon")
    assert uncordoned.get("changed") is True, uncordoned


def rollout(name: str) -> dict:
    deployment_ = kubectl_json("get", "deployment", name)
    images_ = {p["spec"]["containers"][0]["image"] for p in pods("default", f"app={name}")}
    return {
        "replicas": deployment_["spec"]["replicas"],
        "ready": deployment_["status"].get("readyReplicas", 0),
        "updated": deployment_["status"].get("updatedReplicas", 0),
        "revision": deployment_["metadata"]["annotations"].get("deployment.kubernetes.io/revision"),
        "images": images_,
    }


def answers(name: str) -> set[str]:
    """What each of the Deployment's pods serves, asked from the control-plane node."""
    out = set()
    for pod in pods("default", f"app={name}"):
        url = f"http://{pod['status']['podIP']}:{TEST_PORT}/"
        answer = fetch_on(MASTER, url)
        assert answer.rc == 0, answer.stderr
        out.add(answer.stdout.strip())
    return out


def test_the_book_exercises_deploy_scale_update_and_undo(images):
    v1, v2 = f"{TEST_IMAGE}:v1", f"{TEST_IMAGE}:v2"
    try:
        done = playbook("exercises/deploy.yml", "-e", f"echo_hname_image={v1}", "-e", f"rollout_nginx_image={v1}",
                        "-e", "echo_hname_replicas=1", "-e", "rollout_nginx_replicas=1")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("echo-hname") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "1", "images": {v1}}

        done = playbook("exercises/scale.yml", "-e", "replicas=3")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("echo-hname")["ready"] == 3
        assert len(pods("default", "app=echo-hname")) == 3

        done = playbook("exercises/set-image.yml", "-e", f"image={v2}")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("rollout-nginx") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "2", "images": {v2}}
        assert answers("rollout-nginx") == {"k8s-lab test web v2"}

        done = playbook("exercises/rollback.yml")
        assert done.returncode == 0, done.stdout[-3000:]
        assert rollout("rollout-nginx") == {"replicas": 1, "ready": 1, "updated": 1, "revision": "3", "images": {v1}}
        assert answers("rollout-nginx") == {"k8s-lab test web v1"}
    finally:
        deleted = playbook("exercises/delete.yml")
    assert deleted.returncode == 0, deleted.stdout[-3000:]


def health_table(output: str) -> dict[str, dict[str, str]]:
    """health.yml's table (columns aligned under their headings): node -> {heading: value}."""
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.strip().startswith("NODE ") and "KUBELET" in line)
    header = lines[top]
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", header)]
    spans = list(zip(starts, [*starts[1:], None], strict=True))
    headings = [header[a:b].strip() for a, b in spans]
    table = {}
    for line in lines[top + 1:]:
        cells = [line[a:b].strip() for a, b in spans]
        if cells[0] not in NODES:
            break
        table[cells[0]] = dict(zip(headings, cells, strict=True))
    return table


@pytest.mark.parametrize("service", ["kubelet", "containerd"])
def test_health_names_a_stopped_service_and_recover_starts_it(service):
    broken = OTHER
    node(broken).check_output(f"systemctl stop {service}")
    try:
        health = playbook("health.yml", "-e", "health_strict=true")
        assert health.returncode != 0, health.stdout[-3000:]
        assert "Overall: NOT healthy" in health.stdout
        table = health_table(health.stdout)
        assert set(table) == set(NODES), health.stdout[-3000:]
        assert {name: row[service.upper()] for name, row in table.items()} == {
            name: "inactive" if name == broken else "active" for name in NODES}
    finally:
        repaired = playbook("recover.yml")
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    counts = recap(repaired.stdout)
    assert counts[broken]["changed"] > 0, counts
    assert all(counts[name]["changed"] == 0 for name in NODES if name != broken), counts
    assert node(broken).service(service).is_running
    healthy = playbook("health.yml", "-e", "health_strict=true")
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    assert "Overall: healthy" in healthy.stdout


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


@pytest.fixture
def grown(tmp_path):
    """The scenario's topology with one worker more, as a user raises workers: in topology.yml (the
    lab's group_vars beside it, its project directory kept, so node keys and kubeconfig are the
    lab's). Afterwards the extra node leaves the cluster and its container and /var go."""
    settings = yaml.safe_load(Path(TOPOLOGY_FILE).read_text())
    settings["workers"] += 1
    settings["project_dir"] = str(Path(TOPOLOGY_FILE).resolve().parents[1])
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "group_vars").symlink_to(Path(TOPOLOGY_FILE).resolve().parent / "group_vars")
    topology = inventory / "topology.yml"
    topology.write_text(yaml.safe_dump(settings))
    new = read_topology(str(topology)).nodes[-1]
    assert new.name not in NODES
    yield topology, new
    kubectl("delete", "node", new.name, "--ignore-not-found")
    for argv in (["rm", "--force", f"{PREFIX}{new.name}"], ["volume", "rm", "--force", f"{PREFIX}{new.name}-var"]):
        gone = subprocess.run(["podman", *argv], capture_output=True, text=True, check=False)
        assert gone.returncode == 0, gone.stderr


def test_a_worker_joins_leaves_and_is_rebuilt_after_a_reset(grown):
    topology, new = grown
    started = subprocess.run([ROOT / "scripts" / "lab-podman.py", "up"], capture_output=True, text=True,
                             env={**os.environ, "LAB_TOPOLOGY": str(topology)}, check=False)
    assert started.returncode == 0, started.stderr

    credentials = "sha256sum /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt"
    before = {name: node(name).check_output(credentials) for name in NODES}
    added = playbook("add-worker.yml", inventory=topology)
    assert added.returncode == 0, added.stdout[-3000:]
    assert f"Joining: {new.name}" in added.stdout
    joined = wait_for(f"{new.name} Ready", lambda: ready_nodes().get(new.name))
    assert [a["address"] for a in joined["status"]["addresses"] if a["type"] == "InternalIP"] == [new.ip]
    # At the cluster's release (test_upgrade.py upgraded it), not the topology's.
    assert joined["status"]["nodeInfo"]["kubeletVersion"] == RELEASE
    # The nodes already in the cluster were not joined or initialised again.
    assert {name: node(name).check_output(credentials) for name in NODES} == before
    again = playbook("add-worker.yml", inventory=topology)
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), recap(again.stdout)

    removed = playbook("remove-worker.yml", "-e", f"remove_worker_node={new.name}", inventory=topology)
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert new.name not in {n["metadata"]["name"] for n in kubectl_json("get", "nodes")["items"]}
    assert not node(new.name).file("/etc/kubernetes/kubelet.conf").exists
    assert not node(new.name).service("kubelet").is_running

    reset = playbook("reset.yml", "-e", "reset_confirm=yes", "--limit", new.name, inventory=topology)
    assert reset.returncode == 0, reset.stdout[-3000:]
    assert not node(new.name).file("/etc/kubernetes").exists
    assert CONTROLLER_KUBECONFIG.is_file(), "reset.yml limited to a node removed the lab's kubeconfig"

    rebuilt = playbook("../site.yml", inventory=topology)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    rebuilt_node = wait_for(f"{new.name} Ready after the rebuild", lambda: ready_nodes().get(new.name))
    # kubeadm reset left its kubelet: the node is rebuilt at that release.
    assert rebuilt_node["status"]["nodeInfo"]["kubeletVersion"] == RELEASE
    wait_for(f"kube-proxy Running on {new.name}", lambda: any(
        p["spec"]["nodeName"] == new.name and pod_ready(p) for p in pods("kube-system", "k8s-app=kube-proxy")))
