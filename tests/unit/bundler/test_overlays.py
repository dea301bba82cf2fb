"""GoComponent.overlays: Alertmanager built without its web UI. The go command refuses to overlay files
beneath GOMODCACHE, so the build overlays an unchanged copy of the module (go build -modfile with a
replace, -overlay) and never writes the module cache."""

import json
import re
import stat
from pathlib import Path

import pytest
from bundler import build, gobuild, gomodule, progress
from bundler.progress import StepFailed
from bundler.recipes import ALERTMANAGER, ALERTMANAGER_UI, GO_COMPONENTS, GoComponent, without_alertmanager_ui
from bundler.versions import load

ROOT = Path(__file__).resolve().parents[3]
WRAPPER = ROOT / "bundle" / "go" / "alertmanager"
DATE = "2026-10-27T12:01:04Z"
EMBED = re.compile(r"^\s*//go:embed", flags=re.M)

# The head of ui/web.go in github.com/prometheus/alertmanager v0.34.1.
WEB_GO = """package ui

import (
\t"embed"
\t"io/fs"
)

//go:embed app/dist
var asset embed.FS

func dist() (fs.FS, error) { return fs.Sub(asset, "app/dist") }
"""


def _module(tmp_path: Path, web_go: str = WEB_GO) -> Path:
    """A stand-in module source, read-only like the module cache's."""
    source = tmp_path / "gomod" / "github.com" / "prometheus" / "alertmanager@v0.34.1"
    (source / "ui").mkdir(parents=True)
    (source / "go.mod").write_text("module github.com/prometheus/alertmanager\n\ngo 1.25.0\n")
    (source / ALERTMANAGER_UI).write_text(web_go)
    for path in (*source.rglob("*"), source):
        path.chmod(path.stat().st_mode & ~0o222)
    return source


def test_the_web_ui_embed_is_removed_and_nothing_else():
    text = without_alertmanager_ui(WEB_GO)
    assert not EMBED.search(text)
    assert text == WEB_GO.replace("//go:embed app/dist\n", "")
    # asset stays: an empty embed.FS, so the UI handlers compile and serve 404.
    assert "var asset embed.FS" in text


@pytest.mark.parametrize("web_go", [
    WEB_GO.replace("//go:embed app/dist\n", ""),  # upstream dropped it: the overlay is no longer needed
    WEB_GO.replace("app/dist", "app/build"),  # upstream moved it
    WEB_GO.replace("var asset", "//go:embed app/dist\nvar asset"),  # twice
    WEB_GO + "\n//go:embed app/index.html\nvar index string\n",  # another embed would stay
])
def test_a_web_go_other_than_expected_is_refused(web_go):
    with pytest.raises(ValueError, match=r"ui/web\.go: expected one `//go:embed app/dist` line"):
        without_alertmanager_ui(web_go)


def test_only_alertmanager_is_overlaid():
    assert ALERTMANAGER.overlays == {"ui/web.go": without_alertmanager_ui}
    assert [c.name for c in GO_COMPONENTS if c.overlays] == ["alertmanager"]


def test_the_overlay_is_a_copy_of_the_module_replaced_through_a_modfile(tmp_path, monkeypatch):
    source = _module(tmp_path)
    monkeypatch.setattr(gobuild, "module_source", lambda module, version, cache: source)
    work = tmp_path / "work"
    work.mkdir()
    args = gobuild.write_overlays(ALERTMANAGER, "v0.34.1", WRAPPER, tmp_path / "cache", work)
    assert args == ["-modfile", f"{work}/build.mod", "-overlay", f"{work}/overlay.json"]
    copy = work / "module"
    assert json.loads((work / "overlay.json").read_text()) == {
        "Replace": {f"{copy}/ui/web.go": f"{work}/overlay/ui/web.go"}}
    # The text compiled has no go:embed; the copy and the module cache keep the original.
    assert not EMBED.search((work / "overlay" / "ui" / "web.go").read_text())
    assert (copy / ALERTMANAGER_UI).read_text() == (source / ALERTMANAGER_UI).read_text() == WEB_GO
    assert not any(p.stat().st_mode & stat.S_IWUSR for p in (source, *source.rglob("*")))
    assert all(p.stat().st_mode & stat.S_IWUSR for p in (copy, *copy.rglob("*")))  # removable
    wrapper_mod = (WRAPPER / "go.mod").read_text()
    assert (work / "build.mod").read_text() == (
        f"{wrapper_mod.rstrip()}\n\nreplace github.com/prometheus/alertmanager => {copy}\n")
    assert (work / "build.sum").read_text() == (WRAPPER / "go.sum").read_text()


def test_the_overlaid_build_runs_in_a_scratch_directory_and_checks_its_version(tmp_path, monkeypatch):
    source = _module(tmp_path)
    monkeypatch.setattr(gobuild, "module_source", lambda module, version, cache: source)
    ran = []

    def fake_run(component, what, argv, log, *, cwd=None, env=None):
        work = Path(argv[argv.index("-overlay") + 1]).parent
        overlay = json.loads(Path(argv[argv.index("-overlay") + 1]).read_text())["Replace"]
        ran.append((what, argv, cwd, work, Path(next(iter(overlay.values()))).read_text()))
        binary = tmp_path / "out" / "alertmanager"
        binary.write_text("#!/bin/sh\necho 'alertmanager, version 0.34.1 (branch: v0.34.1, revision: v0.34.1)'\n")
        binary.chmod(0o755)

    monkeypatch.setattr(progress, "run", fake_run)
    (tmp_path / "out").mkdir()
    gobuild.build_component(ALERTMANAGER, "v0.34.1", DATE, WRAPPER, tmp_path / "cache", tmp_path / "out")
    ((what, argv, cwd, work, compiled),) = ran
    assert what == "go build of 1 command(s) at v0.34.1, overlaid: ui/web.go"
    assert argv[:3] == ["go", "build", "-trimpath"] and argv[3] == "-modfile"
    assert "-X github.com/prometheus/common/version.Version=0.34.1" in argv[argv.index("-ldflags") + 1]
    assert argv[-1] == "github.com/prometheus/alertmanager/cmd/alertmanager"
    assert cwd == WRAPPER and work.parent == tmp_path / "cache" / "overlays"
    assert not EMBED.search(compiled)
    assert not work.exists()  # the scratch copy is removed after the build


def test_a_component_without_overlays_builds_as_before(tmp_path, monkeypatch):
    plain = GoComponent(name="plain", module="example.com/plain", packages=("example.com/plain",))
    monkeypatch.setattr(gobuild, "check_pinned", lambda *args: None)
    monkeypatch.setattr(gobuild, "module_source", lambda *args: pytest.fail("no module source is read"))
    ran = []
    monkeypatch.setattr(progress, "run", lambda component, what, argv, log, **kw: ran.append(argv))
    gobuild.build_component(plain, "v1.0.0", DATE, tmp_path, tmp_path / "cache", tmp_path / "out")
    assert ran == [["go", "build", "-trimpath", "-o", f"{tmp_path / 'out'}/", "example.com/plain"]]
    assert not (tmp_path / "cache" / "overlays").exists()


def test_an_unexpected_web_go_fails_the_build_step(tmp_path, monkeypatch):
    source = _module(tmp_path, WEB_GO.replace("app/dist", "app/build"))
    monkeypatch.setattr(gobuild, "module_source", lambda module, version, cache: source)
    monkeypatch.setattr(progress, "run", lambda *args, **kw: pytest.fail("go build must not run"))
    with pytest.raises(StepFailed, match=r"alertmanager: overlay of .*expected one `//go:embed app/dist`"):
        gobuild.build_component(ALERTMANAGER, "v0.34.1", DATE, WRAPPER, tmp_path / "cache", tmp_path / "out")


def test_the_overlaid_text_is_part_of_the_artifact_key(tmp_path, monkeypatch):
    """A changed transform rebuilds; the other components' keys do not read the module source."""
    source = _module(tmp_path)
    monkeypatch.setattr(build, "module_source", lambda module, version, cache: source)
    ctx = build.Context(repo=ROOT, cache=tmp_path / "cache", versions=load(ROOT / "bundle" / "versions.yml"),
                        source="build")
    keys = []
    monkeypatch.setattr(build.artifacts, "cached", lambda cache, name, key, make: keys.append(key))
    monkeypatch.setattr(build, "_go_version", lambda: "go1.26.8")
    build.component_artifact(ctx, ALERTMANAGER, "v0.34.1", DATE)
    changed = GoComponent(**{**ALERTMANAGER.__dict__, "overlays": {ALERTMANAGER_UI: lambda text: text + "\n"}})
    build.component_artifact(ctx, changed, "v0.34.1", DATE)
    assert keys[0] != keys[1]


def test_the_wrapper_pins_alertmanager():
    assert gomodule.pinned_version(ALERTMANAGER, WRAPPER) == "v0.34.1"
