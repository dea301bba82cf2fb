"""The collection as `ansible-galaxy collection build` packs it: the artifact leaves the tests and
their tools out, installs offline with its dependencies resolved from the collections the ansible
package bundles, and ansible-doc renders every plugin from the installed copy, not from this
checkout (which collections/ansible_collections/k8s_lab/lab otherwise makes Ansible find)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
NAME = f"{GALAXY['namespace']}.{GALAXY['name']}"
# Never in the artifact, whatever build_ignore says: the tests, what runs them and what they build,
# and the symlink that would pack the repository inside itself.
NEVER_SHIPPED = ("tests", "molecule", "scripts", ".config", ".cache", ".venv", "collections")
# A plugin type and its directory in plugins/. Its documented plugins are named as `make lint` names
# them for ansible-doc: a module or inventory file each; a filter or test each .yml doc, and each .py
# that documents its one plugin inside (a .py holding several has a .yml per plugin).
PLUGINS = {"module": "modules", "inventory": "inventory", "filter": "filter", "test": "test"}
# ansible-doc's heading of a plugin: > MODULE k8s_lab.lab.kube_drain (/path/to/kube_drain.py)
HEADING = re.compile(r"^> [A-Z]+ (\S+) \((.+)\)$", re.M)


def plugin_names(plugin_type: str) -> set[str]:
    directory = ROOT / "plugins" / PLUGINS[plugin_type]
    if plugin_type in ("module", "inventory"):
        files = directory.glob("*.py")
    else:
        files = [*directory.glob("*.yml"),
                 *(path for path in directory.glob("*.py") if "\nDOCUMENTATION" in path.read_text())]
    return {f"{NAME}.{path.stem}" for path in files}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> dict:
    """Ansible's settings with only an empty collections path: none of the environment's ANSIBLE_*,
    not this checkout's ansible.cfg, a home of its own, and a Galaxy server on a closed local port,
    so that anything that tried to reach Galaxy would fail here instead of going out."""
    base = tmp_path_factory.mktemp("collection")
    config = base / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(config), ANSIBLE_HOME=str(base / "home"),
               ANSIBLE_COLLECTIONS_PATH=str(base / "collections"), ANSIBLE_GALAXY_SERVER="http://127.0.0.1:9/",
               ANSIBLE_NOCOLOR="1")
    return {"base": base, "env": env}


def run(sandbox: dict, *argv: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=sandbox["base"], env={**sandbox["env"], **env},
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def artifact(sandbox) -> Path:
    out = sandbox["base"] / "build"
    run(sandbox, "ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(out))
    (built,) = out.glob("*.tar.gz")
    return built


@pytest.fixture(scope="module")
def installed(sandbox, artifact) -> Path:
    """The installed copy. --offline: the dependencies must be met by what is installed already."""
    collections = Path(sandbox["env"]["ANSIBLE_COLLECTIONS_PATH"])
    run(sandbox, "ansible-galaxy", "collection", "install", "--offline", "-p", str(collections), str(artifact))
    return (collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]).resolve()


def test_the_artifact_leaves_out_the_tests_and_their_tools(artifact):
    with tarfile.open(artifact) as tar:
        members = tar.getnames()
    shipped = {name.split("/")[0] for name in members}
    assert shipped.isdisjoint(NEVER_SHIPPED), sorted(shipped & set(NEVER_SHIPPED))
    ignored = [name for name in members for pattern in GALAXY["build_ignore"]
               if any(fnmatch.fnmatch("/".join(name.split("/")[:depth]), pattern)
                      for depth in range(1, name.count("/") + 2))]
    assert ignored == []
    # The inventory plugin reads the Kubernetes pin from it, relative to its own file.
    assert "bundle/versions.yml" in members


def test_the_installed_collection_declares_galaxy_yml_dependencies(installed):
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["dependencies"] == GALAXY["dependencies"]


@pytest.mark.parametrize("plugin_type", sorted(PLUGINS))
def test_ansible_doc_renders_every_plugin_from_the_installed_copy(sandbox, installed, plugin_type):
    names = plugin_names(plugin_type)
    assert names, plugin_type
    rendered = run(sandbox, "ansible-doc", "-t", plugin_type, *sorted(names)).stdout
    sources = dict(HEADING.findall(rendered))
    assert set(sources) == names
    for name, source in sources.items():
        assert Path(source).resolve().is_relative_to(installed), f"{name} rendered from {source}"


def test_the_inventory_plugin_reads_the_installed_topology(sandbox, installed):
    """It reads the pins of bundle/versions.yml beside its own file: a copy without them fails here."""
    listed = run(sandbox, "ansible-inventory", "-i", str(installed / "inventory" / "topology.yml"), "--list",
                 ANSIBLE_INVENTORY_ENABLED=f"{NAME}.lab_topology", ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true")
    inventory = json.loads(listed.stdout)
    assert inventory["control_plane"]["hosts"] == ["m-k8s"]
    assert inventory["workers"]["hosts"], inventory["workers"]
