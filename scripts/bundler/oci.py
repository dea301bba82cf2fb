"""OCI image archives written without a container engine, byte-for-byte reproducible.

An archive is a tar of an OCI image layout (oci-layout, index.json, blobs/sha256/...). Its index
names the image in the annotation containerd's importer reads (io.containerd.image.name), so
`ctr -n k8s.io images import FILE` lists it under the exact name kubeadm asks for.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
CONTAINERD_NAME = "io.containerd.image.name"
OCI_REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of a layer. source is a host file to copy; data is inline."""

    path: str
    mode: int = 0o755
    source: Path | None = None
    data: bytes | None = None
    directory: bool = False
    link: str | None = None
    uid: int = 0
    gid: int = 0


@dataclass
class Image:
    name: str
    entries: list[Entry] = field(default_factory=list)
    base_layer: Path | None = None  # a prepared, uncompressed layer tar laid below the entries
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=lambda: [f"PATH={DEFAULT_PATH}"])
    user: str = ""
    workdir: str = "/"
    arch: str = "amd64"
    created: str = "1970-01-01T00:00:00Z"
    epoch: int = 0


def _parents(path: str) -> list[str]:
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def layer_tar(entries: list[Entry], epoch: int) -> bytes:
    """An uncompressed layer: the entries plus their parent directories, sorted, owned by root unless
    an entry says otherwise, every mtime at epoch."""
    members: dict[str, Entry] = {}
    for entry in entries:
        for parent in _parents(entry.path):
            members.setdefault(parent, Entry(parent, 0o755, directory=True))
        members[entry.path.strip("/")] = entry
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            entry = members[name]
            info = tarfile.TarInfo(name)
            info.mtime = epoch
            info.mode = entry.mode
            info.uid, info.gid = entry.uid, entry.gid
            if entry.directory:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.link is not None:
                info.type = tarfile.SYMTYPE
                info.linkname = entry.link
                tar.addfile(info)
            else:
                data = entry.data if entry.data is not None else entry.source.read_bytes()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return out.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_archive(image: Image, dest: Path) -> str:
    """Write image as an OCI archive at dest; return the manifest digest."""
    layers = []
    if image.base_layer is not None:
        layers.append(image.base_layer.read_bytes())
    if image.entries:
        layers.append(layer_tar(image.entries, image.epoch))
    blobs: dict[str, bytes] = {}
    layer_descs, diff_ids = [], []
    for raw in layers:
        packed = _gzip(raw)
        blobs[_digest(packed)] = packed
        layer_descs.append({"mediaType": OCI_LAYER_GZIP, "digest": _digest(packed), "size": len(packed)})
        diff_ids.append(_digest(raw))
    config: dict[str, object] = {"Env": image.env, "WorkingDir": image.workdir}
    if image.entrypoint:
        config["Entrypoint"] = image.entrypoint
    if image.cmd:
        config["Cmd"] = image.cmd
    if image.user:
        config["User"] = image.user
    config_blob = _json({
        "architecture": image.arch,
        "os": "linux",
        "created": image.created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": image.created, "created_by": "k8s-lab scripts/bundle.py"}],
    })
    blobs[_digest(config_blob)] = config_blob
    manifest = _json({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": _digest(config_blob), "size": len(config_blob)},
        "layers": layer_descs,
    })
    blobs[_digest(manifest)] = manifest
    tag = image.name.rsplit(":", 1)[1]
    index = _json({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": _digest(manifest),
            "size": len(manifest),
            "platform": {"architecture": image.arch, "os": "linux"},
            "annotations": {CONTAINERD_NAME: image.name, OCI_REF_NAME: tag},
        }],
    })
    files = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": index}
    files.update({f"blobs/sha256/{d.split(':', 1)[1]}": blob for d, blob in blobs.items()})
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ["blobs", "blobs/sha256"]:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, image.epoch
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, image.epoch
            tar.addfile(info, io.BytesIO(files[name]))
    tmp.replace(dest)
    return _digest(manifest)


def manifest_digest(path: Path) -> str:
    """The digest of the image manifest an archive's index points at (what `ctr images ls` shows)."""
    with tarfile.open(path) as tar:
        return json.load(tar.extractfile("index.json"))["manifests"][0]["digest"]


def read_archive(path: Path) -> dict[str, object]:
    """The name, config and file list of an archive written by write_archive (for tests and checks)."""
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
        desc = index["manifests"][0]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{desc['digest'].split(':', 1)[1]}"))
        config = json.load(tar.extractfile(f"blobs/sha256/{manifest['config']['digest'].split(':', 1)[1]}"))
        files: list[str] = []
        for layer in manifest["layers"]:
            blob = tar.extractfile(f"blobs/sha256/{layer['digest'].split(':', 1)[1]}").read()
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as layer_tar_file:
                files.extend(m.name for m in layer_tar_file.getmembers())
    return {"name": desc["annotations"][CONTAINERD_NAME], "config": config, "files": files}


def extract_file(path: Path, member: str) -> bytes:
    """One file's bytes from the top-most layer of an archive that has it."""
    with tarfile.open(path) as tar:
        index = json.load(tar.extractfile("index.json"))
        digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = json.load(tar.extractfile(f"blobs/sha256/{digest}"))
        for layer in reversed(manifest["layers"]):
            blob = tar.extractfile(f"blobs/sha256/{layer['digest'].split(':', 1)[1]}").read()
            with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as layer_file:
                try:
                    return layer_file.extractfile(member.strip("/")).read()
                except KeyError:
                    continue
    raise KeyError(f"{member} is in no layer of {path}")
