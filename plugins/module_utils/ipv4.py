"""IPv4 addresses and networks as the roles' variables write them (192.168.1.10, 172.16.0.0/16),
read with the standard library's ipaddress: for the Jinja tests of plugins/test/network.py and the
filter ipv4_offset. A value that is not a string, or not in that exact form, is no address."""

from __future__ import annotations

import ipaddress
import re

# The prefix length as a number without leading zeros (ipaddress would also take a netmask).
_PREFIX_RE = re.compile(r"0|[1-9][0-9]?")


def address(value) -> ipaddress.IPv4Address | None:
    """The address of a dotted quad (four decimal octets 0-255, no leading zeros), else None."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        return None


def network(value, strict: bool = True) -> ipaddress.IPv4Network | None:
    """The network of ADDRESS/PREFIX (a prefix length 0-32, not a netmask), else None. strict: an
    address with host bits set (172.16.0.1/16) is no network either."""
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    host, prefix = value.split("/")
    if address(host) is None or not _PREFIX_RE.fullmatch(prefix):
        return None
    try:
        return ipaddress.IPv4Network(value, strict=strict)
    except ValueError:
        return None
