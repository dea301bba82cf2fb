"""Jinja tests for the roles' addresses and networks, on the standard library's ipaddress through
module_utils/ipv4 (documented in ipv4_address.yml, ip_address.yml, ipv4_network.yml, ipv4_range.yml
and ipv4_overlapping.yml beside this file)."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.module_utils import ipv4


def ipv4_address(value):
    """Whether value is an IPv4 address, 192.168.1.10."""
    return ipv4.address(value) is not None


def ip_address(value):
    """Whether value is an IPv4 or an IPv6 address (an IPv6 one without a %zone, as Kubernetes takes it)."""
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ipv4_network(value, strict=True, min_prefix=0, max_prefix=32):
    """Whether value is an IPv4 network, 172.16.0.0/16: without host bits set unless not strict, its
    prefix length from min_prefix to max_prefix."""
    parsed = ipv4.network(value, strict=bool(strict))
    return parsed is not None and int(min_prefix) <= parsed.prefixlen <= int(max_prefix)


def ipv4_range(value):
    """Whether value is a pair [first, last] of IPv4 addresses with first not above last."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or len(value) != 2:
        return False
    first, last = (ipv4.address(item) for item in value)
    return first is not None and last is not None and first <= last


def ipv4_overlapping(value, other):
    """Whether the IPv4 networks value and other share an address (host bits are ignored). Either
    not being a network is an error: check them with ipv4_network first."""
    networks = [ipv4.network(item, strict=False) for item in (value, other)]
    for item, parsed in zip((value, other), networks, strict=True):
        if parsed is None:
            raise AnsibleFilterError(f"ipv4_overlapping: {item!r} is not an IPv4 network")
    return networks[0].overlaps(networks[1])


class TestModule:
    """k8s_lab.lab.ipv4_address, ip_address, ipv4_network, ipv4_range and ipv4_overlapping."""

    def tests(self):
        return {
            "ipv4_address": ipv4_address,
            "ip_address": ip_address,
            "ipv4_network": ipv4_network,
            "ipv4_range": ipv4_range,
            "ipv4_overlapping": ipv4_overlapping,
        }
