"""The container images kubeadm runs, and those of the applications the bundle carries (MetalLB, the
monitoring stack),
assembled from the bundle's binaries.

Static binaries go on an empty base with the few files a distroless base carries; kube-proxy needs
iptables, nftables, conntrack and ipset, so its base is a minimal Debian root filesystem, as the
upstream image's is. Names come from `kubeadm config images list`, so they are what kubeadm pulls;
an application's are its upstream names (recipes.App), which its manifest must run.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from .oci import Entry, Image

IMAGE_RECIPE_VERSION = 1  # bump when this file changes what an image holds

_PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
_GROUP = b"root:x:0:\nnogroup:x:65534:\n"


def base_files() -> list[Entry]:
    """What a distroless static base gives a Go binary: users, name resolution order, /tmp."""
    return [
        Entry("etc/passwd", 0o644, data=_PASSWD),
        Entry("etc/group", 0o644, data=_GROUP),
        Entry("etc/nsswitch.conf", 0o644, data=b"hosts: files dns\n"),
        Entry("tmp", 0o1777, directory=True),
    ]


def short_name(reference: str) -> str:
    """registry.k8s.io/coredns/coredns:v1.14.6 -> coredns."""
    return reference.rsplit(":", 1)[0].rsplit("/", 1)[-1]


def image_for(reference: str, binaries: dict[str, Path], kube_proxy_base: Path | None, created: str,
              epoch: int) -> Image:
    """The image kubeadm names reference, from binaries (name -> file)."""
    name = short_name(reference)
    common = {"name": reference, "created": created, "epoch": epoch}

    def local_bin(*names: str) -> list[Entry]:
        return [Entry(f"usr/local/bin/{n}", 0o755, source=binaries[n]) for n in names]

    if name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        return Image(entries=[*base_files(), *local_bin(name)], entrypoint=[f"/usr/local/bin/{name}"], **common)
    if name == "kube-proxy":
        if kube_proxy_base is None:
            raise ValueError("kube-proxy needs its Debian base layer")
        return Image(entries=local_bin("kube-proxy"), base_layer=kube_proxy_base,
                     entrypoint=["/usr/local/bin/kube-proxy"], **common)
    if name == "etcd":
        return Image(entries=[*base_files(), *local_bin("etcd", "etcdctl", "etcdutl"),
                              Entry("var/lib/etcd", 0o700, directory=True)], **common)
    if name == "coredns":
        return Image(entries=[*base_files(), Entry("coredns", 0o755, source=binaries["coredns"])],
                     entrypoint=["/coredns"], **common)
    if name == "pause":
        return Image(entries=[Entry("pause", 0o755, source=binaries["pause"])], entrypoint=["/pause"],
                     user="65535:65535", env=[], **common)
    raise ValueError(f"kubeadm asks for an image the bundle has no recipe for: {reference}")


def archive_name(reference: str, versioned: bool = False) -> str:
    """images/kube-apiserver.tar; versioned: images/kube-apiserver-v1.36.3.tar, for an image only the
    previous Kubernetes release asks for (the current release's keep the names they always had)."""
    tag = f"-{reference.rsplit(':', 1)[1]}" if versioned else ""
    return f"images/{short_name(reference)}{tag}.tar"


def app_image(reference: str, binary: Path, created: str, epoch: int, path: str | None = None) -> Image:
    """An application's image as upstream builds it on a distroless static base: the one binary, at
    path inside the image (/<its name> unless given: App.binary_path), is the entrypoint (MetalLB's
    controller and speaker, Prometheus, node-exporter...)."""
    path = path or binary.name
    directory = str(PurePosixPath(path).parent)
    parents = [Entry(directory, 0o755, directory=True)] if directory != "." else []
    return Image(name=reference, entries=[*base_files(), *parents, Entry(path, 0o755, source=binary)],
                 entrypoint=[f"/{path}"], created=created, epoch=epoch)


def app_short_name(role: str, reference: str) -> str:
    """metallb, quay.io/metallb/controller:v0.15.3 -> metallb-controller: the archive's name, which
    says which role runs the image."""
    return f"{role}-{short_name(reference)}"
