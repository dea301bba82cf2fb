"""bundle/versions.yml: the repository's own file loads, and bad pins stop with a clear message."""

from pathlib import Path

import pytest
import yaml
from bundler.recipes import APPS
from bundler.versions import VersionsError, etcd_module_version, kubeadm_constants, load

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


def test_a_kubernetes_pin_of_another_minor_than_the_topology_is_refused(tmp_path):
    with pytest.raises(VersionsError, match="bump both together"):
        load(_write(tmp_path, kubernetes="v1.36.4"), TOPOLOGY)


@pytest.mark.parametrize(("wanted", "ok"), [("1.37", True), ("1.37.2", True), ("1.37.1", False), ("1.36", False)])
def test_the_topology_is_checked_by_the_inventory_plugins_rule(tmp_path, wanted, ok):
    """One rule for both: the plugin refuses what the bundle would refuse, with the same words."""
    topology = tmp_path / "topology.yml"
    topology.write_text(f'plugin: k8s_lab.lab.lab_topology\nkubernetes_version: "{wanted}"\n')
    if ok:
        load(VERSIONS, topology)
    else:
        with pytest.raises(VersionsError, match=rf"{topology}: kubernetes_version: '{wanted}' is not the Kubernetes"):
            load(VERSIONS, topology)


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
