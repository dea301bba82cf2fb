"""Install files that lie verified on a node (bundle_install's kept copies, or the bundle a podman node
has mounted) where they belong, in one module run instead of a copy task per file.

A file is installed when its installed copy is missing or has other content than SHA256SUMS says;
one whose content is right but whose mode or owner are not only gets those set. Each copy is hashed
as it is written and must have the digest it was verified with, so that what is installed is what
was checked, even when the source changed in between (a bundle rebuilt during the play). The copy is
written beside its destination and renamed over it: a running program keeps its old file until it
restarts. Runs on the node's own Python (3.9 on EL 9)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass

ARGUMENT_SPEC = {
    "src_dir": {"type": "path", "required": True},
    "files": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "src": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "mode": {"type": "raw", "default": "0755"},
        },
    },
    "sha256": {"type": "dict", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
}

CHUNK = 1 << 20
# Directories made for a destination (e.g. /opt/cni/bin): readable and searchable by all, as the
# system's own.
DIRECTORY_MODE = 0o755


class InstallError(Exception):
    """A file cannot be installed; the message names it and why."""


@dataclass(frozen=True)
class Wanted:
    src: str  # path inside src_dir (the path in the bundle)
    dest: str  # absolute path on the node
    mode: int
    sha256: str


def parse_mode(value) -> int:
    """A mode as "0755", "755" or 0o755 (YAML's 0755 arrives as the number 493)."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and value.strip() and set(value.strip()) <= set("01234567"):
        mode = int(value.strip(), 8)
    else:
        raise InstallError(f"mode {value!r} is not an octal mode such as \"0755\"")
    if not 0 <= mode <= 0o7777:
        raise InstallError(f"mode {value!r} is out of range")
    return mode


def wanted_files(files: list[dict], sha256: dict[str, str]) -> list[Wanted]:
    """The files to install with the digests they were verified with; every one must have one."""
    wanted = []
    for item in files:
        if not os.path.isabs(item["dest"]):
            raise InstallError(f"{item['src']}: dest {item['dest']!r} is not an absolute path")
        if item["src"] not in sha256:
            raise InstallError(f"{item['src']}: no verified sha256 for it")
        wanted.append(Wanted(item["src"], item["dest"], parse_mode(item.get("mode", "0755")),
                             str(sha256[item["src"]]).lower()))
    return wanted


def sha256_of(path: str) -> str | None:
    """The file's sha256, None when there is no file."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def plan(wanted: list[Wanted], uid: int, gid: int) -> tuple[list[Wanted], list[Wanted]]:
    """(to copy: missing or other content, to fix: right content but other mode or owner)."""
    copy, fix = [], []
    for item in wanted:
        if sha256_of(item.dest) != item.sha256:
            copy.append(item)
            continue
        status = os.stat(item.dest)
        if (status.st_mode & 0o7777, status.st_uid, status.st_gid) != (item.mode, uid, gid):
            fix.append(item)
    return copy, fix


def make_parents(path: str) -> list[str]:
    """Create the missing directories above path (existing ones keep their owner and mode)."""
    missing = []
    parent = os.path.dirname(path)
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    for directory in reversed(missing):
        os.mkdir(directory)
        os.chmod(directory, DIRECTORY_MODE)
    return list(reversed(missing))


def copy_verified(item: Wanted, src_dir: str, uid: int, gid: int, move) -> None:
    """Copy src_dir/item.src to item.dest through a file beside it, hashing what is written; refuse
    the copy (the destination untouched) unless it has the verified digest. move(tmp, dest) renames
    it into place (AnsibleModule.atomic_move on a node: it keeps SELinux contexts right)."""
    source = os.path.join(src_dir, item.src)
    directory = os.path.dirname(item.dest)
    handle, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(item.dest)}.")
    try:
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as reader, os.fdopen(handle, "wb") as writer:
                for chunk in iter(lambda: reader.read(CHUNK), b""):
                    digest.update(chunk)
                    writer.write(chunk)
                writer.flush()
                os.fsync(writer.fileno())
        except FileNotFoundError as exc:
            raise InstallError(f"{item.dest}: its source {source} is gone") from exc
        if digest.hexdigest() != item.sha256:
            raise InstallError(f"{item.dest}: its source {source} has sha256 {digest.hexdigest()}, not "
                               f"{item.sha256} as verified (it changed since the check): not installed")
        move(tmp, item.dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    set_attributes(item, uid, gid)


def set_attributes(item: Wanted, uid: int, gid: int) -> None:
    os.chown(item.dest, uid, gid)
    os.chmod(item.dest, item.mode)


def install(wanted: list[Wanted], src_dir: str, uid: int, gid: int, move, check_mode: bool = False) -> dict:
    """Install what differs; the result names what was (or, in check mode, would be) installed and
    what only had its mode or owner set."""
    copy, fix = plan(wanted, uid, gid)
    created: list[str] = []
    if not check_mode:
        for item in copy:
            created += make_parents(item.dest)
            copy_verified(item, src_dir, uid, gid, move)
        for item in fix:
            set_attributes(item, uid, gid)
    return {
        "changed": bool(copy or fix),
        "installed": [item.dest for item in copy],
        "attributes_set": [item.dest for item in fix],
        "directories_created": created,
    }
