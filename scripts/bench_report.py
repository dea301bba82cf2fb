#!/usr/bin/env python3
"""The table of scripts/bench-lab.sh: runs of `make lab` (nodes up, then site.yml) side by side.

    scripts/bench_report.py LABEL=DIR [LABEL=DIR ...]

Each DIR holds what bench-lab.sh wrote for one run: times.tsv (step, seconds: up, converge, rerun),
converge.log and rerun.log (ansible-playbook's output with the ansible.posix.profile_tasks summary
of every task, PROFILE_TASKS_TASK_OUTPUT_LIMIT=all). Prints the wall times, the rerun's changed
count, and the converge's time per phase: the profile's task times summed by role (a task of
bundle_install counts for bundle_install, whichever role included it; tasks of the plays themselves,
fact gathering included, for "(plays)").
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# "role : task name ------------ 12.34s", as profile_tasks prints its summary (the name is padded
# with dashes to the terminal's width; a long one is not cut).
TASK_LINE = re.compile(r"^(?P<name>.*\S)\s-*\s(?P<seconds>\d+\.\d{2})s$")
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>ok=.*)$")
PLAYS = "(plays)"


@dataclass
class Run:
    label: str
    times: dict[str, float] = field(default_factory=dict)
    converge: str = ""
    rerun: str = ""


def task_times(log: str) -> list[tuple[str, float]]:
    """(task name, seconds) of the profile_tasks summary that ends log."""
    if "TASKS RECAP" not in log:
        return []
    found = []
    for line in log.rsplit("TASKS RECAP", 1)[1].splitlines():
        match = TASK_LINE.match(line.strip())
        if match:
            found.append((match["name"], float(match["seconds"])))
    return found


def phases(log: str) -> dict[str, float]:
    """Seconds per role ("role : task" names), the plays' own tasks under PLAYS."""
    totals: dict[str, float] = {}
    for name, seconds in task_times(log):
        role = name.split(" : ", 1)[0] if " : " in name else PLAYS
        totals[role] = totals.get(role, 0.0) + seconds
    return totals


def recap(log: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP: host -> {ok, changed, failed, ...}."""
    hosts = {}
    for line in log.rsplit("PLAY RECAP", 1)[-1].splitlines():
        match = RECAP_LINE.match(line.strip())
        if match:
            hosts[match["host"]] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match["counts"])}
    return hosts


def changed(log: str) -> int | None:
    """changed= summed over the hosts, None without a recap (the run did not finish)."""
    hosts = recap(log)
    return sum(counts.get("changed", 0) for counts in hosts.values()) if hosts else None


def load(label: str, directory: Path) -> Run:
    run = Run(label)
    times = directory / "times.tsv"
    if times.exists():
        for line in times.read_text().splitlines():
            if "\t" in line:
                step, seconds = line.split("\t", 1)
                run.times[step] = float(seconds)
    for name in ("converge", "rerun"):
        log = directory / f"{name}.log"
        setattr(run, name, log.read_text(errors="replace") if log.exists() else "")
    return run


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def table(runs: list[Run]) -> str:
    width = 44
    column = max(18, *(len(run.label) + 2 for run in runs))
    lines = [f"{'':<{width}}" + "".join(f"{run.label:>{column}}" for run in runs)]

    def row(title: str, values: list[str]) -> None:
        lines.append(f"{title:<{width}}" + "".join(f"{value:>{column}}" for value in values))

    def total(run: Run) -> float | None:
        if "up" in run.times and "converge" in run.times:
            return run.times["up"] + run.times["converge"]
        return None

    row("nodes up (scripts/lab-podman.py up)", [seconds(run.times.get("up")) for run in runs])
    row("site.yml, to every node Ready", [seconds(run.times.get("converge")) for run in runs])
    row("make lab, warm bundle and image", [seconds(total(run)) for run in runs])
    row("site.yml rerun", [seconds(run.times.get("rerun")) for run in runs])
    row("rerun changed (all nodes; target 0)",
        ["-" if changed(run.rerun) is None else str(changed(run.rerun)) for run in runs])
    for title, logs in (("site.yml by phase (profile_tasks, summed by role):", [run.converge for run in runs]),
                        ("rerun by phase:", [run.rerun for run in runs])):
        lines.append("")
        lines.append(title)
        by_run = [phases(log) for log in logs]
        # The costliest phase first, by its largest time in any run.
        roles = sorted({role for found in by_run for role in found},
                       key=lambda role: -max(found.get(role, 0.0) for found in by_run))
        for role in roles:
            row(f"  {role}", [seconds(found.get(role)) for found in by_run])
    return "\n".join(lines)


def slowest(run: Run, count: int = 10) -> str:
    tasks = sorted(task_times(run.converge), key=lambda item: -item[1])[:count]
    return "\n".join([f"Slowest tasks of site.yml, {run.label}:"]
                     + [f"  {secs:7.1f} s  {name}" for name, secs in tasks])


def main(argv: list[str]) -> int:
    if not argv or any("=" not in arg for arg in argv):
        print(__doc__, file=sys.stderr)
        return 2
    runs = [load(label, Path(directory)) for label, directory in (arg.split("=", 1) for arg in argv)]
    print(table(runs))
    for run in runs:
        print()
        print(slowest(run))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
