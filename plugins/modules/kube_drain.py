"""Ansible module: cordon, drain or uncordon a Kubernetes node like kubectl does."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kube_drain
short_description: Cordon, drain or uncordon a Kubernetes node, as kubectl does
description:
  - C(state=cordon) marks the node unschedulable, C(state=uncordon) schedulable again.
  - C(state=drain) cordons the node and evicts its pods with the same rules as C(kubectl drain)
    (k8s.io/kubectl/pkg/drain), then waits until every evicted pod is gone or replaced by a pod of
    another UID (StatefulSets reuse pod names).
  - Mirror (static) pods are always left alone. Pods of an existing DaemonSet are an error unless
    O(ignore_daemonsets) is set, in which case they are left on the node. Pods whose DaemonSet is
    gone, pods with no controller need O(force); running pods with emptyDir volumes need
    O(delete_emptydir_data). Finished pods (Succeeded or Failed) are always removed.
  - If any pod would block the drain, nothing is evicted and the module fails naming those pods.
  - Evictions a PodDisruptionBudget refuses (HTTP 429) are retried every 5 seconds until
    O(timeout).
  - Any failure leaves the node cordoned; the result names the pods that remain.
  - A node that is already unschedulable with nothing left to evict reports C(changed=false).
  - In check mode nothing is changed; the result lists the pods that would be evicted and the
    pods that would be kept on the node, with the reason.
  - Runs where the kubeconfig is, normally the controller (C(delegate_to=localhost)).
version_added: "1.0.0"
author: k8s-lab (!UNKNOWN)
options:
  name:
    description:
      - Name of the node.
      - An empty or malformed name fails before the cluster is contacted.
    type: str
    required: true
    aliases: [node]
  state:
    description: What to do with the node.
    type: str
    choices: [cordon, drain, uncordon]
    default: drain
  kubeconfig:
    description:
      - Path of the kubeconfig file.
      - Defaults to the environment variable E(K8S_AUTH_KUBECONFIG), then C(~/.kube/config).
    type: path
  context:
    description: Context of the kubeconfig to use; its current context by default.
    type: str
  force:
    description: Also delete pods that declare no controller and pods whose DaemonSet is gone.
    type: bool
    default: false
  ignore_daemonsets:
    description: Leave pods of existing DaemonSets on the node instead of failing.
    type: bool
    default: false
  delete_emptydir_data:
    description: Also evict running pods that use emptyDir volumes; their data is lost.
    type: bool
    default: false
  disable_eviction:
    description:
      - Delete pods instead of evicting them. This bypasses PodDisruptionBudgets.
    type: bool
    default: false
  grace_period:
    description:
      - Seconds each pod gets to terminate. V(0) stops pods at once.
      - Omitted or negative, each pod's own C(terminationGracePeriodSeconds) applies.
    type: int
  timeout:
    description:
      - Seconds to wait for all evictions (PDB retries included) and terminations.
      - V(0) waits without limit, as C(kubectl drain) does by default.
    type: int
    default: 300
  pod_selector:
    description: Label selector; only matching pods are considered.
    type: str
  chunk_size:
    description: Pods read per list request (the API's paging); V(0) reads all at once.
    type: int
    default: 500
requirements:
  - kubernetes (Python client)
notes:
  - Unlike M(kubernetes.core.k8s_drain), PDB refusals are retried, a grace period of V(0) is
    honoured and a timeout is a failure.
seealso:
  - module: kubernetes.core.k8s_drain
  - name: kubectl drain
    link: https://kubernetes.io/docs/reference/kubectl/generated/kubectl_drain/
    description: The command whose rules this module follows.
attributes:
  check_mode:
    description: Lists what a drain would evict and keep, and changes nothing.
    support: full
"""

EXAMPLES = r"""
- name: drain w1-k8s, leaving DaemonSet pods (calico, kube-proxy) alone
  k8s_lab.lab.kube_drain:
    name: w1-k8s
    state: drain
    ignore_daemonsets: true
    delete_emptydir_data: true
    timeout: 600
    kubeconfig: "{{ playbook_dir }}/../.cache/kubeconfig"
  delegate_to: localhost

- name: show what a drain would evict and skip
  k8s_lab.lab.kube_drain:
    name: w2-k8s
    ignore_daemonsets: true
  check_mode: true
  delegate_to: localhost
  register: plan

- name: put w1-k8s back into service
  k8s_lab.lab.kube_drain:
    name: w1-k8s
    state: uncordon
  delegate_to: localhost
"""

RETURN = r"""
node:
  description: Name of the node.
  returned: always
  type: str
  sample: w1-k8s
unschedulable:
  description: Whether the node is now (or in check mode would be) unschedulable.
  returned: success
  type: bool
evicted:
  description:
    - Pods evicted (or deleted) and gone; in check mode, the pods that would be evicted.
    - C(attempts) counts eviction requests (more than 1 when a PodDisruptionBudget refused);
      C(warnings) says why a pod kubectl would warn about was removed anyway.
  returned: state=drain
  type: list
  elements: dict
  sample: [{namespace: default, name: echo-hname-5d8b9-abcde, attempts: 1, warnings: []}]
kept:
  description:
    - Pods left on the node on purpose, with the reason.
    - Not called C(skipped), which Ansible reserves for a skipped task and turns into a boolean.
  returned: state=drain
  type: list
  elements: dict
  sample: [{namespace: kube-system, name: calico-node-x2x4z, reason: managed by DaemonSet ...}]
blocked:
  description:
    - Pods that stop the drain, with the reason (no controller, emptyDir, DaemonSet, a
      PodDisruptionBudget still refusing at the timeout, still terminating at the timeout).
    - Empty when the drain succeeded.
  returned: state=drain
  type: list
  elements: dict
  sample: [{namespace: default, name: web-0, reason: eviction refused by a PodDisruptionBudget (HTTP 429)}]
remaining:
  description: C(namespace/name) of the pods still on the node after a failed drain.
  returned: failure of state=drain
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.k8s_lab.lab.plugins.module_utils.kube_drain import (
    KubeDrainError,
    NodeDrainer,
    check_node_name,
    load_api,
)

try:
    import kubernetes

    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    kubernetes = None
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()


ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True, "aliases": ["node"]},
    "state": {"type": "str", "choices": ["cordon", "drain", "uncordon"], "default": "drain"},
    "kubeconfig": {"type": "path"},
    "context": {"type": "str"},
    "force": {"type": "bool", "default": False},
    "ignore_daemonsets": {"type": "bool", "default": False},
    "delete_emptydir_data": {"type": "bool", "default": False},
    "disable_eviction": {"type": "bool", "default": False},
    "grace_period": {"type": "int"},
    "timeout": {"type": "int", "default": 300},
    "pod_selector": {"type": "str"},
    "chunk_size": {"type": "int", "default": 500},
}


def run(module, api_factory=load_api, clock=None):
    """Do what the parameters ask; api_factory and clock are seams for the unit tests."""
    params = module.params
    # Bad numbers are refused before the cluster is contacted.
    if params["timeout"] < 0:
        module.fail_json(msg=f"timeout must be 0 (no limit) or a positive number of seconds, got {params['timeout']}")
    if params["chunk_size"] < 0:
        module.fail_json(msg=f"chunk_size must be 0 (no paging) or positive, got {params['chunk_size']}")
    try:
        check_node_name(params["name"])
    except KubeDrainError as exc:
        module.fail_json(msg=exc.msg)
    try:
        api = api_factory(params["kubeconfig"], params["context"])
        drainer = NodeDrainer(api, params["name"], clock=clock, check_mode=module.check_mode)
        if params["state"] == "cordon":
            result = drainer.cordon()
        elif params["state"] == "uncordon":
            result = drainer.uncordon()
        else:
            result = drainer.drain(
                force=params["force"],
                ignore_daemonsets=params["ignore_daemonsets"],
                delete_emptydir_data=params["delete_emptydir_data"],
                disable_eviction=params["disable_eviction"],
                grace_period=params["grace_period"],
                timeout=params["timeout"],
                pod_selector=params["pod_selector"],
                chunk_size=params["chunk_size"],
            )
    except KubeDrainError as exc:
        failure = dict(exc.result)
        failure.setdefault("node", params["name"])
        module.fail_json(msg=exc.msg, **failure)
    for pod in result.get("evicted", []):
        for warning in pod.get("warnings", []):
            module.warn(f"{pod['namespace']}/{pod['name']}: {warning}")
    module.exit_json(**result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if kubernetes is None:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    run(module)


if __name__ == "__main__":
    main()
