"""Pod Security admission on the lab's namespaces: each rendered Namespace enforces the level chosen
for it, and every rendered workload meets its namespace's level, by the checks of the Pod Security
Standards (kubernetes.io/docs/concepts/security/pod-security-standards, the "latest" version the
labels ask for) as far as the lab's pod specs use the fields they cover. The real admission runs on
the kubeadm scenario's cluster, where MetalLB and the monitoring stack start under these labels
(molecule/kubeadm/tests/test_apps.py)."""

from __future__ import annotations

import copy

import pytest
from apps_lib import VARIANTS, containers, documents, find, pod_specs

LEVELS = ("privileged", "baseline", "restricted")
EXPECTED = {
    "jenkins": "baseline",
    "monitoring": "restricted",
    "monitoring-node-exporter": "privileged",
    "metallb-system": "privileged",
}
BASELINE_CAPABILITIES = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                         "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}


def violations(pod: dict, level: str) -> list[str]:
    """What the level refuses in a pod template ({"spec": ...}, as apps_lib.containers takes it);
    empty when it is admitted."""
    if level == "privileged":
        return []
    spec = pod["spec"]
    pod_context = spec.get("securityContext", {})
    found = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(field)
    found += [f"hostPath volume {v['name']}" for v in spec.get("volumes", []) if "hostPath" in v]
    found += [f"sysctl {s['name']}" for s in pod_context.get("sysctls", []) if s["name"] not in SAFE_SYSCTLS]
    for context in [pod_context] + [c.get("securityContext", {}) for c in containers(pod)]:
        if context.get("seccompProfile", {}).get("type") == "Unconfined":
            found.append("seccomp Unconfined")
        if context.get("appArmorProfile", {}).get("type") == "Unconfined":
            found.append("AppArmor Unconfined")
        selinux = context.get("seLinuxOptions", {})
        if selinux.get("type", "") not in ("", "container_t", "container_init_t", "container_kvm_t",
                                           "container_engine_t") or selinux.get("user") or selinux.get("role"):
            found.append(f"SELinux {selinux}")
        if context.get("windowsOptions", {}).get("hostProcess"):
            found.append("hostProcess")
    for container in containers(pod):
        name, context = container["name"], container.get("securityContext", {})
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        added = set(context.get("capabilities", {}).get("add", []))
        if added - BASELINE_CAPABILITIES:
            found.append(f"{name}: adds {sorted(added - BASELINE_CAPABILITIES)}")
        if context.get("procMount", "Default") != "Default":
            found.append(f"{name}: procMount")
        found += [f"{name}: hostPort {p['hostPort']}" for p in container.get("ports", []) if p.get("hostPort")]
    if level == "baseline":
        return found
    found += [f"volume {v['name']} of a restricted type" for v in spec.get("volumes", [])
              if not set(v) - {"name"} <= RESTRICTED_VOLUMES]
    for container in containers(pod):
        name, context = container["name"], container.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation not false")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccomp {seccomp}")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: does not drop ALL")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds {capabilities['add']}")
    return found


def enforced(docs: list[dict]) -> dict[str, str]:
    return {d["metadata"]["name"]: d["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce")
            for d in docs if d["kind"] == "Namespace"}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_namespace_enforces_its_level(variant):
    docs = documents(variant)
    assert enforced(docs) == EXPECTED
    for namespace in (d for d in docs if d["kind"] == "Namespace"):
        labels = namespace["metadata"]["labels"]
        for mode in ("warn", "audit"):
            level = labels.get(f"pod-security.kubernetes.io/{mode}")
            # Warnings and audit ask for no less than what is enforced.
            assert level is None or LEVELS.index(level) >= LEVELS.index(EXPECTED[namespace["metadata"]["name"]])


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_workload_meets_its_namespaces_level(variant):
    docs = documents(variant)
    levels = enforced(docs)
    checked = set()
    for workload, template in pod_specs(docs):
        namespace = workload["metadata"]["namespace"]
        assert violations(template, levels[namespace]) == [], (namespace, workload["metadata"]["name"])
        checked.add(namespace)
    assert checked == {"jenkins", "monitoring", "monitoring-node-exporter"}


def test_the_stack_but_node_exporter_would_meet_restricted_and_node_exporter_not_even_baseline():
    """Why node-exporter has a namespace of its own."""
    docs = documents()
    for workload, template in pod_specs(docs):
        if workload["metadata"]["name"] == "node-exporter":
            refused = violations(template, "baseline")
            assert {"hostNetwork", "hostPID", "hostPath volume root", "node-exporter: hostPort 9100"} <= set(refused)
        elif workload["metadata"]["namespace"] != "jenkins":
            assert violations(template, "restricted") == [], workload["metadata"]["name"]


def test_jenkins_agent_pods_need_baseline_and_the_controller_meets_restricted():
    """The Kubernetes plugin's agent pod (the lab's pod template sets no securityContext) is what
    keeps the jenkins namespace at baseline; a pod that breaks out to the node is refused there."""
    agent = {"spec": {"containers": [{"name": "jnlp", "image": "docker.io/jenkins/inbound-agent",
                                      "workingDir": "/home/jenkins/agent"}]}}
    assert violations(agent, "baseline") == []
    assert violations(agent, "restricted") != []
    controller = find(documents(), "Deployment", "jenkins", "jenkins")["spec"]["template"]
    assert violations(controller, "restricted") == []
    escape = copy.deepcopy(agent)
    escape["spec"].update(hostPID=True, volumes=[{"name": "host", "hostPath": {"path": "/"}}])
    escape["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert set(violations(escape, "baseline")) == {"hostPID", "hostPath volume host", "jnlp: privileged"}
