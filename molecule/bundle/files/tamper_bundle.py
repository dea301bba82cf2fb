#!/usr/bin/env python3
"""Make a tampered copy of an offline bundle, for the bundle scenario's refusal test.

Usage: tamper_bundle.py BUNDLE DEST FILE

DEST gets BUNDLE's manifest.json and SHA256SUMS as copies, every other file SHA256SUMS lists as a
symbolic link to BUNDLE's, and FILE (a path inside the bundle, e.g. bin/runc) as a real copy with
one byte changed, so that FILE no longer matches SHA256SUMS. BUNDLE is only ever read: its files
are hard links into the bundle build cache. DEST appears at once (built beside it, then renamed),
so a DEST with SHA256SUMS in it is complete.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

KEPT = ("manifest.json", "SHA256SUMS")


def listed_files(bundle: Path) -> list[str]:
    return [line.split(None, 1)[1].lstrip("*") for line in (bundle / "SHA256SUMS").read_text().splitlines() if line]


def tamper(bundle: Path, dest: Path, target: str) -> None:
    files = listed_files(bundle)
    if target not in files:
        raise SystemExit(f"{target} is not listed in {bundle}/SHA256SUMS")
    work = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for rel in files:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        if rel == target:
            data = bytearray((bundle / rel).read_bytes())
            data[len(data) // 2] ^= 0xFF
            (work / rel).write_bytes(bytes(data))
            (work / rel).chmod((bundle / rel).stat().st_mode & 0o777)
        elif rel not in KEPT:
            (work / rel).symlink_to((bundle / rel).resolve())
    for name in KEPT:
        shutil.copyfile(bundle / name, work / name)
    shutil.rmtree(dest, ignore_errors=True)
    work.rename(dest)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    tamper(Path(argv[1]).resolve(), Path(argv[2]), argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
