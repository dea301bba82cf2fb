"""Test double of the Kubernetes API server, on loopback HTTP, for running the playbooks.

No real API server (nor its binaries or images) is available to the tests, so this one keeps
objects in memory and serves what the playbooks use through the real kubernetes client and
kubernetes.core: discovery, get/list (label and field selectors), create, delete, JSON /
merge / strategic-merge patches, server-side apply (create or merge), the Deployment scale
subresource and pod eviction. A minimal Deployment controller gives Deployments ReplicaSets with
revision numbers and a finished rollout status at once, the way kube-controller-manager would
after a while; CustomResourceDefinitions are Established at once. Where a test needs an object
to move along (a DaemonSet whose pods become Ready one by one, or never), script() sets the
statuses its reads show in turn.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

REVISION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"

# (group, version) -> [(plural, kind, namespaced, subresources)]
RESOURCES = {
    ("", "v1"): [
        ("namespaces", "Namespace", False, ()),
        ("nodes", "Node", False, ()),
        ("pods", "Pod", True, ("eviction",)),
    ],
    ("apps", "v1"): [
        ("deployments", "Deployment", True, ("scale",)),
        ("replicasets", "ReplicaSet", True, ()),
        ("daemonsets", "DaemonSet", True, ()),
    ],
    ("apiextensions.k8s.io", "v1"): [
        ("customresourcedefinitions", "CustomResourceDefinition", False, ()),
    ],
}
KINDS = {(group, plural): kind for (group, _), items in RESOURCES.items() for plural, kind, _, _ in items}
PATH_RE = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+)(?=/))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def status(code, reason, message=""):
    return code, {
        "apiVersion": "v1",
        "kind": "Status",
        "status": "Failure",
        "reason": reason,
        "code": code,
        "message": message,
    }


def pod_manifest(name, node_name="w1-k8s", owner_kind="ReplicaSet", owner_name="web-5d8b9", namespace="default"):
    """A running pod as JSON, owned by a controller of owner_kind."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name, "uid": "o1", "controller": True}
            ],
        },
        "spec": {"nodeName": node_name, "containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": "Running"},
    }


def json_handler(respond):
    """An HTTP handler class that decodes a JSON request and sends respond()'s (code, payload).

    respond(method, path, query, content_type, body) sees the query with one value per key and
    the body already decoded; content_type is None when the client sent none.
    """

    class Handler(BaseHTTPRequestHandler):
        def handle_any(self):
            url = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, payload = respond(self.command, url.path, query, self.headers.get("Content-Type"), body)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any

        def log_message(self, *args):
            pass

    return Handler


def json_pointer_apply(document, operations):
    """RFC 6902 add / replace / remove, enough for kubernetes.core.k8s_json_patch."""
    document = copy.deepcopy(document)
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = document
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                parent.insert(len(parent) if last == "-" else int(last), op["value"])
            else:
                if op["op"] == "replace" and last not in parent:
                    raise KeyError(op["path"])
                parent[last] = op["value"]
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return document


def merge(target, patch, strategic):
    """JSON merge patch; strategic also merges lists of named objects (containers) by name."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif (
            strategic
            and isinstance(value, list)
            and isinstance(result.get(key), list)
            and all(isinstance(v, dict) and "name" in v for v in value + result[key])
        ):
            merged = {item["name"]: item for item in copy.deepcopy(result[key])}
            order = [item["name"] for item in result[key]]
            for item in value:
                merged[item["name"]] = merge(merged.get(item["name"], {}), item, strategic)
                if item["name"] not in order:
                    order.append(item["name"])
            result[key] = [merged[name] for name in order]
        else:
            result[key] = merge(result.get(key, {}), value, strategic) if isinstance(value, dict) else value
    return result


def matches_labels(obj, selector):
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in (term.split("=", 1) for term in selector.split(",")))


def matches_fields(obj, selector):
    if not selector:
        return True
    for term in selector.split(","):
        path, value = term.split("=", 1)
        current = obj
        for part in path.split("."):
            current = (current or {}).get(part) if isinstance(current, dict) else None
        if current != value:
            return False
    return True


class FakeApiServer:
    def __init__(self):
        self.objects = {}  # (group, plural, namespace, name) -> object
        self.scripts = {}  # (group, plural, namespace, name) -> statuses still to show
        self.read_counts = {}  # (group, plural, namespace, name) -> GETs that returned it
        self.requests = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_port}"

    def kubeconfig(self):
        return (
            "apiVersion: v1\nkind: Config\n"
            f'clusters:\n- name: lab\n  cluster: {{server: "{self.url}"}}\n'
            "users:\n- name: admin\n  user: {token: test-double}\n"
            "contexts:\n- name: lab\n  context: {cluster: lab, user: admin}\ncurrent-context: lab\n"
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- objects ---------------------------------------------------------------------------

    def add(self, group, plural, obj):
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(self._ids)}")
        meta.setdefault("resourceVersion", str(next(self._ids)))
        meta.setdefault("generation", 1)
        self.objects[(group, plural, meta.get("namespace", ""), meta["name"])] = obj
        if plural == "deployments":
            self._sync_deployment(obj)
        if plural == "customresourcedefinitions":
            obj["status"] = {
                "acceptedNames": obj["spec"]["names"],
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                ],
            }
        return obj

    def script(self, group, plural, name, statuses, namespace=""):
        """Each read of the object (alone or in a list) shows the next of statuses, the last for good."""
        assert statuses, "a script needs at least one status"
        self.scripts[(group, plural, namespace, name)] = [copy.deepcopy(s) for s in statuses]

    def reads(self, group, plural, name, namespace=""):
        """How many GETs returned the object (alone or in a list)."""
        return self.read_counts.get((group, plural, namespace, name), 0)

    def _read(self, key, obj):
        """What a GET returns now: the next scripted status, if the object has a script."""
        self.read_counts[key] = self.read_counts.get(key, 0) + 1
        queue = self.scripts.get(key)
        if queue:
            obj["status"] = copy.deepcopy(queue[0] if len(queue) == 1 else queue.pop(0))
        return obj

    def get(self, group, plural, name, namespace=""):
        return self.objects.get((group, plural, namespace, name))

    def list(self, group, plural, namespace=None):
        return [
            o
            for (g, p, ns, _), o in sorted(self.objects.items())
            if g == group and p == plural and (namespace is None or ns == namespace)
        ]

    def _sync_deployment(self, dep):
        """What the Deployment controller would have done once the rollout finished."""
        ns, uid = dep["metadata"].get("namespace", ""), dep["metadata"]["uid"]
        owned = [
            rs
            for rs in self.list("apps", "replicasets", ns)
            if any(ref.get("uid") == uid for ref in rs["metadata"].get("ownerReferences", []))
        ]
        template = dep["spec"]["template"]

        def without_hash(tpl):
            tpl = copy.deepcopy(tpl)
            tpl.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
            return tpl

        revisions = [int(rs["metadata"]["annotations"][REVISION]) for rs in owned]
        current = [rs for rs in owned if without_hash(rs["spec"]["template"]) == template]
        annotations = dep["metadata"].setdefault("annotations", {})
        if current:
            rs = current[0]
            if int(rs["metadata"]["annotations"][REVISION]) != max(revisions):
                rs["metadata"]["annotations"][REVISION] = str(max(revisions) + 1)
        else:
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            rs_template = copy.deepcopy(template)
            rs_template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = digest
            rs = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": f"{dep['metadata']['name']}-{digest}",
                    "namespace": ns,
                    "labels": dict(rs_template["metadata"]["labels"]),
                    "annotations": {REVISION: str(max(revisions, default=0) + 1)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "controller": True,
                            "name": dep["metadata"]["name"],
                            "uid": uid,
                        }
                    ],
                },
                "spec": {"selector": dep["spec"]["selector"], "template": rs_template},
            }
            self.add("apps", "replicasets", rs)
        if CHANGE_CAUSE in annotations:
            rs["metadata"]["annotations"][CHANGE_CAUSE] = annotations[CHANGE_CAUSE]
        replicas = dep["spec"].get("replicas", 1)
        for other in [*owned, rs]:
            other["spec"]["replicas"] = replicas if other is rs else 0
        annotations[REVISION] = rs["metadata"]["annotations"][REVISION]
        dep["status"] = {
            "observedGeneration": dep["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
            ],
        }

    # -- HTTP ------------------------------------------------------------------------------

    def _discovery(self, path):
        if path == "/version":
            return 200, {"major": "1", "minor": "37", "gitVersion": "v1.37.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [
                {
                    "name": g,
                    "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                    "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                }
                for (g, v) in RESOURCES
                if g
            ]
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for (group, version), items in RESOURCES.items():
            if path == (f"/apis/{group}/{version}" if group else f"/api/{version}"):
                resources = []
                for plural, kind, namespaced, subs in items:
                    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
                    resources.append(
                        {
                            "name": plural,
                            "singularName": kind.lower(),
                            "namespaced": namespaced,
                            "kind": kind,
                            "verbs": verbs,
                        }
                    )
                    for sub in subs:
                        sub_kind = {"eviction": "Eviction", "scale": "Scale"}[sub]
                        resources.append(
                            {
                                "name": f"{plural}/{sub}",
                                "singularName": "",
                                "namespaced": namespaced,
                                "kind": sub_kind,
                                "verbs": ["create", "get", "patch", "update"],
                            }
                        )
                gv = f"{group}/{version}" if group else version
                return 200, {"kind": "APIResourceList", "groupVersion": gv, "resources": resources}
        return None

    def handle(self, method, path, query, content_type, body):
        discovery = self._discovery(path) if method == "GET" else None
        if discovery:
            return discovery
        match = PATH_RE.match(path)
        if not match:
            return status(404, "NotFound", path)
        group = match["group"] or ""
        version = match["core"] or match["version"]
        ns, plural, name, sub = match["ns"] or "", match["plural"], match["name"], match["sub"]
        if (group, plural) not in KINDS:
            return status(404, "NotFound", path)
        kind = KINDS[(group, plural)]
        api_version = f"{group}/{version}" if group else version
        key = (group, plural, ns, name)
        obj = self.objects.get(key) if name else None

        if method == "GET" and not name:
            items = [
                self._read((group, plural, o["metadata"].get("namespace", ""), o["metadata"]["name"]), o)
                for o in self.list(group, plural, ns if match["ns"] else None)
                if matches_labels(o, query.get("labelSelector")) and matches_fields(o, query.get("fieldSelector"))
            ]
            return 200, {
                "apiVersion": api_version,
                "kind": f"{kind}List",
                "metadata": {"resourceVersion": "1"},
                "items": items,
            }
        if method == "POST" and not name:
            body.setdefault("metadata", {})["namespace"] = ns if match["ns"] else body["metadata"].get("namespace")
            if not match["ns"]:
                body["metadata"].pop("namespace")
            if (group, plural, ns, body["metadata"]["name"]) in self.objects:
                return status(409, "AlreadyExists")
            body.setdefault("apiVersion", api_version)
            body.setdefault("kind", kind)
            return 201, self.add(group, plural, body)
        if obj is None and method == "PATCH" and content_type.startswith("application/apply-patch"):
            # Server-side apply creates what does not exist yet.
            body.setdefault("metadata", {})["name"] = name
            if match["ns"]:
                body["metadata"]["namespace"] = ns
            return 201, self.add(group, plural, body)
        if obj is None:
            return status(404, "NotFound", f'{plural} "{name}" not found')
        if sub == "eviction" and method == "POST":
            del self.objects[key]
            return 201, {"apiVersion": "v1", "kind": "Status", "status": "Success"}
        if sub == "scale":
            if method == "PATCH":
                patched = merge({"spec": {"replicas": obj["spec"].get("replicas", 1)}}, body, False)
                obj["spec"]["replicas"] = patched["spec"]["replicas"]
                obj["metadata"]["generation"] += 1
                self._sync_deployment(obj)
            return 200, {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": obj["status"]["replicas"]},
            }
        if method == "GET":
            return 200, self._read(key, obj)
        if method == "DELETE":
            del self.objects[key]
            if plural == "deployments":
                for rs in self.list("apps", "replicasets", ns):
                    if any(r.get("uid") == obj["metadata"]["uid"] for r in rs["metadata"].get("ownerReferences", [])):
                        del self.objects[("apps", "replicasets", ns, rs["metadata"]["name"])]
            return 200, {"apiVersion": "v1", "kind": "Status", "status": "Success"}
        if method == "PATCH":
            if content_type.startswith("application/json-patch+json"):
                updated = json_pointer_apply(obj, body)
            else:
                updated = merge(obj, body, content_type.startswith("application/strategic-merge-patch+json"))
            if updated == obj:
                return 200, obj
            if updated.get("spec") != obj.get("spec"):
                updated["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
            updated["metadata"]["resourceVersion"] = str(next(self._ids))
            self.objects[key] = updated
            if plural == "deployments":
                self._sync_deployment(updated)
            return 200, updated
        return status(405, "MethodNotAllowed")

    def _handler(self):
        server = self

        def respond(method, path, query, content_type, body):
            with server._lock:
                server.requests.append((method, path, query, body))
                return server.handle(method, path, query, content_type or "application/json", body)

        return json_handler(respond)
