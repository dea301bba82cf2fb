"""The bundle_install role's gate, decided in one place: which of the bundle's files a node holds
with other content than the bundle's SHA256SUMS says, from what sha256sum printed on the node.
For the filters sha256sum_map and bundle_differences."""

from __future__ import annotations

# What a file the node lacks counts as (sha256sum printed nothing for it).
NO_FILE = "no file"


def sha256sum_map(lines) -> dict[str, str]:
    """sha256sum's output lines ("<sha256>  <path>", binary mode "<sha256> *<path>") as path ->
    sha256. Lines of another shape (sha256sum names a missing file on standard error, not here)
    are refused rather than skipped."""
    hashes = {}
    for line in lines or []:
        digest, sep, path = str(line).partition(" ")
        if not sep or len(digest) != 64 or not path[1:] or path[0] not in " *":
            raise ValueError(f"sha256sum_map: not a sha256sum line: {line!r}")
        hashes[path[1:]] = digest
    return hashes


def differences(paths, root: str, sums: dict[str, str], hashes: dict[str, str]) -> list[list[str]]:
    """[path, sha256 on the node] for each of the bundle's paths whose file under root on the node
    (hashes: node path -> sha256) is not what sums (the bundle's SHA256SUMS) says; NO_FILE where the
    node has none. In the order of paths."""
    found = []
    for path in paths or []:
        got = hashes.get(f"{root}/{path}", NO_FILE)
        if got != sums.get(path):
            found.append([path, got])
    return found
