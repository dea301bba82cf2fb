"""module_utils/health_report: the health table's rows, the pods that are not fine, the verdict and
the layout health.yml prints (tests in molecule/kubeadm read its columns by their headings)."""

from fixtures.k8s_objects import node

from ansible_collections.k8s_lab.lab.plugins.filter.health_report import FilterModule, health_report
from ansible_collections.k8s_lab.lab.plugins.module_utils.health_report import bad_pods, report, truncate

HOSTS = ["m-k8s", "w1-k8s"]
GOOD = {"certs": "ok (364 d)", "services": {"kubelet": "active", "containerd": "active"}, "swap_off": True,
        "modules_missing": [], "sysctl_wrong": [], "lab_ip": "192.168.1.10", "lab_ip_present": True}
NODES = [node("m-k8s"), node("w1-k8s")]


def pod(name, phase="Running", waiting=None, node_name="w1-k8s", containers=True):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    spec = {"nodeName": node_name} if node_name else {}
    return {"metadata": {"namespace": "kube-system", "name": name}, "spec": spec,
            "status": {"phase": phase, **({"containerStatuses": [{"state": state}]} if containers else {})}}


def test_a_healthy_lab_is_laid_out_under_its_headings():
    done = report(HOSTS, [GOOD, GOOD | {"lab_ip": "192.168.1.101"}], nodes=NODES, pods=[pod("a")],
                  kubeconfig="/k", controller_cert="ok (364 d)")
    assert done["healthy"] is True
    assert done["table"].splitlines() == [
        "NODE    READY  KUBELET  CONTAINERD  SWAP OFF  MODULES  SYSCTLS  LAB IP         CERTS       ",
        "m-k8s   True   active   active      yes       ok       ok       192.168.1.10   ok (364 d)  ",
        "w1-k8s  True   active   active      yes       ok       ok       192.168.1.101  ok (364 d)  ",
        "The controller's kubeconfig (/k): ok (364 d)",
        "Every pod is running.",
        "Overall: healthy",
    ]


def test_each_finding_on_a_node_is_said_in_its_cell_and_makes_the_lab_unhealthy():
    findings = {"services": {"kubelet": "inactive", "containerd": "active"}, "swap_off": False,
                "modules_missing": ["overlay", "br_netfilter"], "sysctl_wrong": ["net.ipv4.ip_forward"],
                "lab_ip_present": False, "certs": "EXPIRED apiserver"}
    for key, value in findings.items():
        done = report(HOSTS, [GOOD, GOOD | {key: value}], nodes=NODES, pods=[], controller_cert="ok (364 d)")
        assert done["healthy"] is False, key
    row = report(HOSTS, [GOOD, GOOD | findings], nodes=NODES, pods=[])["rows"][1]
    assert row == {"node": "w1-k8s", "ready": "True", "kubelet": "inactive", "containerd": "active", "swap off": "NO",
                   "modules": "missing overlay,br_netfilter", "sysctls": "wrong net.ipv4.ip_forward",
                   "lab ip": "192.168.1.10 MISSING", "certs": "EXPIRED apiserver"}


def test_facts_kept_as_strings_are_read_as_booleans():
    done = report(HOSTS, [GOOD | {"swap_off": "True", "lab_ip_present": "False"}, GOOD], nodes=NODES, pods=[])
    assert (done["rows"][0]["swap off"], done["rows"][0]["lab ip"]) == ("yes", "192.168.1.10 MISSING")


def test_a_node_not_ready_or_not_read_is_unhealthy():
    done = report([*HOSTS, "w2-k8s"], [GOOD, GOOD], nodes=[node("m-k8s"), node("w1-k8s", "False")], pods=[])
    assert [r["ready"] for r in done["rows"]] == ["True", "False", "?"]
    assert done["rows"][2] == {"node": "w2-k8s", "ready": "?", "kubelet": "unreachable", "containerd": "unreachable",
                               "swap off": "?", "modules": "?", "sysctls": "?", "lab ip": "?", "certs": "?"}
    assert done["healthy"] is False


def test_the_controllers_expiring_kubeconfig_makes_the_lab_unhealthy():
    assert report(HOSTS, [GOOD, GOOD], nodes=NODES, pods=[], controller_cert="expiring admin (3 d)")["healthy"] is False
    assert report(HOSTS, [GOOD, GOOD], nodes=NODES, pods=[], controller_cert="none")["healthy"] is True


def test_pods_that_are_not_fine():
    pods = [pod("crash", waiting="CrashLoopBackOff"), pod("done", phase="Succeeded"), pod("fine"),
            pod("failed", phase="Failed"), pod("unscheduled", phase="Pending", node_name=None, containers=False),
            pod("pulling", phase="Pending", waiting="ContainerCreating")]
    assert bad_pods(pods) == [
        {"pod": "kube-system/crash", "status": "CrashLoopBackOff", "node": "w1-k8s"},
        {"pod": "kube-system/failed", "status": "Failed", "node": "w1-k8s"},
        {"pod": "kube-system/unscheduled", "status": "Pending", "node": "-"},
        {"pod": "kube-system/pulling", "status": "ContainerCreating", "node": "w1-k8s"}]
    assert [p["pod"] for p in bad_pods(pods, pending_ok=True)] == [
        "kube-system/crash", "kube-system/failed", "kube-system/pulling"]
    done = report(HOSTS, [GOOD, GOOD], nodes=NODES, pods=pods[:2])
    assert done["healthy"] is False
    assert done["table"].splitlines()[-3:] == [
        "Pods not running (1):", "  kube-system/crash  CrashLoopBackOff  on w1-k8s", "Overall: NOT healthy"]


def test_no_kubeconfig_is_said_and_no_finding():
    done = report(HOSTS, [GOOD, GOOD], nodes=None, pods=None, api_asked=False, kubeconfig="/k")
    assert done["healthy"] is True
    assert [r["ready"] for r in done["rows"]] == ["n/a", "n/a"]
    assert "Node readiness and pods: not checked, no kubeconfig at /k on this machine." in done["table"]


def test_an_api_server_that_does_not_answer_is_a_finding_said_in_one_short_line():
    error = "connection refused " * 20
    done = report(HOSTS, [GOOD, GOOD], nodes=None, api_asked=True, api_error=error)
    assert done["healthy"] is False
    line = next(item for item in done["table"].splitlines() if item.startswith("Node readiness"))
    assert line == f"Node readiness and pods: not checked, the API server did not answer: {truncate(error)}."
    assert len(truncate(error)) <= 200 and truncate(error).endswith("...")


def test_truncate_keeps_short_text_and_cuts_at_a_word():
    assert truncate("short") == "short"
    assert truncate("x" * 205) == "x" * 205
    assert truncate("word " * 50) == ("word " * 39).rstrip() + "..."  # 197 characters, then the last whole word


def test_no_nodes_is_not_healthy():
    assert report([], [], nodes=[], pods=[])["healthy"] is False


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"health_report": health_report}
    assert health_report(HOSTS, [GOOD, GOOD], nodes=NODES, pods=[])["healthy"] is True
