"""Jinja test: is a value a kubeadm CA pin (the format the kubeadm_join module checks)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ca_pin
short_description: Is the value a kubeadm CA pin
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - True for C(sha256:) followed by 64 lowercase hex digits, as P(k8s_lab.lab.ca_cert_hash#filter)
    returns it and M(k8s_lab.lab.kubeadm_join) checks its O(k8s_lab.lab.kubeadm_join#module:ca_cert_hashes).
options:
  _input:
    description: The value to test.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Check the pins
  ansible.builtin.assert:
    that: pins | reject('k8s_lab.lab.ca_pin') | list | length == 0
"""

RETURN = r"""
_value:
  description: Whether the value is a CA pin.
  type: bool
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import CA_CERT_HASH_RE


def ca_pin(value):
    """Whether value is a CA pin."""
    return isinstance(value, str) and CA_CERT_HASH_RE.match(value) is not None


class TestModule:
    """k8s_lab.lab.ca_pin."""

    def tests(self):
        return {"ca_pin": ca_pin}
