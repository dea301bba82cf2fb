"""Filter for the lab's wiring (inventory/group_vars/all.yml): the addresses the applications ask
MetalLB for, counted from the first address of the load balancer range."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ipv4_offset
short_description: The IPv4 address a number of places after another
version_added: "1.1.0"
author: k8s-lab (!UNKNOWN)
description:
  - Takes an IPv4 address (as P(k8s_lab.lab.ipv4_address#test) takes it) and returns the one
    O(offset) places after it (before it when negative), carried across octets as
    Python's C(ipaddress) counts (C(192.168.0.255) plus 1 is C(192.168.1.0)).
  - An input that is not an IPv4 address, an offset that is not a whole number, or a result outside
    C(0.0.0.0)-C(255.255.255.255) is an error.
options:
  _input:
    description: The address to count from.
    type: str
    required: true
  offset:
    description: How many places after the input (before it when negative).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Grafana asks MetalLB for the third address of the load balancer range
  ansible.builtin.set_fact:
    monitoring_grafana_load_balancer_ip: "{{ lab_loadbalancer_first_ip | k8s_lab.lab.ipv4_offset(2) }}"
"""

RETURN = r"""
_value:
  description: The address, like C(192.168.1.13).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils import ipv4


def ipv4_offset(value, offset):
    """The IPv4 address offset places after value."""
    start = ipv4.address(value)
    if start is None:
        raise AnsibleFilterError(f"ipv4_offset: {value!r} is not an IPv4 address")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise AnsibleFilterError(f"ipv4_offset: the offset must be a whole number (got {offset!r})")
    try:
        return str(start + offset)
    except ValueError as exc:
        raise AnsibleFilterError(f"ipv4_offset: {value} + {offset} is outside IPv4's addresses") from exc


class FilterModule:
    """k8s_lab.lab.ipv4_offset."""

    def filters(self):
        return {"ipv4_offset": ipv4_offset}
