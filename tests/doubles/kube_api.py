"""Test double of the Kubernetes API boundary that kube_drain talks to.

It stands in for kubernetes.client's CoreV1Api and AppsV1Api: every call is checked against the
real client method's signature, answers with the real client's models, fails with the real
ApiException, and request bodies are serialised by the real ApiClient, so the tests see what
would go over the wire. Behaviour that needs a cluster (evictions refused by a
PodDisruptionBudget, pods that take a while to terminate, StatefulSets recreating a pod under the
same name) is scripted per pod.
"""

from __future__ import annotations

import inspect
import itertools

from kubernetes import client
from kubernetes.client.exceptions import ApiException

SERIALIZER = client.ApiClient()
REAL_METHODS = {
    "read_node": client.CoreV1Api.read_node,
    "patch_node": client.CoreV1Api.patch_node,
    "list_pod_for_all_namespaces": client.CoreV1Api.list_pod_for_all_namespaces,
    "read_namespaced_pod": client.CoreV1Api.read_namespaced_pod,
    "create_namespaced_pod_eviction": client.CoreV1Api.create_namespaced_pod_eviction,
    "delete_namespaced_pod": client.CoreV1Api.delete_namespaced_pod,
    "read_namespaced_daemon_set": client.AppsV1Api.read_namespaced_daemon_set,
}
_uids = itertools.count(1)


class FakeClock:
    """Virtual time: sleep() advances now() at once, so retries and timeouts cost nothing."""

    def __init__(self):
        self.time = 1000.0
        self.sleeps = []

    def now(self):
        return self.time

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.time += seconds

    @property
    def slept(self):
        return sum(self.sleeps)


def make_pod(
    name,
    namespace="default",
    node="w1-k8s",
    owner_kind="ReplicaSet",
    owner_name=None,
    phase="Running",
    empty_dir=False,
    mirror=False,
    labels=None,
):
    """A pod as the API returns it; owner_kind None makes a pod without controller."""
    owners = None
    if owner_kind:
        owners = [
            client.V1OwnerReference(
                api_version="apps/v1" if owner_kind != "Node" else "v1",
                kind=owner_kind,
                name=owner_name or f"{name}-owner",
                uid=f"owner-{next(_uids)}",
                controller=True,
            )
        ]
    volumes = [client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource())] if empty_dir else None
    annotations = {"kubernetes.io/config.mirror": "abc123"} if mirror else None
    return client.V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=client.V1ObjectMeta(
            name=name,
            namespace=namespace,
            uid=f"pod-{next(_uids)}",
            owner_references=owners,
            annotations=annotations,
            labels=labels,
        ),
        spec=client.V1PodSpec(
            node_name=node, containers=[client.V1Container(name="main", image="busybox")], volumes=volumes
        ),
        status=client.V1PodStatus(phase=phase),
    )


class FakeKubeApi:
    """The cluster state plus the API calls kube_drain makes, recorded in `calls`."""

    def __init__(self, nodes=("w1-k8s",)):
        self.nodes = {
            name: client.V1Node(metadata=client.V1ObjectMeta(name=name), spec=client.V1NodeSpec()) for name in nodes
        }
        self.pods = {}
        self.daemonsets = set()
        self.calls = []
        # Per pod (namespace, name): HTTP statuses the next eviction requests answer with.
        self.eviction_errors = {}
        # Per pod: how many reads still show the pod after its eviction (graceful termination).
        self.terminating_reads = {}
        # Pods a StatefulSet recreates under the same name (on another node) once they are gone.
        self.recreated = set()
        self._countdown = {}

    # -- scenario setup --------------------------------------------------------------------

    def add_pod(self, pod):
        self.pods[(pod.metadata.namespace, pod.metadata.name)] = pod
        return pod

    def add_daemonset(self, name, namespace="default"):
        self.daemonsets.add((namespace, name))

    def cordoned(self, node="w1-k8s"):
        return bool(self.nodes[node].spec.unschedulable)

    def calls_to(self, method):
        return [kwargs for name, kwargs in self.calls if name == method]

    @property
    def changing_calls(self):
        return [
            name
            for name, _ in self.calls
            if name in ("patch_node", "create_namespaced_pod_eviction", "delete_namespaced_pod")
        ]

    # -- the API ---------------------------------------------------------------------------

    def _record(self, method, *args, **kwargs):
        bound = inspect.signature(REAL_METHODS[method]).bind(None, *args, **kwargs)
        arguments = dict(bound.arguments)
        arguments.pop("self")
        if "body" in arguments:
            arguments["body"] = SERIALIZER.sanitize_for_serialization(arguments["body"])
        self.calls.append((method, arguments))
        return arguments

    @staticmethod
    def _not_found(what):
        return ApiException(status=404, reason=f"Not Found: {what}")

    def read_node(self, name, **kwargs):
        self._record("read_node", name, **kwargs)
        if name not in self.nodes:
            raise self._not_found(f'nodes "{name}"')
        return self.nodes[name]

    def patch_node(self, name, body, **kwargs):
        args = self._record("patch_node", name, body, **kwargs)
        if name not in self.nodes:
            raise self._not_found(f'nodes "{name}"')
        unschedulable = args["body"]["spec"]["unschedulable"]
        self.nodes[name].spec.unschedulable = unschedulable or None
        return self.nodes[name]

    def list_pod_for_all_namespaces(self, **kwargs):
        args = self._record("list_pod_for_all_namespaces", **kwargs)
        key, _, node = args["field_selector"].partition("=")
        assert key == "spec.nodeName", args["field_selector"]
        wanted = {}
        if args.get("label_selector"):
            wanted = dict(term.split("=", 1) for term in args["label_selector"].split(","))
        matching = [
            pod
            for _, pod in sorted(self.pods.items())
            if pod.spec.node_name == node and all((pod.metadata.labels or {}).get(k) == v for k, v in wanted.items())
        ]
        start = int(args.get("_continue") or 0)
        limit = args.get("limit")
        end = len(matching) if not limit else start + limit
        token = str(end) if end < len(matching) else None
        return client.V1PodList(
            api_version="v1", kind="PodList", items=matching[start:end], metadata=client.V1ListMeta(_continue=token)
        )

    def read_namespaced_pod(self, name, namespace, **kwargs):
        self._record("read_namespaced_pod", name, namespace, **kwargs)
        key = (namespace, name)
        if key in self._countdown:
            if self._countdown[key] > 0:
                self._countdown[key] -= 1
            else:
                self._gone(key)
        if key not in self.pods:
            raise self._not_found(f'pods "{name}"')
        return self.pods[key]

    def _gone(self, key):
        self._countdown.pop(key, None)
        old = self.pods.pop(key)
        if key in self.recreated:
            self.add_pod(make_pod(old.metadata.name, old.metadata.namespace, node="w2-k8s", owner_kind="StatefulSet"))

    def _terminate(self, key):
        """The pod was told to go: it disappears after its scripted number of reads."""
        if key in self._countdown:
            return
        self._countdown[key] = self.terminating_reads.get(key, 0)
        if self._countdown[key] == 0:
            self._gone(key)

    def create_namespaced_pod_eviction(self, name, namespace, body, **kwargs):
        self._record("create_namespaced_pod_eviction", name, namespace, body, **kwargs)
        key = (namespace, name)
        if key not in self.pods:
            raise self._not_found(f'pods "{name}"')
        errors = self.eviction_errors.get(key)
        if errors:
            status = errors.pop(0)
            reason = "Too Many Requests" if status == 429 else "Internal Server Error"
            raise ApiException(status=status, reason=reason)
        self._terminate(key)
        return client.V1Status(status="Success")

    def delete_namespaced_pod(self, name, namespace, **kwargs):
        self._record("delete_namespaced_pod", name, namespace, **kwargs)
        key = (namespace, name)
        if key not in self.pods:
            raise self._not_found(f'pods "{name}"')
        self._terminate(key)
        return self.pods.get(key)

    def read_namespaced_daemon_set(self, name, namespace, **kwargs):
        self._record("read_namespaced_daemon_set", name, namespace, **kwargs)
        if (namespace, name) not in self.daemonsets:
            raise self._not_found(f'daemonsets.apps "{name}"')
        labels = {"app": name}
        return client.V1DaemonSet(
            api_version="apps/v1",
            kind="DaemonSet",
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
                ),
            ),
        )
