"""Jinja tests for the roles: the kubeadm formats of module_utils/kubeadm_pki, the ones the
kubeadm_join module checks (documented in join_token.yml and ca_pin.yml beside this file)."""

from __future__ import annotations

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import CA_CERT_HASH_RE, TOKEN_RE


def join_token(value):
    """Whether value is a bootstrap token, abcdef.0123456789abcdef."""
    return isinstance(value, str) and TOKEN_RE.match(value) is not None


def ca_pin(value):
    """Whether value is a CA pin, sha256:<64 lowercase hex digits>."""
    return isinstance(value, str) and CA_CERT_HASH_RE.match(value) is not None


class TestModule:
    """k8s_lab.lab.join_token and k8s_lab.lab.ca_pin."""

    def tests(self):
        return {"join_token": join_token, "ca_pin": ca_pin}
