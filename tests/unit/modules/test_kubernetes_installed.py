"""The kubernetes_installed module: what it reads on a node, from a fake kubelet and manifests."""

from __future__ import annotations

import json
from unittest.mock import patch

import ansible.module_utils._internal
import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.k8s_lab.lab.plugins.modules import kubernetes_installed

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: {component}
  namespace: kube-system
spec:
  containers:
  - command:
    - {component}
    image: registry.k8s.io/{component}:{release}
    name: {component}
"""


def fake_kubelet(path, printed):
    path.write_text(f"#!/bin/sh\necho '{printed}'\n")
    path.chmod(0o755)
    return str(path)


def run(capsys, args):
    with (
        patch.object(ansible.module_utils._internal, "is_controller", False),
        patch_module_args(args),
        pytest.raises(SystemExit) as exit_info,
    ):
        kubernetes_installed.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_a_control_plane_reports_its_kubelet_and_static_pods(tmp_path, capsys):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for component, release in (("kube-apiserver", "v1.37.2"), ("kube-controller-manager", "v1.37.2"),
                               ("kube-scheduler", "v1.36.3")):
        (manifests / f"{component}.yaml").write_text(MANIFEST.format(component=component, release=release))
    (manifests / "etcd.yaml").write_text(MANIFEST.format(component="etcd", release="3.7.0-0"))
    kubelet = fake_kubelet(tmp_path / "kubelet", "Kubernetes v1.37.2")

    code, result = run(capsys, {"kubelet": kubelet, "manifests_dir": str(manifests)})
    assert code == 0
    assert result["changed"] is False
    assert result["kubelet"] == "v1.37.2"
    assert result["control_plane"] == {
        "kube-apiserver": "v1.37.2", "kube-controller-manager": "v1.37.2", "kube-scheduler": "v1.36.3"}


def test_a_fresh_node_reports_nothing(tmp_path, capsys):
    code, result = run(capsys, {"kubelet": str(tmp_path / "absent"), "manifests_dir": str(tmp_path / "absent-dir")})
    assert code == 0
    assert (result["kubelet"], result["control_plane"]) == ("", {})


def test_a_kubelet_that_fails_or_names_no_release_reports_none(tmp_path):
    failing = tmp_path / "kubelet"
    failing.write_text("#!/bin/sh\necho 'Kubernetes v1.37.2'\nexit 3\n")
    failing.chmod(0o755)

    def run_command(argv):
        assert argv == [str(failing), "--version"]
        return 3, "Kubernetes v1.37.2\n", "broken"

    assert kubernetes_installed.read({"kubelet": str(failing), "manifests_dir": str(tmp_path)}, run_command) == {
        "kubelet": "", "control_plane": {}}
    double = fake_kubelet(tmp_path / "double", "kubelet test double")
    assert kubernetes_installed.read(
        {"kubelet": double, "manifests_dir": str(tmp_path)}, lambda argv: (0, "kubelet test double\n", "")
    )["kubelet"] == ""


def test_an_unreadable_manifest_fails_with_a_message(tmp_path, capsys):
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "kube-apiserver.yaml").write_text(MANIFEST.format(component="kube-apiserver", release="v1.37.2"))
    denied = PermissionError(13, "Permission denied", str(manifests / "kube-apiserver.yaml"))
    # The tests run as root, who reads any file: the refusal a user without become meets, made here.
    with patch.object(kubernetes_installed, "open", side_effect=denied, create=True):
        code, result = run(capsys, {"kubelet": str(tmp_path / "absent"), "manifests_dir": str(manifests)})
    assert code == 1
    assert result["msg"].startswith("cannot read what Kubernetes the node has: [Errno 13] Permission denied")
