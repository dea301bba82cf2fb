"""Assemble the bundle: every component built (or downloaded) once into the cache, then hard-linked
into one directory with manifest.json and SHA256SUMS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from . import artifacts, download, gobuild, images, oci, progress, rootfs
from .checksums import SUMS_FILE, sha256_file, write_sums
from .gomodule import go_env, module_source, pinned_version
from .recipes import APP_COMPONENTS, APPS, BY_NAME, GO_COMPONENTS, KUBERNETES, App, GoComponent, components_for
from .versions import Versions, etcd_module_version, load

MANIFEST = "manifest.json"
BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class Context:
    repo: Path
    cache: Path
    versions: Versions
    source: str  # "build" or "download"
    mirror: str | None = None

    def wrapper(self, component: GoComponent) -> Path:
        return self.repo / "bundle" / "go" / component.name


@dataclass(frozen=True)
class BuiltApp:
    """An application's part of the bundle: its images (name -> archive, sha256) and its manifest, if any."""

    app: App
    version: str
    images: dict[str, tuple[Path, str]]
    manifest: tuple[Path, str] | None


def _go_version() -> str:
    return subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def release_date(ctx: Context) -> str:
    """The Kubernetes module's publication time: a fixed date, so images made from the same binaries
    are byte-identical, whichever source the binaries came from."""
    info = subprocess.run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{ctx.versions.kubernetes}"],
                          env={**os.environ, "GOMODCACHE": str(ctx.cache / "gomod"), "GOWORK": "off"},
                          capture_output=True, text=True, check=True)
    return json.loads(Path(json.loads(info.stdout)["Info"]).read_text())["Time"]


def component_artifact(ctx: Context, component: GoComponent, version: str, date: str) -> tuple[Path, dict[str, str]]:
    name, key = component_key(ctx, component, version, date)
    if ctx.source == "download":
        return artifacts.cached(ctx.cache, name, key, lambda tmp: _download(ctx, component, version, tmp))
    return artifacts.cached(
        ctx.cache, name, key,
        lambda tmp: gobuild.build_component(component, version, date, ctx.wrapper(component), ctx.cache, tmp),
    )


def component_key(ctx: Context, component: GoComponent, version: str, date: str) -> tuple[str, str]:
    """The cache name and key of component's built (or downloaded) binaries."""
    if ctx.source == "download":
        return f"dl-{component.name}", artifacts.key("download", component.name, version, ctx.versions.download,
                                                      ctx.mirror)
    wrapper = ctx.wrapper(component)
    parts = [
        "build", component.name, version, component.packages, component.tags, component.cgo,
        component.ldflags(version, date), (wrapper / "go.mod").read_text(), (wrapper / "go.sum").read_text(),
        _go_version(),
    ]
    if component.overlays:  # only then, so that the other components' keys stay as they were
        parts.append(_overlays(ctx, component, version))
    return component.name, artifacts.key(*parts)


def _overlays(ctx: Context, component: GoComponent, version: str) -> dict[str, str]:
    """The overlaid texts themselves, so that a changed transform rebuilds."""
    source = module_source(component.module, component.module_version(version), ctx.cache)
    return gobuild.overlay_texts(component, source)


def _download(ctx: Context, component: GoComponent, version: str, tmp: Path) -> None:
    download.download_component(component.name, version, ctx.versions.arch, ctx.versions.download, ctx.mirror, tmp)
    gobuild.check_versions(component, version, tmp)


def _prefetch_modules(ctx: Context, components: list[GoComponent]) -> None:
    """Download the other components' source modules while Kubernetes compiles: the downloads wait
    on the network, the compile on the CPU. Only a head start: a module that fails here is fetched
    again, and its error reported, by the component's own build."""
    log = ctx.cache / "logs" / "prefetch.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def fetch() -> None:
        with log.open("ab") as out:
            for component in components:
                out.write(f"$ go mod download  # {component.name}\n".encode())
                out.flush()
                subprocess.call(["go", "mod", "download"], cwd=ctx.wrapper(component),
                                env=go_env(ctx.cache, cgo=component.cgo), stdout=out, stderr=subprocess.STDOUT)

    progress.say(f"downloading the source modules of {len(components)} more components alongside (log: {log})")
    threading.Thread(target=fetch, daemon=True).start()


def kubeadm_images(kubeadm: Path, version: str) -> list[str]:
    """What kubeadm itself will pull for this version (no network: the version is given)."""
    result = subprocess.run([str(kubeadm), "config", "images", "list", "--kubernetes-version", version],
                            capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise progress.StepFailed(f"kubeadm config images list failed: {result.stderr.strip()}")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def tag_of(references: list[str], short: str) -> str:
    for ref in references:
        if images.short_name(ref) == short:
            return ref.rsplit(":", 1)[1]
    raise progress.StepFailed(f"kubeadm config images list names no {short} image: {references}")


def build_bundle(repo: Path, out: Path, cache: Path, source: str = "build", mirror: str | None = None,
                 apps: str = "all") -> dict:
    """apps: "all" builds every application's images too; "built" takes only those already in the
    cache (`make lab`: the container-node lab runs none, and their builds cost minutes)."""
    start = time.monotonic()
    download.check_mirror(mirror)
    versions = load(repo / "bundle" / "versions.yml", repo / "inventory" / "topology.yml", repo / "roles")
    cache.mkdir(parents=True, exist_ok=True)
    ctx = Context(repo=repo, cache=cache, versions=versions, source=source, mirror=mirror)
    date = release_date(ctx)
    epoch = int(datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp())
    progress.say(f"source: {source}; cache: {cache}; Kubernetes {versions.kubernetes}")
    # kube-proxy's Debian base (debootstrap) waits on the mirror and the disk, the compiles on the CPU:
    # it is made beside them, from the start (half a minute saved on a cold first run). A missing
    # debootstrap is said now, not when the thread's result is read after the compiles.
    base_key = artifacts.key("rootfs", rootfs.SUITE, rootfs.PACKAGES, rootfs.PRUNE, epoch)
    if artifacts.lookup(cache, "kube-proxy-base", base_key) is None:
        rootfs.require_debootstrap()
    base_pool = ThreadPoolExecutor(max_workers=1)
    base_layer = base_pool.submit(artifacts.cached, cache, "kube-proxy-base", base_key,
                                  lambda tmp: rootfs.build_layer(repo, cache, tmp / "layer.tar", epoch))
    base_pool.shutdown(wait=False)

    # Worth it only when Kubernetes, the long compile, is to be built.
    kubernetes_key = component_key(ctx, KUBERNETES, versions.kubernetes, date)
    if source == "build" and artifacts.lookup(cache, *kubernetes_key) is None:
        _prefetch_modules(ctx, [c for c in GO_COMPONENTS if c is not KUBERNETES
                                and (apps == "all" or c.name not in APP_COMPONENTS)])
    built: dict[str, tuple[Path, dict[str, str], str]] = {}
    kube_dir, kube_sums = component_artifact(ctx, KUBERNETES, versions.kubernetes, date)
    built["kubernetes"] = (kube_dir, kube_sums, versions.kubernetes)
    references = kubeadm_images(kube_dir / "kubeadm", versions.kubernetes)
    derived = {"etcd": etcd_module_version(tag_of(references, "etcd")), "coredns": tag_of(references, "coredns")}
    pause_version = tag_of(references, "pause")

    for component in GO_COMPONENTS:
        if component not in components_for(source):
            progress.say(f"{component.name}: left out, its images are built from source only (with internet, "
                         "the nodes pull them)")
            continue
        if component.name in built:
            continue
        version = versions.pins.get(component.name) or derived[component.name]
        if apps == "built" and component.name in APP_COMPONENTS \
                and artifacts.lookup(cache, *component_key(ctx, component, version, date)) is None:
            progress.say(f"{component.name}: left out, not built yet and the lab runs no application "
                         "(make bundle builds it)")
            continue
        if source == "build" and component.name in derived:
            pinned = pinned_version(component, ctx.wrapper(component))
            if pinned != version:
                raise progress.StepFailed(
                    f"kubeadm {versions.kubernetes} asks for {component.name} {version}, but bundle/go/"
                    f"{component.name} pins {pinned}: run scripts/bundle.py pin"
                )
        path, sums = component_artifact(ctx, component, version, date)
        built[component.name] = (path, sums, version)

    pause_dir, pause_sums = _pause(ctx, pause_version)
    built["pause"] = (pause_dir, pause_sums, pause_version)

    binaries = {name: (path / name, sums[name]) for path, sums, _ in built.values() for name in sums}
    base_dir, base_sums = base_layer.result()
    image_files = {}
    for ref in references:
        image_files[ref] = _image(ctx, ref, binaries, base_dir / "layer.tar", base_sums["layer.tar"], date, epoch)
    apps = [_app(ctx, app, built, date, epoch) for app in APPS if app.component.name in built]

    manifest = _assemble(ctx, out, built, image_files, references, apps, date)
    progress.say(f"bundle ready in {out} ({progress.elapsed(time.monotonic() - start)})")
    return manifest


def _pause(ctx: Context, version: str) -> tuple[Path, dict[str, str]]:
    # Both sources take pause.c from the pinned Kubernetes module (checksummed by the Go sum database).
    source = module_source("k8s.io/kubernetes", ctx.versions.kubernetes, ctx.cache)
    pause_c = source / "build/pause/linux/pause.c"
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[:1]
    key = artifacts.key("pause", version, sha256_file(pause_c), gcc)
    return artifacts.cached(ctx.cache, "pause", key, lambda tmp: gobuild.build_pause(source, version, ctx.cache, tmp))


def _image(ctx: Context, ref: str, binaries: dict[str, tuple[Path, str]], base: Path, base_sum: str,
           date: str, epoch: int) -> tuple[Path, str]:
    image = images.image_for(ref, {n: p for n, (p, _) in binaries.items()}, base, date, epoch)
    return _cached_image(ctx, image, images.short_name(ref), binaries, base_sum, date)


def _cached_image(ctx: Context, image: oci.Image, short: str, binaries: dict[str, tuple[Path, str]],
                  base_sum: str | None, date: str) -> tuple[Path, str]:
    """image's archive, written once per key (what goes into it: its binaries by digest)."""
    digests = {n: d for n, (_, d) in binaries.items()}
    inputs = sorted((e.path, e.mode, e.directory, e.link, digests.get(e.source.name) if e.source else
                     (e.data or b"").hex()) for e in image.entries)
    uses_base = image.base_layer is not None
    key = artifacts.key("image", images.IMAGE_RECIPE_VERSION, image.name, inputs, base_sum if uses_base else None,
                        image.entrypoint, image.env, image.user, date)
    path, sums = artifacts.cached(
        ctx.cache, f"image-{short}", key,
        lambda tmp: _write_image(image, tmp / f"{short}.tar"),
    )
    return path / f"{short}.tar", sums[f"{short}.tar"]


def _app(ctx: Context, app: App, built: dict, date: str, epoch: int) -> BuiltApp:
    """app's images from its built binaries, and its manifest (if it has one), checked to run exactly
    those images."""
    path, sums, version = built[app.component.name]
    references = app.references(version)
    app_images = {}
    for binary, ref in references.items():
        image = images.app_image(ref, path / binary, date, epoch, app.binary_path(binary))
        app_images[ref] = _cached_image(ctx, image, images.app_short_name(app.role, ref),
                                        {binary: (path / binary, sums[binary])}, None, date)
    if app.manifest is None:
        return BuiltApp(app, version, app_images, None)
    source = module_source(app.component.module, app.component.module_version(version), ctx.cache) / app.manifest
    name = Path(app.manifest).name
    key = artifacts.key("manifest", app.component.module, version, app.manifest, sha256_file(source),
                        sorted(references.values()))
    manifest_dir, manifest_sums = artifacts.cached(
        ctx.cache, f"manifest-{app.component.name}", key,
        lambda tmp: _copy_manifest(app, source, set(references.values()), tmp / name),
    )
    return BuiltApp(app, version, app_images, (manifest_dir / name, manifest_sums[name]))


def manifest_images(text: str) -> set[str]:
    """Every image a multi-document Kubernetes manifest names (the value of any "image" key)."""
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image" and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for document in yaml.safe_load_all(text):
        walk(document)
    return found


def check_manifest_images(app: App, text: str, built: set[str]) -> None:
    """The manifest must run exactly the images the bundle holds for it: any other would be pulled."""
    named = manifest_images(text)
    if named != built:
        raise progress.StepFailed(
            f"{app.component.name}: {app.manifest} runs {sorted(named)}, but the bundle builds "
            f"{sorted(built)}: not built here {sorted(named - built)}, not run by the manifest {sorted(built - named)}"
        )


def _copy_manifest(app: App, source: Path, built: set[str], dest: Path) -> None:
    # Byte for byte: the release's file, whose checksum the role that applies it knows.
    data = source.read_bytes()
    check_manifest_images(app, data.decode(), built)
    dest.write_bytes(data)


def _write_image(image: oci.Image, dest: Path) -> None:
    started = time.monotonic()
    oci.write_archive(image, dest)
    progress.say(f"image {image.name}: written in {progress.elapsed(time.monotonic() - started)}")


def _assemble(ctx: Context, out: Path, built: dict, image_files: dict, references: list[str],
              apps: list[BuiltApp], date: str) -> dict:
    work = out.with_name(out.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    known: dict[str, str] = {}
    files: dict[str, dict[str, str]] = {}

    def place(src: Path, rel: str, digest: str, component: str, version: str) -> None:
        dest = work / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dest)
        except OSError:
            shutil.copy2(src, dest)
        known[rel] = digest
        files[rel] = {"component": component, "version": version}

    for name, (path, sums, version) in built.items():
        recipe = BY_NAME.get(name)
        if recipe is None:
            continue
        for binary in recipe.node_binaries:
            place(path / binary, f"{recipe.node_dir}/{binary}", sums[binary], name, version)
    image_list = []
    for ref in references:
        path, digest = image_files[ref]
        rel = images.archive_name(ref)
        place(path, rel, digest, images.short_name(ref), ref.rsplit(":", 1)[1])
        image_list.append({"name": ref, "file": rel, "digest": oci.manifest_digest(path), "used_by": "kubeadm"})
    # An application's images and manifest, after kubeadm's: "used_by" (the role that runs them) tells
    # them apart.
    for app in apps:
        name = app.app.component.name
        for ref, (path, digest) in app.images.items():
            rel = f"images/{path.name}"
            place(path, rel, digest, name, app.version)
            image_list.append({"name": ref, "file": rel, "digest": oci.manifest_digest(path), "used_by": app.app.role})
        if app.manifest is not None:
            path, digest = app.manifest
            place(path, f"manifests/{path.name}", digest, name, app.version)

    manifest = {
        "format": BUNDLE_FORMAT,
        "arch": ctx.versions.arch,
        "source": ctx.source,
        "built_from": "Go module proxy" if ctx.source == "build" else "official release files",
        "date": date,
        "kubernetes_version": ctx.versions.kubernetes,
        "components": {
            name: {"version": version, **({"module": BY_NAME[name].module} if name in BY_NAME else
                                          {"source": "k8s.io/kubernetes build/pause/linux/pause.c"})}
            for name, (_, _, version) in built.items()
        },
        "images": image_list,
        "files": files,
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    write_sums(work, known)
    replace_contents(out, work)
    return manifest


def replace_contents(out: Path, work: Path) -> None:
    """out takes what work holds, and work is gone. out stays the same directory (the same inode):
    podman nodes bind-mount it (scripts/lab-podman.py), and a mount of a directory renamed away
    would go on showing the old one, deleted, after every `make bundle`. SHA256SUMS leaves first and
    comes back last, so that a reader in between finds no bundle (the roles refuse a directory
    without SHA256SUMS) or one whose files do not match it (refused before anything is installed),
    never a mix that passes."""
    if not out.is_dir():
        work.rename(out)
        return
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    old.mkdir()
    if (out / SUMS_FILE).exists():
        (out / SUMS_FILE).rename(old / SUMS_FILE)
    for entry in list(out.iterdir()):
        entry.rename(old / entry.name)
    for entry in list(work.iterdir()):
        if entry.name != SUMS_FILE:
            entry.rename(out / entry.name)
    (work / SUMS_FILE).rename(out / SUMS_FILE)
    work.rmdir()
    shutil.rmtree(old)


__all__ = ["MANIFEST", "SUMS_FILE", "build_bundle", "replace_contents"]
