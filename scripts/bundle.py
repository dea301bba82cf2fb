#!/usr/bin/env python3
"""The lab's offline bundle: Kubernetes, its images, the container runtime, MetalLB (its images and
manifest) and the monitoring images (Prometheus, node-exporter, kube-state-metrics, Alertmanager),
for air-gapped installs.

  bundle.py build [--source build|download] [--apps all|built] [--releases all|topology] [--out DIR]
                  [--cache DIR] [--mirror URL]
  bundle.py verify [DIR]      check every file of a bundle against its SHA256SUMS, print the digest
                              of SHA256SUMS that bundle_install_sums_sha256 pins on the nodes
  bundle.py pin               rewrite the wrapper Go modules in bundle/go/ after a pin changed

Defaults: the bundle in .cache/bundle ($LAB_BUNDLE_DIR), the build cache in /var/tmp/k8s-lab/bundle
($LAB_BUNDLE_CACHE). A second build with nothing changed reuses every cached artifact. The go
command's own build cache is dropped after a build (--keep-go-cache keeps it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
# The inventory plugin of the collection k8s_lab.lab (this repository, through its symlink): the
# topology's kubernetes_version is checked against the pin by the plugin's own rule.
sys.path.insert(0, str(REPO / "collections"))

from bundler import build, checksums, download, gomodule, progress, versions

DEFAULT_OUT = Path(os.environ.get("LAB_BUNDLE_DIR") or REPO / ".cache" / "bundle")
# Outside the repository and kept across clones; /var/tmp survives reboots, unlike /tmp.
DEFAULT_CACHE = Path(os.environ.get("LAB_BUNDLE_CACHE") or "/var/tmp/k8s-lab/bundle")  # noqa: S108


def cmd_build(args: argparse.Namespace) -> None:
    build.build_bundle(REPO, args.out.resolve(), args.cache.resolve(), source=args.source, mirror=args.mirror,
                       apps=args.apps, releases=args.releases, keep_go_cache=args.keep_go_cache)
    checksums.verify_tree(args.out.resolve())
    build.check_layout(args.out.resolve())
    progress.say(checksums.pin_line(args.out.resolve()))


def cmd_verify(args: argparse.Namespace) -> None:
    sums = checksums.verify_tree(args.dir)
    manifest = build.check_layout(args.dir)
    releases = sorted(manifest["kubernetes_releases"], key=build.version_key)
    progress.say(f"{args.dir}: {len(sums)} files match SHA256SUMS; Kubernetes {', '.join(releases)}")
    progress.say(checksums.pin_line(args.dir))


def https_mirror(value: str) -> str:
    try:
        return download.check_mirror(value)
    except download.DownloadError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def _names(wrapper: str, wanted: list[str]) -> bool:
    """Whether `bundle.py pin` NAME... selects wrapper: by its name (etcd, previous/etcd) or a group
    (previous: all of the previous release's); no names select every wrapper."""
    return not wanted or any(wrapper == name or wrapper.startswith(f"{name}/") for name in wanted)


def cmd_pin(args: argparse.Namespace) -> None:
    pins = versions.load(REPO / "bundle" / "versions.yml", REPO / "inventory" / "topology.yml", REPO / "roles")
    # What each release's kubeadm asks for decides the etcd and CoreDNS wrappers (the previous
    # release's only where they differ from the current's).
    asks = [versions.kubeadm_constants(gomodule.module_source("k8s.io/kubernetes", release, args.cache))
            for release in pins.kubernetes_releases]
    wanted = versions.wrapper_pins(pins, *asks)
    unknown = [name for name in args.components if not any(_names(wrapper, [name]) for wrapper in wanted)]
    if unknown:
        raise versions.VersionsError(f"pin: no wrapper module {', '.join(unknown)}; there are {', '.join(wanted)}")
    root = REPO / "bundle" / "go"
    for name, (component, version, previous) in wanted.items():
        if _names(name, args.components):
            progress.say(f"pinning {component.module} {component.module_version(version)} in bundle/go/{name}")
            gomodule.pin(component, version, root / name, args.cache, previous=previous)
    # A previous release's wrapper no longer wanted (its etcd or CoreDNS is the current's now) would
    # pin a version nothing builds.
    for stale in sorted((root / gomodule.PREVIOUS).glob("*")):
        name = f"{gomodule.PREVIOUS}/{stale.name}"
        if not args.components and name not in wanted:
            progress.say(f"removing bundle/go/{name}: the previous release uses the current one's")
            shutil.rmtree(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="build cache (default %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build or download every component, then assemble the bundle")
    p_build.add_argument("--out", type=Path, default=DEFAULT_OUT, help="bundle directory (default %(default)s)")
    p_build.add_argument("--source", choices=("build", "download"), default="build",
                         help="build from the Go module proxy, or download official release files")
    p_build.add_argument("--mirror", type=https_mirror,
                         help="download from MIRROR/HOST/PATH instead of https://HOST/PATH (https:// only)")
    p_build.add_argument("--apps", choices=("all", "built"), default="all",
                         help="all: every application's images too; built: only those already in the cache "
                              "(what make lab asks for: the container-node lab runs none)")
    p_build.add_argument("--releases", choices=build.RELEASES, default="all",
                         help="all: both Kubernetes releases, the pin and the previous minor (the upgrade's "
                              "from); topology: the pin, and the previous minor only if inventory/topology.yml "
                              "runs it or it is built already (what make lab asks for)")
    p_build.add_argument("--keep-go-cache", action="store_true",
                         default=os.environ.get("LAB_BUNDLE_KEEP_GO_CACHE", "") not in ("", "0"),
                         help="keep the go command's build cache (about 13 GB) after the build, for work on "
                              "the pins; by default it is dropped, every output staying cached by version "
                              "($LAB_BUNDLE_KEEP_GO_CACHE=1)")
    p_build.set_defaults(func=cmd_build)
    p_verify = sub.add_parser("verify", help="check a bundle against its SHA256SUMS")
    p_verify.add_argument("dir", type=Path, nargs="?", default=DEFAULT_OUT)
    p_verify.set_defaults(func=cmd_verify)
    p_pin = sub.add_parser("pin", help="rewrite bundle/go/*/go.mod and go.sum from bundle/versions.yml")
    p_pin.add_argument("components", nargs="*",
                       help="only these wrappers: etcd, previous/kubernetes, previous (all of the previous "
                            "release's) (default: all)")
    p_pin.set_defaults(func=cmd_pin)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (progress.StepFailed, checksums.ChecksumError, versions.VersionsError, gomodule.WrapperError,
            download.DownloadError, build.LayoutError) as error:
        print(f"bundle: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
