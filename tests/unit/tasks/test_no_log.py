"""Every task that reads or prints a token, a key, a password or a kubeconfig is no_log.

A static check of the YAML of roles/*/{tasks,handlers}, playbooks/ and site.yml: it finds the
tasks that handle secrets (slurp of a secret path, kubeadm init/token and other commands that print
secrets, the password lookup, reading a Secret through the API, and any task that uses what such a
task registered) and fails for each one without no_log: true. Variables of a role's vars/ and
defaults/ named in a task are expanded, so that an argv kept in a variable is checked too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

SLURP = {"slurp", "ansible.builtin.slurp", "ansible.legacy.slurp"}
COMMANDS = {"command", "shell", "raw", "ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw",
            "ansible.legacy.command", "ansible.legacy.shell"}
K8S_INFO = {"kubernetes.core.k8s_info", "k8s_info"}
# Paths whose content is a secret: kubeconfigs (admin.conf, kubelet.conf, calico-kubeconfig),
# tokens, keys, passwords.
SECRET_PATH = re.compile(r"kubeconfig|kube/config|admin\.conf|kubelet\.conf|token|secret|password|\.key\b|"
                         r"private_key|id_(rsa|ed25519)\b", re.IGNORECASE)
# Commands whose output holds a secret.
SECRET_COMMAND = re.compile(r"kubeadm\W+(init|token)\b|config\W+view\W+--raw|create\W+token\b|"
                            r"get\W+secrets?\b|\bcat\b[^\n]*(\.key\b|admin\.conf|kubeconfig)", re.IGNORECASE)
PASSWORD_LOOKUP = re.compile(r"lookup\(\s*['\"](ansible\.builtin\.)?password['\"]")
BLOCK_KEYS = ("block", "rescue", "always")
PLAY_TASK_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")


class AnsibleYamlLoader(yaml.SafeLoader):
    """YAML as Ansible writes it: !unsafe and !vault values read as plain text."""


for _tag in ("!unsafe", "!vault"):
    AnsibleYamlLoader.add_constructor(_tag, lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(), Loader=AnsibleYamlLoader)  # noqa: S506 - a SafeLoader subclass


def task_files() -> list[Path]:
    files = sorted((ROOT / "roles").glob("*/tasks/**/*.yml")) + sorted((ROOT / "roles").glob("*/handlers/**/*.yml"))
    files += [*sorted((ROOT / "playbooks").glob("**/*.yml")), ROOT / "site.yml"]
    return files


def role_variables(path: Path) -> dict:
    """The variables of the role a task file belongs to (vars/ wins over defaults/)."""
    try:
        role = path.relative_to(ROOT / "roles").parts[0]
    except ValueError:
        return {}
    found = {}
    for kind in ("defaults", "vars"):
        for file in sorted((ROOT / "roles" / role / kind).glob("*.yml")):
            found.update(load(file) or {})
    return found


def tasks_of(document) -> list[tuple[dict, bool]]:
    """(task, no_log inherited from an enclosing block or play) for every task of a task file or
    a playbook, blocks walked into."""
    found = []

    def walk(tasks, inherited):
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            no_log = inherited or task.get("no_log") is True
            if any(key in task for key in BLOCK_KEYS):
                for key in BLOCK_KEYS:
                    walk(task.get(key), no_log)
            else:
                found.append((task, no_log))

    if isinstance(document, list) and any(isinstance(item, dict) and ("hosts" in item or "import_playbook" in item)
                                          for item in document):
        for play in document:
            for key in PLAY_TASK_KEYS:
                walk(play.get(key), play.get("no_log") is True)
    else:
        walk(document, False)
    return found


def module_of(task: dict) -> tuple[str, object]:
    for key, value in task.items():
        if key in SLURP | COMMANDS | K8S_INFO or "." in key or key in ("set_fact", "debug", "assert", "copy"):
            return key, value
    return "", None


def expanded(text: str, variables: dict, depth: int = 3) -> str:
    """text with the values of the role variables it names appended (names inside names too)."""
    for _ in range(depth):
        named = [name for name in variables if re.search(rf"\b{re.escape(name)}\b", text)]
        extra = " ".join(str(variables[name]) for name in named)
        if not extra or extra in text:
            break
        text = f"{text} {extra}"
    return text


def secret_reasons(task: dict, variables: dict, secret_registers: set[str]) -> list[str]:
    """Why the task handles a secret (empty: it does not)."""
    module, args = module_of(task)
    text = expanded(str(args), variables)
    reasons = []
    if module in SLURP and SECRET_PATH.search(expanded(str((args or {}).get("src", "")), variables)):
        reasons.append("slurps a secret file")
    if module in COMMANDS and SECRET_COMMAND.search(text):
        reasons.append("runs a command that prints a secret")
    if module in K8S_INFO and re.search(r"\bSecret\b", text):
        reasons.append("reads Secrets through the API")
    if PASSWORD_LOOKUP.search(str(task)):
        reasons.append("looks up a password")
    for register in secret_registers:
        if re.search(rf"\b{re.escape(register)}(\.(content|stdout|stdout_lines)\b|\[['\"](content|stdout))",
                     str(task)):
            reasons.append(f"uses the secret {register} registered")
    return reasons


def unprotected(files: list[Path]) -> list[str]:
    """Every task that handles a secret without no_log: 'path: task name: why'."""
    loaded = [(path, tasks_of(load(path)), role_variables(path)) for path in files]
    # Registers of the tasks that read a secret, across every file (a role's are prefixed by it).
    registers = set()
    for _, tasks, variables in loaded:
        for task, _ in tasks:
            if "register" in task and secret_reasons(task, variables, set()):
                registers.add(task["register"])
    problems = []
    for path, tasks, variables in loaded:
        for task, no_log in tasks:
            reasons = secret_reasons(task, variables, registers)
            if reasons and not no_log:
                problems.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                                f"{task.get('name', '(unnamed)')}: {', '.join(reasons)}")
    return problems


def test_every_task_that_handles_a_secret_is_no_log():
    assert unprotected(task_files()) == []


def test_the_check_sees_the_secrets_the_lab_handles():
    """It must find the lab's secret tasks, or it checks nothing."""
    found = []
    registers = set()
    for path in task_files():
        variables = role_variables(path)
        for task, _ in tasks_of(load(path)):
            if secret_reasons(task, variables, set()):
                found.append(task.get("name"))
                registers.add(task.get("register"))
    for name in ("Run kubeadm init", "Run kubeadm init again", "List the bootstrap tokens",
                 "Create a short-lived join token", "Read Calico's CNI kubeconfig",
                 "Generate the admin password on the controller, or read it back"):
        assert name in found
    assert "__recover_calico" in registers


@pytest.mark.parametrize(
    ("tasks", "reason"),
    [
        ([{"name": "slurp", "ansible.builtin.slurp": {"src": "/etc/kubernetes/admin.conf"}}], "slurps"),
        ([{"name": "slurp", "ansible.builtin.slurp": {"src": "{{ recover_calico_kubeconfig }}"}}], "slurps"),
        ([{"name": "init", "ansible.builtin.command": {"argv": ["kubeadm", "init", "--config", "x"]}}], "command"),
        ([{"name": "init", "ansible.builtin.command": "kubeadm token create"}], "command"),
        ([{"name": "raw", "ansible.builtin.shell": "kubectl config view --raw"}], "command"),
        ([{"name": "pw", "ansible.builtin.set_fact": {"x": "{{ lookup('ansible.builtin.password', 'f') }}"}}],
         "password"),
        ([{"name": "s", "kubernetes.core.k8s_info": {"kind": "Secret", "name": "x"}}], "Secrets"),
        ([{"name": "read", "ansible.builtin.slurp": {"src": "/x/token"}, "register": "r", "no_log": True},
          {"name": "use", "ansible.builtin.debug": {"msg": "{{ r.content | b64decode }}"}}], "registered"),
        ([{"block": [{"name": "in a block", "ansible.builtin.command": "kubeadm token list"}]}], "command"),
    ],
)
def test_the_check_fails_a_secret_task_without_no_log(tmp_path, tasks, reason):
    path = tmp_path / "tasks.yml"
    path.write_text(yaml.safe_dump(tasks))
    problems = unprotected([path])
    assert len(problems) == 1 and reason in problems[0], problems
    # no_log on the task, or on its block, satisfies it.
    for task in tasks:
        task["no_log"] = True
    path.write_text(yaml.safe_dump(tasks))
    assert unprotected([path]) == []


def test_the_check_leaves_tasks_without_secrets_alone(tmp_path):
    tasks = [
        {"name": "ca", "ansible.builtin.slurp": {"src": "/etc/kubernetes/pki/ca.crt"}, "register": "ca"},
        {"name": "pin", "ansible.builtin.set_fact": {"pin": "{{ ca.content | b64decode }}"}},
        {"name": "reset", "ansible.builtin.command": {"argv": ["kubeadm", "reset", "--force"]}},
        {"name": "readyz", "ansible.builtin.command": {"argv": ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                                                                 "get", "--raw=/readyz"]}},
    ]
    path = tmp_path / "tasks.yml"
    path.write_text(yaml.safe_dump(tasks))
    assert unprotected([path]) == []
