"""A drain through the real kubernetes client over loopback HTTP.

The other tests use a test double of the client's API objects; this one checks what really goes
over the wire (paths, query parameters, bodies, headers) and that real HTTP answers (429, 404)
come back as the errors the drain logic expects. The server is a test double of the API server
that answers from a script and records every request.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
from doubles.kube_api import FakeClock
from doubles.kube_apiserver import json_handler, pod_manifest, status
from kubernetes import client

from ansible_collections.k8s_lab.lab.plugins.module_utils.kube_drain import CombinedApi, KubeDrainError, NodeDrainer


def node(unschedulable):
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "w1-k8s"},
        "spec": {"unschedulable": unschedulable},
    }


DAEMONSET = {
    "apiVersion": "apps/v1",
    "kind": "DaemonSet",
    "metadata": {"name": "calico-node", "namespace": "kube-system"},
    "spec": {
        "selector": {"matchLabels": {"k8s-app": "calico-node"}},
        "template": {
            "metadata": {"labels": {"k8s-app": "calico-node"}},
            "spec": {"containers": [{"name": "calico-node", "image": "calico/node"}]},
        },
    },
}


class ScriptedApiServer:
    """Answers (method, path, continue token) from a script; the last answer of a list repeats."""

    def __init__(self, script):
        self.script = {key: list(answers) for key, answers in script.items()}
        self.requests = []
        server = self

        def respond(method, path, query, content_type, body):
            server.requests.append(
                {"method": method, "path": path, "query": query, "body": body, "content_type": content_type}
            )
            answers = server.script.get((method, path, query.get("continue")))
            if not answers:
                return status(404, "NotFound")
            return answers.pop(0) if len(answers) > 1 else answers[0]

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), json_handler(respond))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{self.httpd.server_port}"
        api_client = client.ApiClient(configuration)
        return CombinedApi(client.CoreV1Api(api_client), client.AppsV1Api(api_client))

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def script():
    web = pod_manifest("web-1")
    calico = pod_manifest("calico-node-x1", owner_kind="DaemonSet", owner_name="calico-node", namespace="kube-system")
    return {
        ("GET", "/api/v1/nodes/w1-k8s", None): [(200, node(False))],
        ("PATCH", "/api/v1/nodes/w1-k8s", None): [(200, node(True))],
        ("GET", "/api/v1/pods", None): [
            (200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"continue": "page2"}, "items": [calico]})
        ],
        ("GET", "/api/v1/pods", "page2"): [
            (200, {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [web]})
        ],
        ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node", None): [(200, DAEMONSET)],
        ("POST", "/api/v1/namespaces/default/pods/web-1/eviction", None): [
            status(429, "TooManyRequests"),
            (201, {"apiVersion": "v1", "kind": "Status", "status": "Success"}),
        ],
        ("GET", "/api/v1/namespaces/default/pods/web-1", None): [(200, web), status(404, "NotFound")],
    }


def test_drain_over_http(script):
    clock = FakeClock()
    server = ScriptedApiServer(script)
    with server as api:
        result = NodeDrainer(api, "w1-k8s", clock=clock).drain(ignore_daemonsets=True, grace_period=0, chunk_size=1)

    assert result["evicted"] == [{"namespace": "default", "name": "web-1", "attempts": 2, "warnings": []}]
    assert [entry["name"] for entry in result["kept"]] == ["calico-node-x1"]

    requests = server.requests
    assert [(r["method"], r["path"]) for r in requests] == [
        ("GET", "/api/v1/nodes/w1-k8s"),
        ("PATCH", "/api/v1/nodes/w1-k8s"),
        ("GET", "/api/v1/pods"),
        ("GET", "/api/v1/pods"),
        ("GET", "/apis/apps/v1/namespaces/kube-system/daemonsets/calico-node"),
        ("POST", "/api/v1/namespaces/default/pods/web-1/eviction"),
        ("POST", "/api/v1/namespaces/default/pods/web-1/eviction"),
        ("GET", "/api/v1/namespaces/default/pods/web-1"),
        ("GET", "/api/v1/namespaces/default/pods/web-1"),
    ]
    patch = requests[1]
    assert patch["content_type"] == "application/strategic-merge-patch+json"
    assert patch["body"] == {"spec": {"unschedulable": True}}
    assert requests[2]["query"] == {"fieldSelector": "spec.nodeName=w1-k8s", "limit": "1"}
    assert requests[3]["query"] == {"fieldSelector": "spec.nodeName=w1-k8s", "limit": "1", "continue": "page2"}
    eviction = requests[-3]
    assert eviction["content_type"] == "application/json"
    assert eviction["body"] == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    }
    assert clock.slept >= 5


def test_unknown_node_over_http():
    with ScriptedApiServer({}) as api, pytest.raises(Exception, match="node w1-k8s not found in the cluster"):
        NodeDrainer(api, "w1-k8s", clock=FakeClock()).drain()


@pytest.mark.parametrize("name", ["", " ", "W1-K8S", "w1-k8s/", "w1-k8s\n", "../nodes"])
@pytest.mark.parametrize("state", ["cordon", "uncordon", "drain"])
def test_a_bad_node_name_sends_nothing(name, state):
    """An empty name read /api/v1/nodes/ (the list of every node) before it failed."""
    server = ScriptedApiServer({})
    with server as api, pytest.raises(KubeDrainError, match=r"^name .*node"):
        getattr(NodeDrainer(api, name, clock=FakeClock()), state)()
    assert server.requests == []
