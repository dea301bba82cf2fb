"""Finished build outputs, cached by a key of everything that went into them.

A directory cache/artifacts/<name>-<key>/ holds a component's binaries and sums.json (their
digests, so assembling a bundle never re-reads them). It is complete only once sums.json exists:
an interrupted build leaves no sums.json and is redone.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from .checksums import sha256_file


def key(*parts: object) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def lookup(cache: Path, name: str, cache_key: str) -> tuple[Path, dict[str, str]] | None:
    """(directory, {file: sha256}) for name at cache_key when it is complete in the cache, else None."""
    final = cache / "artifacts" / f"{name}-{cache_key}"
    sums_file = final / "sums.json"
    if sums_file.is_file():
        return final, json.loads(sums_file.read_text())
    return None


def cached(cache: Path, name: str, cache_key: str, make: Callable[[Path], None]) -> tuple[Path, dict[str, str]]:
    """Return (directory, {file: sha256}) for name at cache_key, calling make(tmpdir) to fill it once."""
    found = lookup(cache, name, cache_key)
    if found is not None:
        return found
    final = cache / "artifacts" / f"{name}-{cache_key}"
    work = final.with_name(final.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    make(work)
    sums = {p.name: sha256_file(p) for p in sorted(work.iterdir()) if p.is_file()}
    (work / "sums.json").write_text(json.dumps(sums, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    # Older keys of the same component are what a changed pin leaves behind.
    for stale in final.parent.glob(f"{name}-*"):
        if stale != final and not stale.name.endswith(".tmp"):
            shutil.rmtree(stale, ignore_errors=True)
    return final, sums


def tree_size(path: Path) -> int:
    """Bytes in the files under path (0 when it does not exist)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def drop_go_build_cache(cache: Path) -> int:
    """Remove the go command's build cache (cache/gocache); return the bytes it held.

    Two Kubernetes releases compile into about 13 GB there, which only a build of a changed pin
    would reuse: every finished output is in cache/artifacts, keyed by its version. A full disk
    stops a lab's nodes later, so the cache goes once the bundle is assembled. The module cache
    (cache/gomod) stays: warm builds read release dates and manifests from it without the proxy."""
    gocache = cache / "gocache"
    if not gocache.is_dir():
        return 0
    size = tree_size(gocache)
    shutil.rmtree(gocache)
    return size
