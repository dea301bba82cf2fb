"""health.yml and recover.yml on real failures: a stopped service named in the health table, and
started again by recover.yml. Runs once, after the nodes were restarted and upgraded (ORDER in
conftest.py); it leaves the cluster as it found it."""

from __future__ import annotations

import re

import pytest
from cluster import NODES, node, playbook, recap
from day2 import OTHER


def health_table(output: str) -> dict[str, dict[str, str]]:
    """health.yml's table (columns aligned under their headings): node -> {heading: value}."""
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.strip().startswith("NODE ") and "KUBELET" in line)
    header = lines[top]
    starts = [m.start() for m in re.finditer(r"(?<!\S)\S+(?: \S+)*", header)]
    spans = list(zip(starts, [*starts[1:], None], strict=True))
    headings = [header[a:b].strip() for a, b in spans]
    table = {}
    for line in lines[top + 1:]:
        cells = [line[a:b].strip() for a, b in spans]
        if cells[0] not in NODES:
            break
        table[cells[0]] = dict(zip(headings, cells, strict=True))
    return table


@pytest.mark.parametrize("service", ["kubelet", "containerd"])
def test_health_names_a_stopped_service_and_recover_starts_it(service):
    broken = OTHER
    node(broken).check_output(f"systemctl stop {service}")
    try:
        health = playbook("health.yml", "-e", "health_strict=true")
        assert health.returncode != 0, health.stdout[-3000:]
        assert "Overall: NOT healthy" in health.stdout
        table = health_table(health.stdout)
        assert set(table) == set(NODES), health.stdout[-3000:]
        assert {name: row[service.upper()] for name, row in table.items()} == {
            name: "inactive" if name == broken else "active" for name in NODES}
    finally:
        repaired = playbook("recover.yml")
    assert repaired.returncode == 0, repaired.stdout[-3000:]
    counts = recap(repaired.stdout)
    assert counts[broken]["changed"] > 0, counts
    assert all(counts[name]["changed"] == 0 for name in NODES if name != broken), counts
    assert node(broken).service(service).is_running
    healthy = playbook("health.yml", "-e", "health_strict=true")
    assert healthy.returncode == 0, healthy.stdout[-3000:]
    assert "Overall: healthy" in healthy.stdout
