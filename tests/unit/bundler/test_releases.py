"""Two Kubernetes releases in one bundle (bundle/versions.yml's kubernetes and kubernetes_previous):
each built from its own wrapper module into its own cache slot, each with the images its own kubeadm
asks for, and laid out as manifest.json format 2 says (kubernetes/<release>/bin/, kubernetes_releases,
kubernetes_versions, components.previous).

The builds are stand-ins (shell scripts that print what the real binaries print, a kubeadm that lists
its release's images); everything after them is the real code: the cache, the image archives, the
assembly, the layout check and `bundle.py verify`."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
from bundler import artifacts, build, gobuild, gomodule, progress
from bundler.build import LayoutError, check_layout, kubeadm_image_entries
from bundler.checksums import sums_digest
from bundler.oci import extract_file, read_archive
from bundler.recipes import COREDNS, ETCD, GO_COMPONENTS, KUBERNETES
from bundler.versions import load
from fixtures.lab_repo import lab_repo

import bundle

ROOT = Path(__file__).resolve().parents[3]
CURRENT, PREVIOUS = "v1.37.2", "v1.36.3"
DATES = {CURRENT: "2026-10-27T12:01:04Z", PREVIOUS: "2026-07-22T18:07:38Z"}
REGISTRY = "registry.k8s.io"
SERVER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")


def asks(release: str, etcd: str, coredns: str, pause: str = "3.10.2") -> list[str]:
    """What `kubeadm config images list --kubernetes-version release` prints, in its order."""
    return [*(f"{REGISTRY}/{name}:{release}" for name in SERVER), f"{REGISTRY}/coredns/coredns:{coredns}",
            f"{REGISTRY}/pause:{pause}", f"{REGISTRY}/etcd:{etcd}"]


# What each release's kubeadm constants say (the modules in the module cache: v1.37.2 and v1.36.3).
ASKS = {CURRENT: asks(CURRENT, "3.7.0-0", "v1.14.6"), PREVIOUS: asks(PREVIOUS, "3.6.8-0", "v1.14.2")}
# The etcd/CoreDNS pair a previous release shares with the current one.
ASKS_SHARING = {CURRENT: ASKS[CURRENT], PREVIOUS: asks(PREVIOUS, "3.7.0-0", "v1.14.6")}


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def write_stand_ins(component, version: str, out: Path, kubeadm_asks: dict[str, list[str]]) -> None:
    """component's binaries as shell scripts that print what its version check expects; kubeadm also
    lists its release's images, and refuses to list another release's."""
    for name in sorted(set(component.checks) | set(component.node_binaries)):
        check = component.checks.get(name)
        printed = check.expect(version) if check else f"{name} {version}"
        if name == "kubeadm":
            images = "\n".join(kubeadm_asks[version])
            _script(out / name, f'if [ "$1" = config ]; then\n  [ "$5" = "{version}" ] || exit 3\n'
                                f"  cat <<'EOF'\n{images}\nEOF\nelse\n  echo '{printed}'\nfi")
        else:
            _script(out / name, f"echo '{printed}'")


@pytest.fixture
def module_source(tmp_path):
    """A stand-in module source: pause.c, and Alertmanager's ui/web.go (whose overlay is part of its key)."""
    source = tmp_path / "module"
    (source / "build/pause/linux").mkdir(parents=True)
    (source / "build/pause/linux/pause.c").write_text("int main(void) { return 0; }\n")
    (source / "ui").mkdir()
    (source / "ui/web.go").write_text("package ui\n\n//go:embed app/dist\nvar asset embed.FS\n")
    return source


class Builder:
    """build_bundle with the compiles, downloads and debootstrap replaced by stand-ins; calls records
    what was built (label, component, version, wrapper or "download")."""

    def __init__(self, monkeypatch, tmp_path: Path, module_source: Path):
        self.tmp = tmp_path
        self.cache = tmp_path / "cache"
        self.calls: list[tuple[str, str, str, str]] = []
        self.kubeadm_asks = ASKS
        monkeypatch.setattr(build, "release_date", lambda ctx, version: DATES[version])
        monkeypatch.setattr(build, "_go_version", lambda: "go1.26.8")
        monkeypatch.setattr(build, "module_source", lambda module, version, cache: module_source)
        monkeypatch.setattr(gobuild, "build_component", self._build_component)
        monkeypatch.setattr(gobuild, "build_pause", self._build_pause)
        monkeypatch.setattr(build.download, "download_component", self._download)
        monkeypatch.setattr(build.rootfs, "build_layer", self._base_layer)
        # Its real go mod download would fetch every module from the network.
        self.prefetched: list[list[str]] = []
        monkeypatch.setattr(build, "_prefetch_modules",
                            lambda ctx, wrappers: self.prefetched.append([label for label, _, _ in wrappers]))

    def _build_component(self, component, version, date, wrapper_dir, cache, out, label=None):
        # Each release's binaries carry its own module's date.
        assert date == (DATES[PREVIOUS] if (label or "").startswith("previous-") else DATES[CURRENT])
        gomodule.check_pinned(component, version, wrapper_dir)
        self.calls.append((label or component.name, component.name, version,
                           str(Path(wrapper_dir).relative_to(self.repo / "bundle" / "go"))))
        write_stand_ins(component, version, out, self.kubeadm_asks)
        gobuild.check_versions(component, version, out)

    def _build_pause(self, source, version, cache, out, label="pause"):
        self.calls.append((label, "pause", version, "pause.c"))
        _script(out / "pause", f"echo 'pause.c v{version}'")

    def _download(self, component, version, arch, templates, mirror, out):
        self.calls.append((component, component, version, "download"))
        write_stand_ins(next(c for c in GO_COMPONENTS if c.name == component), version, out, self.kubeadm_asks)

    @staticmethod
    def _base_layer(repo, cache, dest, epoch):
        with tarfile.open(dest, "w"):
            pass

    def __call__(self, repo: Path = ROOT, releases: str = "all", source: str = "build", out: str = "bundle"):
        self.repo = repo
        self.calls.clear()
        bundle_dir = self.tmp / out
        manifest = build.build_bundle(repo, bundle_dir, self.cache, source=source, apps="built", releases=releases)
        return manifest, bundle_dir


@pytest.fixture
def builder(monkeypatch, tmp_path, module_source):
    return Builder(monkeypatch, tmp_path, module_source)


def kubeadm_images(manifest: dict) -> dict[str, dict]:
    return {image["name"]: image for image in manifest["images"] if image["used_by"] == "kubeadm"}


# The layout and manifest.json of a bundle of both releases.


def test_both_releases_node_binaries_are_under_their_versions(builder):
    manifest, out = builder()
    assert manifest["format"] == 2
    assert manifest["kubernetes_version"] == CURRENT
    for release in (CURRENT, PREVIOUS):
        for binary in ("kubeadm", "kubelet", "kubectl"):
            assert manifest["files"][f"kubernetes/{release}/bin/{binary}"] == {"component": "kubernetes",
                                                                                "version": release}
        gobuild.check_versions(KUBERNETES, release, out / "kubernetes" / release / "bin",
                               only={"kubeadm", "kubelet", "kubectl"})
    assert not [rel for rel in manifest["files"] if rel in ("bin/kubeadm", "bin/kubelet", "bin/kubectl")]
    assert not (out / "bin" / "kubeadm").exists()
    # The other components' files keep their paths, and etcdctl/etcdutl are the current release's only.
    assert manifest["files"]["bin/etcdctl"] == {"component": "etcd", "version": "v3.7.0"}
    assert manifest["files"]["bin/containerd"] == {"component": "containerd", "version": "v2.4.2"}
    assert [rel for rel in manifest["files"] if rel.endswith("/etcdctl")] == ["bin/etcdctl"]
    gobuild.check_versions(ETCD, "v3.7.0", out / "bin", only={"etcdctl", "etcdutl"})
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_kubernetes_releases_lists_what_each_kubeadm_asks_for(builder):
    manifest, _ = builder()
    assert manifest["kubernetes_releases"] == {
        CURRENT: {"etcd": "3.7.0-0", "coredns": "v1.14.6", "pause": "3.10.2", "images": ASKS[CURRENT]},
        PREVIOUS: {"etcd": "3.6.8-0", "coredns": "v1.14.2", "pause": "3.10.2", "images": ASKS[PREVIOUS]},
    }


def test_components_list_the_current_release_and_what_only_the_previous_uses(builder):
    components = builder()[0]["components"]
    assert {name: entry["version"] for name, entry in components.items() if name != "previous"} == {
        "kubernetes": CURRENT, "etcd": "v3.7.0", "coredns": "v1.14.6", "pause": "3.10.2", "containerd": "v2.4.2",
        "runc": "v1.5.3", "cri_tools": "v1.37.0", "cni_plugins": "v1.10.0"}
    assert components["previous"] == {
        "kubernetes": {"version": PREVIOUS, "module": "k8s.io/kubernetes"},
        "etcd": {"version": "v3.6.8", "module": "go.etcd.io/etcd/v3"},
        "coredns": {"version": "v1.14.2", "module": "github.com/coredns/coredns"},
    }


def test_kubeadms_images_say_which_releases_ask_for_them(builder):
    manifest, out = builder()
    images = kubeadm_images(manifest)
    assert sorted(images) == sorted(set(ASKS[CURRENT]) | set(ASKS[PREVIOUS]))
    assert len(images) == 13  # pause once
    assert images[f"{REGISTRY}/pause:3.10.2"]["kubernetes_versions"] == [PREVIOUS, CURRENT]
    assert images[f"{REGISTRY}/kube-apiserver:{PREVIOUS}"]["kubernetes_versions"] == [PREVIOUS]
    assert images[f"{REGISTRY}/etcd:3.7.0-0"]["kubernetes_versions"] == [CURRENT]
    for release in (CURRENT, PREVIOUS):
        assert {n for n, i in images.items() if release in i["kubernetes_versions"]} == set(ASKS[release])
    # The applications' images have no such key (none are built here; see test_monitoring.py).
    for name, image in images.items():
        assert read_archive(out / image["file"])["name"] == name
        assert manifest["files"][image["file"]] == {"component": name.rsplit("/", 1)[1].split(":")[0],
                                                    "version": name.rsplit(":", 1)[1]}


def test_the_current_releases_image_files_keep_their_names_the_previous_ones_carry_their_tag(builder):
    images = kubeadm_images(builder()[0])
    assert {name: image["file"] for name, image in images.items()} == {
        **{f"{REGISTRY}/{n}:{CURRENT}": f"images/{n}.tar" for n in SERVER},
        **{f"{REGISTRY}/{n}:{PREVIOUS}": f"images/{n}-{PREVIOUS}.tar" for n in SERVER},
        f"{REGISTRY}/etcd:3.7.0-0": "images/etcd.tar", f"{REGISTRY}/etcd:3.6.8-0": "images/etcd-3.6.8-0.tar",
        f"{REGISTRY}/coredns/coredns:v1.14.6": "images/coredns.tar",
        f"{REGISTRY}/coredns/coredns:v1.14.2": "images/coredns-v1.14.2.tar",
        f"{REGISTRY}/pause:3.10.2": "images/pause.tar",
    }


@pytest.mark.parametrize(("image", "member", "component", "version"), [
    (f"kube-apiserver-{PREVIOUS}", "usr/local/bin/kube-apiserver", KUBERNETES, PREVIOUS),
    (f"kube-proxy-{PREVIOUS}", "usr/local/bin/kube-proxy", KUBERNETES, PREVIOUS),
    ("kube-apiserver", "usr/local/bin/kube-apiserver", KUBERNETES, CURRENT),
    ("etcd-3.6.8-0", "usr/local/bin/etcd", ETCD, "v3.6.8"),
    ("etcd-3.6.8-0", "usr/local/bin/etcdctl", ETCD, "v3.6.8"),
    ("etcd", "usr/local/bin/etcd", ETCD, "v3.7.0"),
    ("coredns-v1.14.2", "coredns", COREDNS, "v1.14.2"),
])
def test_each_releases_images_hold_its_own_binaries(builder, tmp_path, image, member, component, version):
    """The binaries are told apart by release, not by name: kube-apiserver v1.36.3's image holds
    v1.36.3's kube-apiserver."""
    _, out = builder()
    binary = tmp_path / member.rsplit("/", 1)[-1]
    binary.write_bytes(extract_file(out / "images" / f"{image}.tar", member))
    binary.chmod(0o755)
    gobuild.check_versions(component, version, tmp_path, only={binary.name})


def test_the_layout_checks_and_verify_names_the_releases(builder, capsys):
    _, out = builder()
    assert sorted(check_layout(out)["kubernetes_releases"]) == [PREVIOUS, CURRENT]
    assert bundle.main(["verify", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"files match SHA256SUMS; Kubernetes {PREVIOUS}, {CURRENT}" in err
    assert f"bundle_install_sums_sha256: {sums_digest(out)}" in err


# Built once each: own wrappers, own cache slots, nothing evicted.


def test_each_release_is_built_once_from_its_own_wrapper(builder):
    builder()
    assert builder.calls[:4] == [
        ("kubernetes", "kubernetes", CURRENT, "kubernetes"),
        ("etcd", "etcd", "v3.7.0", "etcd"),
        ("coredns", "coredns", "v1.14.6", "coredns"),
        ("pause", "pause", "3.10.2", "pause.c"),
    ]
    assert builder.calls[4:7] == [
        ("previous-kubernetes", "kubernetes", PREVIOUS, "previous/kubernetes"),
        ("previous-etcd", "etcd", "v3.6.8", "previous/etcd"),
        ("previous-coredns", "coredns", "v1.14.2", "previous/coredns"),
    ]
    # pause 3.10.2 is both releases': built once.
    assert [call for call in builder.calls if call[1] == "pause"] == [("pause", "pause", "3.10.2", "pause.c")]


def test_the_two_releases_keep_separate_cache_slots_and_a_rebuild_builds_nothing(builder):
    builder()
    slots = {path.name.rsplit("-", 1)[0] for path in (builder.cache / "artifacts").iterdir()}
    assert {"kubernetes", "previous-kubernetes", "etcd", "previous-etcd", "coredns", "previous-coredns", "pause",
            "image-kube-apiserver", "previous-image-kube-apiserver", "image-etcd", "previous-image-etcd",
            "image-pause"} <= slots
    assert "previous-pause" not in slots and "previous-image-pause" not in slots
    first = sorted(path.name for path in (builder.cache / "artifacts").iterdir())
    manifest, _ = builder()
    assert builder.calls == []
    assert sorted(path.name for path in (builder.cache / "artifacts").iterdir()) == first
    assert set(manifest["kubernetes_releases"]) == {CURRENT, PREVIOUS}


def test_a_new_key_evicts_only_its_own_releases_older_artifact(tmp_path):
    """artifacts.cached removes the other keys of a name: the releases' slots are names apart."""
    def make(tmp):
        (tmp / "kubeadm").write_text("x")

    current, _ = artifacts.cached(tmp_path, build.slot("kubernetes", False), "a" * 16, make)
    old_previous, _ = artifacts.cached(tmp_path, build.slot("kubernetes", True), "b" * 16, make)
    new_previous, _ = artifacts.cached(tmp_path, build.slot("kubernetes", True), "c" * 16, make)
    assert current.is_dir() and new_previous.is_dir() and not old_previous.exists()
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == [
        f"kubernetes-{'a' * 16}", f"previous-kubernetes-{'c' * 16}"]


def test_the_current_releases_cache_keys_do_not_depend_on_the_previous_one(builder, tmp_path):
    """A warm cache stays warm: the current release's names and keys are what they were before the
    bundle carried two releases (names without a prefix; keys of the same inputs)."""
    ctx = build.Context(repo=ROOT, cache=tmp_path, versions=load(ROOT / "bundle" / "versions.yml"), source="build")
    name, key = build.component_key(ctx, KUBERNETES, CURRENT, DATES[CURRENT])
    wrapper = ROOT / "bundle" / "go" / "kubernetes"
    assert name == "kubernetes"
    assert key == artifacts.key(
        "build", "kubernetes", CURRENT, KUBERNETES.packages, KUBERNETES.tags, KUBERNETES.cgo,
        KUBERNETES.ldflags(CURRENT, DATES[CURRENT]), (wrapper / "go.mod").read_text(),
        (wrapper / "go.sum").read_text(), "go1.26.8")
    previous = build.component_key(ctx, KUBERNETES, PREVIOUS, DATES[PREVIOUS], previous=True)
    assert previous[0] == "previous-kubernetes" and previous[1] != key
    ctx = build.Context(repo=ROOT, cache=tmp_path, versions=ctx.versions, source="download")
    assert build.component_key(ctx, KUBERNETES, PREVIOUS, DATES[PREVIOUS], previous=True)[0] == "previous-dl-kubernetes"
    assert build.component_key(ctx, KUBERNETES, CURRENT, DATES[CURRENT])[0] == "dl-kubernetes"


def test_a_previous_release_that_asks_for_the_current_etcd_and_coredns_shares_them(builder):
    builder.kubeadm_asks = ASKS_SHARING
    manifest, _ = builder()
    assert [call[0] for call in builder.calls if call[0].startswith("previous-")] == ["previous-kubernetes"]
    assert manifest["components"]["previous"] == {"kubernetes": {"version": PREVIOUS, "module": "k8s.io/kubernetes"}}
    images = kubeadm_images(manifest)
    assert images[f"{REGISTRY}/etcd:3.7.0-0"]["kubernetes_versions"] == [PREVIOUS, CURRENT]
    assert images[f"{REGISTRY}/etcd:3.7.0-0"]["file"] == "images/etcd.tar"
    assert len(images) == 11


def test_a_previous_wrapper_pinning_another_version_stops_the_build(builder, tmp_path):
    repo = lab_repo(tmp_path, "1.37", copy_bundle=True)
    go_mod = repo / "bundle" / "go" / "previous" / "etcd" / "go.mod"
    go_mod.write_text(go_mod.read_text().replace("go.etcd.io/etcd/v3 v3.6.8", "go.etcd.io/etcd/v3 v3.6.7"))
    with pytest.raises(progress.StepFailed, match=r"kubeadm v1\.36\.3 asks for etcd v3\.6\.8, but bundle/go/previous/"
                                                  r"etcd pins v3\.6\.7: run scripts/bundle\.py pin"):
        builder(repo)


def test_a_missing_previous_wrapper_says_to_pin(builder, tmp_path):
    repo = lab_repo(tmp_path, "1.37", copy_bundle=True)
    shutil.rmtree(repo / "bundle" / "go" / "previous" / "kubernetes")
    with pytest.raises(gomodule.WrapperError, match=r"previous/kubernetes has no go\.mod and go\.sum: run "
                                                    r"scripts/bundle\.py pin"):
        builder(repo)


# What make lab builds (--releases topology).


def test_make_lab_at_the_current_release_leaves_the_previous_out_until_it_is_built(builder, capsys):
    manifest, out = builder(releases="topology")
    assert "Kubernetes v1.36.3 (the previous minor, what an older lab runs): left out, not built yet and the " \
           "topology runs v1.37.2 (make bundle builds it)" in capsys.readouterr().err
    assert not [call for call in builder.calls if call[0].startswith("previous-")]
    assert list(manifest["kubernetes_releases"]) == [CURRENT]
    assert "previous" not in manifest["components"]
    assert not [rel for rel in manifest["files"] if rel.startswith(f"kubernetes/{PREVIOUS}/")]
    assert {tuple(i["kubernetes_versions"]) for i in kubeadm_images(manifest).values()} == {(CURRENT,)}
    check_layout(out)
    # Once built (make bundle), make lab carries it too, building nothing.
    builder(releases="all")
    manifest, _ = builder(releases="topology")
    assert builder.calls == []
    assert set(manifest["kubernetes_releases"]) == {CURRENT, PREVIOUS}


def test_make_lab_at_the_previous_release_builds_it(builder, tmp_path):
    manifest, _ = builder(lab_repo(tmp_path, "1.36"), releases="topology")
    assert set(manifest["kubernetes_releases"]) == {CURRENT, PREVIOUS}
    assert ("previous-kubernetes", "kubernetes", PREVIOUS, "previous/kubernetes") in builder.calls


def test_an_unknown_releases_choice_is_refused(builder):
    with pytest.raises(ValueError, match="releases: 'current' is not one of"):
        builder(releases="current")


# The download source: the previous release from the same URL templates, in slots of its own.


def test_the_download_source_fetches_the_previous_release_too(builder):
    manifest, _ = builder(source="download")
    downloaded = [(component, version) for _, component, version, how in builder.calls if how == "download"]
    assert downloaded[:3] == [("kubernetes", CURRENT), ("etcd", "v3.7.0"), ("coredns", "v1.14.6")]
    assert downloaded[3:6] == [("kubernetes", PREVIOUS), ("etcd", "v3.6.8"), ("coredns", "v1.14.2")]
    slots = {path.name.rsplit("-", 1)[0] for path in (builder.cache / "artifacts").iterdir()}
    assert {"dl-kubernetes", "previous-dl-kubernetes", "previous-dl-etcd", "previous-dl-coredns"} <= slots
    assert manifest["source"] == "download"
    assert set(manifest["kubernetes_releases"]) == {CURRENT, PREVIOUS}


# The prefetch alongside the first Kubernetes compile.


def test_the_prefetch_covers_every_other_wrapper_the_previous_releases_included(tmp_path):
    ctx = build.Context(repo=ROOT, cache=tmp_path, versions=load(ROOT / "bundle" / "versions.yml"), source="build")
    current = build.Release(CURRENT, DATES[CURRENT])
    previous = build.Release(PREVIOUS, DATES[PREVIOUS], previous=True)
    labels = [label for label, _, _ in build.prefetch_wrappers(ctx, [current, previous], current, "built")]
    assert labels == ["etcd", "coredns", "containerd", "runc", "cri_tools", "cni_plugins",
                      "previous-kubernetes", "previous-etcd", "previous-coredns"]
    # The current release cached already: the previous one compiles first, the current one's modules are
    # fetched (a no-op when they are there) alongside.
    wrappers = build.prefetch_wrappers(ctx, [current, previous], previous, "all")
    assert ("kubernetes", ROOT / "bundle/go/kubernetes", False) in wrappers
    assert "previous-kubernetes" not in [label for label, _, _ in wrappers]
    assert ("runc", ROOT / "bundle/go/runc", True) in wrappers
    assert "alertmanager" in [label for label, _, _ in wrappers]  # apps "all"


# The layout check.


def _manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _rewrite(out: Path, manifest: dict) -> None:
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_a_bundle_of_the_old_format_is_refused_with_what_to_do(builder):
    _, out = builder()
    manifest = _manifest_of(out)
    _rewrite(out, {**manifest, "format": 1})
    with pytest.raises(LayoutError, match=r"is of format 1, this project reads format 2 \(kubernetes/<release>/bin/\): "
                                          r"rebuild it with make bundle"):
        check_layout(out)


def test_a_release_without_its_binaries_is_refused(builder):
    _, out = builder()
    manifest = _manifest_of(out)
    del manifest["files"][f"kubernetes/{PREVIOUS}/bin/kubelet"]
    _rewrite(out, manifest)
    with pytest.raises(LayoutError, match=rf"kubernetes/{PREVIOUS}/bin/kubelet: not listed as Kubernetes {PREVIOUS}"):
        check_layout(out)


def test_images_that_disagree_with_what_a_kubeadm_asks_for_are_refused(builder):
    _, out = builder()
    manifest = _manifest_of(out)
    pause = next(i for i in manifest["images"] if i["name"].endswith("/pause:3.10.2"))
    pause["kubernetes_versions"] = [CURRENT]
    _rewrite(out, manifest)
    with pytest.raises(LayoutError, match=rf"Kubernetes {PREVIOUS}: kubeadm asks for .*pause:3\.10\.2.*, the images "
                                          "for it are"):
        check_layout(out)


def test_kubeadm_image_entries_order_and_name_the_files():
    def release(version, refs, previous=False):
        return build.KubeadmRelease(build.Release(version, DATES[version], previous), refs, {}, {}, ())

    entries = kubeadm_image_entries([release(CURRENT, ASKS[CURRENT]), release(PREVIOUS, ASKS[PREVIOUS], True)])
    assert [ref for ref, _, _ in entries] == ASKS[CURRENT] + [r for r in ASKS[PREVIOUS] if r not in ASKS[CURRENT]]
    assert entries[5] == (f"{REGISTRY}/pause:3.10.2", "images/pause.tar", [PREVIOUS, CURRENT])
    assert entries[-1] == (f"{REGISTRY}/etcd:3.6.8-0", "images/etcd-3.6.8-0.tar", [PREVIOUS])
    assert build.version_key("v1.9.0") < build.version_key("v1.10.0")
