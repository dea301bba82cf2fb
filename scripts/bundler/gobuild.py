"""One `go build` per component (all its commands at once, so shared packages compile once),
then each binary's version checked against the pin."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import progress
from .gomodule import check_pinned, go_env, module_source
from .recipes import GoComponent


def overlay_texts(component: GoComponent, source: Path) -> dict[str, str]:
    """Path inside the module -> the text compiled instead of the module's (component.overlays)."""
    try:
        return {path: transform((source / path).read_text()) for path, transform in sorted(component.overlays.items())}
    except (OSError, ValueError) as error:
        raise progress.StepFailed(f"{component.name}: overlay of {source}: {error}") from error


def write_overlays(component: GoComponent, version: str, wrapper_dir: Path, cache: Path, work: Path) -> list[str]:
    """The go build arguments that compile component.overlays' texts instead of the module's files.

    Why not just -overlay: the go command refuses to overlay any file beneath GOMODCACHE ("Files
    beneath GOMODCACHE must not be replaced"), and the module cache must stay as downloaded. So the
    module is copied, unchanged, into work; a go.mod beside the wrapper's (-modfile, with the wrapper's
    go.sum) replaces the module with that copy, and the overlay JSON maps the copy's files to the texts
    written in work/overlay. The wrapper is not touched; with -trimpath, the binary names the module at
    its version, never work."""
    source = module_source(component.module, component.module_version(version), cache)
    texts = overlay_texts(component, source)
    copy = work / "module"
    shutil.copytree(source, copy)
    # The module cache's files are read-only; the copy must be removable.
    for path in (copy, *copy.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)
    replace = {}
    for path, text in texts.items():
        written = work / "overlay" / path
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_text(text)
        replace[str(copy / path)] = str(written)
    (work / "overlay.json").write_text(json.dumps({"Replace": replace}, indent=1, sort_keys=True))
    go_mod = (wrapper_dir / "go.mod").read_text()
    (work / "build.mod").write_text(f"{go_mod.rstrip()}\n\nreplace {component.module} => {copy}\n")
    shutil.copyfile(wrapper_dir / "go.sum", work / "build.sum")
    return ["-modfile", str(work / "build.mod"), "-overlay", str(work / "overlay.json")]


def build_component(component: GoComponent, version: str, date: str, wrapper_dir: Path,
                    cache: Path, out: Path, label: str | None = None) -> None:
    """label: what the progress lines and the log are named after (default: the component's name;
    previous-kubernetes for the previous release's, whose build must not share the current's log)."""
    label = label or component.name
    check_pinned(component, version, wrapper_dir)
    if component.overlays:
        (cache / "overlays").mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"{label}-", dir=cache / "overlays") as work:
            _go_build(component, version, date, wrapper_dir, cache, out,
                      write_overlays(component, version, wrapper_dir, cache, Path(work)), label)
    else:
        _go_build(component, version, date, wrapper_dir, cache, out, [], label)
    for built, wanted in component.renames.items():
        (out / built).rename(out / wanted)
    check_versions(component, version, out)


def _go_build(component: GoComponent, version: str, date: str, wrapper_dir: Path, cache: Path, out: Path,
              overlay_args: list[str], label: str) -> None:
    argv = ["go", "build", "-trimpath", *overlay_args, "-o", f"{out}/"]
    if component.tags:
        argv += ["-tags", ",".join(component.tags)]
    ldflags = component.ldflags(version, date)
    if ldflags:
        argv += ["-ldflags", " ".join(ldflags)]
    argv += list(component.packages)
    overlaid = f", overlaid: {', '.join(sorted(component.overlays))}" if component.overlays else ""
    progress.run(label, f"go build of {len(component.packages)} command(s) at {version}{overlaid}", argv,
                 cache / "logs" / f"{label}.log", cwd=wrapper_dir, env=go_env(cache, cgo=component.cgo))


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


def build_pause(source: Path, version: str, cache: Path, out: Path, label: str = "pause") -> None:
    """pause from the C source that the Kubernetes module ships, static, as upstream builds it."""
    if shutil.which("gcc") is None:
        raise progress.StepFailed("pause: gcc is not installed (apt-get install gcc libc6-dev)")
    argv = ["gcc", "-Os", "-Wall", "-Werror", "-static", f"-DVERSION=v{version}",
            "-o", str(out / "pause"), str(source / "build/pause/linux/pause.c")]
    progress.run(label, f"gcc -static pause.c at {version}", argv, cache / "logs" / f"{label}.log")
    result = subprocess.run([str(out / "pause"), "-v"], capture_output=True, text=True, timeout=10, check=False)
    if f"pause.c v{version}" not in result.stdout + result.stderr:
        raise progress.StepFailed(f"pause: `pause -v` does not report v{version}: {result.stdout}{result.stderr}")
