#!/usr/bin/python
"""Ansible module: join a node to a kubeadm cluster, verifying the cluster CA by its pin."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubeadm_join
short_description: Join a node to a kubeadm cluster, securely and once
description:
  - Runs C(kubeadm join) with a generated JoinConfiguration (C(kubeadm.k8s.io/v1beta4)) that
    always verifies the cluster CA against the given public-key pins; there is no way to skip
    that check.
  - A node that already joined (the kubelet kubeconfig exists) is left alone and reports
    C(changed=false), after checking that its kubeconfig points at the same API server and a CA
    with one of the given pins. A node of another cluster fails with a message naming both.
  - The bootstrap token is masked in every returned field.
  - The configuration file holding the token exists only while C(kubeadm join) runs, with mode
    0600 in a private temporary directory.
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
options:
  api_server_endpoint:
    description: API server as C(host:port), e.g. C(192.168.1.10:6443).
    type: str
    required: true
  token:
    description: Bootstrap token, C(abcdef.0123456789abcdef) (see C(kubeadm token create)).
    type: str
    required: true
  ca_cert_hashes:
    description:
      - Pins of the cluster CA, C(sha256:<hex of the SHA-256 of its DER SubjectPublicKeyInfo>).
    type: list
    elements: str
    required: true
  node_name:
    description: Name of the Node object; kubeadm uses the host name when omitted.
    type: str
  node_ip:
    description: Address the kubelet registers (its C(--node-ip)).
    type: str
  cri_socket:
    description: CRI socket of the container runtime.
    type: str
    default: unix:///run/containerd/containerd.sock
  extra_args:
    description:
      - Further C(kubeadm join) flags. kubeadm only accepts C(--ignore-preflight-errors),
        C(--v), C(--dry-run), C(--rootfs), C(--log-file) and C(--skip-*) next to C(--config).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds for discovery and for TLS bootstrap, each (10-3600). The command itself may run
        for both plus a minute.
    type: int
    default: 300
  kubeadm_path:
    description: Path of kubeadm; searched in PATH when omitted.
    type: path
  kubelet_kubeconfig:
    description:
      - The kubelet kubeconfig whose existence means the node has joined.
      - Without it, a C(bootstrap-kubelet.conf) or C(pki/ca.crt) beside it means an earlier join
        failed half-way; the module runs C(kubeadm reset --force) before joining and reports it
        in C(reset).
    type: path
    default: /etc/kubernetes/kubelet.conf
attributes:
  check_mode:
    description: Says whether the node would join (or be reset first), and runs nothing.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - Compute the pin on the controller from the control plane's C(/etc/kubernetes/pki/ca.crt),
    for example with the P(k8s_lab.lab.ca_cert_hash#filter) filter.
"""

EXAMPLES = r"""
- name: join the worker
  k8s_lab.lab.kubeadm_join:
    api_server_endpoint: 192.168.1.10:6443
    token: "{{ join_token }}"
    ca_cert_hashes:
      - sha256:0e5d0b8d7a4f1a8d4c4d0b6f3a1d3c1a9c2b2e7d1b6a3f0c9e8d7c6b5a4f3e2d1
    node_name: w1-k8s
    node_ip: 192.168.1.101
"""

RETURN = r"""
cmd:
  description: The command run (the configuration file path is a temporary one).
  returned: always
  type: list
  elements: str
rc:
  description: Exit code of kubeadm.
  returned: when kubeadm ran and finished before the timeout
  type: int
stdout:
  description: Output of kubeadm, token masked.
  returned: always
  type: str
stderr:
  description: Error output of kubeadm, token masked.
  returned: always
  type: str
duration:
  description: Seconds kubeadm ran.
  returned: always
  type: float
state:
  description: C(joined), C(would_join), C(member_of_other_cluster), C(failed) or C(timed_out).
  returned: when the arguments are valid
  type: str
join_configuration:
  description: The JoinConfiguration used, token masked.
  returned: always
  type: dict
reset:
  description: Files of a failed earlier join that made the module reset the node before joining.
  returned: when the node was half-joined
  type: list
  elements: str
cluster:
  description: API server and CA pin found in the existing kubelet kubeconfig.
  returned: when the node had joined before
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_join import ARGUMENT_SPEC, execute


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = dict(module.params)
    if not params.get("kubeadm_path") and not module.check_mode:
        params["kubeadm_path"] = module.get_bin_path("kubeadm", required=True)
    failed, result = execute(params, check_mode=module.check_mode)
    if failed:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
