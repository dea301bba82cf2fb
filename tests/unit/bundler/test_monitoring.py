"""The monitoring stack in the bundle: Prometheus (its module version, its trimmed build), node-exporter,
kube-state-metrics and Alertmanager (without its web UI: test_overlays.py), each an image of its one
binary under the name the monitoring role runs, pinned at the role's image tags, marked used_by
monitoring, and left out of the download source."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from bundler import build, gobuild, gomodule, progress
from bundler.gobuild import check_versions
from bundler.images import app_image
from bundler.oci import read_archive
from bundler.progress import StepFailed
from bundler.recipes import (
    ALERTMANAGER,
    ALERTMANAGER_APP,
    APPS,
    KUBE_STATE_METRICS,
    KUBE_STATE_METRICS_APP,
    MONITORING_APPS,
    NODE_EXPORTER,
    NODE_EXPORTER_APP,
    PROMETHEUS,
    PROMETHEUS_APP,
    components_for,
    prometheus_module_version,
)
from bundler.versions import VersionsError, load

ROOT = Path(__file__).resolve().parents[3]
VERSIONS_FILE = ROOT / "bundle" / "versions.yml"
ROLES = ROOT / "roles"
MONITORING_DEFAULTS = yaml.safe_load((ROLES / "monitoring" / "defaults" / "main.yml").read_text())
VERSIONS = load(VERSIONS_FILE, roles=ROLES)
DATE = "2026-10-27T12:01:04Z"

PROMETHEUS_IMAGE = "quay.io/prometheus/prometheus:v3.15.0"
NODE_EXPORTER_IMAGE = "quay.io/prometheus/node-exporter:v1.12.1"
KUBE_STATE_METRICS_IMAGE = "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0"
ALERTMANAGER_IMAGE = "quay.io/prometheus/alertmanager:v0.34.1"


def _versions_with(tmp_path, **changes) -> Path:
    data = yaml.safe_load(VERSIONS_FILE.read_text())
    data.update(changes)
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def _stand_in(directory: Path, binary: str, output: str) -> Path:
    """A stand-in binary that prints output, as common/version's Print does for --version."""
    path = directory / binary
    path.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    path.chmod(0o755)
    return path


@pytest.mark.parametrize(("tag", "module"), [
    ("v3.15.0", "v0.315.0"), ("v3.0.0", "v0.300.0"), ("v3.5.2", "v0.305.2"), ("v3.99.1", "v0.399.1"),
])
def test_prometheus_tags_map_to_their_module_versions(tag, module):
    assert prometheus_module_version(tag) == module


@pytest.mark.parametrize("tag", ["v2.53.0", "v4.0.0", "v3.100.0"])
def test_a_prometheus_tag_outside_the_v3_scheme_is_refused(tag):
    with pytest.raises(ValueError, match=r"only v3\.X\.Y"):
        prometheus_module_version(tag)


def test_only_prometheus_maps_its_pin():
    assert PROMETHEUS.module_version("v3.15.0") == "v0.315.0"
    assert NODE_EXPORTER.module_version("v1.12.1") == "v1.12.1"
    assert KUBE_STATE_METRICS.module_version("v2.20.0") == "v2.20.0"
    assert ALERTMANAGER.module_version("v0.34.1") == "v0.34.1"


def test_the_pins_are_the_monitoring_roles_image_tags():
    assert VERSIONS.pins["prometheus"] == "v3.15.0"
    assert VERSIONS.pins["node_exporter"] == "v1.12.1"
    assert VERSIONS.pins["kube_state_metrics"] == "v2.20.0"
    assert VERSIONS.pins["alertmanager"] == "v0.34.1"
    for app in MONITORING_APPS:
        (reference,) = app.references(VERSIONS.pins[app.component.name]).values()
        # The whole name, repository included: the role runs exactly the image the bundle holds.
        assert MONITORING_DEFAULTS[app.role_default] == reference, app.role_default


def test_the_images_are_the_upstream_names_at_the_release_tag():
    assert APPS[1:] == MONITORING_APPS
    assert PROMETHEUS_APP.references("v3.15.0") == {"prometheus": PROMETHEUS_IMAGE}
    assert NODE_EXPORTER_APP.references("v1.12.1") == {"node_exporter": NODE_EXPORTER_IMAGE}
    assert KUBE_STATE_METRICS_APP.references("v2.20.0") == {"kube-state-metrics": KUBE_STATE_METRICS_IMAGE}
    assert ALERTMANAGER_APP.references("v0.34.1") == {"alertmanager": ALERTMANAGER_IMAGE}
    for app in MONITORING_APPS:
        assert (app.role, app.manifest) == ("monitoring", None)


def test_grafana_is_the_roles_only_image_left_out():
    role_images = {key for key in MONITORING_DEFAULTS if key.endswith("_image")}
    assert role_images - {app.role_default for app in MONITORING_APPS} == {"monitoring_grafana_image"}


@pytest.mark.parametrize(("pin", "variable"), [
    ("prometheus", "monitoring_prometheus_image"),
    ("node_exporter", "monitoring_node_exporter_image"),
    ("kube_state_metrics", "monitoring_kube_state_metrics_image"),
    ("alertmanager", "monitoring_alertmanager_image"),
])
def test_a_pin_other_than_the_roles_image_tag_is_refused(tmp_path, pin, variable):
    with pytest.raises(VersionsError, match=rf"pins {pin} v9\.9\.9 but .*monitoring.* has {variable} '.*': bump both"):
        load(_versions_with(tmp_path, **{pin: "v9.9.9"}), roles=ROLES)


def test_a_role_image_of_another_tag_is_refused(tmp_path):
    roles = tmp_path / "roles"
    for role in ("metallb", "monitoring"):
        shutil.copytree(ROLES / role / "defaults", roles / role / "defaults")
    defaults = roles / "monitoring" / "defaults" / "main.yml"
    defaults.write_text(defaults.read_text().replace("prometheus:v3.15.0", "prometheus:v3.14.0"))
    with pytest.raises(VersionsError, match=r"pins prometheus v3\.15\.0 but .* 'quay\.io/prometheus/prometheus:v3\.14"):
        load(VERSIONS_FILE, roles=roles)


def test_the_download_source_leaves_the_monitoring_images_out():
    downloaded = components_for("download")
    for component in (PROMETHEUS, NODE_EXPORTER, KUBE_STATE_METRICS, ALERTMANAGER):
        assert component not in downloaded
        assert component in components_for("build")
        assert not [key for key in VERSIONS.download if key.startswith(component.name)]


def test_prometheus_is_built_with_kubernetes_discovery_only():
    assert PROMETHEUS.module == "github.com/prometheus/prometheus"
    assert PROMETHEUS.packages == ("github.com/prometheus/prometheus/cmd/prometheus",)
    assert PROMETHEUS.tags == ("remove_all_sd", "enable_kubernetes_sd")
    assert NODE_EXPORTER.packages == ("github.com/prometheus/node_exporter",)
    assert KUBE_STATE_METRICS.packages == ("k8s.io/kube-state-metrics/v2",)
    assert ALERTMANAGER.packages == ("github.com/prometheus/alertmanager/cmd/alertmanager",)
    assert NODE_EXPORTER.tags == KUBE_STATE_METRICS.tags == ALERTMANAGER.tags == ()


def test_the_version_stamps_are_common_versions_variables():
    stamp = "-X github.com/prometheus/common/version"
    assert PROMETHEUS.ldflags("v3.15.0", DATE) == [
        "-s", "-w", f"{stamp}.Version=3.15.0", f"{stamp}.Revision=v0.315.0", f"{stamp}.Branch=v3.15.0",
        f"{stamp}.BuildDate=20261027-12:01:04"]
    assert f"{stamp}.Version=1.12.1" in NODE_EXPORTER.ldflags("v1.12.1", DATE)
    # kube-state-metrics' Makefile stamps its tag, "v" included.
    assert f"{stamp}.Version=v2.20.0" in KUBE_STATE_METRICS.ldflags("v2.20.0", DATE)
    assert ALERTMANAGER.ldflags("v0.34.1", DATE) == [
        "-s", "-w", f"{stamp}.Version=0.34.1", f"{stamp}.Revision=v0.34.1", f"{stamp}.Branch=v0.34.1",
        f"{stamp}.BuildDate=20261027-12:01:04"]


def test_the_prometheus_build_passes_its_tags_and_checks_its_version(tmp_path, monkeypatch):
    """build_component runs one go build with the tags and the stamps, in the wrapper that pins
    v0.315.0, then the version check of what it built."""
    ran = []

    def fake_run(component, what, argv, log, *, cwd=None, env=None):
        ran.append((argv, cwd, env))
        _stand_in(tmp_path / "out", "prometheus", "prometheus, version 3.15.0 (branch: v3.15.0, revision: v0.315.0)")

    monkeypatch.setattr(progress, "run", fake_run)
    (tmp_path / "out").mkdir()
    wrapper = ROOT / "bundle" / "go" / "prometheus"
    gobuild.build_component(PROMETHEUS, "v3.15.0", DATE, wrapper, tmp_path / "cache", tmp_path / "out")
    ((argv, cwd, env),) = ran
    assert argv[argv.index("-tags") + 1] == "remove_all_sd,enable_kubernetes_sd"
    assert "-X github.com/prometheus/common/version.Version=3.15.0" in argv[argv.index("-ldflags") + 1]
    assert argv[-1] == "github.com/prometheus/prometheus/cmd/prometheus"
    assert cwd == wrapper and env["CGO_ENABLED"] == "0"


def test_the_wrapper_pins_prometheus_module_version(tmp_path):
    assert gomodule.pinned_version(PROMETHEUS, ROOT / "bundle" / "go" / "prometheus") == "v0.315.0"
    gomodule.check_pinned(PROMETHEUS, "v3.15.0", ROOT / "bundle" / "go" / "prometheus")
    wrapper = tmp_path / "prometheus"
    wrapper.mkdir()
    (wrapper / "go.mod").write_text("module k8s-lab.local/bundle/prometheus\n\nrequire github.com/prometheus/"
                                    "prometheus v0.315.0\n")
    (wrapper / "go.sum").write_text("")
    with pytest.raises(gomodule.WrapperError, match=r"pins github\.com/prometheus/prometheus v0\.315\.0, but the "
                                                    r"bundle wants v0\.316\.0"):
        gomodule.check_pinned(PROMETHEUS, "v3.16.0", wrapper)


@pytest.mark.parametrize(("component", "binary", "argv", "printed", "wrong"), [
    (PROMETHEUS, "prometheus", ("--version",), "prometheus, version 3.15.0 (branch: v3.15.0, revision: v0.315.0)",
     ["prometheus, version 3.15.1 (branch: v3.15.1)", "prometheus, version 0.315.0 (branch: v3.15.0)",
      "prometheus, version 3.15.01 (branch: v3.15.01)"]),
    (NODE_EXPORTER, "node_exporter", ("--version",), "node_exporter, version 1.12.1 (branch: v1.12.1)",
     ["node_exporter, version 1.12.0 (branch: v1.12.0)", "prometheus, version 1.12.1 (branch: v1.12.1)"]),
    (KUBE_STATE_METRICS, "kube-state-metrics", ("version",), "kube-state-metrics, version v2.20.0 (branch: v2.20.0)",
     ["kube-state-metrics, version 2.20.0 (branch: v2.20.0)", "kube-state-metrics, version v2.20.1 (branch: )"]),
    (ALERTMANAGER, "alertmanager", ("--version",), "alertmanager, version 0.34.1 (branch: v0.34.1, revision: v0.34.1)",
     ["alertmanager, version 0.34.10 (branch: v0.34.10)", "alertmanager, version v0.34.1 (branch: v0.34.1)",
      "prometheus, version 0.34.1 (branch: v0.34.1)"]),
])
def test_each_binary_must_print_its_pinned_version(tmp_path, component, binary, argv, printed, wrong):
    assert component.checks[binary].argv == argv
    _stand_in(tmp_path, binary, printed)
    check_versions(component, VERSIONS.pins[component.name], tmp_path)
    for output in wrong:
        _stand_in(tmp_path, binary, output)
        with pytest.raises(StepFailed, match="does not report"):
            check_versions(component, VERSIONS.pins[component.name], tmp_path)


def test_the_app_step_makes_images_only_and_the_bundle_marks_them_used_by_monitoring(tmp_path, monkeypatch):
    """No manifest to copy (the role renders its own); each archive named monitoring-<image>, holding
    its binary (in bin/ as upstream's, or at the root) as the entrypoint, listed in manifest.json as
    used_by monitoring."""
    monkeypatch.setattr(build, "module_source", lambda *args: pytest.fail("no module source is read"))
    ctx = build.Context(repo=ROOT, cache=tmp_path / "cache", versions=VERSIONS, source="build")
    built, apps = {}, []
    for app in MONITORING_APPS:
        (binary,) = app.repositories
        directory = tmp_path / app.component.name
        directory.mkdir()
        data = _stand_in(directory, binary, f"{binary} stand-in").read_bytes()
        version = VERSIONS.pins[app.component.name]
        built[app.component.name] = (directory, {binary: hashlib.sha256(data).hexdigest()}, version)
        apps.append(build._app(ctx, app, built, DATE, 1_700_000_000))
        assert apps[-1].manifest is None
    out = tmp_path / "bundle"
    build._assemble(ctx, out, {}, [], {}, apps, DATE)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"] == [
        {"name": name, "file": f"images/{file}.tar", "digest": image["digest"], "used_by": "monitoring"}
        for (name, file), image in zip([(PROMETHEUS_IMAGE, "monitoring-prometheus"),
                                        (NODE_EXPORTER_IMAGE, "monitoring-node-exporter"),
                                        (KUBE_STATE_METRICS_IMAGE, "monitoring-kube-state-metrics"),
                                        (ALERTMANAGER_IMAGE, "monitoring-alertmanager")],
                                       manifest["images"], strict=True)
    ]
    assert manifest["files"]["images/monitoring-prometheus.tar"] == {"component": "prometheus", "version": "v3.15.0"}
    assert not (out / "manifests").exists()
    paths = ("bin/prometheus", "bin/node_exporter", "kube-state-metrics", "bin/alertmanager")
    for image, path in zip(manifest["images"], paths, strict=True):
        content = read_archive(out / image["file"])
        assert content["name"] == image["name"]
        assert content["config"]["config"]["Entrypoint"] == [f"/{path}"]
        assert path in content["files"]


@pytest.mark.parametrize("app", MONITORING_APPS, ids=lambda app: app.component.name)
def test_a_binary_never_sits_where_the_role_mounts_a_volume(tmp_path, app):
    """The role mounts its data volumes on /prometheus and /alertmanager: a binary there fails the
    container's start ("not a directory"); upstream's Prometheus images keep theirs in /bin."""
    (binary,) = app.repositories
    path = tmp_path / binary
    path.write_bytes(b"\x7fELF")
    image = app_image(app.references("v1.0.0")[binary], path, "2026-10-27T12:01:04Z", 1_700_000_000,
                      app.binary_path(binary))
    (entrypoint,) = image.entrypoint
    assert entrypoint == ("/bin/" if app.component.name != "kube_state_metrics" else "/") + binary
    assert entrypoint not in {"/prometheus", "/alertmanager"}
