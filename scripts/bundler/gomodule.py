"""The wrapper Go modules in bundle/go/: one per component, pinning its module and, through go.sum,
the checksum of every source module the build reads."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from .recipes import GoComponent

WRAPPER_PREFIX = "k8s-lab.local/bundle/"
# The wrappers of the previous Kubernetes release's own components (its Kubernetes, and its etcd and
# CoreDNS when they differ from the current release's), beside the current's in bundle/go/.
PREVIOUS = "previous"
HEADER = (
    "// Wrapper module of the lab's offline bundle: builds {module}'s commands.\n"
    "// Written by `scripts/bundle.py pin` from bundle/versions.yml; review and commit, do not edit.\n"
)


class WrapperError(RuntimeError):
    """A wrapper module is missing or pins another version than bundle/versions.yml."""


def wrapper_name(component: GoComponent, previous: bool = False) -> str:
    """The wrapper's directory under bundle/go/, and its module path under WRAPPER_PREFIX:
    kubernetes, or previous/kubernetes for the previous release's."""
    return f"{PREVIOUS}/{component.name}" if previous else component.name


def go_env(cache: Path, *, cgo: bool = False) -> dict[str, str]:
    """The go command's environment: caches outside the repository, no workspace, the local toolchain."""
    env = dict(os.environ)
    env.update({
        "GOMODCACHE": str(cache / "gomod"),
        "GOCACHE": str(cache / "gocache"),
        "GOFLAGS": "-mod=readonly",
        "GOWORK": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "1" if cgo else "0",
    })
    return env


def module_source(module: str, version: str, cache: Path) -> Path:
    """Download module@version into the module cache; return its source directory."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        env=go_env(cache), capture_output=True, text=True, check=False,
    )
    info = json.loads(out.stdout or "{}")
    if out.returncode != 0 or "Dir" not in info:
        raise WrapperError(f"go mod download {module}@{version} failed: {info.get('Error') or out.stderr.strip()}")
    return Path(info["Dir"])


def local_replaces(go_mod: str) -> list[str]:
    """Modules that a go.mod replaces with directories of its own repository (./staging/..., ./api)."""
    return re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./\S+\s*$", go_mod, flags=re.M)


def go_directive(go_mod: str) -> str:
    match = re.search(r"^go\s+(\S+)\s*$", go_mod, flags=re.M)
    if not match:
        raise WrapperError("the component's go.mod has no go directive")
    return match.group(1)


def render_go_mod(component: GoComponent, version: str, upstream_go_mod: str, previous: bool = False) -> str:
    lines = [HEADER.format(module=component.module), f"module {WRAPPER_PREFIX}{wrapper_name(component, previous)}", "",
             f"go {go_directive(upstream_go_mod)}", "", f"require {component.module} {version}", ""]
    if component.sibling_version is not None:
        sibling = component.sibling_version(version)
        replaced = [m for m in local_replaces(upstream_go_mod) if m != component.module]
        if replaced:
            lines.append("replace (")
            lines.extend(f"\t{m} => {m} {sibling}" for m in replaced)
            lines.extend([")", ""])
    return "\n".join(lines)


def pin(component: GoComponent, version: str, wrapper_dir: Path, cache: Path, previous: bool = False) -> None:
    """Rewrite wrapper_dir/go.mod and go.sum for component at version (the pin; previous: the previous
    Kubernetes release's wrapper)."""
    version = component.module_version(version)
    source = module_source(component.module, version, cache)
    wrapper_dir.mkdir(parents=True, exist_ok=True)
    (wrapper_dir / "go.sum").unlink(missing_ok=True)
    (wrapper_dir / "go.mod").write_text(render_go_mod(component, version, (source / "go.mod").read_text(), previous))
    env = go_env(cache, cgo=component.cgo)
    env["GOFLAGS"] = "-mod=mod"
    # Without @version, go get would move the module to its newest release.
    packages = [f"{package}@{version}" for package in component.packages]
    result = subprocess.run(["go", "get", "-tool", *packages], cwd=wrapper_dir, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise WrapperError(f"{component.name}: go get -tool failed:\n{result.stderr}")


def pinned_version(component: GoComponent, wrapper_dir: Path) -> str:
    go_mod = wrapper_dir / "go.mod"
    if not go_mod.is_file() or not (wrapper_dir / "go.sum").is_file():
        raise WrapperError(f"{wrapper_dir} has no go.mod and go.sum: run scripts/bundle.py pin")
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(component.module)}\s+(v\S+)", go_mod.read_text(), flags=re.M)
    if not match:
        raise WrapperError(f"{go_mod} does not require {component.module}: run scripts/bundle.py pin")
    return match.group(1)


def check_pinned(component: GoComponent, version: str, wrapper_dir: Path) -> None:
    found = pinned_version(component, wrapper_dir)
    wanted = component.module_version(version)
    if found != wanted:
        raise WrapperError(
            f"{wrapper_dir}/go.mod pins {component.module} {found}, but the bundle wants {wanted}: "
            "run scripts/bundle.py pin and commit bundle/go/"
        )
