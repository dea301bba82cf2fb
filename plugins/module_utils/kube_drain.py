"""Cordon, drain and uncordon a Kubernetes node the way `kubectl drain` does.

The logic follows k8s.io/kubectl/pkg/drain (filters.go, drain.go) and works on an injected API
object that offers the methods of kubernetes.client's CoreV1Api and AppsV1Api used here, so that
tests can hand in a test double of the API boundary instead of a cluster.
"""

from __future__ import annotations

import os
import re
import time

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
FINISHED_PHASES = ("Succeeded", "Failed")
EVICTION_API_VERSION = "policy/v1"
# The generated client sends the bodies of POST and DELETE without a Content-Type (and ignores
# its _content_type argument there); the API server assumes JSON then, but saying so costs nothing.
JSON = {"Content-Type": "application/json"}

# kubectl waits 5 s before retrying an eviction a PodDisruptionBudget refused, and polls for the
# pods' disappearance every second.
EVICTION_RETRY_SECONDS = 5
POLL_SECONDS = 1

REASON_MIRROR = "mirror pod (static pod of the kubelet; cannot be deleted through the API)"
REASON_DAEMONSET = "managed by DaemonSet {0} (ignore_daemonsets)"
ERROR_DAEMONSET = "managed by DaemonSet {0} (use ignore_daemonsets to leave it on the node)"
ERROR_DAEMONSET_GONE = "its DaemonSet {0} no longer exists (use force to delete it)"
ERROR_DAEMONSET_READ = "cannot read its DaemonSet {0}: {1}"
ERROR_LOCAL_STORAGE = "uses emptyDir local storage (use delete_emptydir_data to delete it)"
ERROR_UNMANAGED = "declares no controller (use force to delete it)"
WARNING_DAEMONSET_GONE = "its DaemonSet {0} no longer exists; deleted because of force"
WARNING_LOCAL_STORAGE = "its emptyDir data is deleted"
WARNING_UNMANAGED = "declares no controller; deleted because of force"
REASON_PDB = "eviction refused by a PodDisruptionBudget (HTTP 429)"
REASON_TERMINATING = "still terminating"

# A node's name is a DNS subdomain (RFC 1123), as the API server requires of Node objects.
NODE_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
NODE_NAME_MAX = 253


class KubeDrainError(Exception):
    """The operation failed; `result` holds what is known (pods evicted, blocked, remaining)."""

    def __init__(self, msg, result=None):
        super().__init__(msg)
        self.msg = msg
        self.result = result or {}


def check_node_name(name):
    """Raise KubeDrainError unless name can be a node's name. An empty one must never reach the
    API: GET /api/v1/nodes/ is the list of every node, and a field selector spec.nodeName= matches
    every pod that is not scheduled yet."""
    if not isinstance(name, str) or not name.strip():
        raise KubeDrainError(f"name must be the name of a node, got {name!r}")
    if len(name) > NODE_NAME_MAX or not NODE_NAME_RE.fullmatch(name):
        raise KubeDrainError(
            f"name {name!r} is not a node name (lowercase letters, digits, '-' and '.', at most {NODE_NAME_MAX})"
        )


class SystemClock:
    """Real time; tests inject a clock whose sleep advances time instantly."""

    @staticmethod
    def now():
        return time.monotonic()

    @staticmethod
    def sleep(seconds):
        time.sleep(seconds)


def api_status(exc):
    """The HTTP status of a kubernetes.client ApiException (None for other errors)."""
    return getattr(exc, "status", None)


def pod_ref(pod):
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def pod_entry(pod, **extra):
    entry = {"namespace": pod.metadata.namespace, "name": pod.metadata.name}
    entry.update(extra)
    return entry


def controller_of(pod):
    for ref in pod.metadata.owner_references or []:
        if ref.controller:
            return ref
    return None


def is_finished(pod):
    return pod.status is not None and pod.status.phase in FINISHED_PHASES


def has_local_storage(pod):
    return any(volume.empty_dir is not None for volume in (pod.spec.volumes or []))


class Decision:
    """What drain does with one pod: evict it (possibly with warnings), skip it, or refuse."""

    EVICT = "evict"
    SKIP = "skip"
    ERROR = "error"

    def __init__(self, action, reason=None, warnings=None):
        self.action = action
        self.reason = reason
        self.warnings = warnings or []


class NodeDrainer:
    """Cordon, drain or uncordon one node through an injected Kubernetes API object.

    `api` must offer read_node, patch_node, list_pod_for_all_namespaces, read_namespaced_pod,
    create_namespaced_pod_eviction, delete_namespaced_pod (CoreV1Api) and
    read_namespaced_daemon_set (AppsV1Api), with the kubernetes client's signatures and models.
    `models` provides V1Eviction, V1DeleteOptions and V1ObjectMeta (kubernetes.client by default).
    """

    def __init__(self, api, node, clock=None, check_mode=False, models=None):
        check_node_name(node)
        if models is None:
            from kubernetes import client as models
        self.api = api
        self.models = models
        self.node = node
        self.clock = clock or SystemClock()
        self.check_mode = check_mode

    # -- node ------------------------------------------------------------------------------

    def read_node(self):
        try:
            return self.api.read_node(self.node)
        except Exception as exc:
            if api_status(exc) == 404:
                raise KubeDrainError(f"node {self.node} not found in the cluster") from exc
            raise KubeDrainError(f"cannot read node {self.node}: {exc}") from exc

    def set_unschedulable(self, value, node=None):
        """Make the node (un)schedulable; return True if that changed anything."""
        node = node or self.read_node()
        if bool(node.spec.unschedulable) == value:
            return False
        if not self.check_mode:
            try:
                self.api.patch_node(self.node, {"spec": {"unschedulable": value}})
            except Exception as exc:
                raise KubeDrainError(
                    "cannot {} node {}: {}".format("cordon" if value else "uncordon", self.node, exc)
                ) from exc
        return True

    def cordon(self):
        changed = self.set_unschedulable(True)
        return {"changed": changed, "node": self.node, "unschedulable": True}

    def uncordon(self):
        changed = self.set_unschedulable(False)
        return {"changed": changed, "node": self.node, "unschedulable": False}

    # -- pods ------------------------------------------------------------------------------

    def list_pods(self, pod_selector=None, chunk_size=500):
        """All pods bound to the node, read in chunks of chunk_size (0: one request)."""
        pods = []
        token = None
        while True:
            kwargs = {"field_selector": f"spec.nodeName={self.node}"}
            if pod_selector:
                kwargs["label_selector"] = pod_selector
            if chunk_size:
                kwargs["limit"] = chunk_size
            if token:
                kwargs["_continue"] = token
            try:
                page = self.api.list_pod_for_all_namespaces(**kwargs)
            except Exception as exc:
                raise KubeDrainError(f"cannot list the pods of node {self.node}: {exc}") from exc
            pods.extend(page.items or [])
            token = page.metadata._continue if page.metadata is not None else None
            if not token:
                return pods

    def decide(self, pod, force, ignore_daemonsets, delete_emptydir_data):
        """Apply kubectl's filters in kubectl's order: DaemonSet, mirror, local storage, unmanaged."""
        warnings = []
        controller = controller_of(pod)
        finished = is_finished(pod)

        if controller is not None and controller.kind == "DaemonSet" and not finished:
            daemonset = f"{pod.metadata.namespace}/{controller.name}"
            try:
                self.api.read_namespaced_daemon_set(controller.name, pod.metadata.namespace)
            except Exception as exc:
                if api_status(exc) != 404:
                    return Decision(Decision.ERROR, ERROR_DAEMONSET_READ.format(daemonset, exc))
                if not force:
                    return Decision(Decision.ERROR, ERROR_DAEMONSET_GONE.format(daemonset))
                warnings.append(WARNING_DAEMONSET_GONE.format(daemonset))
            else:
                if not ignore_daemonsets:
                    return Decision(Decision.ERROR, ERROR_DAEMONSET.format(daemonset))
                return Decision(Decision.SKIP, REASON_DAEMONSET.format(daemonset))

        if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
            return Decision(Decision.SKIP, REASON_MIRROR)

        if has_local_storage(pod) and not finished:
            if not delete_emptydir_data:
                return Decision(Decision.ERROR, ERROR_LOCAL_STORAGE)
            warnings.append(WARNING_LOCAL_STORAGE)

        if controller is None and not finished:
            if not force:
                return Decision(Decision.ERROR, ERROR_UNMANAGED)
            warnings.append(WARNING_UNMANAGED)

        return Decision(Decision.EVICT, warnings=warnings)

    # -- removal ---------------------------------------------------------------------------

    def delete_options(self, grace_period):
        # kubectl sends a grace period only when it is >= 0; 0 is a real value (kill at once).
        if grace_period is not None and grace_period >= 0:
            return self.models.V1DeleteOptions(grace_period_seconds=grace_period)
        return self.models.V1DeleteOptions()

    def remove(self, pod, grace_period, disable_eviction):
        """Ask once to evict (or delete) the pod: 'sent', 'gone' or 'blocked' (HTTP 429)."""
        name, namespace = pod.metadata.name, pod.metadata.namespace
        try:
            if disable_eviction:
                self.api.delete_namespaced_pod(
                    name, namespace, body=self.delete_options(grace_period), _headers=dict(JSON)
                )
            else:
                body = self.models.V1Eviction(
                    api_version=EVICTION_API_VERSION,
                    kind="Eviction",
                    metadata=self.models.V1ObjectMeta(name=name, namespace=namespace),
                    delete_options=self.delete_options(grace_period),
                )
                self.api.create_namespaced_pod_eviction(name, namespace, body, _headers=dict(JSON))
        except Exception as exc:
            status = api_status(exc)
            if status == 404:
                return "gone"
            if status == 429 and not disable_eviction:
                return "blocked"
            raise KubeDrainError(
                "cannot {} pod {}: {}".format("delete" if disable_eviction else "evict", pod_ref(pod), exc)
            ) from exc
        return "sent"

    def is_gone(self, pod):
        """Gone, or replaced by a pod of the same name (StatefulSets reuse names)."""
        try:
            current = self.api.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
        except Exception as exc:
            if api_status(exc) == 404:
                return True
            raise KubeDrainError(f"cannot read pod {pod_ref(pod)}: {exc}") from exc
        return current.metadata.uid != pod.metadata.uid

    def remove_all(self, pods, grace_period, disable_eviction, timeout):
        """Evict every pod, retrying PDB refusals, and wait until all are gone or replaced.

        Pods are handled side by side, as kubectl's goroutines do, so one pod held back by a
        PodDisruptionBudget does not delay the others. Returns (removed, left) items.
        """
        start = self.clock.now()
        deadline = None if timeout == 0 else start + timeout
        items = [{"pod": pod, "phase": "evict", "retry_at": start, "attempts": 0, "error": None} for pod in pods]
        while True:
            now = self.clock.now()
            for item in items:
                try:
                    if item["phase"] == "evict" and now >= item["retry_at"]:
                        item["attempts"] += 1
                        outcome = self.remove(item["pod"], grace_period, disable_eviction)
                        if outcome == "blocked":
                            item["retry_at"] = now + EVICTION_RETRY_SECONDS
                        else:
                            item["phase"] = "done" if outcome == "gone" else "wait"
                    if item["phase"] == "wait" and self.is_gone(item["pod"]):
                        item["phase"] = "done"
                except KubeDrainError as exc:
                    item["phase"] = "failed"
                    item["error"] = exc.msg
            if all(item["phase"] in ("done", "failed") for item in items):
                break
            if deadline is not None and self.clock.now() >= deadline:
                break
            self.clock.sleep(POLL_SECONDS)
        removed = [item for item in items if item["phase"] == "done"]
        left = [item for item in items if item["phase"] != "done"]
        return removed, left

    # -- drain -----------------------------------------------------------------------------

    def drain(
        self,
        force=False,
        ignore_daemonsets=False,
        delete_emptydir_data=False,
        disable_eviction=False,
        grace_period=None,
        timeout=300,
        pod_selector=None,
        chunk_size=500,
    ):
        if timeout is None or timeout < 0:
            raise KubeDrainError(f"timeout must be 0 (no limit) or a positive number of seconds, got {timeout}")
        if chunk_size is None or chunk_size < 0:
            raise KubeDrainError(f"chunk_size must be 0 (no paging) or positive, got {chunk_size}")

        node = self.read_node()
        was_unschedulable = bool(node.spec.unschedulable)
        result = {
            "node": self.node,
            "unschedulable": True,
            "evicted": [],
            "kept": [],
            "blocked": [],
        }
        # kubectl cordons before it looks at the pods: no new pod lands while the drain runs, and
        # a failed drain leaves the node cordoned.
        if not was_unschedulable and not self.check_mode:
            self.set_unschedulable(True, node)

        to_remove = []
        warnings = {}
        for pod in self.list_pods(pod_selector, chunk_size):
            decision = self.decide(pod, force, ignore_daemonsets, delete_emptydir_data)
            if decision.action == Decision.SKIP:
                result["kept"].append(pod_entry(pod, reason=decision.reason))
            elif decision.action == Decision.ERROR:
                result["blocked"].append(pod_entry(pod, reason=decision.reason))
            else:
                to_remove.append(pod)
                warnings[pod_ref(pod)] = decision.warnings

        result["changed"] = not was_unschedulable or bool(to_remove)
        if result["blocked"]:
            # Like kubectl, refuse before removing anything: a partial drain helps nobody.
            result["changed"] = not was_unschedulable and not self.check_mode
            result["remaining"] = [pod_ref(pod) for pod in to_remove] + [
                "{namespace}/{name}".format(**entry) for entry in result["blocked"]
            ]
            if self.check_mode:
                result["evicted"] = [pod_entry(pod, warnings=warnings[pod_ref(pod)]) for pod in to_remove]
            raise KubeDrainError(
                "cannot drain node {}: {}".format(
                    self.node,
                    "; ".join("{namespace}/{name} {reason}".format(**entry) for entry in result["blocked"]),
                ),
                result,
            )

        if self.check_mode:
            result["evicted"] = [pod_entry(pod, warnings=warnings[pod_ref(pod)]) for pod in to_remove]
            return result

        removed, left = self.remove_all(to_remove, grace_period, disable_eviction, timeout)
        for item in removed:
            ref = pod_ref(item["pod"])
            result["evicted"].append(pod_entry(item["pod"], warnings=warnings[ref], attempts=item["attempts"]))
        if left:
            result["changed"] = not was_unschedulable or bool(removed) or any(item["phase"] == "wait" for item in left)
            reasons = {"evict": REASON_PDB, "wait": REASON_TERMINATING}
            for item in left:
                reason = item["error"] or reasons[item["phase"]]
                result["blocked"].append(pod_entry(item["pod"], reason=reason, attempts=item["attempts"]))
            result["remaining"] = [pod_ref(item["pod"]) for item in left]
            timed_out = any(item["phase"] != "failed" for item in left)
            raise KubeDrainError(
                "{} draining node {}; the node stays cordoned and these pods remain: {}".format(
                    f"timed out after {timeout}s" if timed_out else "failed",
                    self.node,
                    "; ".join("{namespace}/{name} ({reason})".format(**entry) for entry in result["blocked"]),
                ),
                result,
            )
        return result


def load_api(kubeconfig=None, context=None):
    """CoreV1Api and AppsV1Api in one object, from a kubeconfig file.

    Raises KubeDrainError when the kubeconfig is missing or unusable.
    """
    from kubernetes import client, config  # imported here so that tests of the logic need no cluster

    path = os.path.expanduser(kubeconfig or os.environ.get("K8S_AUTH_KUBECONFIG") or "~/.kube/config")
    if not os.path.isfile(path):
        raise KubeDrainError(f"kubeconfig {path} not found (set kubeconfig or K8S_AUTH_KUBECONFIG)")
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
    except Exception as exc:
        raise KubeDrainError(f"cannot load kubeconfig {path}: {exc}") from exc
    api_client = client.ApiClient(configuration)
    return CombinedApi(client.CoreV1Api(api_client), client.AppsV1Api(api_client))


class CombinedApi:
    """One object with the CoreV1Api methods drain needs plus AppsV1Api's DaemonSet read."""

    def __init__(self, core, apps):
        self._core = core
        self._apps = apps

    def __getattr__(self, name):
        if name == "read_namespaced_daemon_set":
            return self._apps.read_namespaced_daemon_set
        return getattr(self._core, name)
