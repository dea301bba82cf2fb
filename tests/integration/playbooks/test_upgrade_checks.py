"""playbooks/upgrade.yml's refusals, on the controller: roles/kubeadm_upgrade's validate.yml and
check.yml run by ansible-playbook against the API server test double, with what each node would
report (its kubelet's and static pods' releases, its health) given by the inventory. The upgrade
itself, and these refusals on a real cluster, run in molecule/kubeadm/tests/test_upgrade.py.

Real Ansible, kubernetes.core, the filters and the health role's report; only the API server is a
stand-in (tests/doubles/kube_apiserver.py)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from doubles.kube_apiserver import FakeApiServer, pod_manifest

ROOT = Path(__file__).resolve().parents[3]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
NODES = ("m-k8s", "w1-k8s", "w2-k8s")
MARKER = "k8s-lab.lab/upgrading-to"
HEALTHY = {"certs": "ok (300 d)", "services": {"kubelet": "active", "containerd": "active"}, "swap_off": True,
           "modules_missing": [], "sysctl_wrong": [], "lab_ip": "", "lab_ip_present": True}


def admin_kubeconfig(server) -> str:
    """The double's kubeconfig with a client certificate of a year, as kubeadm's admin.conf has: the
    health check reads when it ends (the double itself goes by the token)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-admin")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    pem_cert = cert.public_bytes(serialization.Encoding.PEM)
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    user = (f"\n    token: test-double\n    client-certificate-data: {base64.b64encode(pem_cert).decode()}"
            f"\n    client-key-data: {base64.b64encode(pem_key).decode()}")
    return server.kubeconfig().replace(" {token: test-double}", user)


def node(name, kubelet, ready="True", annotations=None, unschedulable=False):
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "annotations": annotations or {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {"conditions": [{"type": "Ready", "status": ready}], "nodeInfo": {"kubeletVersion": kubelet}}}


def kube_proxy(release):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "kube-proxy", "image": f"registry.k8s.io/kube-proxy:{release}"}]}}}}


def running(pod):
    pod["status"] = {"phase": "Running", "containerStatuses": [{"name": "web", "state": {"running": {}}}]}
    return pod


@pytest.fixture
def lab(tmp_path):
    """A cluster at v1.36.3 behind the API double, a bundle of v1.37.2 and v1.36.3, an inventory."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = json.dumps({"format": 2, "arch": "amd64", "kubernetes_version": "v1.37.2", "files": {}, "images": [],
                           "kubernetes_releases": {"v1.37.2": {}, "v1.36.3": {}}})
    (bundle / "manifest.json").write_text(manifest)
    (bundle / "SHA256SUMS").write_text(f"{hashlib.sha256(manifest.encode()).hexdigest()}  manifest.json\n")
    with FakeApiServer() as server:
        for name in NODES:
            server.add("", "nodes", node(name, "v1.36.3"))
        server.add("apps", "daemonsets", kube_proxy("v1.36.3"))
        server.add("", "pods", running(pod_manifest("web-1", "w1-k8s")))
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(admin_kubeconfig(server))
        server.tmp, server.bundle, server.kubeconfig_path = tmp_path, bundle, kubeconfig
        server.control_plane = "v1.36.3"
        yield server


def check(lab, *extra):
    """validate.yml and check.yml: (exit code, the plan decided or None, the output)."""
    static_pods = dict.fromkeys(("kube-apiserver", "kube-controller-manager", "kube-scheduler"), lab.control_plane)
    hosts = {name: {"__health_node": HEALTHY, "kubeadm_upgrade_installed": {
        "kubelet": "", "control_plane": static_pods if name == "m-k8s" else {}}} for name in NODES}
    inventory = lab.tmp / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": {"k8s_cluster": {"children": {
        "control_plane": {"hosts": {"m-k8s": hosts["m-k8s"]}},
        "workers": {"hosts": {name: hosts[name] for name in NODES[1:]}}}}}}}))
    env = dict(os.environ, HOME=str(lab.tmp), TMPDIR=str(lab.tmp), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_FACT_CACHING="memory")
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(ROOT / "tests/fixtures/upgrade_checks.yml"),
               "-e", f"kubeadm_upgrade_bundle_dir={lab.bundle}",
               "-e", f"kubeadm_upgrade_kubeconfig={lab.kubeconfig_path}"]
    for item in extra:
        command += ["-e", item]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)
    start = done.stdout.find("{")
    report = json.loads(done.stdout[start:]) if start >= 0 else {"plays": [], "stats": {}}
    plans = [host["ansible_facts"]["kubeadm_upgrade_plan"] for play in report["plays"] for task in play["tasks"]
             for host in task["hosts"].values() if "kubeadm_upgrade_plan" in host.get("ansible_facts", {})]
    messages = [host["msg"] for play in report["plays"] for task in play["tasks"] for host in task["hosts"].values()
                if isinstance(host.get("msg"), str)]
    assert all(stats["changed"] == 0 for stats in report["stats"].values()), report["stats"]
    return done.returncode, (plans[0] if plans else None), "\n".join([*messages, done.stdout, done.stderr])


def upgrade_cluster(lab):
    for name in NODES:
        lab.add("", "nodes", node(name, "v1.37.2"))
    lab.add("apps", "daemonsets", kube_proxy("v1.37.2"))
    lab.control_plane = "v1.37.2"


def test_the_next_minor_goes_ahead_control_plane_first(lab):
    code, plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code == 0, out
    assert plan == {"problems": [], "apply": True, "pending": list(NODES), "cluster": "v1.36.3", "marked": [],
                    "kubelets": dict.fromkeys(NODES, "v1.36.3")}
    assert "Upgrading to v1.37.2, after an etcd snapshot" in out
    assert "The lab is healthy." in out


def test_an_upgraded_cluster_has_nothing_to_do(lab):
    upgrade_cluster(lab)
    code, plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code == 0, out
    assert (plan["apply"], plan["pending"]) == (False, [])
    assert "Every node runs v1.37.2 already: nothing to do." in out


@pytest.mark.parametrize(("target", "reason"), [
    ("v1.38.0", "v1.38.0 skips a minor release: the API server on m-k8s, the kubelet of m-k8s, the kubelet of w1-k8s, "
                "the kubelet of w2-k8s run v1.36.3, and kubeadm upgrades one minor at a time: upgrade to v1.37 first"),
    ("v1.37.1", "the bundle lacks Kubernetes v1.37.1 (it carries v1.37.2, v1.36.3)"),
])
def test_what_kubeadm_must_not_do_is_refused(lab, target, reason):
    code, _plan, out = check(lab, f"kubeadm_upgrade_to={target}")
    assert code != 0
    assert "kubeadm_upgrade: refused, nothing was changed: " in out
    assert reason in out, out


def test_a_downgrade_is_refused(lab):
    upgrade_cluster(lab)
    code, _plan, out = check(lab, "kubeadm_upgrade_to=v1.36.3")
    assert code != 0
    assert "v1.36.3 is a downgrade: the API server on m-k8s, the kubelet of m-k8s" in out, out
    assert "kubeadm does not downgrade" in out


def test_a_node_that_is_not_ready_is_refused(lab):
    lab.add("", "nodes", node("w2-k8s", "v1.36.3", ready="Unknown"))
    code, _plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code != 0
    assert "kubeadm_upgrade: refused, nothing was changed: not Ready: w2-k8s." in out, out


def test_an_unhealthy_lab_is_refused_with_healths_table(lab):
    crashing = pod_manifest("web-2", "w2-k8s")
    crashing["status"] = {"phase": "Running", "containerStatuses": [
        {"name": "web", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    lab.add("", "pods", crashing)
    code, _plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code != 0
    assert "default/web-2  CrashLoopBackOff  on w2-k8s" in out, out
    assert "refused, nothing was changed: the lab is not healthy" in out


def test_a_rerun_goes_on_past_the_pods_its_drained_node_holds_back(lab):
    """The control plane is done, w1-k8s was left drained by the run that stopped: its evicted pod
    waits to be scheduled (Pending), which does not make the lab unhealthy for the rerun."""
    lab.add("", "nodes", node("m-k8s", "v1.37.2"))
    lab.add("", "nodes", node("w1-k8s", "v1.36.3", annotations={MARKER: "v1.37.2"}, unschedulable=True))
    lab.add("apps", "daemonsets", kube_proxy("v1.37.2"))
    lab.control_plane = "v1.37.2"
    waiting = pod_manifest("web-3", "")
    del waiting["spec"]["nodeName"]
    waiting["status"] = {"phase": "Pending"}
    lab.add("", "pods", waiting)
    code, plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code == 0, out
    assert (plan["apply"], plan["pending"], plan["marked"]) == (False, ["w1-k8s", "w2-k8s"], ["w1-k8s"])
    assert "w1-k8s (kubelet v1.36.3, left drained by an earlier run)" in out

    # Without the mark, a Pending pod is a finding like any other.
    lab.add("", "nodes", node("w1-k8s", "v1.36.3", unschedulable=True))
    code, _plan, out = check(lab, "kubeadm_upgrade_to=v1.37.2")
    assert code != 0
    assert "default/web-3  Pending" in out, out


@pytest.mark.parametrize(("extra", "reason"), [
    ((), 'refused, nothing was changed: name the Kubernetes release to upgrade to, like -e upgrade_to=v1.37.2 '
         '(got "").'),
    (("kubeadm_upgrade_to=1.37",), 'like -e upgrade_to=v1.37.2 (got "1.37").'),
    (("kubeadm_upgrade_to=v1.37.2", "kubeadm_upgrade_install_source=packages"),
     "refused, nothing was changed: this lab installs Kubernetes from packages, and the upgrade takes kubeadm"),
])
def test_bad_arguments_are_refused_before_the_api_is_asked(lab, extra, reason):
    asked = len(lab.requests)
    code, plan, out = check(lab, *extra)
    assert code != 0 and plan is None
    assert reason in out, out
    assert len(lab.requests) == asked
