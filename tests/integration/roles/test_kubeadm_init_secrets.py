"""kubeadm init's secrets stay out of the log, and its failures still say why: kubeadm_master's
tasks/kubeadm-init.yml run by real Ansible on localhost, with a stand-in for kubeadm that prints a
bootstrap token and a certificate key the way kubeadm init does."""

from __future__ import annotations

import yaml
from fixtures.role_tasks import ROOT, run_role_tasks

TOKEN = "abcdef.0123456789abcdef"
CERT_KEY = "f" * 64
FINAL = "Fail with the error of kubeadm init"
REPORT = "Report the failed kubeadm init"


def stand_in(tmp_path, fail_times: int) -> list[str]:
    """argv of a kubeadm init that prints its join command and fails the first fail_times runs."""
    counter = tmp_path / "runs"
    script = f"""
n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}
echo "kubeadm join 192.168.1.10:6443 --token {TOKEN} --certificate-key {CERT_KEY}"
if [ $n -le {fail_times} ]; then
  echo "[init] Using Kubernetes version: v1.37.2" >&2
  echo "error execution phase upload-certs: key {CERT_KEY} for token {TOKEN} rejected (run $n)" >&2
  echo "To see the stack trace of this error execute with --v=5 or higher" >&2
  exit 1
fi
"""
    return ["sh", "-c", script]


def init(tmp_path, fail_times):
    return run_role_tasks(tmp_path, "kubeadm_master", "kubeadm-init.yml",
                          __kubeadm_master_init_argv=stand_in(tmp_path, fail_times),
                          __kubeadm_master_reset_argv=["true"], kubeadm_master_init_timeout=60)


def assert_no_secret(output):
    assert TOKEN not in output
    assert CERT_KEY not in output


def test_a_successful_init_logs_no_secret(tmp_path):
    run = init(tmp_path, fail_times=0)
    assert run.code == 0, run.output
    assert REPORT not in run.results
    assert_no_secret(run.output)


def test_a_failed_first_init_is_reported_without_its_secrets_and_retried(tmp_path):
    run = init(tmp_path, fail_times=1)
    assert run.code == 0, run.output
    report = run.results[REPORT]["msg"]
    assert "error execution phase upload-certs: key <withheld> for token <withheld> rejected (run 1)" in report
    assert "stack trace" not in report
    assert_no_secret(run.output)


def test_a_second_failure_stops_with_kubeadms_error_and_no_secret(tmp_path):
    run = init(tmp_path, fail_times=2)
    assert run.code != 0
    # Both runs failed (and were rescued), their output hidden; the last task says why.
    assert list(run.failed) == ["Run kubeadm init", "Run kubeadm init again", FINAL], run.output
    assert "censored" in run.results["Run kubeadm init again"]
    assert "rejected (run 2)" in run.failed[FINAL]
    assert "<withheld>" in run.failed[FINAL]
    assert_no_secret(run.output)


def test_the_role_runs_kubeadm_init_with_skip_token_print():
    variables = yaml.safe_load((ROOT / "roles" / "kubeadm_master" / "vars" / "main.yml").read_text())
    argv = variables["__kubeadm_master_init_argv"]
    assert "'kubeadm', 'init'" in argv and "'--skip-token-print'" in argv
