"""Filter for the book's exercises (playbooks/exercises/tasks/read-history.yml): a Deployment's
rollout history, as module_utils/rollout builds it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: rollout_history
short_description: A Deployment's rollout history, as kubectl rollout history builds it
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes ReplicaSet objects (M(kubernetes.core.k8s_info)'s C(resources)) and their Deployment, and
    returns one entry per ReplicaSet the Deployment controls (an ownerReference with its uid),
    sorted by revision, each with C(revision) (annotation C(deployment.kubernetes.io/revision)),
    C(replicaset), C(change_cause) (C(kubernetes.io/change-cause)), C(images) and C(template).
options:
  _input:
    description: The ReplicaSet objects.
    type: list
    elements: dict
    required: true
  deployment:
    description: The Deployment object.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Show the revisions
  ansible.builtin.debug:
    msg: "{{ replicasets.resources | k8s_lab.lab.rollout_history(deployment) | map(attribute='revision') }}"
"""

RETURN = r"""
_value:
  description: The history, oldest revision first.
  type: list
  elements: dict
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.rollout import history


def rollout_history(replicasets, deployment):
    return history(replicasets, deployment)


class FilterModule:
    """k8s_lab.lab.rollout_history."""

    def filters(self):
        return {"rollout_history": rollout_history}
