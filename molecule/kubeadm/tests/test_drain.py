"""Day 2 on the real cluster: the kube_drain module against real evictions, side by side with the
bundle's `kubectl drain` on the same pods. Runs once, after the nodes were restarted and upgraded
(ORDER in conftest.py), in file order; it leaves the cluster as it found it."""

from __future__ import annotations

import re

import pytest
from cluster import ADMIN, CONTROLLER_KUBECONFIG, MASTER, apply, kubectl, module, node, pod_ready, wait_for
from day2 import DRAINED, NS, OTHER, deployment, on_node, pdb, pod_spec, pods, uids, unschedulable

# The bundle's kubectl flags and the module's options that relax the same filters.
ALL_FLAGS = "--force --ignore-daemonsets --delete-emptydir-data"
ALL_OPTIONS = "force=true ignore_daemonsets=true delete_emptydir_data=true"


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
