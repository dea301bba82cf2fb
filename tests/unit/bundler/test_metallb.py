"""MetalLB in the bundle: its recipe, its two images under their upstream names, its manifest copied
from the module source and refused when it runs other images, and the download source without it."""

import hashlib
from pathlib import Path

import pytest
from bundler import build
from bundler.gobuild import check_versions
from bundler.images import app_image
from bundler.oci import read_archive, write_archive
from bundler.progress import StepFailed
from bundler.recipes import APPS, GO_COMPONENTS, METALLB, METALLB_APP, components_for
from bundler.versions import load

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = load(ROOT / "bundle" / "versions.yml")
VERSION = VERSIONS.pins["metallb"]
CONTROLLER = f"quay.io/metallb/controller:{VERSION}"
SPEAKER = f"quay.io/metallb/speaker:{VERSION}"


def _log_line(binary: str, version: str) -> bytes:
    """A stand-in binary: logs what MetalLB logs outside a cluster, and exits 1 as it does there."""
    message = f"MetalLB {binary} starting version {version} (no build information)"
    return f'#!/bin/sh\necho \'{{"level":"info","msg":"{message}"}}\'\nexit 1\n'.encode()


def _stand_in(directory: Path, binary: str, content: bytes) -> Path:
    path = directory / binary
    path.write_bytes(content)
    path.chmod(0o755)
    return path


def _manifest(*images: str) -> str:
    """A two-document manifest like metallb-native.yaml: a CRD whose schema has an "image" property,
    and a workload per image."""
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  versions:\n"
        "  - schema:\n      openAPIV3Schema:\n        properties:\n          image:\n            type: string\n"
    )
    workloads = "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n"
        f"      - name: c{n}\n        image: {image}\n"
        for n, image in enumerate(images)
    )
    return crd + workloads


def test_the_recipe_builds_controller_and_speaker_for_images_only():
    assert METALLB.module == "go.universe.tf/metallb"
    assert METALLB.packages == ("go.universe.tf/metallb/controller", "go.universe.tf/metallb/speaker")
    assert METALLB.ldflags(VERSION, "2026-01-01T00:00:00Z") == ["-s", "-w"]
    assert sorted(METALLB.checks) == ["controller", "speaker"]
    assert METALLB.node_binaries == ()
    assert METALLB in GO_COMPONENTS


def test_the_version_checks_expect_the_startup_line_without_the_v():
    assert VERSION == "v0.15.3"
    assert METALLB.checks["controller"].expect(VERSION) == "MetalLB controller starting version 0.15.3"
    assert METALLB.checks["speaker"].expect(VERSION) == "MetalLB speaker starting version 0.15.3"


def test_a_binary_that_logs_its_version_and_exits_1_passes(tmp_path):
    for binary in ("controller", "speaker"):
        _stand_in(tmp_path, binary, _log_line(binary, "0.15.3"))
    check_versions(METALLB, VERSION, tmp_path)


def test_a_binary_of_another_version_is_refused(tmp_path):
    _stand_in(tmp_path, "controller", _log_line("controller", "0.15.2"))
    _stand_in(tmp_path, "speaker", _log_line("speaker", "0.15.3"))
    with pytest.raises(StepFailed, match=r"does not report 'MetalLB controller starting version 0\.15\.3'"):
        check_versions(METALLB, VERSION, tmp_path)


def test_the_check_hides_the_callers_metallb_namespace(tmp_path, monkeypatch):
    # With a namespace MetalLB would start against a cluster; the check runs it without one.
    monkeypatch.setenv("METALLB_NAMESPACE", "metallb-system")
    for binary in ("controller", "speaker"):
        script = _log_line(binary, "0.15.3").replace(b"echo", b'[ -z "$METALLB_NAMESPACE" ] && echo', 1)
        _stand_in(tmp_path, binary, script)
    check_versions(METALLB, VERSION, tmp_path)


def test_the_download_source_leaves_metallb_out():
    assert METALLB not in components_for("download")
    assert [c.name for c in components_for("download")] == [
        "kubernetes", "etcd", "coredns", "containerd", "runc", "cri_tools", "cni_plugins"]
    assert components_for("build") == GO_COMPONENTS
    assert "metallb" not in VERSIONS.download


def test_the_images_are_named_as_upstream_names_them():
    assert APPS[0] is METALLB_APP
    assert METALLB_APP.component is METALLB
    assert METALLB_APP.references(VERSION) == {"controller": CONTROLLER, "speaker": SPEAKER}
    assert METALLB_APP.manifest == "config/manifests/metallb-native.yaml"
    assert (METALLB_APP.role, METALLB_APP.role_default) == ("metallb", "metallb_version")


@pytest.mark.parametrize(("binary", "reference"), [("controller", CONTROLLER), ("speaker", SPEAKER)])
def test_an_image_holds_its_binary_at_the_root_as_its_entrypoint(tmp_path, binary, reference):
    path = _stand_in(tmp_path, binary, b"\x7fELF " + binary.encode())
    image = app_image(reference, path, "2026-10-27T12:01:04Z", 1_700_000_000)
    assert image.entrypoint == [f"/{binary}"]
    write_archive(image, tmp_path / "image.tar")
    content = read_archive(tmp_path / "image.tar")
    assert content["name"] == reference
    assert content["config"]["config"]["Entrypoint"] == [f"/{binary}"]
    assert sorted(content["files"]) == sorted(["etc", "etc/group", "etc/nsswitch.conf", "etc/passwd", "tmp", binary])


def test_manifest_images_reads_every_workload_and_no_schema():
    assert build.manifest_images(_manifest(CONTROLLER, SPEAKER)) == {CONTROLLER, SPEAKER}


def test_a_manifest_running_other_images_is_refused_naming_them():
    with pytest.raises(StepFailed) as raised:
        build.check_manifest_images(METALLB_APP, _manifest(CONTROLLER, "quay.io/metallb/speaker:v0.15.2"),
                                    {CONTROLLER, SPEAKER})
    message = str(raised.value)
    assert message.startswith("metallb: config/manifests/metallb-native.yaml runs")
    assert f"not built here ['quay.io/metallb/speaker:v0.15.2'], not run by the manifest ['{SPEAKER}']" in message


@pytest.fixture
def metallb_built(tmp_path, monkeypatch):
    """What the metallb build step leaves (stand-in binaries), and a module source whose manifest the
    test writes; returns (context, built, manifest path)."""
    binaries = tmp_path / "built"
    binaries.mkdir()
    sums = {}
    for binary in ("controller", "speaker"):
        data = _log_line(binary, "0.15.3")
        _stand_in(binaries, binary, data)
        sums[binary] = hashlib.sha256(data).hexdigest()
    source = tmp_path / "module"
    (source / "config/manifests").mkdir(parents=True)
    monkeypatch.setattr(build, "module_source", lambda module, version, cache: source)
    ctx = build.Context(repo=ROOT, cache=tmp_path / "cache", versions=VERSIONS, source="build")
    return ctx, {"metallb": (binaries, sums, VERSION)}, source / METALLB_APP.manifest


def test_the_app_step_makes_both_images_and_copies_the_manifest_byte_for_byte(metallb_built):
    ctx, built, manifest = metallb_built
    manifest.write_bytes(_manifest(CONTROLLER, SPEAKER).encode().replace(b"\n", b"\r\n"))
    app = build._app(ctx, METALLB_APP, built, "2026-10-27T12:01:04Z", 1_700_000_000)
    assert app.version == VERSION
    assert sorted(app.images) == [CONTROLLER, SPEAKER]
    for reference, (archive, digest) in app.images.items():
        assert archive.name == f"metallb-{reference.split('/')[-1].split(':')[0]}.tar"
        assert read_archive(archive)["name"] == reference
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == digest
    copied, digest = app.manifest
    assert copied.name == "metallb-native.yaml"
    assert copied.read_bytes() == manifest.read_bytes()
    assert digest == hashlib.sha256(manifest.read_bytes()).hexdigest()


def test_the_app_step_refuses_a_manifest_of_other_images_and_keeps_nothing(metallb_built):
    ctx, built, manifest = metallb_built
    manifest.write_text(_manifest("quay.io/metallb/controller:v0.15.2", SPEAKER))
    with pytest.raises(StepFailed, match=r"not built here \['quay\.io/metallb/controller:v0\.15\.2'\]"):
        build._app(ctx, METALLB_APP, built, "2026-10-27T12:01:04Z", 1_700_000_000)
    # Nothing is written, so no artifact is complete (an incomplete one is redone next time).
    assert not list((ctx.cache / "artifacts").glob("manifest-metallb-*/*"))
