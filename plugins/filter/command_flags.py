"""Filter: a command line's --flag=value arguments as a dict (a static pod's settings, read from its
manifest rather than written twice)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: command_flags
short_description: The --flag=value arguments of a command line as a dict
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes a container's command (a list, as in a Pod manifest) and returns each C(--name=value)
    argument as C(name) -> C(value); C(--name) alone maps to C(true). The first word and any other
    argument are ignored; a flag given twice keeps its last value, as the Go flag package does.
options:
  _input:
    description: The command, e.g. C(spec.containers[0].command) of kubeadm's etcd manifest.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read etcd's member name and data directory from its manifest
  ansible.builtin.set_fact:
    etcd_flags: >-
      {{ (manifest.content | b64decode | from_yaml).spec.containers[0].command | k8s_lab.lab.command_flags }}
"""

RETURN = r"""
_value:
  description: Flag name (without its dashes) -> value.
  type: dict
"""


def command_flags(command):
    flags = {}
    for argument in command or []:
        if not isinstance(argument, str) or not argument.startswith("--") or argument == "--":
            continue
        name, sep, value = argument[2:].partition("=")
        flags[name] = value if sep else True
    return flags


class FilterModule:
    """k8s_lab.lab.command_flags."""

    def filters(self):
        return {"command_flags": command_flags}
