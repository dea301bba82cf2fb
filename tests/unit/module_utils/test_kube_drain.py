"""Drain semantics of module_utils/kube_drain.py against a test double of the Kubernetes API."""

from __future__ import annotations

import pytest
from doubles.kube_api import FakeClock, FakeKubeApi, make_pod

from ansible_collections.k8s_lab.lab.plugins.module_utils.kube_drain import (
    EVICTION_RETRY_SECONDS,
    REASON_MIRROR,
    REASON_PDB,
    REASON_TERMINATING,
    KubeDrainError,
    NodeDrainer,
)


@pytest.fixture
def api():
    return FakeKubeApi(nodes=("w1-k8s", "w2-k8s"))


@pytest.fixture
def clock():
    return FakeClock()


def drainer(api, clock, check_mode=False, node="w1-k8s"):
    return NodeDrainer(api, node, clock=clock, check_mode=check_mode)


def names(entries):
    return sorted(entry["name"] for entry in entries)


def evicted_names(api):
    return sorted(call["name"] for call in api.calls_to("create_namespaced_pod_eviction"))


# -- cordon / uncordon ------------------------------------------------------------------------


def test_cordon_marks_the_node_unschedulable_once(api, clock):
    first = drainer(api, clock).cordon()
    second = drainer(api, clock).cordon()

    assert first["changed"] is True
    assert second["changed"] is False
    assert api.cordoned()
    assert [call["body"] for call in api.calls_to("patch_node")] == [{"spec": {"unschedulable": True}}]


def test_uncordon_makes_the_node_schedulable_once(api, clock):
    api.nodes["w1-k8s"].spec.unschedulable = True

    first = drainer(api, clock).uncordon()
    second = drainer(api, clock).uncordon()

    assert (first["changed"], second["changed"]) == (True, False)
    assert not api.cordoned()
    assert [call["body"] for call in api.calls_to("patch_node")] == [{"spec": {"unschedulable": False}}]


def test_cordon_in_check_mode_reports_the_change_without_making_it(api, clock):
    result = drainer(api, clock, check_mode=True).cordon()

    assert result["changed"] is True
    assert not api.cordoned()
    assert api.changing_calls == []


def test_unknown_node_is_a_clear_error(api, clock):
    for action in ("cordon", "uncordon", "drain"):
        with pytest.raises(KubeDrainError, match="node w9-k8s not found in the cluster"):
            getattr(drainer(api, clock, node="w9-k8s"), action)()
    assert api.changing_calls == []


# -- drain: the basics ------------------------------------------------------------------------


def test_drain_cordons_evicts_through_policy_v1_and_waits(api, clock):
    api.add_pod(make_pod("web-1"))
    api.add_pod(make_pod("other-node", node="w2-k8s"))

    result = drainer(api, clock).drain()

    assert result["changed"] is True
    assert api.cordoned()
    assert names(result["evicted"]) == ["web-1"]
    assert result["blocked"] == [] and result["kept"] == []
    [eviction] = api.calls_to("create_namespaced_pod_eviction")
    assert eviction["body"] == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "default"},
        "deleteOptions": {},
    }
    assert ("default", "web-1") not in api.pods
    assert ("default", "other-node") in api.pods
    assert api.calls_to("list_pod_for_all_namespaces")[0]["field_selector"] == "spec.nodeName=w1-k8s"


def test_cordon_happens_before_any_eviction(api, clock):
    api.add_pod(make_pod("web-1"))

    drainer(api, clock).drain()

    assert api.changing_calls == ["patch_node", "create_namespaced_pod_eviction"]


@pytest.mark.parametrize(
    ("grace_period", "sent"), [(None, {}), (-1, {}), (0, {"gracePeriodSeconds": 0}), (30, {"gracePeriodSeconds": 30})]
)
def test_grace_period_is_sent_only_when_not_negative_and_zero_counts(api, clock, grace_period, sent):
    api.add_pod(make_pod("web-1"))

    drainer(api, clock).drain(grace_period=grace_period)

    assert api.calls_to("create_namespaced_pod_eviction")[0]["body"]["deleteOptions"] == sent


def test_disable_eviction_deletes_with_the_grace_period(api, clock):
    api.add_pod(make_pod("web-1"))

    result = drainer(api, clock).drain(disable_eviction=True, grace_period=0)

    assert names(result["evicted"]) == ["web-1"]
    assert api.calls_to("create_namespaced_pod_eviction") == []
    [delete] = api.calls_to("delete_namespaced_pod")
    assert (delete["name"], delete["namespace"], delete["body"]) == ("web-1", "default", {"gracePeriodSeconds": 0})


def test_pod_selector_limits_the_pods_considered(api, clock):
    api.add_pod(make_pod("web-1", labels={"app": "web"}))
    api.add_pod(make_pod("db-1", labels={"app": "db"}))
    api.add_pod(make_pod("loose", owner_kind=None, labels={"app": "db"}))

    result = drainer(api, clock).drain(pod_selector="app=web")

    assert names(result["evicted"]) == ["web-1"]
    assert api.calls_to("list_pod_for_all_namespaces")[0]["label_selector"] == "app=web"
    assert ("default", "db-1") in api.pods


# -- drain: kubectl's filters -----------------------------------------------------------------


def test_mirror_pods_are_skipped_with_the_reason(api, clock):
    api.add_pod(make_pod("kube-proxy-static", namespace="kube-system", owner_kind="Node", mirror=True))
    api.add_pod(make_pod("unmanaged-mirror", namespace="kube-system", owner_kind=None, mirror=True))

    result = drainer(api, clock).drain()

    assert result["kept"] == [
        {"namespace": "kube-system", "name": "kube-proxy-static", "reason": REASON_MIRROR},
        {"namespace": "kube-system", "name": "unmanaged-mirror", "reason": REASON_MIRROR},
    ]
    assert result["evicted"] == []
    assert evicted_names(api) == []


def test_daemonset_pods_block_the_drain_unless_ignored(api, clock):
    api.add_daemonset("calico-node", "kube-system")
    api.add_pod(make_pod("calico-node-x1", namespace="kube-system", owner_kind="DaemonSet", owner_name="calico-node"))
    api.add_pod(make_pod("web-1"))

    with pytest.raises(KubeDrainError, match="calico-node-x1 managed by DaemonSet kube-system/calico-node") as failure:
        drainer(api, clock).drain()
    assert names(failure.value.result["blocked"]) == ["calico-node-x1"]
    assert evicted_names(api) == []
    assert api.cordoned()

    result = drainer(api, clock).drain(ignore_daemonsets=True)
    assert names(result["kept"]) == ["calico-node-x1"]
    assert "ignore_daemonsets" in result["kept"][0]["reason"]
    assert evicted_names(api) == ["web-1"]


def test_pod_of_a_deleted_daemonset_needs_force(api, clock):
    api.add_pod(make_pod("orphan-x1", owner_kind="DaemonSet", owner_name="gone"))

    with pytest.raises(KubeDrainError, match="DaemonSet default/gone no longer exists"):
        drainer(api, clock).drain(ignore_daemonsets=True)
    assert evicted_names(api) == []

    result = drainer(api, clock).drain(ignore_daemonsets=True, force=True)
    assert names(result["evicted"]) == ["orphan-x1"]
    assert "no longer exists" in result["evicted"][0]["warnings"][0]


def test_daemonset_read_errors_other_than_not_found_block(api, clock):
    api.add_pod(make_pod("ds-x1", owner_kind="DaemonSet", owner_name="ds"))

    def forbidden(*args, **kwargs):
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=403, reason="Forbidden")

    api.read_namespaced_daemon_set = forbidden

    with pytest.raises(KubeDrainError, match="cannot read its DaemonSet default/ds"):
        drainer(api, clock).drain(ignore_daemonsets=True, force=True)


def test_emptydir_pods_need_delete_emptydir_data(api, clock):
    api.add_pod(make_pod("cache-1", empty_dir=True))

    with pytest.raises(KubeDrainError, match="emptyDir"):
        drainer(api, clock).drain()
    assert evicted_names(api) == []

    result = drainer(api, clock).drain(delete_emptydir_data=True)
    assert names(result["evicted"]) == ["cache-1"]
    assert result["evicted"][0]["warnings"] == ["its emptyDir data is deleted"]


def test_pods_without_controller_need_force(api, clock):
    api.add_pod(make_pod("bare", owner_kind=None))

    with pytest.raises(KubeDrainError, match="bare declares no controller"):
        drainer(api, clock).drain()
    assert evicted_names(api) == []

    result = drainer(api, clock).drain(force=True)
    assert names(result["evicted"]) == ["bare"]
    assert "no controller" in result["evicted"][0]["warnings"][0]


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_finished_pods_are_always_removed(api, clock, phase):
    api.add_daemonset("ds")
    api.add_pod(make_pod("job-done", owner_kind=None, empty_dir=True, phase=phase))
    api.add_pod(make_pod("ds-done", owner_kind="DaemonSet", owner_name="ds", phase=phase))

    result = drainer(api, clock).drain()

    assert names(result["evicted"]) == ["ds-done", "job-done"]
    assert result["evicted"][0]["warnings"] == []


def test_every_blocking_pod_is_named_and_nothing_is_evicted(api, clock):
    api.add_pod(make_pod("bare", owner_kind=None))
    api.add_pod(make_pod("cache-1", empty_dir=True))
    api.add_pod(make_pod("web-1"))

    with pytest.raises(KubeDrainError) as failure:
        drainer(api, clock).drain()

    result = failure.value.result
    assert names(result["blocked"]) == ["bare", "cache-1"]
    assert result["remaining"] == ["default/web-1", "default/bare", "default/cache-1"]
    assert result["changed"] is True
    assert api.changing_calls == ["patch_node"]
    assert api.cordoned()


# -- drain: disruption budgets, waiting, timeouts --------------------------------------------


def test_eviction_refused_by_a_pdb_is_retried_until_it_succeeds(api, clock):
    api.add_pod(make_pod("web-1"))
    api.eviction_errors[("default", "web-1")] = [429, 429]

    result = drainer(api, clock).drain(timeout=60)

    assert result["evicted"] == [{"namespace": "default", "name": "web-1", "attempts": 3, "warnings": []}]
    assert result["blocked"] == []
    assert clock.slept >= 2 * EVICTION_RETRY_SECONDS
    assert clock.slept < 60


def test_eviction_refused_until_the_timeout_fails_and_names_the_pod(api, clock):
    api.add_pod(make_pod("web-1"))
    api.add_pod(make_pod("web-2"))
    api.eviction_errors[("default", "web-1")] = [429] * 1000

    with pytest.raises(KubeDrainError, match=r"timed out after 30s .*default/web-1") as failure:
        drainer(api, clock).drain(timeout=30)

    result = failure.value.result
    assert result["remaining"] == ["default/web-1"]
    assert [(b["name"], b["reason"]) for b in result["blocked"]] == [("web-1", REASON_PDB)]
    assert result["blocked"][0]["attempts"] > 1
    # The refused pod does not hold the other back.
    assert names(result["evicted"]) == ["web-2"]
    assert api.cordoned()
    assert 30 <= clock.slept <= 31


def test_other_eviction_errors_fail_without_retry_and_leave_the_node_cordoned(api, clock):
    api.add_pod(make_pod("web-1"))
    api.eviction_errors[("default", "web-1")] = [500]

    with pytest.raises(KubeDrainError, match="cannot evict pod default/web-1") as failure:
        drainer(api, clock).drain()

    assert failure.value.result["remaining"] == ["default/web-1"]
    assert len(api.calls_to("create_namespaced_pod_eviction")) == 1
    assert api.cordoned()


def test_a_pod_that_vanished_before_its_eviction_counts_as_evicted(api, clock):
    pod = api.add_pod(make_pod("web-1"))
    real_eviction = api.create_namespaced_pod_eviction

    def vanish_first(name, namespace, body, **kwargs):
        api.pods.pop((namespace, name), None)
        return real_eviction(name, namespace, body, **kwargs)

    api.create_namespaced_pod_eviction = vanish_first

    result = drainer(api, clock).drain()

    assert names(result["evicted"]) == [pod.metadata.name]


def test_drain_waits_for_graceful_termination(api, clock):
    api.add_pod(make_pod("web-1"))
    api.terminating_reads[("default", "web-1")] = 4

    result = drainer(api, clock).drain(timeout=60)

    assert names(result["evicted"]) == ["web-1"]
    assert len(api.calls_to("read_namespaced_pod")) == 5
    assert clock.slept == 4


def test_a_pod_still_terminating_at_the_timeout_is_reported(api, clock):
    api.add_pod(make_pod("slow"))
    api.terminating_reads[("default", "slow")] = 1000

    with pytest.raises(KubeDrainError, match="timed out") as failure:
        drainer(api, clock).drain(timeout=10)

    assert [(b["name"], b["reason"]) for b in failure.value.result["blocked"]] == [("slow", REASON_TERMINATING)]
    assert failure.value.result["remaining"] == ["default/slow"]


def test_statefulset_pod_replaced_under_the_same_name_counts_as_gone(api, clock):
    old = api.add_pod(make_pod("db-0", owner_kind="StatefulSet", owner_name="db"))
    api.terminating_reads[("default", "db-0")] = 2
    api.recreated.add(("default", "db-0"))

    result = drainer(api, clock).drain(timeout=60)

    assert names(result["evicted"]) == ["db-0"]
    replacement = api.pods[("default", "db-0")]
    assert replacement.metadata.uid != old.metadata.uid
    assert replacement.spec.node_name == "w2-k8s"


def test_timeout_zero_waits_without_limit(api, clock):
    api.add_pod(make_pod("web-1"))
    # Longer than the module's default timeout of 300 s.
    api.eviction_errors[("default", "web-1")] = [429] * 70

    result = drainer(api, clock).drain(timeout=0)

    assert result["evicted"][0]["attempts"] == 71
    assert clock.slept >= 70 * EVICTION_RETRY_SECONDS


# -- drain: paging, check mode, idempotence, bad input ---------------------------------------


def test_pods_are_listed_in_pages(api, clock):
    for index in range(7):
        api.add_pod(make_pod(f"web-{index}"))

    result = drainer(api, clock).drain(chunk_size=3)

    assert len(result["evicted"]) == 7
    lists = api.calls_to("list_pod_for_all_namespaces")
    assert [(call["limit"], call.get("_continue")) for call in lists] == [(3, None), (3, "3"), (3, "6")]


def test_chunk_size_zero_lists_in_one_request(api, clock):
    for index in range(3):
        api.add_pod(make_pod(f"web-{index}"))

    drainer(api, clock).drain(chunk_size=0)

    [listing] = api.calls_to("list_pod_for_all_namespaces")
    assert "limit" not in listing


def test_check_mode_lists_what_would_be_evicted_and_skipped_without_touching_anything(api, clock):
    api.add_daemonset("calico-node", "kube-system")
    api.add_pod(make_pod("calico-node-x1", namespace="kube-system", owner_kind="DaemonSet", owner_name="calico-node"))
    api.add_pod(make_pod("etcd-w1", namespace="kube-system", owner_kind="Node", mirror=True))
    api.add_pod(make_pod("web-1"))
    api.add_pod(make_pod("cache-1", empty_dir=True))

    result = drainer(api, clock, check_mode=True).drain(ignore_daemonsets=True, delete_emptydir_data=True)

    assert result["changed"] is True
    assert names(result["evicted"]) == ["cache-1", "web-1"]
    assert {entry["name"]: entry["reason"] for entry in result["kept"]} == {
        "calico-node-x1": "managed by DaemonSet kube-system/calico-node (ignore_daemonsets)",
        "etcd-w1": REASON_MIRROR,
    }
    assert api.changing_calls == []
    assert not api.cordoned()
    assert len(api.pods) == 4


def test_check_mode_names_the_pods_that_would_block(api, clock):
    api.add_pod(make_pod("bare", owner_kind=None))

    with pytest.raises(KubeDrainError, match="bare declares no controller") as failure:
        drainer(api, clock, check_mode=True).drain()

    assert failure.value.result["changed"] is False
    assert api.changing_calls == []


def test_an_already_drained_node_reports_no_change(api, clock):
    api.add_daemonset("calico-node", "kube-system")
    api.add_pod(make_pod("calico-node-x1", namespace="kube-system", owner_kind="DaemonSet", owner_name="calico-node"))
    api.add_pod(make_pod("web-1"))

    first = drainer(api, clock).drain(ignore_daemonsets=True)
    second = drainer(api, clock).drain(ignore_daemonsets=True)
    check = drainer(api, clock, check_mode=True).drain(ignore_daemonsets=True)

    assert first["changed"] is True
    assert second["changed"] is False and second["evicted"] == []
    assert check["changed"] is False
    assert names(second["kept"]) == ["calico-node-x1"]
    assert api.changing_calls == ["patch_node", "create_namespaced_pod_eviction"]


def test_cordoned_node_with_pods_left_still_drains(api, clock):
    api.nodes["w1-k8s"].spec.unschedulable = True
    api.add_pod(make_pod("web-1"))

    result = drainer(api, clock).drain()

    assert result["changed"] is True
    assert api.changing_calls == ["create_namespaced_pod_eviction"]


@pytest.mark.parametrize(
    ("option", "value", "message"), [("timeout", -1, "timeout must be"), ("chunk_size", -5, "chunk_size must be")]
)
def test_negative_numbers_are_refused_before_any_call(api, clock, option, value, message):
    with pytest.raises(KubeDrainError, match=message):
        drainer(api, clock).drain(**{option: value})
    assert api.calls == []
