"""module_utils/pod_status: when the upgrade may put a node back in service and move past the
control plane."""

from fixtures.k8s_objects import lease, pod

from ansible_collections.k8s_lab.lab.plugins.filter.stale_leaders import FilterModule as Leaders
from ansible_collections.k8s_lab.lab.plugins.filter.unready_node_pods import FilterModule as Unready
from ansible_collections.k8s_lab.lab.plugins.module_utils.pod_status import stale_leaders, unready_node_pods

CONTROL_PLANE = [pod("kube-controller-manager-m-k8s", "m-k8s", owner="Node", component="kube-controller-manager"),
                 pod("kube-scheduler-m-k8s", "m-k8s", owner="Node", component="kube-scheduler")]
LEASES = [lease("kube-controller-manager"), lease("kube-scheduler")]


def test_the_nodes_own_pods_that_are_not_ready_are_named():
    pods = [pod("kube-proxy-a", "w1-k8s", ready="False"), pod("speaker-b", "w1-k8s"),
            pod("kube-apiserver-m-k8s", "m-k8s", owner="Node", ready="False"),
            pod("node-exporter-c", "w1-k8s", started=None, ready="False")]
    assert unready_node_pods(pods, "w1-k8s") == ["kube-system/kube-proxy-a", "kube-system/node-exporter-c"]
    assert unready_node_pods(pods, "m-k8s") == ["kube-system/kube-apiserver-m-k8s"]


def test_a_pod_being_deleted_is_not_ready():
    assert unready_node_pods([pod("kube-proxy-a", "w1-k8s", deleting=True)], "w1-k8s") == ["kube-system/kube-proxy-a"]


def test_pods_other_controllers_own_are_not_the_nodes():
    """A Deployment's pod scheduled after the uncordon, or a bare pod, may wait on anything."""
    pods = [pod("web-1", "w1-k8s", owner="ReplicaSet", ready="False", namespace="upgrade"),
            pod("bare", "w1-k8s", owner=None, ready="False", namespace="default")]
    assert unready_node_pods(pods, "w1-k8s") == []


def test_no_pods_none_unready():
    assert unready_node_pods([], "w1-k8s") == []
    assert unready_node_pods(None, "w1-k8s") == []


def test_leaders_that_took_their_lease_after_starting_lead():
    assert stale_leaders(LEASES, CONTROL_PLANE, "m-k8s") == []


def test_a_lease_taken_in_the_second_the_container_started_is_its_own():
    """startedAt has whole seconds, acquireTime microseconds."""
    assert stale_leaders([lease("kube-controller-manager", "2026-12-07T10:00:05.000001Z"),
                          lease("kube-scheduler", "2026-12-07T10:00:05Z")], CONTROL_PLANE, "m-k8s") == []


def test_a_restarted_component_does_not_lead_until_it_takes_the_lease():
    restarted = [pod("kube-controller-manager-m-k8s", "m-k8s", owner="Node", component="kube-controller-manager",
                     started="2026-12-07T10:03:00Z"), CONTROL_PLANE[1]]
    assert stale_leaders(LEASES, restarted, "m-k8s") == ["kube-controller-manager"]
    taken = [lease("kube-controller-manager", "2026-12-07T10:03:17.5Z"), LEASES[1]]
    assert stale_leaders(taken, restarted, "m-k8s") == []


def test_no_lease_or_no_running_container_does_not_lead():
    assert stale_leaders(LEASES[:1], CONTROL_PLANE, "m-k8s") == ["kube-scheduler"]
    waiting = [CONTROL_PLANE[0], pod("kube-scheduler-m-k8s", "m-k8s", owner="Node", component="kube-scheduler",
                                     started=None)]
    assert stale_leaders(LEASES, waiting, "m-k8s") == ["kube-scheduler"]
    assert stale_leaders(LEASES, CONTROL_PLANE, "w1-k8s") == ["kube-controller-manager", "kube-scheduler"]


def test_a_deleted_mirror_pod_does_not_count():
    deleting = [pod("kube-controller-manager-m-k8s", "m-k8s", owner="Node", component="kube-controller-manager",
                    deleting=True), CONTROL_PLANE[1]]
    assert stale_leaders(LEASES, deleting, "m-k8s") == ["kube-controller-manager"]


def test_the_filters_are_registered():
    assert Unready().filters() == {"unready_node_pods": unready_node_pods}
    assert Leaders().filters() == {"stale_leaders": stale_leaders}
