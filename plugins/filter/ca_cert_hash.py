"""Filter for kubeadm_master: kubeadm's pin of the cluster CA, computed on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ca_cert_hash
short_description: kubeadm's pin of a CA certificate
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - Turns a PEM CA certificate into kubeadm's pin C(sha256:<hex of SHA-256 of the DER
    SubjectPublicKeyInfo>), for RSA and EC keys alike, as M(k8s_lab.lab.kubeadm_join) checks it.
  - The same code the module runs on the nodes (module_utils C(kubeadm_pki)); no cryptography
    library needed.
options:
  _input:
    description: The PEM certificate (for example the control plane's C(/etc/kubernetes/pki/ca.crt)).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Publish the CA pin
  ansible.builtin.set_fact:
    ca_cert_hashes: ["{{ ca_slurp.content | b64decode | k8s_lab.lab.ca_cert_hash }}"]
"""

RETURN = r"""
_value:
  description: The pin, C(sha256:) and 64 lowercase hex digits.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import CertificateError, ca_cert_hash


def pem_ca_cert_hash(pem):
    """kubeadm's pin of a PEM certificate; a filter error for anything else."""
    try:
        return ca_cert_hash(pem)
    except (CertificateError, ValueError) as exc:
        raise AnsibleFilterError(f"ca_cert_hash: not a PEM certificate ({exc})") from exc


class FilterModule:
    """k8s_lab.lab.ca_cert_hash."""

    def filters(self):
        return {"ca_cert_hash": pem_ca_cert_hash}
