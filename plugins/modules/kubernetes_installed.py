#!/usr/bin/python
"""Ansible module: which Kubernetes release a node has, read on the node."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kubernetes_installed
short_description: Which Kubernetes release a node has installed and, on a control plane, runs
description:
  - Reads the release of the installed kubelet (C(kubelet --version)) and, where kubeadm wrote them,
    the release of each control plane static pod (the image tag of C(kube-apiserver.yaml),
    C(kube-controller-manager.yaml) and C(kube-scheduler.yaml) in O(manifests_dir)).
  - Only reads; never changes anything (C(changed=false)), in check mode too.
  - What the lab decides from it (site.yml's release of each node, the upgrade's checks) is the
    P(k8s_lab.lab.node_release#filter) and P(k8s_lab.lab.upgrade_plan#filter) filters' job.
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
options:
  kubelet:
    description: Path of the kubelet binary.
    type: path
    default: /usr/bin/kubelet
  manifests_dir:
    description: kubeadm's static pod manifests.
    type: path
    default: /etc/kubernetes/manifests
attributes:
  check_mode:
    description: Reads as in a normal run.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
notes:
  - The manifests are readable by root only, so run it with become.
"""

EXAMPLES = r"""
- name: Read which Kubernetes the node has
  k8s_lab.lab.kubernetes_installed:
  become: true
  register: installed
"""

RETURN = r"""
kubelet:
  description: The installed kubelet's release; empty when there is no kubelet or it names no release.
  returned: always
  type: str
  sample: v1.37.2
control_plane:
  description: Control plane component -> the release of its static pod manifest, for the manifests found.
  returned: always
  type: dict
  sample: {kube-apiserver: v1.37.2, kube-controller-manager: v1.37.2, kube-scheduler: v1.37.2}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubernetes_release import (
    CONTROL_PLANE_COMPONENTS,
    kubelet_release,
    manifest_release,
)

ARGUMENT_SPEC = {
    "kubelet": {"type": "path", "default": "/usr/bin/kubelet"},
    "manifests_dir": {"type": "path", "default": "/etc/kubernetes/manifests"},
}


def read(params, run_command) -> dict:
    """What the node has; run_command(argv) -> (rc, stdout, stderr) is AnsibleModule's."""
    kubelet = ""
    if os.access(params["kubelet"], os.X_OK):
        rc, out, _ = run_command([params["kubelet"], "--version"])
        kubelet = kubelet_release(out) if rc == 0 else ""
    control_plane = {}
    for component in CONTROL_PLANE_COMPONENTS:
        path = os.path.join(params["manifests_dir"], f"{component}.yaml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                control_plane[component] = manifest_release(handle.read())
    return {"kubelet": kubelet, "control_plane": control_plane}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        found = read(module.params, module.run_command)
    except OSError as exc:
        module.fail_json(msg=f"cannot read what Kubernetes the node has: {exc}")
    module.exit_json(changed=False, **found)


if __name__ == "__main__":
    main()
