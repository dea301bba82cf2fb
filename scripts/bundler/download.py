"""The download source: official release files, each checked against the checksum file its project
publishes beside it, unpacked into the same artifacts the build source makes."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import progress
from .checksums import ChecksumError, upstream_digest
from .recipes import BY_NAME


class DownloadError(RuntimeError):
    """A file could not be fetched, or does not match its published checksum."""


@dataclass(frozen=True)
class Release:
    """One component's release files: per-binary URLs (members None) or one archive to unpack."""

    component: str
    per_binary: bool = False
    # archive member basename -> bundle binary name; None: the file is the binary itself
    members: dict[str, str] | None = None
    renamed: str | None = None


RELEASES = {
    "kubernetes": Release("kubernetes", per_binary=True),
    "etcd": Release("etcd", members={"etcd": "etcd", "etcdctl": "etcdctl", "etcdutl": "etcdutl"}),
    "coredns": Release("coredns", members={"coredns": "coredns"}),
    "containerd": Release("containerd", members={n: n for n in BY_NAME["containerd"].checks}),
    "runc": Release("runc", renamed="runc"),
    "cri_tools": Release("cri_tools", members={"crictl": "crictl"}),
    "cni_plugins": Release("cni_plugins", members={n: n for n in BY_NAME["cni_plugins"].node_binaries}),
}


def check_mirror(mirror: str | None) -> str | None:
    """A mirror must be an https:// URL. The files and the checksums they are checked against come
    from the same mirror: over plain HTTP anyone on the path could replace both."""
    if mirror and not mirror.lower().startswith("https://"):
        raise DownloadError(
            f"--mirror {mirror}: only https:// mirrors are accepted (over http:// anyone on the way could "
            "replace a release file and its checksum together); serve the mirror over HTTPS, with a "
            "certificate this machine trusts (SSL_CERT_FILE for a private CA)"
        )
    return mirror


def mirrored(url: str, mirror: str | None) -> str:
    """With a mirror, https://HOST/PATH becomes MIRROR/HOST/PATH (one tree holds every project's files)."""
    if not check_mirror(mirror):
        return url
    return re.sub(r"^https?://", mirror.rstrip("/") + "/", url)


def fetch(url: str, timeout: float = 600) -> bytes:
    if not url.lower().startswith("https://"):
        raise DownloadError(f"refusing {url}: release files are fetched over https:// only")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - https only, checked above
            # urllib follows redirects, https to http too: such an answer is not used.
            if not response.geturl().lower().startswith("https://"):
                raise DownloadError(f"{url} redirected to {response.geturl()}, not https://; refused")
            return response.read()
    except OSError as error:
        raise DownloadError(f"cannot fetch {url}: {error}") from error


def fetch_verified(url: str, sums_url: str) -> bytes:
    """Fetch url and check it against the digest that sums_url publishes for its file name."""
    filename = url.rsplit("/", 1)[-1]
    try:
        expected = upstream_digest(fetch(sums_url).decode(errors="replace"), filename)
    except ChecksumError as error:
        raise DownloadError(f"{sums_url}: {error}") from error
    data = fetch(url)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise DownloadError(
            f"checksum mismatch for {url}: {sums_url} publishes {expected}, the file has {actual}; "
            "nothing was installed"
        )
    return data


def template(templates: dict[str, str], key: str, version: str, arch: str, name: str = "") -> str:
    return templates[key].format(version=version, bare=version.lstrip("v"), arch=arch, name=name)


def download_component(component: str, version: str, arch: str, templates: dict[str, str],
                       mirror: str | None, out: Path) -> None:
    release = RELEASES[component]
    progress.say(f"{component}: downloading {version}")

    def url(key: str, name: str = "") -> str:
        return mirrored(template(templates, key, version, arch, name), mirror)

    if release.per_binary:
        for binary in BY_NAME[component].checks:
            _write(out / binary, fetch_verified(url(component, binary), url(f"{component}_sha256", binary)))
        return
    data = fetch_verified(url(component), url(f"{component}_sha256"))
    if release.renamed:
        _write(out / release.renamed, data)
        return
    wanted = dict(release.members or {})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                _write(out / wanted.pop(base), tar.extractfile(member).read())
    if wanted:
        raise DownloadError(f"{component} {version}: the release archive lacks {', '.join(sorted(wanted))}")


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o755)
