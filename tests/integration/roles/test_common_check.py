"""The common role's read-only check (tasks/check.yml, which health and recover include), run by real
Ansible on this machine: a kernel module whose marker path is missing is reported in
common_check.modules_missing, one whose path exists is not. The same task file (modules-active.yml)
decides which modules kernel.yml loads."""

from __future__ import annotations

from fixtures.role_tasks import run_role_tasks


def test_only_the_modules_whose_marker_is_missing_are_reported(tmp_path):
    (tmp_path / "present").mkdir()
    modules = [
        {"name": "loaded_one", "active_when_exists": str(tmp_path / "present")},
        {"name": "missing_one", "active_when_exists": str(tmp_path / "absent")},
        {"name": "missing_two", "active_when_exists": str(tmp_path / "absent-too")},
    ]
    done = run_role_tasks(tmp_path, "common", "check", common_kernel_modules=modules)
    assert done.code == 0 and not done.failed, done.output[-3000:]
    check = done.results["Sum up what differs"]["ansible_facts"]["common_check"]
    assert check["modules_missing"] == ["missing_one", "missing_two"]


def test_every_module_active_reports_none(tmp_path):
    (tmp_path / "present").mkdir()
    modules = [{"name": "loaded_one", "active_when_exists": str(tmp_path / "present")}]
    done = run_role_tasks(tmp_path, "common", "check", common_kernel_modules=modules)
    assert done.code == 0 and not done.failed, done.output[-3000:]
    assert done.results["Sum up what differs"]["ansible_facts"]["common_check"]["modules_missing"] == []
