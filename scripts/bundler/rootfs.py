"""The Debian root filesystem under kube-proxy's image, as one uncompressed, normalised layer."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from . import progress

SUITE = "bookworm"
# What kube-proxy execs in iptables and nftables mode; kmod for its modprobe calls.
PACKAGES = ("iptables", "nftables", "conntrack", "ipset", "kmod", "iproute2")
# Nothing at run time reads these; they only make the image bigger.
PRUNE = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
         "usr/share/locale", "var/log", "dev", "proc", "sys", "run", "tmp")


def debian_mirror(repo: Path) -> str:
    result = subprocess.run([str(repo / "scripts/debian-mirror.sh")], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise progress.StepFailed(f"kube-proxy base: {result.stderr.strip()}")
    return result.stdout.strip()


def require_debootstrap() -> None:
    if shutil.which("debootstrap") is None:
        raise progress.StepFailed("kube-proxy base: debootstrap is not installed (apt-get install debootstrap)")


def build_layer(repo: Path, cache: Path, dest: Path, epoch: int) -> None:
    require_debootstrap()
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        root = Path(tmp) / "rootfs"
        # Made beside the compiles (build.py) but needed only when the images are written after them:
        # the lowest CPU priority keeps it off the compiles' critical path.
        argv = ["nice", "-n", "19", "debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
                str(root), debian_mirror(repo)]
        progress.run("kube-proxy base", f"debootstrap {SUITE} with {', '.join(PACKAGES)}", argv,
                     cache / "logs" / "kube-proxy-base.log")
        for rel in PRUNE:
            target = root / rel
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(mode=0o1777 if rel == "tmp" else 0o755, parents=True, exist_ok=True)

        def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.mtime = epoch
            info.uname = info.gname = ""
            return info

        with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in _walk(root):
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=normalise)


def _walk(root: Path) -> list[Path]:
    """Every path under root, sorted, without following symlinks (/bin -> usr/bin stays a link)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        found.extend(Path(dirpath) / n for n in dirnames + filenames)
    return sorted(found)
