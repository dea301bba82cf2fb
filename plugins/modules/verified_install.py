#!/usr/bin/python
"""Ansible module: install files verified on the node, each only when it differs."""

from __future__ import annotations

DOCUMENTATION = r"""
module: verified_install
short_description: Install files that were verified on the node, only those that differ
description:
  - Installs each of O(files) from O(src_dir) on the node to its C(dest), when the installed file is
    missing or its SHA-256 is not the one O(sha256) gives for it; a file with the right content but
    another mode, owner or group only gets those set.
  - Every copy is hashed while it is written and renamed into place only when it has the digest in
    O(sha256), the one its source was verified with; otherwise the module fails naming the file,
    and that destination is left as it was.
  - Missing directories above a destination are created (mode 0755); existing ones are left as they
    are.
  - Destinations are replaced through a new file renamed over them, so a running program keeps its
    old binary until it restarts.
  - The bundle_install role's last step, after its checksum gate; one module run per role instead
    of a copy task per file.
version_added: "1.2.0"
author: k8s-lab (!UNKNOWN)
options:
  src_dir:
    description: The directory on the node that holds the verified files under their O(files[].src) paths.
    type: path
    required: true
  files:
    description: What to install.
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: Path inside O(src_dir); must be a key of O(sha256).
        type: str
        required: true
      dest:
        description: Absolute path to install it to.
        type: path
        required: true
      mode:
        description: Its mode, as an octal string.
        type: raw
        default: "0755"
  sha256:
    description: Path inside O(src_dir) -> the SHA-256 it was verified with (the bundle's SHA256SUMS).
    type: dict
    required: true
  owner:
    description: Owner of the installed files.
    type: str
    default: root
  group:
    description: Group of the installed files.
    type: str
    default: root
attributes:
  check_mode:
    description: Reports what it would install; reads no source and writes nothing.
    support: full
  diff_mode:
    description: No diff is returned.
    support: none
"""

EXAMPLES = r"""
- name: Install kubeadm and kubelet from the bundle the node has mounted
  k8s_lab.lab.verified_install:
    src_dir: /opt/k8s-lab/bundle
    files:
      - {src: bin/kubeadm, dest: /usr/bin/kubeadm}
      - {src: bin/kubelet, dest: /usr/bin/kubelet}
    sha256: "{{ bundle_install_sums }}"
"""

RETURN = r"""
installed:
  description: The destinations written (in check mode, that would be).
  returned: always
  type: list
  elements: str
attributes_set:
  description: The destinations whose content was right and whose mode or owner was set.
  returned: always
  type: list
  elements: str
directories_created:
  description: The directories made above destinations.
  returned: always
  type: list
  elements: str
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.k8s_lab.lab.plugins.module_utils.verified_install import (
    ARGUMENT_SPEC,
    InstallError,
    install,
    wanted_files,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        uid = pwd.getpwnam(params["owner"]).pw_uid
        gid = grp.getgrnam(params["group"]).gr_gid
    except KeyError as exc:
        module.fail_json(msg=f"no such user or group on this node: {exc}")
    try:
        wanted = wanted_files(params["files"], params["sha256"])
        result = install(wanted, params["src_dir"], uid, gid, lambda tmp, dest: module.atomic_move(tmp, dest),
                         check_mode=module.check_mode)
    except (InstallError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
