"""Filter for the common role's check (roles/common/tasks/check.yml): the kernel settings that
differ, as module_utils/sysctl reads them."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sysctl_differences
short_description: The kernel settings whose live value differs from the one wanted
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the output lines of C(sysctl -e KEY...) (C(key = value)) and the settings wanted (key to
    value), and returns the keys whose live value is another, or that C(sysctl) did not print
    (a key the kernel lacks), in the order of the settings wanted. Values compare as strings.
options:
  _input:
    description: The lines (a registered command's C(stdout_lines)).
    type: list
    elements: str
    required: true
  wanted:
    description: The settings wanted, key to value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Name the sysctls that differ
  ansible.builtin.debug:
    msg: "{{ sysctl_read.stdout_lines | k8s_lab.lab.sysctl_differences({'net.ipv4.ip_forward': 1}) }}"
"""

RETURN = r"""
_value:
  description: The keys whose live value differs.
  type: list
  elements: str
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.sysctl import differences


def sysctl_differences(lines, wanted):
    return differences(lines, wanted)


class FilterModule:
    """k8s_lab.lab.sysctl_differences."""

    def filters(self):
        return {"sysctl_differences": sysctl_differences}
