"""Assemble the bundle: every component built (or downloaded) once into the cache, then hard-linked
into one directory with manifest.json and SHA256SUMS."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from . import artifacts, download, gobuild, images, oci, progress, rootfs
from .checksums import SUMS_FILE, sha256_file, write_sums
from .gomodule import go_env, module_source, pinned_version, wrapper_name
from .recipes import (
    APP_COMPONENTS,
    APPS,
    BY_NAME,
    GO_COMPONENTS,
    KUBEADM_COMPONENTS,
    KUBERNETES,
    App,
    GoComponent,
    components_for,
)
from .versions import Versions, check_topology, derived_versions, load

MANIFEST = "manifest.json"
# 2: two Kubernetes releases, their node binaries under kubernetes/<release>/bin/, kubernetes_releases,
# kubeadm's images with the releases that ask for them, components.previous.
BUNDLE_FORMAT = 2
# What --releases takes (build_bundle's releases).
RELEASES = ("all", "topology")
# The components of a release's images besides Kubernetes itself: those kubeadm names at its own
# versions, and pause.
IMAGE_PARTS = ("kubernetes", *(c.name for c in KUBEADM_COMPONENTS), "pause")

Built = tuple[Path, dict[str, str], str]  # a component's artifact directory, {file: sha256}, version


@dataclass(frozen=True)
class Context:
    repo: Path
    cache: Path
    versions: Versions
    source: str  # "build" or "download"
    mirror: str | None = None

    def wrapper(self, component: GoComponent, previous: bool = False) -> Path:
        return self.repo / "bundle" / "go" / wrapper_name(component, previous)


def slot(name: str, previous: bool) -> str:
    """The cache name (and progress label) of name's artifact for the current release or the previous.
    artifacts.cached removes every other key of a name, so the two releases' artifacts need names of
    their own; the current release's keep the names they had before the bundle carried two, so that a
    warm cache stays warm."""
    return f"previous-{name}" if previous else name


@dataclass(frozen=True)
class Release:
    """A Kubernetes release the bundle carries: the pin, or the previous minor (previous)."""

    version: str
    date: str  # its Kubernetes module's publication time (release_date), its binaries' buildDate
    previous: bool = False

    def slot(self, name: str) -> str:
        return slot(name, self.previous)


@dataclass(frozen=True)
class KubeadmRelease:
    """A release as built: what its kubeadm asks for and what its images are made of."""

    release: Release
    references: list[str]  # `kubeadm config images list --kubernetes-version <release>`
    tags: dict[str, str]  # the etcd, coredns and pause tags among them
    parts: dict[str, Built]  # IMAGE_PARTS -> the artifact its images are made of
    own: tuple[str, ...]  # the parts built for this release; the others are the current release's


@dataclass(frozen=True)
class BuiltApp:
    """An application's part of the bundle: its images (name -> archive, sha256) and its manifest, if any."""

    app: App
    version: str
    images: dict[str, tuple[Path, str]]
    manifest: tuple[Path, str] | None


def _go_version() -> str:
    return subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout.strip()


def release_date(ctx: Context, version: str) -> str:
    """The publication time of the Kubernetes module at version: a fixed date, so that binaries and
    images made from the same sources are byte-identical, whichever source the binaries came from.
    The current pin's dates the bundle and every image; each release's, its own binaries."""
    # go list -m reads the version's .info only: a bundle that leaves the previous release out asks
    # for its date (wants_previous: its cache key) without downloading its module.
    info = subprocess.run(["go", "list", "-m", "-json", f"k8s.io/kubernetes@{version}"],
                          env={**os.environ, "GOMODCACHE": str(ctx.cache / "gomod"), "GOWORK": "off"},
                          capture_output=True, text=True, check=True)
    return json.loads(info.stdout)["Time"]


def component_artifact(ctx: Context, component: GoComponent, version: str, date: str,
                       previous: bool = False) -> tuple[Path, dict[str, str]]:
    """component's binaries at version, built (or downloaded) once into the cache; previous: for the
    previous Kubernetes release (its wrapper in bundle/go/previous/, its own cache slot)."""
    name, key = component_key(ctx, component, version, date, previous)
    if ctx.source == "download":
        return artifacts.cached(ctx.cache, name, key, lambda tmp: _download(ctx, component, version, tmp))
    return artifacts.cached(
        ctx.cache, name, key,
        lambda tmp: gobuild.build_component(component, version, date, ctx.wrapper(component, previous), ctx.cache,
                                            tmp, label=slot(component.name, previous)),
    )


def component_key(ctx: Context, component: GoComponent, version: str, date: str,
                  previous: bool = False) -> tuple[str, str]:
    """The cache name and key of component's built (or downloaded) binaries."""
    if ctx.source == "download":
        return slot(f"dl-{component.name}", previous), artifacts.key("download", component.name, version,
                                                                      ctx.versions.download, ctx.mirror)
    wrapper = ctx.wrapper(component, previous)
    pinned_version(component, wrapper)  # a missing wrapper: "run scripts/bundle.py pin", not a traceback
    parts = [
        "build", component.name, version, component.packages, component.tags, component.cgo,
        component.ldflags(version, date), (wrapper / "go.mod").read_text(), (wrapper / "go.sum").read_text(),
        _go_version(),
    ]
    if component.overlays:  # only then, so that the other components' keys stay as they were
        parts.append(_overlays(ctx, component, version))
    return slot(component.name, previous), artifacts.key(*parts)


def _overlays(ctx: Context, component: GoComponent, version: str) -> dict[str, str]:
    """The overlaid texts themselves, so that a changed transform rebuilds."""
    source = module_source(component.module, component.module_version(version), ctx.cache)
    return gobuild.overlay_texts(component, source)


def _download(ctx: Context, component: GoComponent, version: str, tmp: Path) -> None:
    download.download_component(component.name, version, ctx.versions.arch, ctx.versions.download, ctx.mirror, tmp)
    gobuild.check_versions(component, version, tmp)


def prefetch_wrappers(ctx: Context, releases: list[Release], first: Release, apps: str) -> list[tuple[str, Path, bool]]:
    """The wrapper modules whose sources can download while first's Kubernetes compiles:
    (label, wrapper directory, cgo) of every other component the build reads, the other release's
    Kubernetes and the previous release's own etcd and CoreDNS (those it has a wrapper for) included."""
    wanted = []
    for release in releases:
        if release.previous:
            components = [c for c in (KUBERNETES, *KUBEADM_COMPONENTS) if ctx.wrapper(c, previous=True).is_dir()]
        else:
            components = [c for c in GO_COMPONENTS if apps == "all" or c.name not in APP_COMPONENTS]
        wanted += [(release.slot(c.name), ctx.wrapper(c, release.previous), c.cgo) for c in components
                   if not (c is KUBERNETES and release is first)]
    return wanted


def _prefetch_modules(ctx: Context, wrappers: list[tuple[str, Path, bool]]) -> None:
    """Download the other components' source modules while Kubernetes compiles: the downloads wait
    on the network, the compile on the CPU. Only a head start: a module that fails here is fetched
    again, and its error reported, by the component's own build."""
    log = ctx.cache / "logs" / "prefetch.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def fetch() -> None:
        with log.open("ab") as out:
            for label, wrapper, cgo in wrappers:
                out.write(f"$ go mod download  # {label}\n".encode())
                out.flush()
                subprocess.call(["go", "mod", "download"], cwd=wrapper, env=go_env(ctx.cache, cgo=cgo), stdout=out,
                                stderr=subprocess.STDOUT)

    progress.say(f"downloading the source modules of {len(wrappers)} more components alongside (log: {log})")
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


def wants_previous(ctx: Context, previous: Release, releases: str, topology_release: str) -> bool:
    """Whether the bundle carries the previous release. releases "all" (make bundle, make test, whose
    kubeadm scenario builds its cluster at the previous release and upgrades it): always. "topology"
    (make lab): when the topology runs it, or when it is in the cache already (carrying it then costs
    seconds); a lab at the current release never uses it, and its Kubernetes is a compile of minutes."""
    if releases == "all" or topology_release == previous.version:
        return True
    if artifacts.lookup(ctx.cache, *component_key(ctx, KUBERNETES, previous.version, previous.date,
                                                  previous=True)) is not None:
        return True
    progress.say(f"Kubernetes {previous.version} (the previous minor, what an older lab runs): left out, not built "
                 f"yet and the topology runs {topology_release} (make bundle builds it)")
    return False


def build_bundle(repo: Path, out: Path, cache: Path, source: str = "build", mirror: str | None = None,
                 apps: str = "all", releases: str = "all", keep_go_cache: bool = False) -> dict:
    """apps: "all" builds every application's images too; "built" takes only those already in the
    cache (`make lab`: the container-node lab runs none, and their builds cost minutes).
    releases: "all" carries both Kubernetes releases, the pin and the previous minor; "topology" the
    pin and, only when needed, the previous one (wants_previous). The pin is always carried: every
    bundle's etcdctl, etcdutl and image names come from it, and it is what an older lab upgrades to.
    keep_go_cache: keep the go command's build cache afterwards (artifacts.drop_go_build_cache)."""
    if releases not in RELEASES:
        raise ValueError(f"releases: {releases!r} is not one of {RELEASES}")
    start = time.monotonic()
    download.check_mirror(mirror)
    topology = repo / "inventory" / "topology.yml"
    versions = load(repo / "bundle" / "versions.yml", topology, repo / "roles")
    cache.mkdir(parents=True, exist_ok=True)
    ctx = Context(repo=repo, cache=cache, versions=versions, source=source, mirror=mirror)
    current = Release(versions.kubernetes, release_date(ctx, versions.kubernetes))
    previous = Release(versions.kubernetes_previous, release_date(ctx, versions.kubernetes_previous), previous=True)
    date = current.date
    epoch = int(datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp())
    carried = [current]
    if wants_previous(ctx, previous, releases, check_topology(versions, topology)):
        carried.append(previous)
    progress.say(f"source: {source}; cache: {cache}; Kubernetes {' and '.join(r.version for r in carried)}")
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

    # Worth it only when a Kubernetes, the long compile, is to be built: the first one compiles while
    # everything else downloads.
    compiles = [r for r in carried if source == "build" and artifacts.lookup(
        cache, *component_key(ctx, KUBERNETES, r.version, r.date, r.previous)) is None]
    if compiles:
        _prefetch_modules(ctx, prefetch_wrappers(ctx, carried, compiles[0], apps))

    kubeadm_releases: list[KubeadmRelease] = []
    for release in carried:
        kubeadm_releases.append(_kubeadm_release(ctx, release, kubeadm_releases[0].parts if kubeadm_releases else {}))
    built: dict[str, Built] = dict(kubeadm_releases[0].parts)

    for component in GO_COMPONENTS:
        if component not in components_for(source):
            progress.say(f"{component.name}: left out, its images are built from source only (with internet, "
                         "the nodes pull them)")
            continue
        if component.name in built:
            continue
        version = versions.pins[component.name]
        if apps == "built" and component.name in APP_COMPONENTS \
                and artifacts.lookup(cache, *component_key(ctx, component, version, date)) is None:
            progress.say(f"{component.name}: left out, not built yet and the lab runs no application "
                         "(make bundle builds it)")
            continue
        path, sums = component_artifact(ctx, component, version, date)
        built[component.name] = (path, sums, version)

    base_dir, base_sums = base_layer.result()
    # One archive per image name: an image two releases ask for (pause, most often) is the current
    # release's, made once.
    image_files: dict[str, tuple[Path, str]] = {}
    for kubeadm_release in kubeadm_releases:
        binaries = {name: (path / name, sums[name]) for path, sums, _ in kubeadm_release.parts.values()
                    for name in sums}
        for ref in kubeadm_release.references:
            if ref not in image_files:
                image_files[ref] = _image(ctx, ref, binaries, base_dir / "layer.tar", base_sums["layer.tar"], date,
                                          epoch, kubeadm_release.release)
    apps = [_app(ctx, app, built, date, epoch) for app in APPS if app.component.name in built]

    manifest = _assemble(ctx, out, built, kubeadm_releases, image_files, apps, date)
    if not keep_go_cache:
        dropped = artifacts.drop_go_build_cache(cache)
        if dropped:
            progress.say(f"dropped the Go build cache ({dropped / 1e9:.1f} GB; every output stays cached by "
                         "version; LAB_BUNDLE_KEEP_GO_CACHE=1 keeps it for work on the pins)")
    progress.say(f"bundle ready in {out} ({progress.elapsed(time.monotonic() - start)})")
    return manifest


def _kubeadm_release(ctx: Context, release: Release, shared: dict[str, Built]) -> KubeadmRelease:
    """release's Kubernetes built (or downloaded), then what its kubeadm asks for: the etcd, CoreDNS
    and pause of its images, each built unless shared (the current release's parts) has it at that
    version already."""
    parts: dict[str, Built] = {}
    path, sums = component_artifact(ctx, KUBERNETES, release.version, release.date, release.previous)
    parts["kubernetes"] = (path, sums, release.version)
    references = kubeadm_images(path / "kubeadm", release.version)
    tags = {name: tag_of(references, name) for name in IMAGE_PARTS if name != "kubernetes"}
    derived = derived_versions(tags)
    reused = []
    progress.say(f"Kubernetes {release.version}: kubeadm asks for {', '.join(f'{n} {t}' for n, t in tags.items())}")
    for component in KUBEADM_COMPONENTS:
        version = derived[component.name]
        if component.name in shared and shared[component.name][2] == version:
            parts[component.name] = shared[component.name]
            reused.append(component.name)
            continue
        if ctx.source == "build":
            wrapper = ctx.wrapper(component, release.previous)
            pinned = pinned_version(component, wrapper)
            if pinned != version:
                raise progress.StepFailed(
                    f"kubeadm {release.version} asks for {component.name} {version}, but bundle/go/"
                    f"{wrapper_name(component, release.previous)} pins {pinned}: run scripts/bundle.py pin"
                )
        path, sums = component_artifact(ctx, component, version, release.date, release.previous)
        parts[component.name] = (path, sums, version)
    if "pause" in shared and shared["pause"][2] == tags["pause"]:
        parts["pause"] = shared["pause"]
        reused.append("pause")
    else:
        parts["pause"] = (*_pause(ctx, tags["pause"], release), tags["pause"])
    if reused:
        progress.say(f"Kubernetes {release.version}: {', '.join(reused)} as the current release's")
    return KubeadmRelease(release, references, tags, parts, tuple(n for n in IMAGE_PARTS if n not in reused))


def _pause(ctx: Context, version: str, release: Release) -> tuple[Path, dict[str, str]]:
    # Both sources take pause.c from the release's Kubernetes module (checksummed by the Go sum database).
    source = module_source("k8s.io/kubernetes", release.version, ctx.cache)
    pause_c = source / "build/pause/linux/pause.c"
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[:1]
    key = artifacts.key("pause", version, sha256_file(pause_c), gcc)
    name = release.slot("pause")
    return artifacts.cached(ctx.cache, name, key,
                            lambda tmp: gobuild.build_pause(source, version, ctx.cache, tmp, label=name))


def _image(ctx: Context, ref: str, binaries: dict[str, tuple[Path, str]], base: Path, base_sum: str,
           date: str, epoch: int, release: Release) -> tuple[Path, str]:
    image = images.image_for(ref, {n: p for n, (p, _) in binaries.items()}, base, date, epoch)
    return _cached_image(ctx, image, images.short_name(ref), binaries, base_sum, date, release.slot)


def _cached_image(ctx: Context, image: oci.Image, short: str, binaries: dict[str, tuple[Path, str]],
                  base_sum: str | None, date: str, slot_of: Callable[[str], str] = lambda name: name,
                  ) -> tuple[Path, str]:
    """image's archive, written once per key (what goes into it: its binaries by digest); slot_of names
    its cache slot (Release.slot: the previous release's images have their own)."""
    digests = {n: d for n, (_, d) in binaries.items()}
    inputs = sorted((e.path, e.mode, e.directory, e.link, digests.get(e.source.name) if e.source else
                     (e.data or b"").hex()) for e in image.entries)
    uses_base = image.base_layer is not None
    key = artifacts.key("image", images.IMAGE_RECIPE_VERSION, image.name, inputs, base_sum if uses_base else None,
                        image.entrypoint, image.env, image.user, date)
    path, sums = artifacts.cached(
        ctx.cache, slot_of(f"image-{short}"), key,
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


def version_key(version: str) -> tuple[int, ...]:
    """v1.36.3 -> (1, 36, 3): releases in version order, v1.9 before v1.10."""
    return tuple(int(part) for part in version.removeprefix("v").split("."))


def kubeadm_image_entries(releases: list[KubeadmRelease]) -> list[tuple[str, str, list[str]]]:
    """(image, its file in the bundle, the releases whose kubeadm asks for it) for every image of
    kubeadm's, the current release's first, each once. The current release's files keep the names
    they had (images/etcd.tar); an image only an older release asks for has its tag in its name
    (images/etcd-3.6.8-0.tar)."""
    current = set(releases[0].references) if releases else set()
    entries: dict[str, tuple[str, str, list[str]]] = {}
    for release in releases:
        for ref in release.references:
            if ref not in entries:
                users = sorted((r.release.version for r in releases if ref in r.references), key=version_key)
                entries[ref] = (ref, images.archive_name(ref, versioned=ref not in current), users)
    return list(entries.values())


def _component_entry(name: str, version: str) -> dict[str, str]:
    """manifest.json's components entry: the version and the module it was built from (pause: its C source)."""
    if name in BY_NAME:
        return {"version": version, "module": BY_NAME[name].module}
    return {"version": version, "source": "k8s.io/kubernetes build/pause/linux/pause.c"}


def _assemble(ctx: Context, out: Path, built: dict[str, Built], releases: list[KubeadmRelease],
              image_files: dict[str, tuple[Path, str]], apps: list[BuiltApp], date: str) -> dict:
    """out: built's files (the current release's Kubernetes and every other component), the older
    releases' own node binaries (kubernetes/<release>/bin/), kubeadm's images of every release (image_files:
    name -> archive, sha256), the applications', manifest.json and SHA256SUMS."""
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

    def place_node_binaries(name: str, path: Path, sums: dict[str, str], version: str) -> None:
        recipe = BY_NAME.get(name)
        for binary in recipe.node_binaries if recipe else ():
            place(path / binary, f"{recipe.node_path(version)}/{binary}", sums[binary], name, version)

    for name, (path, sums, version) in built.items():
        place_node_binaries(name, path, sums, version)
    older = [r for r in releases if r.release.previous]
    for release in older:
        for name in release.own:
            path, sums, version = release.parts[name]
            # Kubernetes' node binaries only: the nodes run the current release's etcdctl and etcdutl.
            if name in BY_NAME and BY_NAME[name].per_release:
                place_node_binaries(name, path, sums, version)
    image_list = []
    for ref, rel, users in kubeadm_image_entries(releases):
        path, digest = image_files[ref]
        place(path, rel, digest, images.short_name(ref), ref.rsplit(":", 1)[1])
        image_list.append({"name": ref, "file": rel, "digest": oci.manifest_digest(path), "used_by": "kubeadm",
                           "kubernetes_versions": users})
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

    components: dict[str, dict] = {name: _component_entry(name, version) for name, (_, _, version) in built.items()}
    if older:
        # What only the previous release uses; what it shares with the current one is listed once, above.
        (previous,) = older
        components["previous"] = {name: _component_entry(name, previous.parts[name][2]) for name in previous.own}
    manifest = {
        "format": BUNDLE_FORMAT,
        "arch": ctx.versions.arch,
        "source": ctx.source,
        "built_from": "Go module proxy" if ctx.source == "build" else "official release files",
        "date": date,
        "kubernetes_version": ctx.versions.kubernetes,
        "kubernetes_releases": {r.release.version: {**r.tags, "images": r.references} for r in releases},
        "components": components,
        "images": image_list,
        "files": files,
    }
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    write_sums(work, known)
    replace_contents(out, work)
    return manifest


class LayoutError(ValueError):
    """A bundle's manifest.json is of another format, or does not hold what it says it carries."""


def check_layout(root: Path) -> dict:
    """root's manifest.json, checked to be of this format and to describe the files it names: every
    Kubernetes release it carries with its node binaries under kubernetes/<release>/bin/, every image's
    file listed, and each release's images exactly those whose kubernetes_versions name it. Returns
    the manifest. (SHA256SUMS vouches for the files' contents: checksums.verify_tree.)"""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise LayoutError(f"{root / MANIFEST}: cannot be read ({error})") from error
    if manifest.get("format") != BUNDLE_FORMAT:
        raise LayoutError(f"{root / MANIFEST} is of format {manifest.get('format')!r}, this project reads format "
                          f"{BUNDLE_FORMAT} (kubernetes/<release>/bin/): rebuild it with make bundle")
    files, releases = manifest["files"], manifest["kubernetes_releases"]
    problems = []
    if manifest["kubernetes_version"] not in releases:
        problems.append(f"kubernetes_version {manifest['kubernetes_version']} is not in kubernetes_releases")
    for release in releases:
        for binary in KUBERNETES.node_binaries:
            rel = f"{KUBERNETES.node_path(release)}/{binary}"
            if files.get(rel) != {"component": "kubernetes", "version": release}:
                problems.append(f"{rel}: not listed as Kubernetes {release}")
    asked: dict[str, set[str]] = {release: set() for release in releases}
    for image in manifest["images"]:
        if image["file"] not in files:
            problems.append(f"{image['name']}: its file {image['file']} is not listed")
        for release in image.get("kubernetes_versions", ()):
            asked.setdefault(release, set()).add(image["name"])
    for release, names in asked.items():
        listed = set(releases.get(release, {}).get("images", ()))
        if names != listed:
            problems.append(f"Kubernetes {release}: kubeadm asks for {sorted(listed)}, the images for it are "
                            f"{sorted(names)}")
    if problems:
        raise LayoutError(f"{root / MANIFEST} does not describe the bundle:\n  " + "\n  ".join(problems))
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


__all__ = ["MANIFEST", "SUMS_FILE", "build_bundle", "check_layout", "replace_contents"]
