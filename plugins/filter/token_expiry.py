"""Filter for the recover role (tasks/calico-token.yml): when the token of a kubeconfig ends, as
module_utils/service_token reads it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: token_expiry
short_description: When the service account token of a kubeconfig ends
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes a kubeconfig's text and returns the C(exp) claim (seconds since the epoch) of its first
    user's token, a JWT, read without verifying its signature.
  - A kubeconfig without a token, or a token that is no JWT with an expiry, is an error whose
    message never contains the token.
options:
  _input:
    description: The kubeconfig's text (for M(ansible.builtin.slurp), its C(content) after C(b64decode)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Read when Calico's token ends
  ansible.builtin.set_fact:
    calico_token_exp: "{{ slurped.content | b64decode | k8s_lab.lab.token_expiry }}"
  no_log: true
"""

RETURN = r"""
_value:
  description: The token's C(exp) claim, in seconds since the epoch.
  type: int
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.service_token import TokenError, kubeconfig_token_expiry


def token_expiry(kubeconfig):
    try:
        return kubeconfig_token_expiry(kubeconfig)
    except TokenError as exc:
        raise AnsibleFilterError(f"token_expiry: {exc}") from None


class FilterModule:
    """k8s_lab.lab.token_expiry."""

    def filters(self):
        return {"token_expiry": token_expiry}
