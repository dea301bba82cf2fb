"""Every role declares its arguments in meta/argument_specs.yml, and that declaration agrees with
the role's defaults, with the entry points other files call and with the variable table of its
README: Ansible checks a role's input against it before the first task, and `ansible-doc -t role`
prints it, so it is the one place a user reads a role's variables.

A static check of the YAML; `make lint` renders each declaration with ansible-doc."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if (path / "tasks").is_dir())
INCLUDES = {"include_role", "import_role", "ansible.builtin.include_role", "ansible.builtin.import_role"}
# A variable's row in a README table: | `name` | ...
README_ROW = re.compile(r"^\|\s*`([a-z][a-z0-9_]*)`\s*\|", re.M)
# The README's section of variables ("## Variables", "## Role variables"), up to the next heading
# of its level: other tables (facts a role publishes) are not its inputs.
README_VARIABLES = re.compile(r"^## [^\n]*[Vv]ariables[^\n]*\n(.*?)(?=^## |\Z)", re.M | re.S)
# A README that sends its reader to the declaration instead of keeping a table of its own.
README_POINTS_TO_SPEC = "ansible-doc -t role"


class AnsibleYamlLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: !unsafe and !vault values read as plain text."""


for _tag in ("!unsafe", "!vault"):
    AnsibleYamlLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(), Loader=AnsibleYamlLoader)  # noqa: S506 - a SafeLoader subclass


def specs(role: str) -> dict:
    path = ROOT / "roles" / role / "meta" / "argument_specs.yml"
    return (load(path) or {}).get("argument_specs") or {} if path.exists() else {}


# What Ansible checks of an option (its description may differ between entry points).
CHECKED = ("type", "elements", "default", "choices", "required")


def declared(role: str) -> dict:
    """Every option of every entry point of the role (an option declared twice must agree)."""
    found: dict = {}
    for entry, spec in specs(role).items():
        for name, option in (spec.get("options") or {}).items():
            earlier = found.setdefault(name, option)
            assert all(earlier.get(key) == option.get(key) for key in CHECKED), \
                f"{role}: {name} declared differently in {entry}"
    return found


def defaults(role: str) -> dict:
    path = ROOT / "roles" / role / "defaults" / "main.yml"
    return (load(path) or {}) if path.exists() else {}


def tasks_in(data) -> list[dict]:
    """Every task of a play list or task list, blocks and plays opened."""
    found = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        found.append(item)
        for key in ("block", "rescue", "always", "pre_tasks", "tasks", "post_tasks", "handlers"):
            found += tasks_in(item.get(key))
    return found


def called_entry_points() -> set[tuple[str, str]]:
    """(role, tasks_from as written) of every include_role/import_role with a literal tasks_from."""
    files = [ROOT / "site.yml", *sorted((ROOT / "playbooks").glob("**/*.yml")),
             *sorted((ROOT / "roles").glob("*/tasks/**/*.yml")), *sorted((ROOT / "molecule").glob("*/*.yml"))]
    calls = set()
    for path in files:
        for task in tasks_in(load(path)):
            for key in INCLUDES & task.keys():
                args = task[key]
                loop = task.get("loop")
                names = loop if isinstance(loop, list) and args.get("tasks_from") == "{{ item }}" else \
                    [args.get("tasks_from")]
                for name in names:
                    if name and "{{" not in name and "{{" not in args["name"]:
                        calls.add((args["name"], name))
    return calls


@pytest.mark.parametrize("role", ROLES)
def test_the_role_declares_its_entry_points(role):
    entries = specs(role)
    assert entries, f"roles/{role}/meta/argument_specs.yml declares nothing"
    tasks = ROOT / "roles" / role / "tasks"
    if (tasks / "main.yml").exists():
        assert "main" in entries, role
    for entry, spec in entries.items():
        assert (tasks / f"{entry}.yml").exists(), f"{role}: entry point {entry} has no tasks/{entry}.yml"
        assert spec.get("short_description"), f"{role}: entry point {entry} has no short_description"
        for name, option in (spec.get("options") or {}).items():
            assert option.get("description"), f"{role}: {name} has no description"
            assert option.get("type"), f"{role}: {name} has no type"


def test_every_entry_point_called_from_elsewhere_is_declared():
    calls = called_entry_points()
    assert ("health", "node") in calls  # the search finds the playbooks' calls
    missing = sorted(f"{role}:{entry}" for role, entry in calls if entry not in specs(role))
    assert not missing


def test_entry_points_are_called_by_name():
    """Ansible checks an entry point's spec only when tasks_from names it as the spec does
    (tasks_from: node); tasks_from: node.yml runs the same file unchecked."""
    with_extension = sorted(f"{role}:{entry}" for role, entry in called_entry_points() if entry.endswith(".yml"))
    assert not with_extension


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_declared_with_the_same_value(role):
    options = declared(role)
    undeclared = sorted(set(defaults(role)) - set(options))
    assert not undeclared, f"{role}: in defaults/main.yml but not in meta/argument_specs.yml"
    differ = {name: (value, options[name]["default"]) for name, value in defaults(role).items()
              if "default" in options[name] and options[name]["default"] != value}
    assert not differ, f"{role}: defaults/main.yml and meta/argument_specs.yml give other defaults"


@pytest.mark.parametrize("role", ROLES)
def test_an_option_without_a_default_is_required_or_says_so(role):
    """A variable the role has no default for is either required, or documented as optional."""
    options = declared(role)
    silent = sorted(name for name, option in options.items()
                    if name not in defaults(role) and "default" not in option and not option.get("required"))
    for name in silent:
        text = " ".join(options[name]["description"]) if isinstance(options[name]["description"], list) \
            else options[name]["description"]
        assert re.search(r"\b(unset|optional|not set|when set|if set|undefined)\b", text, re.I), \
            f"{role}: {name} has no default, is not required and does not say what happens when unset"


@pytest.mark.parametrize("role", ROLES)
def test_the_readme_documents_the_declared_variables(role):
    section = README_VARIABLES.search((ROOT / "roles" / role / "README.md").read_text())
    assert section, f"{role}: README has no section of variables"
    if README_POINTS_TO_SPEC in section[1] and not README_ROW.search(section[1]):
        return
    table = set(README_ROW.findall(section[1]))
    options = set(declared(role))
    assert table == options, (f"{role}: README only {sorted(table - options)}; "
                              f"meta/argument_specs.yml only {sorted(options - table)}")
