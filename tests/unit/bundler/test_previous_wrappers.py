"""The previous Kubernetes release's wrapper modules (bundle/go/previous/): its Kubernetes always, its
etcd and CoreDNS only when its kubeadm asks for other versions than the current one's, each a module
of its own; `bundle.py pin` writes them, and removes one no longer needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundler import gomodule
from bundler.recipes import COREDNS, ETCD, GO_COMPONENTS, KUBERNETES
from bundler.versions import load, wrapper_pins
from fixtures.lab_repo import lab_repo

import bundle

ROOT = Path(__file__).resolve().parents[3]
CURRENT, PREVIOUS = "v1.37.2", "v1.36.3"

CONSTANTS = {CURRENT: {"etcd": "3.7.0-0", "coredns": "v1.14.6", "pause": "3.10.2"},
             PREVIOUS: {"etcd": "3.6.8-0", "coredns": "v1.14.2", "pause": "3.10.2"}}


def test_the_previous_release_has_wrappers_for_what_differs_only():
    versions = load(ROOT / "bundle" / "versions.yml")
    wanted = wrapper_pins(versions, CONSTANTS[CURRENT], CONSTANTS[PREVIOUS])
    previous = {name: (c.name, v) for name, (c, v, old) in wanted.items() if old}
    assert previous == {"previous/kubernetes": ("kubernetes", PREVIOUS), "previous/etcd": ("etcd", "v3.6.8"),
                        "previous/coredns": ("coredns", "v1.14.2")}
    assert wanted["etcd"] == (ETCD, "v3.7.0", False) and wanted["kubernetes"] == (KUBERNETES, CURRENT, False)
    assert {name for name, (_, _, old) in wanted.items() if not old} == {c.name for c in GO_COMPONENTS}
    shared = wrapper_pins(versions, CONSTANTS[CURRENT], {**CONSTANTS[PREVIOUS], "etcd": "3.7.0-0"})
    assert "previous/etcd" not in shared and "previous/coredns" in shared


def test_the_repositorys_previous_wrappers_pin_what_v1_36_3s_kubeadm_asks_for():
    for component, version in ((KUBERNETES, PREVIOUS), (ETCD, "v3.6.8"), (COREDNS, "v1.14.2")):
        wrapper = ROOT / "bundle" / "go" / "previous" / component.name
        gomodule.check_pinned(component, version, wrapper)
        assert f"module k8s-lab.local/bundle/previous/{component.name}\n" in (wrapper / "go.mod").read_text()
    assert "k8s.io/api => k8s.io/api v0.36.3" in (ROOT / "bundle/go/previous/kubernetes/go.mod").read_text()


def test_a_previous_wrapper_is_its_own_module():
    upstream = "module k8s.io/kubernetes\n\ngo 1.26.0\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n"
    text = gomodule.render_go_mod(KUBERNETES, PREVIOUS, upstream, previous=True)
    assert "module k8s-lab.local/bundle/previous/kubernetes\n" in text
    assert "require k8s.io/kubernetes v1.36.3\n" in text and "\tk8s.io/api => k8s.io/api v0.36.3\n" in text
    assert "module k8s-lab.local/bundle/kubernetes\n" in gomodule.render_go_mod(KUBERNETES, CURRENT, upstream)


@pytest.fixture
def pin_repo(tmp_path, monkeypatch):
    """bundle.py pin in a copy of this repository, against stand-in modules whose kubeadm constants are
    CONSTANTS; pinned records (wrapper, module version, previous)."""
    repo = lab_repo(tmp_path, "1.37", copy_bundle=True)
    monkeypatch.setattr(bundle, "REPO", repo)
    sources = {}
    for release, constants in CONSTANTS.items():
        source = tmp_path / f"kubernetes@{release}"
        (source / "cmd/kubeadm/app/constants").mkdir(parents=True)
        (source / "cmd/kubeadm/app/constants/constants.go").write_text(
            f'DefaultEtcdVersion = "{constants["etcd"]}"\nCoreDNSVersion = "{constants["coredns"]}"\n'
            f'PauseVersion = "{constants["pause"]}"\n')
        sources[release] = source
    monkeypatch.setattr(gomodule, "module_source", lambda module, version, cache: sources[version])
    pinned = []
    monkeypatch.setattr(gomodule, "pin", lambda component, version, wrapper_dir, cache, previous=False: pinned.append(
        (str(wrapper_dir.relative_to(repo / "bundle" / "go")), component.module_version(version), previous)))
    return repo, pinned, sources


def test_pin_previous_pins_the_previous_releases_wrappers(pin_repo):
    _, pinned, _ = pin_repo
    assert bundle.main(["--cache", "/nonexistent", "pin", "previous"]) == 0
    assert pinned == [("previous/kubernetes", PREVIOUS, True), ("previous/etcd", "v3.6.8", True),
                      ("previous/coredns", "v1.14.2", True)]


def test_pin_all_removes_a_previous_wrapper_no_longer_needed(pin_repo, capsys):
    repo, pinned, sources = pin_repo
    # v1.36.3's kubeadm asking for the current release's CoreDNS.
    constants = sources[PREVIOUS] / "cmd/kubeadm/app/constants/constants.go"
    constants.write_text(constants.read_text().replace("v1.14.2", "v1.14.6"))
    assert bundle.main(["--cache", "/nonexistent", "pin"]) == 0
    assert [name for name, _, previous in pinned if previous] == ["previous/kubernetes", "previous/etcd"]
    assert len(pinned) == len(GO_COMPONENTS) + 2
    assert not (repo / "bundle/go/previous/coredns").exists() and (repo / "bundle/go/previous/etcd").is_dir()
    assert "removing bundle/go/previous/coredns: the previous release uses the current one's" in capsys.readouterr().err


def test_pin_refuses_an_unknown_wrapper(pin_repo, capsys):
    _, pinned, _ = pin_repo
    assert bundle.main(["--cache", "/nonexistent", "pin", "previous/containerd"]) == 1
    assert "pin: no wrapper module previous/containerd; there are kubernetes, etcd" in capsys.readouterr().err
    assert pinned == []
