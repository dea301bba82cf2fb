"""The ipv4_offset filter: the addresses the lab's applications ask MetalLB for, counted from the
first of the load balancer range (inventory/group_vars/all.yml)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.k8s_lab.lab.plugins.filter.ipv4_offset import FilterModule, ipv4_offset


@pytest.mark.parametrize(("value", "offset", "result"), [
    ("192.168.1.11", 0, "192.168.1.11"),
    ("192.168.1.11", 3, "192.168.1.14"),
    ("192.168.1.11", -1, "192.168.1.10"),
    # Carried into the next octet, where last-octet arithmetic wrote 192.168.0.256.
    ("192.168.0.255", 1, "192.168.1.0"),
    ("10.0.255.254", 3, "10.1.0.1"),
])
def test_offset(value, offset, result):
    assert ipv4_offset(value, offset) == result


@pytest.mark.parametrize("value", ["192.168.1", "192.168.1.0/24", "m-k8s", "", None, 3232235787])
def test_an_input_that_is_no_address_is_an_error(value):
    with pytest.raises(AnsibleFilterError, match="is not an IPv4 address"):
        ipv4_offset(value, 1)


@pytest.mark.parametrize("offset", ["1", 1.0, True, None])
def test_an_offset_that_is_no_whole_number_is_an_error(offset):
    with pytest.raises(AnsibleFilterError, match="whole number"):
        ipv4_offset("192.168.1.11", offset)


@pytest.mark.parametrize(("value", "offset"), [("255.255.255.255", 1), ("0.0.0.0", -1)])  # noqa: S104 - no bind
def test_a_result_outside_ipv4_is_an_error(value, offset):
    with pytest.raises(AnsibleFilterError, match="outside IPv4"):
        ipv4_offset(value, offset)


def test_registered():
    assert FilterModule().filters() == {"ipv4_offset": ipv4_offset}
