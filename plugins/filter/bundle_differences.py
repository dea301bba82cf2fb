"""Filter for the bundle_install role's gate: the bundle's files a node holds with other content
than SHA256SUMS says, as module_utils/bundle_gate decides."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_differences
short_description: The bundle's files a node holds with other content than SHA256SUMS says
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the bundle's paths, the node directory that holds them, the bundle's SHA256SUMS (path to
    SHA-256) and the node's hashes (node path to SHA-256, the P(k8s_lab.lab.sha256sum_map#filter) of
    C(sha256sum) run there), and returns C([path, sha256 on the node]) for each path whose file
    differs, C(no file) where the node has none, in the order of the paths.
  - bundle_install copies what differs (kept copies), and installs nothing while anything differs
    after the copies (its gate).
options:
  _input:
    description: The bundle's paths, relative to the bundle.
    type: list
    elements: str
    required: true
  root:
    description: The directory on the node that holds them.
    type: str
    required: true
  sums:
    description: The bundle's SHA256SUMS, path to SHA-256.
    type: dict
    required: true
  hashes:
    description: The node's files, node path to SHA-256.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Name the files that differ
  ansible.builtin.debug:
    msg: "{{ ['bin/runc'] | k8s_lab.lab.bundle_differences('/opt/k8s-lab/bundle', sums, hashed.stdout_lines
             | k8s_lab.lab.sha256sum_map) }}"
"""

RETURN = r"""
_value:
  description: C([path, sha256 on the node]) per file that differs.
  type: list
  elements: list
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.bundle_gate import differences


def bundle_differences(paths, root, sums, hashes):
    return differences(paths, root, sums, hashes)


class FilterModule:
    """k8s_lab.lab.bundle_differences."""

    def filters(self):
        return {"bundle_differences": bundle_differences}
