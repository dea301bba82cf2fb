"""playbooks/upgrade.yml on the real cluster: converge built it at the previous minor (the topology's
"1.36", v1.36.3); this file upgrades it to the bundle's pin (v1.37.2) while a web Deployment (two
replicas, one per worker, a PodDisruptionBudget of minAvailable 1) answers through its Service, polled
the whole time from one process that records every request. First the refusals, each of which must
change nothing: a skipped minor, a release the bundle lacks, a node that is not Ready. Afterwards:
every kubelet, the static pods, the API server, CoreDNS and kube-proxy on the new release, the
downgrade refused, a rerun and site.yml (the topology still says 1.36) with changed=0.

It runs first in the second verify (conftest.py), so that every check after it (test_cluster.py,
the day-2 checks, etcd, certificates) runs on the upgraded cluster."""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
import time

import pytest
from cluster import (
    BUILT_RELEASE,
    CONTROLLER_KUBECONFIG,
    MANIFEST,
    MASTER,
    NODES,
    PREFIX,
    UPGRADED_RELEASE,
    WORKERS,
    apply,
    every_node_ready,
    import_test_image,
    kubectl,
    kubectl_json,
    node,
    playbook,
    pod_ready,
    ready_nodes,
    recap,
    settled,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

NS = "upgrade"
APP = "web"
TARGET = UPGRADED_RELEASE
# The upgrade's annotation on a node it has drained (roles/kubeadm_upgrade/vars/main.yml).
MARKER = "k8s-lab.lab/upgrading-to"
BACKUPS = CONTROLLER_KUBECONFIG.parent / "backups"
# How long the whole upgrade may take on the busy CI host: the control plane and two workers.
UPGRADE_TIMEOUT = 2700


def run_upgrade(release: str, timed: bool = False) -> subprocess.CompletedProcess:
    return playbook("upgrade.yml", "-e", f"upgrade_to={release}", timeout=UPGRADE_TIMEOUT, timed=timed)


def task_starts(output: str) -> list[tuple[float, str]]:
    """(seconds since the run began, "play / task") for each task of a timed run (profile_tasks
    prints, under each task's banner, the time elapsed since the start)."""
    starts, play, task = [], "", None
    for line in output.splitlines():
        if header := re.match(r"^PLAY \[(.+)\] \*+$", line):
            play = header[1]
        elif header := re.match(r"^TASK \[(.+)\] \*+$", line):
            task = header[1]
        elif task and (stamp := re.search(r"\(\d+:\d\d:\d\d\.\d+\)\s+(\d+):(\d\d):(\d\d\.\d+)", line)):
            starts.append((int(stamp[1]) * 3600 + int(stamp[2]) * 60 + float(stamp[3]), f"{play} / {task}"))
            task = None
    return starts


def running_at(starts: list[tuple[float, str]], second: float) -> str:
    """The task that had started last at that second of the run."""
    begun = [name for at, name in starts if at <= second]
    return begun[-1] if begun else "before the first task"


def text(done: subprocess.CompletedProcess) -> str:
    """The run's output on one line: Ansible folds long messages."""
    return " ".join(done.stdout.split())


def kubelets() -> dict[str, str]:
    return {item["metadata"]["name"]: item["status"]["nodeInfo"]["kubeletVersion"]
            for item in kubectl_json("get", "nodes")["items"]}


def snapshots() -> set[str]:
    return {path.name for path in BACKUPS.glob("etcd-*.db")} if BACKUPS.is_dir() else set()


def web_pods() -> list[dict]:
    return [p for p in kubectl_json("-n", NS, "get", "pods", "-l", f"app={APP}")["items"]
            if not p["metadata"].get("deletionTimestamp")]


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The web Deployment of the issue: two replicas that must run on different workers (so that a
    drain leaves its pod nowhere to go until the worker is back), a budget of minAvailable 1 and a
    Service. The test image's httpd ignores SIGTERM and serves until its grace period ends, while
    the Service already sends nothing to it."""
    import_test_image("v1", WORKERS, tmp_path_factory.mktemp("image"))
    labels = {"app": APP}
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP, "namespace": NS},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": labels}, "topologyKey": "kubernetes.io/hostname"}]}},
                    "containers": [{
                        "name": APP, "image": f"{TEST_IMAGE}:v1", "imagePullPolicy": "Never",
                        "ports": [{"containerPort": TEST_PORT}],
                        "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 1},
                    }],
                },
            },
        },
    })
    apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": APP, "namespace": NS},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}})
    apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": APP, "namespace": NS},
           "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": TEST_PORT}]}})

    def spread():
        found = web_pods()
        return found if (len(found) == 2 and all(pod_ready(p) for p in found)
                         and sorted(p["spec"]["nodeName"] for p in found) == sorted(WORKERS)) else None

    wait_for("the web replicas Ready, one on each worker", spread)
    # The restarted lab settled: the upgrade's health check judges every pod.
    wait_for("every node Ready and every pod ready", settled, timeout=300)
    yield f"http://{kubectl_json('-n', NS, 'get', 'service', APP)['spec']['clusterIP']}/"
    kubectl("delete", "namespace", NS, "--wait=true", "--timeout=180s")


class ServicePoller:
    """GETs the Service from inside the control plane node twice a second, in one process there,
    and records every request: (when it began, in seconds since the epoch on the shared clock, True
    when it answered, the answer or the error). The process ends when its stdin closes."""

    SCRIPT = (
        "import os, sys, threading, time, urllib.request\n"
        "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()\n"
        "while True:\n"
        "    began, wall = time.monotonic(), time.time()\n"
        "    try:\n"
        "        answer = urllib.request.urlopen(sys.argv[1], timeout=3).read().decode().strip()\n"
        "        print(f'{wall:.2f} ok {answer}', flush=True)\n"
        "    except Exception as exc:\n"
        "        print(f'{wall:.2f} FAIL {exc!r}', flush=True)\n"
        "    time.sleep(max(0.0, 0.5 - (time.monotonic() - began)))\n"
    )

    def __init__(self, url: str):
        self.url = url
        self.records: list[tuple[float, bool, str]] = []

    def __enter__(self):
        self.process = subprocess.Popen(
            ["podman", "exec", "-i", f"{PREFIX}{MASTER}", "python3", "-u", "-c", self.SCRIPT, self.url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.process.stdout:
            at, status, detail = line.rstrip("\n").split(" ", 2)
            self.records.append((float(at), status == "ok", detail))

    def answered(self) -> int:
        return sum(1 for _, ok, _ in self.records if ok)

    def __exit__(self, *exc):
        self.process.stdin.close()
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        self.errors = self.process.stderr.read()


def assert_refused(done: subprocess.CompletedProcess, reason: str, before: dict, backups: set[str]) -> None:
    """Refused with that reason, and nothing changed: no task changed, no node moved, no snapshot."""
    assert done.returncode != 0, done.stdout[-3000:]
    assert "kubeadm_upgrade: refused, nothing was changed" in text(done), done.stdout[-3000:]
    assert reason in text(done), done.stdout[-3000:]
    counts = recap(done.stdout)
    assert counts and all(c["changed"] == 0 for c in counts.values()), counts
    assert kubelets() == before
    assert snapshots() == backups


def test_the_cluster_runs_the_previous_minor(web):
    assert BUILT_RELEASE != TARGET
    assert set(kubelets().values()) == {BUILT_RELEASE}


def test_a_skipped_minor_is_refused(web):
    minor = int(TARGET.split(".")[1]) + 1
    skipping = f"v1.{minor}.0"
    done = run_upgrade(skipping)
    assert_refused(done, f"{skipping} skips a minor release: the API server on {MASTER}", kubelets(), snapshots())
    assert f"upgrade to v1.{minor - 1} first" in text(done)


def test_a_release_the_bundle_lacks_is_refused(web):
    major, minor, patch = TARGET[1:].split(".")
    lacking = f"v{major}.{minor}.{int(patch) + 1}"
    assert lacking not in MANIFEST["kubernetes_releases"]
    done = run_upgrade(lacking)
    assert_refused(done, f"the bundle lacks Kubernetes {lacking}", kubelets(), snapshots())


def test_a_node_that_is_not_ready_is_refused(web):
    stopped = WORKERS[1]
    before, backups = kubelets(), snapshots()
    node(stopped).check_output("systemctl stop kubelet")
    try:
        wait_for(f"{stopped} reported not Ready", lambda: stopped not in ready_nodes(), timeout=240)
        done = run_upgrade(TARGET)
    finally:
        node(stopped).check_output("systemctl start kubelet")
    assert_refused(done, f"not Ready: {stopped}", before, backups)
    wait_for(f"{stopped} Ready again", lambda: stopped in ready_nodes())
    wait_for("every node Ready and every pod ready", settled, timeout=300)


def task_hosts(output: str) -> list[tuple[str, str]]:
    """(task, host) for each host a task ran on (ok or changed), in the order of the output."""
    found, task = [], None
    for line in output.splitlines():
        header = re.match(r"^TASK \[(.+)\] \*+$", line)
        if header:
            task = header[1]
            continue
        ran = re.match(r"^(?:ok|changed): \[([^\]\s]+)", line)
        if ran and task:
            found.append((task, ran[1]))
    return found


@pytest.fixture(scope="module")
def upgraded(web):
    """The upgrade, with the Service polled from before it starts until after it ends."""
    backups = snapshots()
    with ServicePoller(web) as poller:
        wait_for("the Service answering the poller", lambda: poller.answered() >= 3, timeout=60)
        started, began = time.monotonic(), time.time()
        done = run_upgrade(TARGET, timed=True)
        took = time.monotonic() - started
        answered = poller.answered()
        wait_for("the Service answering after the upgrade", lambda: poller.answered() >= answered + 3, timeout=60)
    return {"run": done, "records": poller.records, "took": took, "began": began, "backups": backups,
            "poller": poller}


def test_the_upgrade_runs_in_kubeadms_order(upgraded):
    done = upgraded["run"]
    assert done.returncode == 0, done.stdout[-5000:]
    seen = task_hosts(done.stdout)
    imported = "docker : Import the images containerd lacks or has in another version"
    # The nodes import in one task, in parallel: Ansible prints them in the order they finish, so
    # only "after the snapshot, before the apply" is an order.
    imports = [seen.index((imported, name)) if (imported, name) in seen else None for name in NODES]
    assert None not in imports, dict(zip(NODES, imports, strict=True))
    snapshot = seen.index(("etcd_backup : Take a snapshot", MASTER))
    applied = seen.index(("kubeadm_upgrade : Run kubeadm upgrade apply", MASTER))
    assert snapshot < min(imports) and max(imports) < applied, (snapshot, imports, applied)
    steps = [("etcd_backup : Take a snapshot", MASTER),
             ("kubeadm_upgrade : Run kubeadm upgrade apply", MASTER), ("kubeadm_upgrade : Drain the node", MASTER),
             (f"kubeadm_upgrade : Restart the kubelet on {TARGET}", MASTER),
             ("kubeadm_upgrade : Uncordon the node", MASTER)]
    for worker in WORKERS:
        steps += [("kubeadm_upgrade : Drain the node", worker), ("kubeadm_upgrade : Run kubeadm upgrade node", worker),
                  (f"kubeadm_upgrade : Restart the kubelet on {TARGET}", worker),
                  ("kubeadm_upgrade : Uncordon the node", worker)]
    missing = [step for step in steps if step not in seen]
    assert not missing, missing
    positions = [seen.index(step) for step in steps]
    assert positions == sorted(positions), [steps[i] for i in sorted(range(len(steps)), key=positions.__getitem__)]


def test_an_etcd_snapshot_was_taken_first_and_said_where(upgraded):
    new = snapshots() - upgraded["backups"]
    assert len(new) == 1, new
    snapshot = new.pop()
    assert f"etcd snapshot {snapshot} (verified by etcdutl snapshot status) is on {MASTER}" in text(upgraded["run"])
    assert (BACKUPS / f"{snapshot}.sha256").is_file()


def test_the_web_answered_every_request_throughout(upgraded):
    records = upgraded["records"]
    failed = [record for record in records if not record[1]]
    # About twice a second for as long as the upgrade took (once a second at least, on a busy host):
    # a poller that stalled proves nothing.
    assert len(records) >= upgraded["took"], (len(records), upgraded["took"], upgraded["poller"].errors)
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(records)]
    assert max(gaps) < 10, max(gaps)
    # Each failure with the second of the run it fell in and the upgrade's step at that second.
    starts = task_starts(upgraded["run"].stdout)
    assert starts, "the upgrade's output has no task times"
    assert not failed, (len(failed), len(records), [
        (round(at - upgraded["began"], 1), running_at(starts, at - upgraded["began"]), detail)
        for at, _, detail in failed[:5]])
    assert {detail for _, _, detail in records} == {"k8s-lab test web v1"}


def test_every_kubelet_runs_the_new_release(upgraded):
    assert upgraded["run"].returncode == 0
    nodes = wait_for("every node Ready", every_node_ready)
    assert {name: item["status"]["nodeInfo"]["kubeletVersion"] for name, item in nodes.items()} == dict.fromkeys(
        NODES, TARGET)
    for name in NODES:
        assert node(name).check_output("kubelet --version").strip() == f"Kubernetes {TARGET}"
        assert node(name).check_output("kubeadm version -o short").strip() == TARGET
        assert f"Client Version: {TARGET}" in node(name).check_output("kubectl version --client")


def test_every_node_is_back_in_service(upgraded):
    for item in kubectl_json("get", "nodes")["items"]:
        assert not item["spec"].get("unschedulable"), item["metadata"]["name"]
        assert MARKER not in item["metadata"].get("annotations", {}), item["metadata"]["name"]


def release_image(name: str, tag: str) -> str:
    """The bundle's image of that name and tag, as kubeadm names it."""
    found = [image["name"] for image in MANIFEST["images"] if re.search(rf"/{re.escape(name)}:{re.escape(tag)}$",
                                                                         image["name"])]
    assert len(found) == 1, (name, tag, found)
    return found[0]


@pytest.mark.parametrize("component", ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"])
def test_the_static_pods_run_the_new_images(upgraded, component):
    tag = MANIFEST["kubernetes_releases"][TARGET]["etcd"] if component == "etcd" else TARGET
    wanted = release_image(component, tag)
    manifest = node(MASTER).check_output(f"grep -E '^ +image: ' /etc/kubernetes/manifests/{component}.yaml")
    assert manifest.split()[-1] == wanted

    def running():
        pods = kubectl_json("-n", "kube-system", "get", "pods", "-l", f"component={component}")["items"]
        return pods if len(pods) == 1 and pod_ready(pods[0]) and pods[0]["spec"]["containers"][0]["image"] == wanted \
            else None

    wait_for(f"{component} Running on {wanted}", running)


def test_the_api_server_reports_the_new_release(upgraded):
    versions = kubectl_json("version")
    assert versions["serverVersion"]["gitVersion"] == TARGET
    assert versions["clientVersion"]["gitVersion"] == TARGET


def test_coredns_and_kube_proxy_were_upgraded(upgraded):
    coredns = release_image("coredns", MANIFEST["kubernetes_releases"][TARGET]["coredns"])
    kube_proxy = release_image("kube-proxy", TARGET)
    deployment = kubectl_json("-n", "kube-system", "get", "deployment", "coredns")
    assert [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [coredns]
    daemonset = kubectl_json("-n", "kube-system", "get", "daemonset", "kube-proxy")
    assert [c["image"] for c in daemonset["spec"]["template"]["spec"]["containers"]] == [kube_proxy]

    def rolled(selector, image, count):
        def probe():
            pods = [p for p in kubectl_json("-n", "kube-system", "get", "pods", "-l", selector)["items"]
                    if not p["metadata"].get("deletionTimestamp")]
            return pods if len(pods) == count and all(
                pod_ready(p) and p["spec"]["containers"][0]["image"] == image for p in pods) else None
        return probe

    wait_for("both CoreDNS replicas Ready on the new image", rolled("k8s-app=kube-dns", coredns, 2))
    on = wait_for("kube-proxy Ready on the new image on every node",
                  rolled("k8s-app=kube-proxy", kube_proxy, len(NODES)))
    assert {p["spec"]["nodeName"] for p in on} == set(NODES)


def test_a_rerun_changes_nothing(upgraded):
    backups = snapshots()
    done = run_upgrade(TARGET)
    assert done.returncode == 0, done.stdout[-3000:]
    assert f"Every node runs {TARGET} already: nothing to do." in text(done)
    counts = recap(done.stdout)
    assert set(counts) >= set(NODES) and all(c["changed"] == 0 for c in counts.values()), counts
    assert snapshots() == backups


def test_a_downgrade_is_refused(upgraded):
    done = run_upgrade(BUILT_RELEASE)
    assert_refused(done, f"{BUILT_RELEASE} is a downgrade: the API server on {MASTER}", kubelets(), snapshots())
    assert set(kubelets().values()) == {TARGET}


def test_site_yml_keeps_the_upgraded_release(upgraded):
    """The topology still says the previous minor: each node keeps the release its kubelet has."""
    done = playbook("../site.yml")
    assert done.returncode == 0, done.stdout[-3000:]
    counts = recap(done.stdout)
    assert set(counts) >= set(NODES) and all(c["changed"] == 0 for c in counts.values()), counts
    assert set(kubelets().values()) == {TARGET}
