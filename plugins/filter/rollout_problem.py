"""Filter for the calico role's wait (roles/calico/tasks/wait.yml): why a DaemonSet or a Deployment
has not rolled out yet, as module_utils/rollout decides."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_problem
short_description: Why a DaemonSet or a Deployment has not rolled out yet
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the registered result of M(kubernetes.core.k8s_info) for one DaemonSet or Deployment and
    returns what stops its rollout, or an empty string once it has rolled out.
  - The API did not answer (its message); not found; a generation the controller has not observed
    yet; for a DaemonSet, scheduled on no node, or fewer pods Ready or updated than scheduled; for a
    Deployment, not Available (the condition's reason and message), or fewer replicas updated than
    asked for.
options:
  _input:
    description: The registered result of M(kubernetes.core.k8s_info) (C(resources), or C(msg)).
    type: dict
    required: true
  kind:
    description: The kind looked up.
    type: str
    choices: [DaemonSet, Deployment]
    required: true
"""

EXAMPLES = r"""
- name: Wait until calico-node is Ready on every node
  kubernetes.core.k8s_info:
    kind: DaemonSet
    namespace: kube-system
    name: calico-node
  register: calico_node
  until: calico_node | k8s_lab.lab.rollout_problem('DaemonSet') | length == 0
  retries: 30
  delay: 10
"""

RETURN = r"""
_value:
  description: What stops the rollout, or an empty string.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils.rollout import rollout_problem as _rollout_problem


def rollout_problem(result, kind):
    try:
        return _rollout_problem(result, kind)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """k8s_lab.lab.rollout_problem."""

    def filters(self):
        return {"rollout_problem": rollout_problem}
