"""Progress lines for steps that take minutes, and per-step logs kept for failures."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class StepFailed(RuntimeError):
    """A build step failed; the message names the component and the log."""


def say(message: str) -> None:
    print(f"[bundle] {message}", file=sys.stderr, flush=True)


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run(
    component: str,
    what: str,
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    heartbeat: float = 60.0,
) -> None:
    """Run argv with its output in log; print a line a minute while it runs; raise StepFailed on error."""
    log.parent.mkdir(parents=True, exist_ok=True)
    say(f"{component}: {what} (log: {log})")
    start = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while not done.wait(heartbeat):
            say(f"{component}: still {what}, {elapsed(time.monotonic() - start)}")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        with log.open("ab") as out:
            out.write(f"$ {' '.join(argv)}\n".encode())
            out.flush()
            rc = subprocess.call(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                                 stdout=out, stderr=subprocess.STDOUT)
    finally:
        done.set()
    if rc != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise StepFailed(
            f"{component}: {what} failed (exit {rc}) after {elapsed(time.monotonic() - start)}; "
            f"full log: {log}\n" + "\n".join(tail)
        )
    say(f"{component}: {what} done in {elapsed(time.monotonic() - start)}")
