"""The day-2 checks (test_day2.py) drain nodes, stop services and roll workloads: they run once, in
the verify that follows side_effect.yml (every node container restarted), so that they start from
the lab as a laptop reboot leaves it and the first verify sees the cluster exactly as site.yml
built it. side_effect.yml leaves a mark in Molecule's ephemeral directory; create.yml removes it.
Molecule names every test file on pytest's command line, which collect_ignore does not filter, so
the first verify deselects them here (pytest reports them as deselected, never as skipped)."""

import os
from pathlib import Path

RESTARTED = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "nodes-restarted"
DAY2 = "test_day2.py"


def pytest_collection_modifyitems(config, items):
    if RESTARTED.exists():
        return
    later = [item for item in items if item.path.name == DAY2]
    if later:
        items[:] = [item for item in items if item.path.name != DAY2]
        config.hook.pytest_deselected(items=later)
