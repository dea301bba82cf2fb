"""How each component of the bundle is built from its Go module: packages, flags, version stamps,
and the version each binary must report afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

K8S_VERSION_PACKAGES = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


@dataclass(frozen=True)
class VersionCheck:
    """Run the binary with argv; its output must contain the text expect(version) returns."""

    argv: tuple[str, ...]
    expect: Callable[[str], str]
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class GoComponent:
    name: str
    module: str
    packages: tuple[str, ...]
    cgo: bool = False
    tags: tuple[str, ...] = ()
    ldflags: Callable[[str, str], list[str]] = lambda version, date: []
    # For modules whose go.mod replaces sibling modules with local paths (Kubernetes' staging
    # modules, etcd's submodules): the served version of each sibling, given the pin.
    sibling_version: Callable[[str], str] | None = None
    checks: dict[str, VersionCheck] = field(default_factory=dict)
    # Binaries the nodes run directly (bundle bin/, cni/bin/, kubernetes/<release>/bin/); the rest go
    # into images only.
    node_binaries: tuple[str, ...] = ()
    # Their directory in the bundle; "{version}" in it: one directory per release (Kubernetes, whose
    # two releases the bundle carries side by side).
    node_dir: str = "bin"
    # go build names a binary after its package directory; upstream renames some (etcd's is server/).
    renames: dict[str, str] = field(default_factory=dict)
    # False when the download source leaves it out: the project publishes no release binaries
    # (MetalLB), or its binaries only ever run in the bundle's images (the monitoring stack).
    release_binaries: bool = True
    # The module version that serves a pin, when the project tags its module otherwise than its
    # releases (Prometheus v3.15.0 is v0.315.0).
    module_version: Callable[[str], str] = lambda version: version
    # Source files the build sees changed (gobuild.py: go build -overlay): path inside the module ->
    # the function that turns the module's text into the one compiled. Only for a module that does
    # not build as published (Alertmanager's embedded web UI); the module cache itself is never edited.
    overlays: dict[str, Callable[[str], str]] = field(default_factory=dict)

    def node_path(self, version: str) -> str:
        """The bundle directory of the node binaries at version: bin, kubernetes/v1.37.2/bin."""
        return self.node_dir.format(version=version)

    @property
    def per_release(self) -> bool:
        """Each release's node binaries have a directory of their own."""
        return "{version}" in self.node_dir


@dataclass(frozen=True)
class App:
    """An application a role of the lab runs: its images, each one binary of component at /<binary>
    (as upstream's distroless images hold it), and, when the role applies its project's own manifest,
    that manifest, copied from the module source so that the two cannot disagree unnoticed."""

    component: GoComponent
    # binary -> the image's upstream name without its tag; the tag is the component's pin.
    repositories: dict[str, str]
    # The role that runs the images (manifest.json's used_by), and its default that names them, which
    # must agree with the pin: the version itself, or an image reference whose tag is the pin.
    role: str
    role_default: str
    manifest: str | None = None  # its path in the module source; the bundle has it under manifests/
    # Where the image holds the binary, as upstream's does: the root, or bin/ for the Prometheus
    # projects, whose data directories (/prometheus, /alertmanager) the role mounts volumes on.
    binary_dir: str = ""

    def references(self, version: str) -> dict[str, str]:
        """binary -> image name, e.g. controller -> quay.io/metallb/controller:v0.15.3."""
        return {binary: f"{repository}:{version}" for binary, repository in self.repositories.items()}

    def binary_path(self, binary: str) -> str:
        """Where the image holds binary, relative to its root: controller, bin/prometheus."""
        return f"{self.binary_dir}/{binary}" if self.binary_dir else binary


def _kubernetes_ldflags(version: str, date: str) -> list[str]:
    _, minor, _ = version[1:].split(".")
    values = {
        "gitVersion": version,
        "gitMajor": "1",
        "gitMinor": minor,
        "gitTreeState": "clean",
        "buildDate": date,
    }
    return ["-s", "-w"] + [f"-X {pkg}.{key}={value}" for key, value in values.items() for pkg in K8S_VERSION_PACKAGES]


def _kube_check(version: str) -> str:
    return f"Kubernetes {version}"


_K8S_SERVER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")

KUBERNETES = GoComponent(
    name="kubernetes",
    module="k8s.io/kubernetes",
    packages=tuple(f"k8s.io/kubernetes/cmd/{c}" for c in ("kubeadm", "kubelet", "kubectl", *_K8S_SERVER)),
    # The tags upstream's hack/lib/golang.sh builds with.
    tags=("selinux", "notest"),
    ldflags=_kubernetes_ldflags,
    sibling_version=lambda v: "v0." + v.split(".", 1)[1],
    checks={
        "kubeadm": VersionCheck(("version", "-o", "short"), lambda v: v),
        "kubelet": VersionCheck(("--version",), _kube_check),
        "kubectl": VersionCheck(("version", "--client"), lambda v: f"Client Version: {v}"),
        **{name: VersionCheck(("--version",), _kube_check) for name in _K8S_SERVER},
    },
    node_binaries=("kubeadm", "kubelet", "kubectl"),
    # Both releases' (the pin and the previous minor): a node installs its own release's, and an
    # upgrade the next one's.
    node_dir="kubernetes/{version}/bin",
)

ETCD = GoComponent(
    name="etcd",
    module="go.etcd.io/etcd/v3",
    packages=("go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3", "go.etcd.io/etcd/etcdutl/v3"),
    renames={"server": "etcd"},
    ldflags=lambda version, date: ["-s", "-w"],
    sibling_version=lambda v: v,
    # The control plane's backups (roles/etcd_backup) run them on the node; etcd itself runs in its image.
    # The current release's only (a node has one etcdctl; the previous release's etcd is in its image).
    node_binaries=("etcdctl", "etcdutl"),
    checks={
        "etcd": VersionCheck(("--version",), lambda v: f"etcd Version: {v[1:]}"),
        "etcdctl": VersionCheck(("version",), lambda v: f"etcdctl version: {v[1:]}"),
        "etcdutl": VersionCheck(("version",), lambda v: f"etcdutl version: {v[1:]}"),
    },
)

COREDNS = GoComponent(
    name="coredns",
    module="github.com/coredns/coredns",
    packages=("github.com/coredns/coredns",),
    ldflags=lambda version, date: ["-s", "-w"],
    checks={"coredns": VersionCheck(("-version",), lambda v: f"CoreDNS-{v[1:]}")},
)

_CONTAINERD_VERSION = "github.com/containerd/containerd/v2/version"
CONTAINERD = GoComponent(
    name="containerd",
    module="github.com/containerd/containerd/v2",
    packages=tuple(
        f"github.com/containerd/containerd/v2/cmd/{c}" for c in ("containerd", "containerd-shim-runc-v2", "ctr")
    ),
    # btrfs needs cgo headers; the lab uses the overlayfs snapshotter.
    tags=("no_btrfs",),
    ldflags=lambda version, date: [
        "-s", "-w",
        f"-X {_CONTAINERD_VERSION}.Version={version}",
        f"-X {_CONTAINERD_VERSION}.Package=github.com/containerd/containerd/v2",
    ],
    checks={
        "containerd": VersionCheck(("--version",), lambda v: f"containerd github.com/containerd/containerd/v2 {v}"),
        "ctr": VersionCheck(("--version",), lambda v: f"ctr github.com/containerd/containerd/v2 {v}"),
        "containerd-shim-runc-v2": VersionCheck(("-v",), lambda v: f"Version:  {v}"),
    },
    node_binaries=("containerd", "containerd-shim-runc-v2", "ctr"),
)

RUNC = GoComponent(
    name="runc",
    module="github.com/opencontainers/runc",
    packages=("github.com/opencontainers/runc",),
    # seccomp needs cgo and libseccomp, linked statically so the binary runs on any distribution.
    # Upstream's libpathrs tag needs a Rust library; runc works without it.
    cgo=True,
    tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"),
    ldflags=lambda version, date: ["-s", "-w", "-extldflags", "-static"],
    checks={"runc": VersionCheck(("--version",), lambda v: f"runc version {v[1:]}")},
    node_binaries=("runc",),
)

CRI_TOOLS = GoComponent(
    name="cri_tools",
    module="sigs.k8s.io/cri-tools",
    packages=("sigs.k8s.io/cri-tools/cmd/crictl",),
    ldflags=lambda version, date: ["-s", "-w", f"-X sigs.k8s.io/cri-tools/pkg/version.Version={version}"],
    checks={"crictl": VersionCheck(("--version",), lambda v: f"crictl version {v}")},
    node_binaries=("crictl",),
)

CNI_PLUGINS_LIST = (
    "main/bridge", "main/loopback", "main/host-device", "main/ptp", "main/macvlan", "main/ipvlan",
    "main/vlan", "main/dummy", "main/tap", "ipam/host-local", "ipam/static", "ipam/dhcp",
    "meta/portmap", "meta/bandwidth", "meta/firewall", "meta/tuning", "meta/sbr", "meta/vrf",
)
_CNI_NAMES = tuple(p.split("/")[1] for p in CNI_PLUGINS_LIST)


def _cni_check(name: str) -> Callable[[str], str]:
    return lambda version: f"CNI {name} plugin {version}"


CNI_PLUGINS = GoComponent(
    name="cni_plugins",
    module="github.com/containernetworking/plugins",
    packages=tuple(f"github.com/containernetworking/plugins/plugins/{p}" for p in CNI_PLUGINS_LIST),
    ldflags=lambda version, date: [
        "-s", "-w",
        f"-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion={version}",
    ],
    # A CNI plugin run without CNI_COMMAND prints its name and version.
    checks={name: VersionCheck((), _cni_check(name)) for name in _CNI_NAMES if name != "dhcp"},
    node_binaries=_CNI_NAMES,
    node_dir="cni/bin",
)


def _metallb_check(binary: str) -> VersionCheck:
    # Outside a cluster it logs its version, finds no namespace and exits 1. The environment is
    # only an empty METALLB_NAMESPACE, so that none inherited from the caller's makes it start.
    return VersionCheck((), lambda v: f"MetalLB {binary} starting version {v[1:]}",
                        env=(("METALLB_NAMESPACE", ""),))


# MetalLB hands out the lab's LoadBalancer addresses. Images only: nothing of it runs outside a pod.
# Upstream's speaker image also holds frr-metrics, cp-tool and frr-reloader.sh for the FRR (BGP)
# mode; the native manifest (L2 mode) runs the speaker alone, so they are not built. MetalLB
# publishes its images but no release binaries, so the download source leaves it out (with
# internet, the nodes pull its images).
METALLB = GoComponent(
    name="metallb",
    module="go.universe.tf/metallb",
    packages=("go.universe.tf/metallb/controller", "go.universe.tf/metallb/speaker"),
    ldflags=lambda version, date: ["-s", "-w"],
    checks={name: _metallb_check(name) for name in ("controller", "speaker")},
    release_binaries=False,
)

METALLB_APP = App(
    component=METALLB,
    repositories={"controller": "quay.io/metallb/controller", "speaker": "quay.io/metallb/speaker"},
    role="metallb",
    role_default="metallb_version",
    manifest="config/manifests/metallb-native.yaml",
)


# The monitoring stack: images only, which the monitoring role runs with its own manifests and
# explicit arguments, so each holds just its binary as the entrypoint. Prometheus, node-exporter and
# Alertmanager publish release binaries, but none of it runs outside a pod: the download source leaves
# it out, as it does MetalLB. Alertmanager is built without its web UI (see ALERTMANAGER). Not built:
# Grafana (not a Go build).

def prometheus_module_version(tag: str) -> str:
    """Prometheus tags its releases v3.X.Y and its Go module v0.3XX.Y: v3.15.0 -> v0.315.0."""
    major, minor, patch = tag.removeprefix("v").split(".")
    if major != "3" or not 0 <= int(minor) < 100:
        raise ValueError(f"Prometheus {tag}: only v3.X.Y (X < 100) maps to a module version v0.3XX.Y")
    return f"v0.{300 + int(minor)}.{patch}"


_PROMETHEUS_VERSION = "github.com/prometheus/common/version"


def _prometheus_ldflags(bare: bool, module_version: Callable[[str], str] = lambda v: v,
                        ) -> Callable[[str, str], list[str]]:
    """The version stamp of the Prometheus projects' builds (their .promu.yml, or kube-state-metrics'
    Makefile): Version as the project writes it (bare: without the "v"), the module version the source
    came from as Revision (no commit is known here), the release tag as Branch, the bundle's date."""

    def ldflags(version: str, date: str) -> list[str]:
        built = datetime.fromisoformat(date.replace("Z", "+00:00")).strftime("%Y%m%d-%H:%M:%S")
        values = {"Version": version.removeprefix("v") if bare else version, "Revision": module_version(version),
                  "Branch": version, "BuildDate": built}
        return ["-s", "-w"] + [f"-X {_PROMETHEUS_VERSION}.{key}={value}" for key, value in values.items()]

    return ldflags


def _prometheus_project(name: str, module: str, package: str, *, binary: str | None = None, bare: bool = True,
                        version_args: tuple[str, ...] = ("--version",), **options) -> GoComponent:
    """A Prometheus project's command (package: its path in module, "" for the module's root), stamped
    and version-checked through prometheus/common/version, whose Print says "prometheus, version
    3.15.0 (branch: ..., revision: ...)". Images only: none of it runs outside a pod, so the download
    source leaves it out."""
    binary = binary or name
    module_version = options.get("module_version", lambda version: version)
    return GoComponent(
        name=name,
        module=module,
        packages=(f"{module}/{package}" if package else module,),
        ldflags=_prometheus_ldflags(bare=bare, module_version=module_version),
        checks={binary: VersionCheck(version_args,
                                     lambda v: f"{binary}, version {v.removeprefix('v') if bare else v} (")},
        release_binaries=False,
        **options,
    )


# Its documented custom build: every service discovery removed but Kubernetes' (file and HTTP
# discovery always stay), the only one the role configures; about 140 s cold instead of 14 min.
# Upstream's builtinassets tag (the web UI compiled in) needs web/ui/embed.go, which npm generates at
# release time and the module does not hold: without it the API and /-/ready are served, the web UI
# pages are not.
PROMETHEUS = _prometheus_project("prometheus", "github.com/prometheus/prometheus", "cmd/prometheus",
                                 tags=("remove_all_sd", "enable_kubernetes_sd"),
                                 module_version=prometheus_module_version)

NODE_EXPORTER = _prometheus_project("node_exporter", "github.com/prometheus/node_exporter", "")

# Its version keeps the "v" and is printed by a subcommand. Upstream's Makefile also stamps
# pkg/app.ClientGoVersion (a label of one of its own metrics) from `go list -m k8s.io/client-go`; it
# stays "unknown" here.
KUBE_STATE_METRICS = _prometheus_project("kube_state_metrics", "k8s.io/kube-state-metrics/v2", "",
                                         binary="kube-state-metrics", bare=False, version_args=("version",))


ALERTMANAGER_UI = "ui/web.go"
_ALERTMANAGER_EMBED = "//go:embed app/dist"


def without_alertmanager_ui(text: str) -> str:
    """ui/web.go without its `//go:embed app/dist` line: `asset` stays an empty embed.FS, so the web UI
    pages are not served (404) while the API, /-/ready and /-/healthy are. Refuses a file whose
    directive is not that one line, so that an upstream change cannot pass unnoticed."""
    lines = text.splitlines(keepends=True)
    found = [i for i, line in enumerate(lines) if line.strip() == _ALERTMANAGER_EMBED]
    if len(found) != 1 or "//go:embed" in "".join(lines[:found[0]] + lines[found[0] + 1:]):
        raise ValueError(f"{ALERTMANAGER_UI}: expected one `{_ALERTMANAGER_EMBED}` line and no other go:embed")
    del lines[found[0]]
    return "".join(lines)


# Built without its web UI: ui/web.go embeds ui/app/dist, which npm and vite generate at release time
# and the module does not hold, so the module as published fails to build ("pattern app/dist: no
# matching files found"). The overlay compiles ui/web.go without that go:embed line; the role reaches
# the API and the health endpoints only. Upstream's image also holds amtool; this one does not.
ALERTMANAGER = _prometheus_project("alertmanager", "github.com/prometheus/alertmanager", "cmd/alertmanager",
                                   overlays={ALERTMANAGER_UI: without_alertmanager_ui})


def _monitoring_app(component: GoComponent, repository: str, binary_dir: str = "bin") -> App:
    """The image of component's one binary, which the monitoring role names monitoring_<component>_image."""
    (binary,) = component.checks
    return App(component=component, repositories={binary: repository}, role="monitoring",
               role_default=f"monitoring_{component.name}_image", binary_dir=binary_dir)


PROMETHEUS_APP = _monitoring_app(PROMETHEUS, "quay.io/prometheus/prometheus")
NODE_EXPORTER_APP = _monitoring_app(NODE_EXPORTER, "quay.io/prometheus/node-exporter")
# Upstream's image holds it at the root, as the distroless images of Kubernetes projects do.
KUBE_STATE_METRICS_APP = _monitoring_app(KUBE_STATE_METRICS, "registry.k8s.io/kube-state-metrics/kube-state-metrics",
                                         binary_dir="")
ALERTMANAGER_APP = _monitoring_app(ALERTMANAGER, "quay.io/prometheus/alertmanager")
MONITORING_APPS = (PROMETHEUS_APP, NODE_EXPORTER_APP, KUBE_STATE_METRICS_APP, ALERTMANAGER_APP)

GO_COMPONENTS = (KUBERNETES, ETCD, COREDNS, CONTAINERD, RUNC, CRI_TOOLS, CNI_PLUGINS, METALLB,
                 PROMETHEUS, NODE_EXPORTER, KUBE_STATE_METRICS, ALERTMANAGER)
BY_NAME = {c.name: c for c in GO_COMPONENTS}
# The components kubeadm names images of, at the versions its own constants give (versions.yml pins
# none of them): each Kubernetes release the bundle carries has its own, unless they are equal.
KUBEADM_COMPONENTS = (ETCD, COREDNS)
APPS = (METALLB_APP, *MONITORING_APPS)
# Components whose binaries only the applications' images hold.
APP_COMPONENTS = frozenset(app.component.name for app in APPS)


def components_for(source: str) -> tuple[GoComponent, ...]:
    """The components a bundle of this source ("build" or "download") holds."""
    return tuple(c for c in GO_COMPONENTS if source == "build" or c.release_binaries)
