"""Filter for the recover role (roles/recover/tasks/node.yml): `systemctl show`'s output by unit, as
module_utils/systemd_show reads it."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_units
short_description: The output of systemctl show, by unit
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes the output of C(systemctl show --property=Id,... UNIT...) (a block of C(Key=Value) lines
    per unit, blocks separated by an empty line) and returns each unit's properties under its
    C(Id) without the C(.service) suffix.
options:
  _input:
    description: The command's standard output.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Show the kubelet's load state
  ansible.builtin.debug:
    msg: "{{ (shown.stdout | k8s_lab.lab.systemd_units)['kubelet']['LoadState'] }}"
"""

RETURN = r"""
_value:
  description: Unit name (without C(.service)) to its properties.
  type: dict
"""

from ansible_collections.k8s_lab.lab.plugins.module_utils.systemd_show import units


def systemd_units(text):
    return units(text)


class FilterModule:
    """k8s_lab.lab.systemd_units."""

    def filters(self):
        return {"systemd_units": systemd_units}
