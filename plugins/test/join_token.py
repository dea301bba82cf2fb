"""Jinja test: is a value a kubeadm bootstrap token (the pattern the kubeadm_join module checks)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: join_token
short_description: Is the value a kubeadm bootstrap token
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - True for a string like C(abcdef.0123456789abcdef), as C(kubeadm token create) prints it; the
    pattern M(k8s_lab.lab.kubeadm_join) checks its O(k8s_lab.lab.kubeadm_join#module:token) against.
options:
  _input:
    description: The value to test.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check the join token without printing it
  ansible.builtin.assert:
    that: token is k8s_lab.lab.join_token
    quiet: true
"""

RETURN = r"""
_value:
  description: Whether the value is a bootstrap token.
  type: bool
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import TOKEN_RE


def join_token(value):
    """Whether value is a bootstrap token."""
    return isinstance(value, str) and TOKEN_RE.match(value) is not None


class TestModule:
    """k8s_lab.lab.join_token."""

    def tests(self):
        return {"join_token": join_token}
