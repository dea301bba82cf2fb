"""scripts/bench_report.py: the figures of `make bench-lab`, read from ansible-playbook's own output."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "scripts"))

import bench_report
from bench_report import PLAYS, Run, changed, load, phases, table, task_times

# As ansible-playbook printed it with profile_tasks (PROFILE_TASKS_TASK_OUTPUT_LIMIT=all).
CONVERGE = """\
TASK [docker : Import the images containerd lacks or has in another version] ***
changed: [m-k8s]

PLAY RECAP *********************************************************************
m-k8s                      : ok=120  changed=61   unreachable=0    failed=0    skipped=30   rescued=0    ignored=0
w1-k8s                     : ok=98   changed=50   unreachable=0    failed=0    skipped=31   rescued=0    ignored=0


TASKS RECAP ********************************************************************
Monday 07 December 2026  11:00:29 +0000 (0:00:00.038)       0:01:21.026 *******
===============================================================================
docker : Import the images containerd lacks or has in another version -- 20.61s
bundle_install : Compute the SHA-256 of the node's files ---------------- 5.40s
demo : A task of a role whose name is long enough to push the padding of the profile line right --- 0.55s
Gathering Facts --------------------------------------------------------- 2.00s
bundle_install : Install the verified files ----------------------------- 4.30s
Install the verified daily etcd snapshots ------------------------------- 1.00s
"""
RERUN = """\
PLAY RECAP *********************************************************************
m-k8s                      : ok=100  changed=0    unreachable=0    failed=0    skipped=40   rescued=0    ignored=0
w1-k8s                     : ok=80   changed=2    unreachable=0    failed=0    skipped=41   rescued=0    ignored=0
"""


def test_every_task_of_the_summary_is_read_long_names_too():
    tasks = dict(task_times(CONVERGE))
    assert tasks["docker : Import the images containerd lacks or has in another version"] == 20.61
    assert tasks["demo : A task of a role whose name is long enough to push the padding of the profile line right"] \
        == 0.55
    assert len(tasks) == 6


def test_phases_sum_by_role_and_put_the_plays_own_tasks_apart():
    found = phases(CONVERGE)
    assert found["bundle_install"] == 9.7
    assert found["docker"] == 20.61
    assert found[PLAYS] == 3.0


def test_changed_is_summed_over_the_hosts_and_unknown_without_a_recap():
    assert changed(RERUN) == 2
    assert changed(CONVERGE) == 111
    assert changed("fatal: [m-k8s]: UNREACHABLE!") is None


def test_a_log_without_a_profile_has_no_phases():
    assert phases(RERUN) == {}


def test_the_table_puts_the_runs_side_by_side(tmp_path):
    for label, converge_s in (("before", "205.3"), ("after", "80.0")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "times.tsv").write_text(f"up\t12.0\nconverge\t{converge_s}\nrerun\t40.5\n")
        (tmp_path / label / "converge.log").write_text(CONVERGE)
        (tmp_path / label / "rerun.log").write_text(RERUN)
    runs = [load(label, tmp_path / label) for label in ("before", "after")]
    text = table(runs)
    assert text.splitlines()[0].split() == ["before", "after"]
    assert "make lab, warm bundle and image" in text
    assert "217.3 s" in text and "92.0 s" in text
    row = next(line for line in text.splitlines() if line.startswith("rerun changed"))
    assert row.split()[-2:] == ["2", "2"]
    assert next(line for line in text.splitlines() if line.strip().startswith("docker")).split()[1:] == \
        ["20.6", "s", "20.6", "s"]


def test_a_run_that_did_not_get_far_shows_dashes(tmp_path):
    text = table([Run("before"), load("after", tmp_path / "missing")])
    assert "nodes up (scripts/lab-podman.py up)" in text
    assert text.splitlines()[1].split()[-2:] == ["-", "-"]


def test_the_command_line_wants_label_equals_dir(capsys):
    assert bench_report.main(["no-label"]) == 2
