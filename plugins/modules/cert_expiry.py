#!/usr/bin/python
"""Ansible module: when the certificates in the given files end."""

from __future__ import annotations

DOCUMENTATION = r"""
module: cert_expiry
short_description: Days left on certificates and kubeconfigs, read where they lie
description:
  - Reads each file's certificate end (C(notAfter)) on the node itself, without sending the file
    anywhere (kubelet's C(kubelet-client-current.pem) and the kubeconfigs hold private keys).
  - A file is a PEM certificate (its first certificate counts), or a kubeconfig whose client
    certificate is embedded (C(client-certificate-data)) or named (C(client-certificate), as the
    kubelet's kubeconfig does after rotation).
  - Files that do not exist are listed in C(missing), not failed; a file that exists but holds no
    readable certificate fails the module, naming it.
  - Read-only; C(changed) is always false.
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
options:
  paths:
    description:
      - Files to read.
      - Omitted, the kubeadm node's own files, named as C(kubeadm certs check-expiration) names them
        (C(apiserver), C(etcd-server), C(admin.conf) ...; C(ca), C(front-proxy-ca), C(etcd-ca)), and
        the kubelet's client (through C(/etc/kubernetes/kubelet.conf)) and serving
        (C(/var/lib/kubelet/pki/kubelet.crt)) certificates. A worker has only the kubelet's.
    type: list
    elements: str
  threshold_days:
    description: Fewer days left than this is C(expiring); none left is C(EXPIRED).
    type: int
    default: 30
attributes:
  check_mode:
    description: Runs as usual; it changes nothing.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
"""

EXAMPLES = r"""
- name: Read the node's kubeadm and kubelet certificates
  k8s_lab.lab.cert_expiry:
    threshold_days: 30
  register: certs

- name: Read the admin kubeconfig fetched to the controller
  k8s_lab.lab.cert_expiry:
    paths: ["{{ playbook_dir }}/.cache/kubeconfig"]
  delegate_to: localhost
  register: controller_certs
"""

RETURN = r"""
certificates:
  description: One entry per file read.
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    name:
      description: Its name in the list of the kubeadm node's files, else its base name.
      type: str
    renewed_by:
      description:
        - C(kubeadm) (C(kubeadm certs renew)), C(kubelet) (its rotation, or recreating it), C(ca)
          (a CA, which nothing renews) or C(other) (a file given in I(paths)).
      type: str
    not_after:
      description: When the certificate ends, UTC, C(YYYY-MM-DDTHH:MM:SSZ).
      type: str
    days_left:
      description: Days until then (negative once ended), two decimals.
      type: float
    status:
      description: C(ok), C(expiring) or C(EXPIRED).
      type: str
missing:
  description: The paths that do not exist.
  returned: always
  type: list
  elements: str
expiring:
  description: Names of the files whose certificate is expiring.
  returned: always
  type: list
  elements: str
expired:
  description: Names of the files whose certificate has ended.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_lab.lab.plugins.module_utils.cert_expiry import ARGUMENT_SPEC, CertificateError, check


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.params["threshold_days"] < 0:
        module.fail_json(msg="threshold_days must be 0 or more")
    try:
        result = check(module.params["paths"], module.params["threshold_days"])
    except CertificateError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
