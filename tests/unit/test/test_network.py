"""The Jinja tests of plugins/test/network.py: the roles' IPv4 (and, for the kubelet, IPv6) checks,
on Python's ipaddress instead of a regex in each role."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.test.network import (
    TestModule as NetworkTests,
)
from ansible_collections.k8s_lab.lab.plugins.test.network import (
    ip_address,
    ipv4_address,
    ipv4_network,
    ipv4_overlapping,
    ipv4_range,
)


@pytest.mark.parametrize(("value", "ok"), [
    ("192.168.1.10", True),
    ("0.0.0.0", True),  # noqa: S104 - a value tested, no address bound
    ("255.255.255.255", True),
    ("256.1.1.1", False),
    ("300.16.0.0", False),
    ("192.168.1", False),
    ("192.168.1.10.1", False),
    ("192.168.01.10", False),  # a leading zero: octal to some readers
    (" 192.168.1.10", False),
    ("192.168.1.10\n", False),
    ("192.168.1.0/24", False),
    ("m-k8s", False),
    ("fd00::10", False),
    ("", False),
    (3232235786, False),  # ipaddress would take the integer
    (None, False),
    (["192.168.1.10"], False),
])
def test_ipv4_address(value, ok):
    assert ipv4_address(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("192.168.1.10", True),
    ("fd00::10", True),
    ("::1", True),
    ("fe80::1%eth0", False),
    ("fd00::10/64", False),
    ("256.1.1.1", False),
    ("m-k8s", False),
    ("", False),
    (None, False),
])
def test_ip_address(value, ok):
    assert ip_address(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("172.16.0.0/16", True),
    ("10.96.0.0/12", True),
    ("0.0.0.0/0", True),
    ("192.168.1.10/32", True),
    ("172.16.0.1/16", False),  # host bits set
    ("172.16.0.0/33", False),
    ("300.16.0.0/16", False),
    ("172.16.0.0", False),  # no prefix: ipaddress would read a /32
    ("172.16.0.0/255.255.0.0", False),  # a netmask, not a prefix length
    ("172.16.0.0/016", False),
    ("172.16.0.0/", False),
    ("172.16.0.0/16/8", False),
    ("banana", False),
    (None, False),
    (["172.16.0.0/16"], False),
])
def test_ipv4_network(value, ok):
    assert ipv4_network(value) is ok


def test_ipv4_network_not_strict_takes_host_bits():
    assert ipv4_network("192.168.1.10/24", strict=False) is True
    assert ipv4_network("192.168.1.10/24") is False
    assert ipv4_network("192.168.1.10", strict=False) is False


@pytest.mark.parametrize(("value", "ok"), [
    ("172.16.0.0/7", False),
    ("172.0.0.0/8", True),
    ("172.16.0.0/28", True),
    ("172.16.0.0/29", False),
])
def test_ipv4_network_prefix_bounds(value, ok):
    assert ipv4_network(value, min_prefix=8, max_prefix=28) is ok


def test_ipv4_network_bounds_may_come_as_text():
    """Ansible hands a variable's value through; `| int` may have been left out."""
    assert ipv4_network("172.16.0.0/16", min_prefix="8", max_prefix="26") is True


@pytest.mark.parametrize(("value", "ok"), [
    (["192.168.1.11", "192.168.1.29"], True),
    (["192.168.1.11", "192.168.1.11"], True),
    (("192.168.1.250", "192.168.2.5"), True),  # across octets, as integers compare
    (["192.168.1.29", "192.168.1.11"], False),
    (["192.168.1.9", "192.168.1.10"], True),  # not compared as text ("9" > "1")
    (["192.168.1.11", "192.168.1.300"], False),
    (["192.168.1.11"], False),
    (["192.168.1.11", "192.168.1.12", "192.168.1.13"], False),
    ("192.168.1.11-192.168.1.29", False),
    (None, False),
])
def test_ipv4_range(value, ok):
    assert ipv4_range(value) is ok


@pytest.mark.parametrize(("value", "other", "overlapping"), [
    ("172.16.0.0/16", "10.96.0.0/12", False),
    ("10.96.0.0/16", "10.96.0.0/12", True),
    ("10.0.0.0/8", "10.96.0.0/12", True),
    ("10.111.0.0/16", "10.96.0.0/12", True),  # the last /16 of 10.96.0.0/12
    ("10.112.0.0/16", "10.96.0.0/12", False),  # the first after it
    ("10.96.0.1/12", "10.96.0.0/16", True),  # host bits ignored
])
def test_ipv4_overlapping(value, other, overlapping):
    assert ipv4_overlapping(value, other) is overlapping
    assert ipv4_overlapping(other, value) is overlapping


@pytest.mark.parametrize(("value", "other"), [("banana", "10.96.0.0/12"), ("172.16.0.0/16", None)])
def test_ipv4_overlapping_refuses_what_is_no_network(value, other):
    with pytest.raises(AnsibleFilterError, match="is not an IPv4 network"):
        ipv4_overlapping(value, other)


def test_registered():
    assert NetworkTests().tests() == {
        "ipv4_address": ipv4_address,
        "ip_address": ip_address,
        "ipv4_network": ipv4_network,
        "ipv4_range": ipv4_range,
        "ipv4_overlapping": ipv4_overlapping,
    }
