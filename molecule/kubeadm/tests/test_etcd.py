"""etcd backups for real: the control plane's timer and its verified snapshots, a snapshot taken and
copied here by playbooks/etcd-backup.yml, a damaged snapshot refused before anything stops, and a
restore that brings deleted objects back. The module's fixtures make its order: the objects, then
the backup (backup), then the refusals and the restore, which need it."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import stat

import pytest
from cluster import (
    ADMIN,
    CONTROLLER_KUBECONFIG,
    MASTER,
    NODES,
    WORKERS,
    apply,
    fetch_on,
    import_test_image,
    kubectl,
    kubectl_json,
    node,
    playbook,
    pod_ready,
    ready_nodes,
    wait_for,
)
from fixtures.test_image import NAME as TEST_IMAGE
from fixtures.test_image import PORT as TEST_PORT

NAMESPACE = "etcd-restore"
BACKUP_DIR = "/var/backups/etcd"
SECRET_VALUE = "restored-from-etcd"  # noqa: S105 - a made-up value the restore must bring back
CONFIG_VALUE = "kept in etcd"
TAG = "v1"


def snapshots_on_master() -> list[str]:
    listing = node(MASTER).run(f"ls -1 {BACKUP_DIR}")
    assert listing.rc == 0, listing.stderr
    return sorted(name for name in listing.stdout.split() if re.fullmatch(r"etcd-\d{8}T\d{6}Z\.db", name))


def test_the_timer_is_active_and_its_snapshots_verify():
    master = node(MASTER)
    assert master.run("systemctl is-enabled k8s-lab-etcd-backup.timer").stdout.strip() == "enabled"
    assert master.run("systemctl is-active k8s-lab-etcd-backup.timer").stdout.strip() == "active"
    names = snapshots_on_master()
    assert names, f"no snapshot in {BACKUP_DIR}"
    latest = f"{BACKUP_DIR}/{names[-1]}"
    assert master.file(BACKUP_DIR).mode == 0o700
    assert master.file(latest).mode == 0o600
    status = master.run(f"etcdutl snapshot status {latest} --write-out=json")
    assert status.rc == 0, status.stderr
    recorded = master.file(f"{latest}.sha256").content_string.split()
    assert recorded == [master.check_output(f"sha256sum {latest}").split()[0], names[-1]]


def said(output: str) -> str:
    """Ansible's output with its line wrapping undone, to look for a message in."""
    return " ".join(output.split())


def _workload(workdir) -> None:
    import_test_image(TAG, WORKERS, workdir)
    apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NAMESPACE},
           "data": {"greeting": CONFIG_VALUE}})
    apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "password", "namespace": NAMESPACE},
           "stringData": {"password": SECRET_VALUE}})
    labels = {"app": "kept"}
    apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kept", "namespace": NAMESPACE},
           "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
               "metadata": {"labels": labels},
               "spec": {"nodeSelector": {"kubernetes.io/hostname": WORKERS[0]}, "containers": [{
                   "name": "web", "image": f"{TEST_IMAGE}:{TAG}", "imagePullPolicy": "Never",
                   "ports": [{"containerPort": TEST_PORT}],
                   "readinessProbe": {"httpGet": {"path": "/", "port": TEST_PORT}, "periodSeconds": 2}}]}}}})
    apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kept", "namespace": NAMESPACE},
           "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": TEST_PORT}]}})
    _wait_answering()


def _wait_answering() -> None:
    def answers():
        pods = kubectl_json("-n", NAMESPACE, "get", "pods", "-l", "app=kept")["items"]
        if not (pods and all(pod_ready(p) for p in pods)):
            return None
        ip = kubectl_json("-n", NAMESPACE, "get", "service", "kept")["spec"]["clusterIP"]
        out = fetch_on(MASTER, f"http://{ip}/")
        return out.rc == 0 and out.stdout.strip() == f"k8s-lab test web {TAG}"

    wait_for(f"the Deployment in {NAMESPACE} answering through its Service", answers, timeout=240)


@pytest.fixture(scope="module")
def backup(tmp_path_factory):
    """The objects, then a snapshot by the playbook: its copy on this machine."""
    _workload(tmp_path_factory.mktemp("image"))
    done = playbook("etcd-backup.yml")
    assert done.returncode == 0, done.stdout[-4000:]
    name = re.search(r"etcd snapshot (etcd-\d{8}T\d{6}Z\.db)", said(done.stdout))
    assert name, done.stdout[-2000:]
    copy = CONTROLLER_KUBECONFIG.parent / "backups" / name[1]
    return copy


def test_the_backup_is_private_on_this_machine(backup):
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700
    for path in (backup, backup.with_name(backup.name + ".sha256")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    recorded = backup.with_name(backup.name + ".sha256").read_text().split()
    assert recorded == [hashlib.sha256(backup.read_bytes()).hexdigest(), backup.name]


def _control_plane_untouched() -> tuple[str, str]:
    """etcd's container and the manifests: what a refused restore must leave as they are."""
    master = node(MASTER)
    return (master.check_output("crictl ps --quiet --name '^etcd$'"),
            master.check_output("ls /etc/kubernetes/manifests"))


@pytest.mark.parametrize("recorded", ["as backed up", "of the damaged file"])
def test_a_truncated_snapshot_is_refused_before_anything_stops(backup, tmp_path, recorded):
    damaged = tmp_path / backup.name
    data = backup.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    digest = hashlib.sha256(damaged.read_bytes() if recorded == "of the damaged file" else data).hexdigest()
    damaged.with_name(damaged.name + ".sha256").write_text(f"{digest}  {damaged.name}\n")
    before = _control_plane_untouched()
    done = playbook("etcd-restore.yml", "-e", f"snapshot={damaged}")
    assert done.returncode != 0
    expected = "changed or cut short since" if recorded == "as backed up" else "etcdutl snapshot status refuses"
    assert expected in said(done.stdout), done.stdout[-3000:]
    assert _control_plane_untouched() == before


def test_a_snapshot_without_its_checksum_is_refused(backup, tmp_path):
    alone = tmp_path / backup.name
    shutil.copyfile(backup, alone)
    done = playbook("etcd-restore.yml", "-e", f"snapshot={alone}")
    assert done.returncode != 0
    assert ".sha256 beside it" in said(done.stdout), done.stdout[-3000:]


@pytest.fixture(scope="module")
def restored(backup):
    """The namespace deleted, then the snapshot restored."""
    kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=180s")
    assert NAMESPACE not in kubectl("get", "namespaces", "-o", "name")
    done = playbook("etcd-restore.yml", "-e", f"snapshot={backup}")
    assert done.returncode == 0, done.stdout[-4000:]
    return done


def test_the_restore_brings_the_objects_back(restored):
    config = kubectl_json("-n", NAMESPACE, "get", "configmap", "settings")
    assert config["data"] == {"greeting": CONFIG_VALUE}
    secret = kubectl_json("-n", NAMESPACE, "get", "secret", "password")
    assert base64.b64decode(secret["data"]["password"]).decode() == SECRET_VALUE
    assert kubectl_json("-n", NAMESPACE, "get", "deployment", "kept")["spec"]["replicas"] == 1


def test_after_the_restore_the_nodes_are_ready_and_the_workload_answers(restored):
    wait_for("every node Ready after the restore",
             lambda: set(ready_nodes()) == set(NODES) or None, timeout=300)
    _wait_answering()


def test_the_old_data_directory_is_kept_aside(restored):
    kept = re.search(r"kept in (/var/lib/etcd\.before-restore-\d{8}T\d{6}Z)", said(restored.stdout))
    assert kept, restored.stdout[-2000:]
    assert node(MASTER).file(f"{kept[1]}/member").is_directory
    assert node(MASTER).run(f"kubectl --kubeconfig {ADMIN} get --raw /readyz").rc == 0
