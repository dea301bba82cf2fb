"""The pins of bundle/versions.yml, validated, and the versions kubeadm itself asks for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .gomodule import wrapper_name
from .recipes import APPS, BY_NAME, GO_COMPONENTS, KUBERNETES, GoComponent

PIN = re.compile(r"^v\d+\.\d+\.\d+$")
# Read from kubeadm's constants in the pinned module (cmd/kubeadm/app/constants/constants.go).
KUBEADM_CONSTANTS = {
    "etcd": re.compile(r'DefaultEtcdVersion\s*=\s*"([^"]+)"'),
    "coredns": re.compile(r'CoreDNSVersion\s*=\s*"([^"]+)"'),
    "pause": re.compile(r'PauseVersion\s*=\s*"([^"]+)"'),
}
# What versions.yml pins: every component whose version kubeadm's constants do not give.
PINNED = tuple(c.name for c in GO_COMPONENTS if c.name not in KUBEADM_CONSTANTS)


class VersionsError(ValueError):
    """bundle/versions.yml is malformed or disagrees with the topology."""


@dataclass(frozen=True)
class Versions:
    arch: str
    pins: dict[str, str]
    download: dict[str, str]
    # kubernetes_previous: the minor below the kubernetes pin, which the bundle carries too. Not in
    # pins, which holds one version per component of the current release (and its wrapper module).
    kubernetes_previous: str

    @property
    def kubernetes(self) -> str:
        return self.pins["kubernetes"]

    @property
    def kubernetes_releases(self) -> tuple[str, str]:
        """Every Kubernetes release the bundle can carry, the current pin first."""
        return (self.kubernetes, self.kubernetes_previous)

    @property
    def staging(self) -> str:
        """The k8s.io staging modules are tagged v0.<minor>.<patch> for Kubernetes v1.<minor>.<patch>."""
        _, minor, patch = self.kubernetes[1:].split(".")
        return f"v0.{minor}.{patch}"


def load(path: Path, topology: Path | None = None, roles: Path | None = None) -> Versions:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise VersionsError(f"{path}: expected a mapping")
    pins = {}
    for name in PINNED:
        value = data.get(name)
        if not isinstance(value, str) or not PIN.match(value):
            raise VersionsError(f"{path}: {name} must be a version like v1.2.3, got {value!r}")
        pins[name] = value
    if data.get("arch") != "amd64":
        raise VersionsError(f"{path}: arch must be amd64 (the only one built and tested), got {data.get('arch')!r}")
    download = data.get("download") or {}
    # Components the download source leaves out (MetalLB, the monitoring stack) need no templates.
    released = [c.name for c in GO_COMPONENTS if c.release_binaries]
    missing = [k for name in released for k in (name, f"{name}_sha256") if k not in download]
    if missing:
        raise VersionsError(f"{path}: download lacks URL templates for {', '.join(missing)}")
    versions = Versions(arch=data["arch"], pins=pins, download=download,
                        kubernetes_previous=check_previous(path, data.get("kubernetes_previous"), pins["kubernetes"]))
    if topology is not None:
        check_topology(versions, topology)
    if roles is not None:
        check_roles(versions, roles)
    return versions


def minor_of(pin: str) -> tuple[int, int]:
    """v1.37.2 -> (1, 37)."""
    major, minor, _ = pin.removeprefix("v").split(".")
    return int(major), int(minor)


def check_previous(path: Path, value: object, kubernetes: str) -> str:
    """kubernetes_previous must be a patch of the minor just below kubernetes: kubeadm upgrades one
    minor at a time, so that is the only release an upgrade to the pin can start from."""
    major, minor = minor_of(kubernetes)
    wanted = f"v{major}.{minor - 1}"
    if not isinstance(value, str) or not PIN.match(value) or minor_of(value) != (major, minor - 1):
        raise VersionsError(
            f"{path}: kubernetes_previous must be a patch of {wanted} (the minor just below kubernetes "
            f"{kubernetes}; kubeadm upgrades one minor at a time), like {wanted}.0, got {value!r}"
        )
    return value


def check_topology(versions: Versions, topology: Path) -> str:
    """The topology's kubernetes_version (a minor, or an exact patch) must name one of the bundle's
    Kubernetes releases: the inventory plugin's rule, applied to both pins. Returns that release."""
    # Imported here: the plugin needs Ansible (the project's venv, which runs scripts/bundle.py) and
    # collections/ on sys.path (scripts/bundle.py and the tests' conftest put it there).
    from ansible_collections.k8s_lab.lab.plugins.inventory import lab_topology

    try:
        wanted = lab_topology.read_settings(str(topology), environ={})["kubernetes_version"]
    except (OSError, lab_topology.TopologyError) as exc:
        raise VersionsError(f"{topology}: {exc}") from exc
    try:
        return lab_topology.kubernetes_release(wanted, versions.kubernetes_releases)
    except lab_topology.TopologyError as exc:
        raise VersionsError(f"{topology}: {exc}") from exc


def check_roles(versions: Versions, roles: Path) -> None:
    """Each application's role (in the roles directory) runs the bundle's images: the default naming
    them must agree with the pin, as the version itself (metallb_version) or as an image reference
    whose tag is the pin (monitoring_prometheus_image)."""
    for app in APPS:
        defaults = roles / app.role / "defaults" / "main.yml"
        value = yaml.safe_load(defaults.read_text()).get(app.role_default)
        pin = versions.pins[app.component.name]
        if not isinstance(value, str) or value.rsplit(":", 1)[-1] != pin:
            raise VersionsError(
                f"bundle/versions.yml pins {app.component.name} {pin} but {defaults} has "
                f"{app.role_default} {value!r}: bump both together"
            )


def kubeadm_constants(kubernetes_source: Path) -> dict[str, str]:
    """etcd, CoreDNS and pause versions from kubeadm's constants.go in the Kubernetes module source."""
    text = (kubernetes_source / "cmd/kubeadm/app/constants/constants.go").read_text()
    found = {}
    for name, pattern in KUBEADM_CONSTANTS.items():
        match = pattern.search(text)
        if not match:
            raise VersionsError(f"kubeadm's constants.go has no {pattern.pattern!r}: the module layout changed")
        found[name] = match.group(1)
    return found


def etcd_module_version(image_tag: str) -> str:
    """kubeadm names etcd images 3.7.0-0 (a build suffix); the Go module is v3.7.0."""
    return "v" + image_tag.split("-", 1)[0]


def derived_versions(kubeadm_asks: dict[str, str]) -> dict[str, str]:
    """The module versions of the components kubeadm names images of ({"etcd": "3.7.0-0", "coredns":
    "v1.14.6", ...}, from its constants or its image list): {"etcd": "v3.7.0", "coredns": "v1.14.6"}."""
    return {"etcd": etcd_module_version(kubeadm_asks["etcd"]), "coredns": kubeadm_asks["coredns"]}


def wrapper_pins(versions: Versions, current: dict[str, str], previous: dict[str, str],
                 ) -> dict[str, tuple[GoComponent, str, bool]]:
    """Every wrapper module bundle/go/ must hold (its name, gomodule.wrapper_name) -> (component, the
    version it pins, whether it is the previous release's), given what each release's kubeadm asks for
    (kubeadm_constants). The previous release has a wrapper of its own for its Kubernetes, and for its
    etcd and CoreDNS only when they are not the current release's: the bundle carries one of each
    version."""
    derived = derived_versions(current)
    wanted = {wrapper_name(c): (c, versions.pins.get(c.name) or derived[c.name], False) for c in GO_COMPONENTS}
    wanted[wrapper_name(KUBERNETES, previous=True)] = (KUBERNETES, versions.kubernetes_previous, True)
    for name, version in derived_versions(previous).items():
        if version != derived[name]:
            wanted[wrapper_name(BY_NAME[name], previous=True)] = (BY_NAME[name], version, True)
    return wanted
