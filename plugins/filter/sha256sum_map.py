"""Filter for the bundle_install role: sha256sum's output as a mapping, as module_utils/bundle_gate
reads it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: sha256sum_map
short_description: sha256sum's output lines as path to SHA-256
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the output lines of C(sha256sum) (C(<sha256>  <path>)) and returns a mapping of each
    path to its SHA-256. A line of another shape is an error, not skipped.
options:
  _input:
    description: The lines (a registered command's C(stdout_lines)).
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Show the node's hashes
  ansible.builtin.debug:
    msg: "{{ hashed.stdout_lines | k8s_lab.lab.sha256sum_map }}"
"""

RETURN = r"""
_value:
  description: Path to SHA-256 (lowercase hexadecimal).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.bundle_gate import sha256sum_map as _sha256sum_map


def sha256sum_map(lines):
    try:
        return _sha256sum_map(lines)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """k8s_lab.lab.sha256sum_map."""

    def filters(self):
        return {"sha256sum_map": sha256sum_map}
