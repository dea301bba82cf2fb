"""The kube_drain module end to end: parameters in, JSON result out (API test double behind it)."""

from __future__ import annotations

import json
from unittest.mock import patch

import ansible.module_utils._internal
import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from doubles.kube_api import FakeClock, FakeKubeApi, make_pod

from ansible_collections.k8s_lab.lab.plugins.module_utils.kube_drain import load_api
from ansible_collections.k8s_lab.lab.plugins.modules import kube_drain

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: not-a-secret}
contexts:
- name: lab
  context: {cluster: lab, user: admin}
current-context: lab
"""


def run_module(capsys, args, api=None, api_factory=None):
    """Run the module as Ansible would; return (exit code, parsed JSON result)."""
    factory = api_factory or (lambda kubeconfig, context: api)
    # A module runs in a process of its own. In this shared pytest process, tests that load
    # controller code (inventory and filter plugins) mark it as the controller, and a module's
    # warnings would then go to the display instead of into its result.
    with (
        patch.object(ansible.module_utils._internal, "is_controller", False),
        patch_module_args(args),
        pytest.raises(SystemExit) as exit_info,
    ):
        module = AnsibleModule(argument_spec=kube_drain.ARGUMENT_SPEC, supports_check_mode=True)
        kube_drain.run(module, api_factory=factory, clock=FakeClock())
    return exit_info.value.code, json.loads(capsys.readouterr().out)


@pytest.fixture
def api():
    cluster = FakeKubeApi()
    cluster.add_daemonset("calico-node", "kube-system")
    cluster.add_pod(
        make_pod("calico-node-x1", namespace="kube-system", owner_kind="DaemonSet", owner_name="calico-node")
    )
    cluster.add_pod(make_pod("echo-hname-1"))
    cluster.add_pod(make_pod("cache-1", empty_dir=True))
    return cluster


def test_drain_returns_evicted_and_kept_and_warns(capsys, api):
    code, result = run_module(capsys, {"name": "w1-k8s", "ignore_daemonsets": True, "delete_emptydir_data": True}, api)

    assert code == 0
    assert result["changed"] is True
    assert sorted(pod["name"] for pod in result["evicted"]) == ["cache-1", "echo-hname-1"]
    assert [pod["name"] for pod in result["kept"]] == ["calico-node-x1"]
    assert result["blocked"] == []
    # ansible-core 2.19 wraps warnings in structured summaries; the message is in there.
    assert "default/cache-1: its emptyDir data is deleted" in json.dumps(result["warnings"])


def test_no_result_key_is_one_ansible_gives_its_own_meaning(capsys, api):
    """Ansible reads these keys of a task result itself; a module's list under "skipped" came back
    from a real run as the boolean True (found on the real cluster)."""
    _, result = run_module(capsys, {"name": "w1-k8s", "ignore_daemonsets": True, "delete_emptydir_data": True}, api)

    assert not {"skipped", "unreachable", "results", "ansible_facts"} & set(result)


def test_second_drain_is_idempotent(capsys, api):
    args = {"name": "w1-k8s", "ignore_daemonsets": True, "delete_emptydir_data": True}
    run_module(capsys, args, api)
    code, result = run_module(capsys, args, api)

    assert code == 0
    assert result["changed"] is False


def test_check_mode_changes_nothing(capsys, api):
    args = {"name": "w1-k8s", "ignore_daemonsets": True, "delete_emptydir_data": True, "_ansible_check_mode": True}
    code, result = run_module(capsys, args, api)

    assert code == 0
    assert result["changed"] is True
    assert sorted(pod["name"] for pod in result["evicted"]) == ["cache-1", "echo-hname-1"]
    assert api.changing_calls == []


def test_failed_drain_names_the_remaining_pods(capsys, api):
    code, result = run_module(capsys, {"name": "w1-k8s", "ignore_daemonsets": True}, api)

    assert code == 1
    assert result["failed"] is True
    assert "cache-1 uses emptyDir" in result["msg"]
    assert result["remaining"] == ["default/echo-hname-1", "default/cache-1"]
    assert api.cordoned()


def test_cordon_and_uncordon(capsys, api):
    assert run_module(capsys, {"name": "w1-k8s", "state": "cordon"}, api)[1]["changed"] is True
    assert api.cordoned()
    assert run_module(capsys, {"name": "w1-k8s", "state": "uncordon"}, api)[1]["changed"] is True
    assert not api.cordoned()
    assert api.calls_to("create_namespaced_pod_eviction") == []


def test_unknown_node_fails_clearly(capsys, api):
    code, result = run_module(capsys, {"name": "w7-k8s"}, api)

    assert code == 1
    assert result["msg"] == "node w7-k8s not found in the cluster"


def test_negative_timeout_fails_before_contacting_the_cluster(capsys):
    def no_cluster(kubeconfig, context):
        raise AssertionError("the cluster must not be contacted")

    code, result = run_module(capsys, {"name": "w1-k8s", "timeout": -5}, api_factory=no_cluster)

    assert code == 1
    assert "timeout must be 0 (no limit) or a positive number of seconds, got -5" in result["msg"]


@pytest.mark.parametrize("name", ["", "  ", "W1_K8S"])
def test_a_bad_node_name_fails_before_contacting_the_cluster(capsys, name):
    def no_cluster(kubeconfig, context):
        raise AssertionError("the cluster must not be contacted")

    code, result = run_module(capsys, {"name": name, "state": "cordon"}, api_factory=no_cluster)

    assert code == 1
    assert result["msg"].startswith("name ")
    assert "node" in result["msg"]


def test_missing_kubeconfig_fails_clearly(capsys, tmp_path):
    missing = tmp_path / "nowhere" / "kubeconfig"

    code, result = run_module(capsys, {"name": "w1-k8s", "kubeconfig": str(missing)}, api_factory=load_api)

    assert code == 1
    assert result["msg"] == f"kubeconfig {missing} not found (set kubeconfig or K8S_AUTH_KUBECONFIG)"


def test_default_kubeconfig_comes_from_the_environment(capsys, tmp_path, monkeypatch):
    missing = tmp_path / "env-kubeconfig"
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(missing))

    code, result = run_module(capsys, {"name": "w1-k8s"}, api_factory=load_api)

    assert code == 1
    assert str(missing) in result["msg"]


def test_unusable_kubeconfig_fails_clearly(capsys, tmp_path):
    broken = tmp_path / "kubeconfig"
    broken.write_text("apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n")

    code, result = run_module(capsys, {"name": "w1-k8s", "kubeconfig": str(broken)}, api_factory=load_api)

    assert code == 1
    assert result["msg"].startswith(f"cannot load kubeconfig {broken}:")


def test_load_api_builds_both_apis_from_a_kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)

    api = load_api(str(path), None)

    assert api.read_node.__self__.api_client.configuration.host == "https://127.0.0.1:6443"
    assert type(api.read_namespaced_daemon_set.__self__).__name__ == "AppsV1Api"
    assert type(api.create_namespaced_pod_eviction.__self__).__name__ == "CoreV1Api"


def test_documentation_matches_the_argument_spec():
    import yaml

    options = yaml.safe_load(kube_drain.DOCUMENTATION)["options"]

    assert options.keys() == kube_drain.ARGUMENT_SPEC.keys()
    for name, spec in kube_drain.ARGUMENT_SPEC.items():
        documented = options[name]
        assert documented["type"] == spec["type"], name
        assert documented.get("default") == spec.get("default"), name
        assert documented.get("choices") == spec.get("choices"), name
        assert documented.get("aliases") == spec.get("aliases"), name
        assert bool(documented.get("required")) == bool(spec.get("required")), name
