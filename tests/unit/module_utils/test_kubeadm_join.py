"""kubeadm_join: argument validation, the already-joined decision, the command and its masking."""

import base64
import json
import os
from pathlib import Path

import pytest
from fixtures.ca import make_ca

from ansible_collections.k8s_lab.lab.plugins.module_utils import kubeadm_join as logic
from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import ca_cert_hash
from ansible_collections.k8s_lab.lab.plugins.modules import kubeadm_join as module

# A made-up token of the documented form, not a credential.
TOKEN = "abcdef.0123456789abcdef"
SECRET = "0123456789abcdef"
ENDPOINT = "192.168.1.10:6443"


CA_PEM = make_ca()
PIN = ca_cert_hash(CA_PEM)
OTHER_PIN = ca_cert_hash(make_ca())


def kubelet_conf(server=f"https://{ENDPOINT}", ca_pem=CA_PEM):
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {base64.b64encode(ca_pem).decode()}\n"
        f"    server: {server}\n  name: default-cluster\nkind: Config\n"
    ).encode()


def params(**overrides):
    base = {
        "api_server_endpoint": ENDPOINT,
        "token": TOKEN,
        "ca_cert_hashes": [PIN],
        "node_name": "w1-k8s",
        "node_ip": "192.168.1.101",
        "cri_socket": "unix:///run/containerd/containerd.sock",
        "extra_args": [],
        "timeout": 300,
        "kubeadm_path": "/usr/bin/kubeadm",
        "kubelet_kubeconfig": "/etc/kubernetes/kubelet.conf",
    }
    base.update(overrides)
    return base


class Files:
    """read_file double: a dict of path -> bytes."""

    def __init__(self, files=None):
        self.files = files or {}

    def __call__(self, path):
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]


class Runner:
    """Records the command and the configuration file as kubeadm would see them."""

    def __init__(self, rc=0, stdout="This node has joined the cluster", stderr=""):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.calls = []

    def __call__(self, cmd, timeout):
        path = cmd[3]
        self.calls.append({
            "cmd": list(cmd),
            "timeout": timeout,
            "mode": os.stat(path).st_mode & 0o777,
            "config": json.loads(Path(path).read_text(encoding="utf-8")),
            "path": path,
        })
        return self.rc, self.stdout, self.stderr


# --- argument validation: one case per bad input ---------------------------------------------

BAD_INPUTS = [
    ("api_server_endpoint", "192.168.1.10", "host:port"),
    ("api_server_endpoint", "https://192.168.1.10:6443", "host:port"),
    ("api_server_endpoint", "192.168.1.10:0", "port must be 1-65535"),
    ("api_server_endpoint", "192.168.1.10:70000", "port must be 1-65535"),
    ("api_server_endpoint", "300.1.1.1:6443", "invalid IPv4"),
    ("api_server_endpoint", "[fe80::zz]:6443", "host:port"),
    ("api_server_endpoint", "bad_host!:6443", "invalid host name"),
    ("token", "abcdef0123456789abcdef", "token must match"),
    ("token", "ABCDEF.0123456789abcdef", "token must match"),
    ("token", "abcdef.0123456789abcde", "token must match"),
    ("token", "", "token must match"),
    ("ca_cert_hashes", [], "at least one CA pin"),
    ("ca_cert_hashes", ["sha256:" + "0" * 63], "ca_cert_hashes items"),
    ("ca_cert_hashes", ["md5:" + "0" * 64], "ca_cert_hashes items"),
    ("ca_cert_hashes", ["sha256:" + "A" * 64], "ca_cert_hashes items"),
    ("node_name", "W1_k8s", "node_name"),
    ("node_ip", "192.168.1.300", "node_ip"),
    ("cri_socket", "/run/containerd/containerd.sock", "cri_socket"),
    ("extra_args", ["--discovery-token-unsafe-skip-ca-verification"], "must not contain"),
    ("extra_args", ["--token=x"], "cannot be combined"),
    ("extra_args", ["-v=5"], "--flag or --flag=value"),
    ("timeout", 5, "timeout must be"),
    ("timeout", 100000, "timeout must be"),
    ("timeout", True, "timeout must be"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_INPUTS, ids=[f"{k}={v!r}" for k, v, _ in BAD_INPUTS])
def test_each_bad_input_is_reported(key, value, message):
    errors = logic.validate_params(params(**{key: value}))
    assert len(errors) == 1
    assert message in errors[0]


def test_valid_arguments_pass():
    assert logic.validate_params(params()) == []
    assert logic.validate_params(params(api_server_endpoint="[fd00::1]:6443")) == []
    assert logic.validate_params(params(api_server_endpoint="m-k8s.lab:6443")) == []
    assert logic.validate_params(params(extra_args=["--v=5", "--skip-phases=preflight",
                                                    "--ignore-preflight-errors=Swap"])) == []
    assert logic.validate_params(params(node_name=None, node_ip=None)) == []


def test_invalid_token_message_does_not_show_the_token():
    bad = params(token="abcdef.0123456789ABCDEF")
    failed, result = logic.execute(bad, runner=Runner(), read_file=Files())
    assert failed
    assert "0123456789ABCDEF" not in json.dumps(result)


def test_argument_spec_hides_the_token():
    assert logic.ARGUMENT_SPEC["token"]["no_log"] is True
    assert module.DOCUMENTATION and module.EXAMPLES and module.RETURN


# --- the already-joined decision ---------------------------------------------------------------

def test_fresh_node_joins():
    runner = Runner()
    failed, result = logic.execute(params(), runner=runner, read_file=Files())
    assert not failed
    assert result["changed"] is True
    assert result["state"] == "joined"
    assert result["rc"] == 0
    assert len(runner.calls) == 1


def test_joined_node_of_this_cluster_is_left_alone():
    runner = Runner()
    files = Files({"/etc/kubernetes/kubelet.conf": kubelet_conf()})
    failed, result = logic.execute(params(), runner=runner, read_file=files)
    assert not failed
    assert result["changed"] is False
    assert result["state"] == "joined"
    assert result["cluster"] == {"server": f"https://{ENDPOINT}", "ca_cert_hash": PIN}
    # Ansible takes any rc other than 0 for a failure: none is returned when kubeadm did not run.
    assert "rc" not in result
    assert runner.calls == []


def test_joined_node_with_ca_file_reference_is_recognised():
    conf = f"clusters:\n- cluster:\n    certificate-authority: /etc/kubernetes/pki/ca.crt\n    server: https://{ENDPOINT}\n"
    files = Files({"/etc/kubernetes/kubelet.conf": conf.encode(), "/etc/kubernetes/pki/ca.crt": CA_PEM})
    failed, result = logic.execute(params(), runner=Runner(), read_file=files)
    assert not failed and result["changed"] is False


def test_node_of_another_ca_is_refused():
    runner = Runner()
    files = Files({"/etc/kubernetes/kubelet.conf": kubelet_conf()})
    failed, result = logic.execute(params(ca_cert_hashes=[OTHER_PIN]), runner=runner, read_file=files)
    assert failed
    assert result["state"] == "member_of_other_cluster"
    assert PIN in result["msg"] and OTHER_PIN in result["msg"]
    assert "kubeadm reset" in result["msg"]
    assert runner.calls == []


def test_node_of_another_endpoint_is_refused():
    files = Files({"/etc/kubernetes/kubelet.conf": kubelet_conf(server="https://10.0.0.1:6443")})
    failed, result = logic.execute(params(), runner=Runner(), read_file=files)
    assert failed
    assert "https://10.0.0.1:6443" in result["msg"]
    assert f"https://{ENDPOINT}" in result["msg"]


def test_unreadable_kubelet_conf_is_refused():
    files = Files({"/etc/kubernetes/kubelet.conf": b"apiVersion: v1\nkind: Config\n"})
    failed, result = logic.execute(params(), runner=Runner(), read_file=files)
    assert failed
    assert "names no certificate authority" in result["msg"]
    assert "names no API server" in result["msg"]


def test_endpoint_of_defaults_to_443_and_brackets_ipv6():
    assert logic.endpoint_of("https://m-k8s") == "m-k8s:443"
    assert logic.endpoint_of("https://[fd00::1]:6443") == "[fd00::1]:6443"


def test_check_mode_reports_change_without_running():
    runner = Runner()
    failed, result = logic.execute(params(), check_mode=True, runner=runner, read_file=Files())
    assert not failed
    assert result["changed"] is True and result["state"] == "would_join"
    assert "rc" not in result
    assert runner.calls == []


def test_check_mode_on_joined_node_reports_no_change():
    files = Files({"/etc/kubernetes/kubelet.conf": kubelet_conf()})
    failed, result = logic.execute(params(), check_mode=True, runner=Runner(), read_file=files)
    assert not failed and result["changed"] is False


# --- command construction and masking ---------------------------------------------------------

def test_join_configuration_and_command():
    runner = Runner()
    logic.execute(params(extra_args=["--v=5"], timeout=120), runner=runner, read_file=Files())
    call = runner.calls[0]
    assert call["cmd"][:3] == ["/usr/bin/kubeadm", "join", "--config"]
    assert call["cmd"][4:] == ["--v=5"]
    assert call["mode"] == 0o600
    # Discovery and TLS bootstrap each get the timeout, one after the other.
    assert call["timeout"] == 2 * 120 + logic.PROCESS_GRACE_SECONDS
    assert call["config"] == {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {"apiServerEndpoint": ENDPOINT, "token": TOKEN, "caCertHashes": [PIN]},
            "tlsBootstrapToken": TOKEN,
        },
        "nodeRegistration": {
            "name": "w1-k8s",
            "criSocket": "unix:///run/containerd/containerd.sock",
            "kubeletExtraArgs": [{"name": "node-ip", "value": "192.168.1.101"}],
        },
        "timeouts": {"discovery": "120s", "tlsBootstrap": "120s"},
    }
    assert "unsafeSkipCAVerification" not in json.dumps(call["config"])
    assert not any("unsafe" in part for part in call["cmd"])


def test_configuration_file_is_removed_after_the_join():
    runner = Runner()
    logic.execute(params(), runner=runner, read_file=Files())
    assert not os.path.exists(runner.calls[0]["path"])
    assert not os.path.exists(os.path.dirname(runner.calls[0]["path"]))


def test_node_name_and_ip_are_optional():
    config = logic.build_join_configuration(params(node_name=None, node_ip=None))
    assert config["nodeRegistration"] == {"criSocket": "unix:///run/containerd/containerd.sock"}


def test_token_is_masked_in_every_returned_field():
    leaky = Runner(stdout=f"used {TOKEN}", stderr=f"secret {SECRET} leaked")
    _, result = logic.execute(params(), runner=leaky, read_file=Files())
    dumped = json.dumps(result)
    assert TOKEN not in dumped and SECRET not in dumped
    assert result["stdout"] == f"used {logic.MASK}"
    assert result["stderr"] == f"secret {logic.MASK} leaked"
    assert result["join_configuration"]["discovery"]["bootstrapToken"]["token"] == logic.MASK


def test_token_is_masked_on_failure():
    failed, result = logic.execute(params(), runner=Runner(rc=1, stderr=f"bad token {TOKEN}"), read_file=Files())
    assert failed
    assert result["rc"] == 1 and result["state"] == "failed"
    assert TOKEN not in json.dumps(result)


def test_timeout_is_reported():
    failed, result = logic.execute(params(), runner=Runner(rc=None), read_file=Files())
    assert failed
    assert result["state"] == "timed_out"
    assert "rc" not in result
    assert "did not finish" in result["msg"]


def test_duration_comes_from_the_clock():
    ticks = iter([10.0, 12.5])
    _, result = logic.execute(params(), runner=Runner(), read_file=Files(), clock=lambda: next(ticks))
    assert result["duration"] == 2.5


def test_subprocess_runner_reports_timeout():
    rc, _, _ = logic.subprocess_runner(["sleep", "5"], timeout=1)
    assert rc is None
    rc, out, _ = logic.subprocess_runner(["echo", "hi"], timeout=5)
    assert (rc, out) == (0, "hi\n")


def test_mask_handles_nested_structures():
    data = {"a": [TOKEN, ("x", SECRET)], "b": 3, "c": None}
    assert logic.mask(data, logic.token_secrets(TOKEN)) == {"a": [logic.MASK, ("x", logic.MASK)], "b": 3, "c": None}


# --- a join that failed half-way -------------------------------------------------------------

class Sequence:
    """Runner double for several commands: answers in order, records each."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def __call__(self, cmd, timeout):
        self.calls.append((list(cmd), timeout))
        return self.answers.pop(0)


def _half_joined(path):
    return path in ("/etc/kubernetes/bootstrap-kubelet.conf", "/etc/kubernetes/pki/ca.crt")


def test_a_half_joined_node_is_reset_before_the_join():
    runner = Sequence((0, "", ""), (0, "This node has joined the cluster", ""))
    failed, result = logic.execute(params(), runner=runner, read_file=Files(), exists=_half_joined)
    assert not failed and result["changed"]
    assert runner.calls[0][0] == ["/usr/bin/kubeadm", "reset", "--force"]
    assert runner.calls[1][0][:2] == ["/usr/bin/kubeadm", "join"]
    assert result["reset"] == ["/etc/kubernetes/bootstrap-kubelet.conf", "/etc/kubernetes/pki/ca.crt"]
    assert "after resetting a half-joined node" in result["msg"]


def test_a_failed_reset_stops_before_the_join():
    runner = Sequence((1, "", "unmount failed\n"))
    failed, result = logic.execute(params(), runner=runner, read_file=Files(), exists=_half_joined)
    assert failed and len(runner.calls) == 1
    assert "kubeadm reset failed: unmount failed" in result["msg"]


def test_check_mode_says_it_would_reset_and_runs_nothing():
    runner = Sequence()
    failed, result = logic.execute(params(), check_mode=True, runner=runner, read_file=Files(), exists=_half_joined)
    assert not failed and result["changed"] and runner.calls == []
    assert result["msg"].startswith("would reset the half-joined node")


def test_a_clean_node_is_not_reset():
    runner = Runner()
    logic.execute(params(), runner=runner, read_file=Files(), exists=lambda path: False)
    assert len(runner.calls) == 1


def test_a_failed_join_says_why():
    stderr = ("[preflight] Running pre-flight checks\n"
              "error: cluster CA found in cluster-info is invalid: none of the public keys are pinned\n"
              "To see the stack trace of this error execute with --v=5 or higher\n")
    failed, result = logic.execute(params(), runner=Runner(rc=1, stderr=stderr), read_file=Files(),
                                   exists=lambda path: False)
    assert failed
    assert result["msg"].endswith("none of the public keys are pinned")
