"""The recover role reads the expiry of Calico's CNI token without logging the token: its
tasks/calico-token.yml run by real Ansible on localhost against a kubeconfig written here."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from fixtures.role_tasks import run_role_tasks

READ = "Read Calico's CNI kubeconfig"
CHECK = "Check that Calico's CNI kubeconfig was read, or is absent"
DECIDE = "Decide whether Calico's token has expired"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(exp: int) -> str:
    return ".".join([b64url(b'{"alg":"RS256"}'), b64url(json.dumps({"exp": exp}).encode()), b64url(b"s" * 40)])


def run(tmp_path, path):
    return run_role_tasks(tmp_path, "recover", "calico-token.yml", recover_calico_kubeconfig=str(path))


@pytest.mark.parametrize(("exp", "expired"), [(4102444800, False), (1000, True)])
def test_the_expiry_is_read_and_the_token_never_logged(tmp_path, exp, expired):
    token = jwt(exp)
    kubeconfig = tmp_path / "calico-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config",
                                          "users": [{"name": "calico", "user": {"token": token}}]}))
    result = run(tmp_path, kubeconfig)
    assert result.code == 0, result.output
    assert result.results[DECIDE]["ansible_facts"]["__recover_calico_expired"] is expired
    assert "censored" in result.results[READ]
    for part in token.split("."):
        assert part not in result.output
    assert base64.b64encode(kubeconfig.read_bytes()).decode()[:40] not in result.output


def test_a_lab_without_calico_is_no_error(tmp_path):
    result = run(tmp_path, tmp_path / "absent")
    assert result.code == 0, result.output
    assert result.results[DECIDE]["ansible_facts"]["__recover_calico_expired"] is False


def test_a_kubeconfig_that_cannot_be_read_is_reported_with_slurps_message(tmp_path):
    result = run(tmp_path, tmp_path)  # a directory
    assert result.code != 0
    assert list(result.failed) == [CHECK], result.output
    assert result.failed[CHECK].startswith(f"recover: cannot read {tmp_path}: ")
    assert "directory" in result.failed[CHECK]
