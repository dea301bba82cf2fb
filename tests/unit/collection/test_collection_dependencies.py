"""galaxy.yml's dependencies are exactly the collections the collection k8s_lab.lab uses, and
requirements.yml installs those at the same versions.

A static scan of what the built collection runs (roles/, playbooks/, plugins/, inventory/, site.yml)
for plugins named by FQCN: a task's module, a module_defaults group, a filter, test or lookup in
Jinja, a whole value (a connection, a callback, a role), a Python import or documentation fragment
of a plugin. Prose (comments, task names, descriptions, a plugin's `seealso`) names plugins without
needing them, and is not read as a use."""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SELF = "k8s_lab.lab"
# ansible-core's own plugins, there without any dependency.
CORE = {"ansible.builtin", "ansible.legacy"}
NAME = r"[a-z_][a-z0-9_]*"
# A whole key or value that is a plugin's FQCN; module_defaults names an action group as group/FQCN.
WHOLE = re.compile(rf"(?:group/)?({NAME}\.{NAME})\.{NAME}")
# Where Jinja names a plugin: a filter after `|`, a test after `is` or `is not`, a lookup's name.
JINJA = re.compile(rf"(?:\|\s*|\bis\s+(?:not\s+)?|\b(?:lookup|query|q)\(\s*['\"])({NAME}\.{NAME})\.{NAME}\b")
IMPORT = re.compile(rf"ansible_collections\.({NAME}\.{NAME})(?:\.|$)")
# A documentation fragment, its name with the variable of the fragment's file where there is one.
FRAGMENT = re.compile(rf"({NAME}\.{NAME})\.{NAME}(?:\.{NAME})?")


class AnsibleYamlLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: !unsafe and !vault values read as plain text."""


for _tag in ("!unsafe", "!vault"):
    AnsibleYamlLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(), Loader=AnsibleYamlLoader)  # noqa: S506 - a SafeLoader subclass


def loadable_collections() -> set[str]:
    """The collections Ansible finds on this Python's path (the ansible package bundles them).

    A dotted word reads like an FQCN without being one: the sysctl net.ipv4.ip_forward, a registered
    result's x.stat.exists, a template's name.yaml.j2. Only a collection that exists is a use."""
    found = set()
    for entry in sys.path:
        for pattern in ("ansible_collections/*/*/MANIFEST.json", "ansible_collections/*/*/galaxy.yml"):
            for marker in Path(entry or ".").glob(pattern):
                found.add(f"{marker.parent.parent.name}.{marker.parent.name}")
    return found


def _walk_yaml(node, where: str, found: dict[str, set[str]], parent_key: str = "") -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and (match := WHOLE.fullmatch(key)):
                found[match[1]].add(where)
            _walk_yaml(value, where, found, str(key))
    elif isinstance(node, list):
        for item in node:
            _walk_yaml(item, where, found, parent_key)
    elif isinstance(node, str):
        value = node.strip()
        if match := WHOLE.fullmatch(value):
            found[match[1]].add(where)
        elif parent_key == "collections" and re.fullmatch(rf"{NAME}\.{NAME}", value):
            # The collections keyword of a play or role names collections, not plugins.
            found[value].add(where)
        for match in JINJA.finditer(node):
            found[match[1]].add(where)


def _doc_fragments(documentation: dict) -> list[str]:
    fragments = documentation.get("extends_documentation_fragment") or []
    return [fragments] if isinstance(fragments, str) else fragments


def _scan_python(path: Path, where: str, found: dict[str, set[str]]) -> None:
    matches = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            matches += [IMPORT.match(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            matches.append(IMPORT.match(node.module))
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                documentation = yaml.safe_load(node.value.value) or {}
                matches += [FRAGMENT.fullmatch(name) for name in _doc_fragments(documentation)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # An action plugin runs another module by its name.
            matches.append(WHOLE.fullmatch(node.value.strip()))
    for match in filter(None, matches):
        found[match[1]].add(where)


def uses(root: Path) -> dict[str, set[str]]:
    """Every collection the content under root uses, other than ansible-core and k8s_lab.lab itself,
    with the files that use it."""
    found: dict[str, set[str]] = defaultdict(set)
    yaml_files = [root / "site.yml"] if (root / "site.yml").is_file() else []
    for top in ("roles", "playbooks", "inventory"):
        yaml_files += [path for path in sorted((root / top).glob("**/*")) if path.suffix in (".yml", ".yaml")]
    for path in yaml_files:
        _walk_yaml(load(path), str(path.relative_to(root)), found)
    for path in sorted((root / "roles").glob("*/templates/**/*")):
        if path.is_file():
            for match in JINJA.finditer(path.read_text()):
                found[match[1]].add(str(path.relative_to(root)))
    for path in sorted((root / "plugins").glob("**/*.py")):
        _scan_python(path, str(path.relative_to(root)), found)
    # A plugin documented in a YAML file beside it (the test plugins).
    for path in sorted((root / "plugins").glob("**/*.yml")):
        for fragment in _doc_fragments((load(path) or {}).get("DOCUMENTATION") or {}):
            if match := FRAGMENT.fullmatch(fragment):
                found[match[1]].add(str(path.relative_to(root)))
    loadable = loadable_collections()
    return {name: files for name, files in found.items() if name in loadable and name not in CORE | {SELF}}


def declared() -> dict[str, str]:
    return load(ROOT / "galaxy.yml").get("dependencies") or {}


def test_galaxy_yml_declares_every_collection_used_and_no_other():
    used = uses(ROOT)
    undeclared = {name: sorted(files) for name, files in used.items() if name not in declared()}
    unused = sorted(set(declared()) - set(used))
    assert undeclared == {}, "used by FQCN but not in galaxy.yml dependencies"
    assert unused == [], "in galaxy.yml dependencies but used nowhere"


def test_requirements_yml_installs_the_dependencies_at_their_versions():
    """requirements.yml is for plain ansible-core, where nothing else installs galaxy.yml's dependencies."""
    requirements = {item["name"]: item["version"] for item in load(ROOT / "requirements.yml")["collections"]}
    assert requirements == declared()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "collection"),
    [
        ({"roles/r/tasks/main.yml": "- name: Load\n  community.general.modprobe:\n    name: br_netfilter\n"},
         "community.general"),
        ({"playbooks/p.yml": "- hosts: all\n  module_defaults:\n    group/kubernetes.core.k8s:\n      kubeconfig: k\n"
                             "  tasks: []\n"}, "kubernetes.core"),
        ({"roles/r/tasks/main.yml": "- ansible.builtin.debug:\n"
                                    "    msg: \"{{ x | community.general.json_query('a') }}\"\n"}, "community.general"),
        ({"roles/r/tasks/main.yml": "- ansible.builtin.debug:\n    msg: x\n  when: y is not ansible.utils.ipv4\n"},
         "ansible.utils"),
        ({"playbooks/p.yml": "- hosts: all\n  tasks:\n    - ansible.builtin.debug:\n"
                             "        msg: \"{{ lookup('community.general.dig', 'x') }}\"\n"}, "community.general"),
        ({"roles/r/templates/a.conf.j2": "{{ address | ansible.utils.ipaddr('address') }}\n"}, "ansible.utils"),
        ({"inventory/group_vars/all.yml": "ansible_connection: containers.podman.podman\n"}, "containers.podman"),
        ({"site.yml": "- hosts: all\n  collections:\n    - community.general\n  tasks: []\n"}, "community.general"),
        ({"plugins/modules/m.py": "from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import M\n"},
         "kubernetes.core"),
        ({"plugins/modules/m.py": 'DOCUMENTATION = """\nmodule: m\nextends_documentation_fragment:\n'
                                  '  - kubernetes.core.k8s_auth_options\n"""\n'}, "kubernetes.core"),
        ({"plugins/modules/m.py": 'DOCUMENTATION = """\nmodule: m\nextends_documentation_fragment:\n'
                                  '  - community.general.attributes.info_module\n"""\n'}, "community.general"),
        ({"plugins/action/a.py": 'RESULT = run(module_name="ansible.posix.sysctl")\n'}, "ansible.posix"),
        ({"plugins/test/t.yml": "DOCUMENTATION:\n  name: t\n  extends_documentation_fragment: ansible.utils.a\n"},
         "ansible.utils"),
    ],
)
def test_the_scan_sees_each_way_content_names_a_plugin(tmp_path, files, collection):
    assert set(uses(_tree(tmp_path, files))) == {collection}


def test_the_scan_leaves_prose_and_look_alikes_alone(tmp_path):
    root = _tree(tmp_path, {
        "roles/r/tasks/main.yml": (
            "# community.general.modprobe would load it; this role does not.\n"
            "- name: Apply with kubernetes.core.k8s\n"
            "  ansible.builtin.template:\n"
            "    src: persistentvolumes.yaml.j2\n"
            "    dest: /x\n"
            "  when: __r_file.stat.exists\n"
            "- name: Drain\n"
            "  k8s_lab.lab.kube_drain:\n"
            "    node: \"{{ n | k8s_lab.lab.not_ready_nodes }}\"\n"),
        "roles/r/defaults/main.yml": "r_sysctl:\n  net.ipv4.ip_forward: 1\n"
                                     "r_labels:\n  app.kubernetes.io/name: x\n",
        "roles/r/meta/argument_specs.yml": "argument_specs:\n  main:\n    description: Uses ansible.posix.sysctl.\n",
        "roles/r/README.md": "Applies `| community.general.json_query` with `kubernetes.core.k8s`.\n",
        "plugins/modules/m.py": 'DOCUMENTATION = """\nmodule: m\ndescription: Unlike M(kubernetes.core.k8s_drain).\n'
                                'seealso:\n  - module: kubernetes.core.k8s_drain\n"""\n'
                                "from ansible_collections.k8s_lab.lab.plugins.module_utils.x import y\n",
    })
    assert uses(root) == {}
