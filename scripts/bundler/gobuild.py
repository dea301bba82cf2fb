"""One `go build` per component (all its commands at once, so shared packages compile once),
then each binary's version checked against the pin."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from . import progress
from .gomodule import check_pinned, go_env
from .recipes import GoComponent


def build_component(component: GoComponent, version: str, date: str, wrapper_dir: Path,
                    cache: Path, out: Path) -> None:
    check_pinned(component, version, wrapper_dir)
    argv = ["go", "build", "-trimpath", "-o", f"{out}/"]
    if component.tags:
        argv += ["-tags", ",".join(component.tags)]
    ldflags = component.ldflags(version, date)
    if ldflags:
        argv += ["-ldflags", " ".join(ldflags)]
    argv += list(component.packages)
    progress.run(component.name, f"go build of {len(component.packages)} command(s) at {version}", argv,
                 cache / "logs" / f"{component.name}.log", cwd=wrapper_dir, env=go_env(cache, cgo=component.cgo))
    for built, wanted in component.renames.items():
        (out / built).rename(out / wanted)
    check_versions(component, version, out)


def check_versions(component: GoComponent, version: str, bindir: Path, only: set[str] | None = None) -> None:
    """Every checked binary (or those in only) must print its pinned version; raise naming the first that
    does not."""
    for binary, check in component.checks.items():
        if only is not None and binary not in only:
            continue
        path = bindir / binary
        if not path.is_file():
            raise progress.StepFailed(f"{component.name}: {binary} was not built")
        result = subprocess.run([str(path), *check.argv], capture_output=True, text=True, timeout=60,
                                env=dict(check.env) or None, check=False)
        text = result.stdout + result.stderr
        wanted = check.expect(version)
        if wanted not in text:
            raise progress.StepFailed(
                f"{component.name}: `{binary} {' '.join(check.argv)}` does not report {wanted!r}:\n{text.strip()}"
            )


def build_pause(source: Path, version: str, cache: Path, out: Path) -> None:
    """pause from the C source that the Kubernetes module ships, static, as upstream builds it."""
    if shutil.which("gcc") is None:
        raise progress.StepFailed("pause: gcc is not installed (apt-get install gcc libc6-dev)")
    argv = ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{version}",
            "-o", str(out / "pause"), str(source / "build/pause/linux/pause.c")]
    progress.run("pause", f"gcc -static pause.c at {version}", argv, cache / "logs" / "pause.log")
    result = subprocess.run([str(out / "pause"), "-v"], capture_output=True, text=True, timeout=10, check=False)
    if f"pause.c v{version}" not in result.stdout + result.stderr:
        raise progress.StepFailed(f"pause: `pause -v` does not report v{version}: {result.stdout}{result.stderr}")
