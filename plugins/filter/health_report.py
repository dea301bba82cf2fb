"""Filter for the health role's report (roles/health/tasks/report.yml): the table and the verdict,
as module_utils/health_report decides and lays them out."""

from __future__ import annotations

DOCUMENTATION = r"""
name: health_report
short_description: The lab's health table and verdict
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the lab's node names and, in the same order, the fact each node's health C(node.yml)
    set (an empty dict for a node that could not be read), with the API server's Node and Pod
    objects, and returns the report C(playbooks/health.yml) prints.
  - One row per node (ready, kubelet, containerd, swap off, modules, sysctls, lab ip, certs),
    the controller's kubeconfig, the pods that are not fine (completed Job pods are; a container
    waiting is not; a pod waiting to be scheduled only without O(pending_ok)), and the verdict.
options:
  _input:
    description: The lab's node names.
    type: list
    elements: str
    required: true
  node_facts:
    description: Each node's health fact (C(__health_node)), in the order of the names.
    type: list
    elements: dict
    required: true
  nodes:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Node); omitted or null
      when the API server was not asked or did not answer (readiness and pods are not checked then).
    type: list
    elements: dict
  pods:
    description: The C(resources) of M(kubernetes.core.k8s_info) with C(kind=Pod).
    type: list
    elements: dict
  api_asked:
    description: Whether the API server was asked. Not asked (no kubeconfig) is said, and is no
      finding; asked without an answer is one.
    type: bool
    default: true
  api_error:
    description: Why the API server did not answer (the module's message), shortened in the table.
    type: str
  kubeconfig:
    description: The controller's kubeconfig, as the table names it.
    type: str
  controller_cert:
    description: The controller kubeconfig's certificate cell (the C(cert_summary) filter).
    type: str
    default: none
  pending_ok:
    description: Pods waiting to be scheduled do not make the lab unhealthy.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Print the health table
  ansible.builtin.debug:
    msg: >-
      {{ (groups['k8s_cluster'] | k8s_lab.lab.health_report(
           groups['k8s_cluster'] | map('extract', hostvars) | map(attribute='__health_node', default={}) | list,
           nodes=api_nodes.resources, pods=api_pods.resources, kubeconfig='/root/.kube/config'))['table'] }}
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  contains:
    rows:
      description: One dict per node, keyed by the column names.
      type: list
      elements: dict
    bad_pods:
      description: The pods that are not fine, each with C(pod) (namespace/name), C(status) and C(node).
      type: list
      elements: dict
    healthy:
      description: Whether the lab is healthy.
      type: bool
    table:
      description: The report as printed, one line per row, then the kubeconfig, the pods and C(Overall).
      type: str
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.health_report import report


def health_report(hosts, node_facts, nodes=None, pods=None, api_asked=True, api_error="", kubeconfig="",
                  controller_cert="none", pending_ok=False):
    return report(hosts, node_facts, nodes=nodes, pods=pods, api_asked=api_asked, api_error=api_error,
                  kubeconfig=kubeconfig, controller_cert=controller_cert, pending_ok=pending_ok)


class FilterModule:
    """k8s_lab.lab.health_report."""

    def filters(self):
        return {"health_report": health_report}
