"""Filter for the upgrade's return to service (roles/kubeadm_upgrade/tasks/kubelet.yml): the control
plane's components that do not lead from their running container yet, as module_utils/pod_status
decides."""

from __future__ import annotations

DOCUMENTATION = r"""
name: stale_leaders
short_description: The control plane's components that do not lead from their running container yet
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the Lease objects of kube-system (M(kubernetes.core.k8s_info)), the Pod objects of the
    control plane node and its name, and returns which of kube-controller-manager and
    kube-scheduler do not hold their Lease from the container running on that node yet. No Lease,
    no running container, or a Lease acquired before the container started (the previous
    process's, which a restarted one takes over only once it expires) counts as not leading.
  - Until the controller-manager leads, nothing removes a deleted pod from its Service's endpoints.
options:
  _input:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Lease) in kube-system.
    type: list
    elements: dict
    required: true
  pods:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Pod) on the node.
    type: list
    elements: dict
    required: true
  node:
    description: The control plane node's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the control plane's components that do not lead yet
  ansible.builtin.debug:
    msg: "{{ leases.resources | k8s_lab.lab.stale_leaders(pods.resources, 'm-k8s') }}"
"""

RETURN = r"""
_value:
  description: Sorted names of the components that do not lead yet.
  type: list
  elements: str
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.pod_status import stale_leaders


class FilterModule:
    """k8s_lab.lab.stale_leaders."""

    def filters(self):
        return {"stale_leaders": stale_leaders}
