"""bundle/versions.yml: the repository's own file loads, and bad pins stop with a clear message."""

import re
from pathlib import Path

import pytest
import yaml
from bundler.recipes import APPS
from bundler.versions import VersionsError, check_topology, etcd_module_version, kubeadm_constants, load

ROOT = Path(__file__).resolve().parents[3]
VERSIONS = ROOT / "bundle" / "versions.yml"
TOPOLOGY = ROOT / "inventory" / "topology.yml"
ROLES = ROOT / "roles"
METALLB_DEFAULTS = ROLES / "metallb" / "defaults" / "main.yml"


def _write(tmp_path, **changes):
    data = yaml.safe_load(VERSIONS.read_text())
    data.update(changes)
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_repository_pins_load_and_match_the_topology():
    versions = load(VERSIONS, TOPOLOGY)
    minor = str(yaml.safe_load(TOPOLOGY.read_text())["kubernetes_version"])
    assert versions.kubernetes.startswith(f"v{minor}.")
    assert versions.staging == "v0." + versions.kubernetes.split(".", 1)[1]


def test_kubernetes_pins_of_other_minors_than_the_topology_are_refused(tmp_path):
    with pytest.raises(VersionsError, match="bump both together"):
        load(_write(tmp_path, kubernetes="v1.39.0", kubernetes_previous="v1.38.1"), TOPOLOGY)


def _topology(tmp_path, wanted: str) -> Path:
    topology = tmp_path / "topology.yml"
    topology.write_text(f'plugin: k8s_lab.lab.lab_topology\nkubernetes_version: "{wanted}"\n')
    return topology


@pytest.mark.parametrize(("wanted", "release"), [
    ("1.37", "v1.37.2"), ("1.37.2", "v1.37.2"), ("1.36", "v1.36.3"), ("1.36.3", "v1.36.3"),
    ("1.37.1", None), ("1.36.1", None), ("1.35", None), ("1.38", None),
])
def test_the_topology_names_either_release_by_the_inventory_plugins_rule(tmp_path, wanted, release):
    """One rule for both: the plugin refuses what the bundle would refuse, with the same words; the
    release the topology names is the one the lab runs (and make lab builds)."""
    topology = _topology(tmp_path, wanted)
    if release:
        assert check_topology(load(VERSIONS, topology), topology) == release
    else:
        refusal = rf"{topology}: kubernetes_version: '{wanted}' is not a Kubernetes this project pins: use "
        with pytest.raises(VersionsError, match=refusal):
            load(VERSIONS, topology)


def test_the_repository_pins_the_previous_minor():
    versions = load(VERSIONS)
    assert versions.kubernetes_previous == "v1.36.3"
    assert versions.kubernetes_releases == ("v1.37.2", "v1.36.3")
    # Not a component pin: pins holds one version per wrapper module of the current release.
    assert "kubernetes_previous" not in versions.pins


@pytest.mark.parametrize("bad", [
    "v1.37.0",  # the same minor
    "v1.35.9",  # two minors below: kubeadm upgrades one minor at a time
    "v1.38.0",  # above
    "v0.36.3",  # another major
    "1.36.3", "v1.36", None,
])
def test_a_previous_pin_other_than_the_minor_below_is_refused(tmp_path, bad):
    with pytest.raises(VersionsError, match=r"kubernetes_previous must be a patch of v1\.36 \(the minor just below "
                                            rf"kubernetes v1\.37\.2; .*\), like v1\.36\.0, got {re.escape(repr(bad))}"):
        load(_write(tmp_path, kubernetes_previous=bad))


def test_a_missing_previous_pin_is_refused(tmp_path):
    data = yaml.safe_load(VERSIONS.read_text())
    del data["kubernetes_previous"]
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(VersionsError, match=r"kubernetes_previous must be a patch of v1\.36 .* got None"):
        load(path)


def test_the_previous_pin_follows_the_kubernetes_pin(tmp_path):
    assert load(_write(tmp_path, kubernetes="v1.40.0", kubernetes_previous="v1.39.5")).kubernetes_previous == "v1.39.5"
    with pytest.raises(VersionsError, match=r"patch of v1\.39 .* got 'v1\.36\.3'"):
        load(_write(tmp_path, kubernetes="v1.40.0"))


def test_the_metallb_pin_is_the_metallb_roles_version():
    versions = load(VERSIONS, TOPOLOGY, ROLES)
    assert versions.pins["metallb"] == yaml.safe_load(METALLB_DEFAULTS.read_text())["metallb_version"] == "v0.15.3"


def test_a_metallb_pin_other_than_the_roles_version_is_refused(tmp_path):
    with pytest.raises(VersionsError, match=r"pins metallb v0\.15\.2 but .*metallb_version 'v0\.15\.3': bump both"):
        load(_write(tmp_path, metallb="v0.15.2"), TOPOLOGY, ROLES)


@pytest.mark.parametrize("name", [app.component.name for app in APPS])
def test_a_missing_app_pin_is_refused(tmp_path, name):
    data = yaml.safe_load(VERSIONS.read_text())
    del data[name]
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(VersionsError, match=f"{name} must be a version"):
        load(path)


def test_metallb_needs_no_download_templates():
    # It publishes no release binaries: the download source leaves it out, so nothing is missing.
    assert not [key for key in yaml.safe_load(VERSIONS.read_text())["download"] if key.startswith("metallb")]
    assert load(VERSIONS).pins["metallb"] == "v0.15.3"


@pytest.mark.parametrize("bad", ["1.37.2", "v1.37", "latest", None])
def test_a_malformed_pin_is_refused_and_named(tmp_path, bad):
    with pytest.raises(VersionsError, match="runc must be a version"):
        load(_write(tmp_path, runc=bad))


def test_another_architecture_is_refused(tmp_path):
    with pytest.raises(VersionsError, match="arch must be amd64"):
        load(_write(tmp_path, arch="arm64"))


def test_a_missing_download_template_is_refused(tmp_path):
    data = yaml.safe_load(VERSIONS.read_text())
    del data["download"]["runc_sha256"]
    path = tmp_path / "versions.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(VersionsError, match="runc_sha256"):
        load(path)


def test_kubeadm_constants_are_read_from_the_source(tmp_path):
    constants = tmp_path / "cmd/kubeadm/app/constants"
    constants.mkdir(parents=True)
    (constants / "constants.go").write_text(
        'const (\n\tDefaultEtcdVersion = "3.7.0-0"\n\tCoreDNSVersion = "v1.14.6"\n\tPauseVersion = "3.10.2"\n)\n'
    )
    assert kubeadm_constants(tmp_path) == {"etcd": "3.7.0-0", "coredns": "v1.14.6", "pause": "3.10.2"}
    assert etcd_module_version("3.7.0-0") == "v3.7.0"


def test_a_changed_constants_layout_is_reported(tmp_path):
    constants = tmp_path / "cmd/kubeadm/app/constants"
    constants.mkdir(parents=True)
    (constants / "constants.go").write_text('const EtcdVersion = "3.7.0-0"\n')
    with pytest.raises(VersionsError, match="module layout changed"):
        kubeadm_constants(tmp_path)
