"""Filter for the upgrade's return to service (roles/kubeadm_upgrade/tasks/kubelet.yml): the pods of
the node's own that are not Ready yet, as module_utils/pod_status decides."""

from __future__ import annotations

DOCUMENTATION = r"""
name: unready_node_pods
short_description: The pods of a node's own that are not Ready
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the Pod objects of M(kubernetes.core.k8s_info) and a node name, and returns the sorted
    C(namespace/name) of the pods bound to that node (a DaemonSet's pods and the static pods'
    mirrors) whose Ready condition is not C(True), or that are being deleted.
options:
  _input:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Pod).
    type: list
    elements: dict
    required: true
  node:
    description: The node's name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Name the node's own pods that are not Ready yet
  ansible.builtin.debug:
    msg: "{{ pods.resources | k8s_lab.lab.unready_node_pods('w1-k8s') }}"
"""

RETURN = r"""
_value:
  description: Sorted C(namespace/name) of the node's own pods that are not Ready.
  type: list
  elements: str
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.pod_status import unready_node_pods


class FilterModule:
    """k8s_lab.lab.unready_node_pods."""

    def filters(self):
        return {"unready_node_pods": unready_node_pods}
