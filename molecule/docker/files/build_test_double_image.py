#!/usr/bin/python3
"""Build the scenario's test-double container image from Debian's busybox-static binary.

No registry is reachable in the tests, so the image is made on the node itself: a one-layer
rootfs holding /bin/busybox (and /bin/sh linked to it), written twice:

* ROOTFS.tar: a plain root filesystem tarball, the input of `docker import`;
* OCI.tar: an OCI image layout archive of the same layer, the input of `ctr images import`.

It is a test double: a stand-in for a real application image, named under
localhost/k8s-lab-test-double/ so that it cannot be mistaken for one.

Usage: build_test_double_image.py BUSYBOX REFERENCE ROOTFS.tar OCI.tar
"""

import hashlib
import io
import json
import platform
import sys
import tarfile

ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


def _add(tar, info, data=None):
    info.mtime = 0
    info.uid = info.gid = 0
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def rootfs_tar(busybox_path):
    with open(busybox_path, "rb") as handle:
        busybox = handle.read()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            _add(tar, info)
        info = tarfile.TarInfo("bin/busybox")
        info.size = len(busybox)
        info.mode = 0o755
        _add(tar, info, busybox)
        info = tarfile.TarInfo("bin/sh")
        info.type = tarfile.SYMTYPE
        info.linkname = "busybox"
        info.mode = 0o777
        _add(tar, info)
    return buf.getvalue()


def _descriptor(media_type, blob):
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(blob).hexdigest(),
        "size": len(blob),
    }


def oci_archive(layer, reference):
    arch = ARCHES.get(platform.machine(), platform.machine())
    layer_desc = _descriptor("application/vnd.oci.image.layer.v1.tar", layer)
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
    ).encode()
    config_desc = _descriptor("application/vnd.oci.image.config.v1+json", config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
    ).encode()
    manifest_desc = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    manifest_desc["annotations"] = {
        "io.containerd.image.name": reference,
        "org.opencontainers.image.ref.name": reference.rsplit(":", 1)[-1],
    }
    manifest_desc["platform"] = {"architecture": arch, "os": "linux"}
    index = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}).encode()

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            _add(tar, info)
        for blob in (layer, config, manifest):
            info = tarfile.TarInfo("blobs/sha256/" + hashlib.sha256(blob).hexdigest())
            info.size = len(blob)
            info.mode = 0o644
            _add(tar, info, blob)
        for name, data in (
            ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
            ("index.json", index),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            _add(tar, info, data)
    return buf.getvalue()


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    busybox, reference, rootfs_path, oci_path = argv[1:]
    layer = rootfs_tar(busybox)
    with open(rootfs_path, "wb") as handle:
        handle.write(layer)
    with open(oci_path, "wb") as handle:
        handle.write(oci_archive(layer, reference))


if __name__ == "__main__":
    main(sys.argv)
