"""SHA256SUMS files: written over a whole bundle, verified before anything is installed from it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SUMS_FILE = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class ChecksumError(ValueError):
    """A file does not match its recorded checksum, or is missing, or is not recorded."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(root: Path) -> list[str]:
    """Every regular file under root except the sums file itself, as sorted relative paths."""
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.name != SUMS_FILE
    )


def write_sums(root: Path, known: dict[str, str] | None = None) -> dict[str, str]:
    """Write root/SHA256SUMS; known maps relative paths to digests already computed."""
    known = known or {}
    sums = {rel: known.get(rel) or sha256_file(root / rel) for rel in bundle_files(root)}
    (root / SUMS_FILE).write_text("".join(f"{digest}  {rel}\n" for rel, digest in sums.items()))
    return sums


def parse_sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            raise ChecksumError(f"{SUMS_FILE} line {number} is not '<sha256>  <path>': {line!r}")
        digest, rel = match.groups()
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ChecksumError(f"{SUMS_FILE} line {number} names a path outside the bundle: {rel}")
        sums[rel] = digest
    return sums


def verify_tree(root: Path) -> dict[str, str]:
    """Check every file under root against root/SHA256SUMS; raise ChecksumError naming each problem."""
    sums_path = root / SUMS_FILE
    if not sums_path.is_file():
        raise ChecksumError(f"{sums_path} is missing: not a bundle, or an incomplete copy")
    sums = parse_sums(sums_path.read_text())
    problems = []
    present = set(bundle_files(root))
    for rel in sorted(set(sums) - present):
        problems.append(f"missing: {rel}")
    for rel in sorted(present - set(sums)):
        problems.append(f"not in {SUMS_FILE}: {rel}")
    for rel in sorted(present & set(sums)):
        actual = sha256_file(root / rel)
        if actual != sums[rel]:
            problems.append(f"checksum mismatch: {rel} (expected {sums[rel]}, got {actual})")
    if problems:
        raise ChecksumError(f"bundle {root} failed verification:\n  " + "\n  ".join(problems))
    return sums


def sums_digest(root: Path) -> str:
    """The SHA-256 of root/SHA256SUMS itself. SHA256SUMS vouches for every other file, but a copy
    of the bundle can carry a rewritten one: only this digest, kept apart from the bundle (the nodes'
    bundle_install_sums_sha256), tells the bundle that was built from one changed since."""
    return sha256_file(root / SUMS_FILE)


def pin_line(root: Path) -> str:
    digest = sums_digest(root)
    return (f"{root / SUMS_FILE} has sha256 {digest}; to have the nodes refuse any other, set "
            f"bundle_install_sums_sha256: {digest} (inventory/group_vars/all.yml)")


def upstream_digest(text: str, filename: str) -> str:
    """The digest for filename in a checksum file as projects publish them: a bare digest, or
    'digest  name' lines (sha256sum's format, with or without a '*' or a leading directory)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if len(lines) == 1 and len(lines[0]) == 1 and re.fullmatch(r"[0-9a-fA-F]{64}", lines[0][0]):
        return lines[0][0].lower()
    for fields in lines:
        if len(fields) >= 2 and re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
            name = fields[-1].lstrip("*")
            if name == filename or name.rsplit("/", 1)[-1] == filename:
                return fields[0].lower()
    raise ChecksumError(f"the published checksum file has no entry for {filename}")
