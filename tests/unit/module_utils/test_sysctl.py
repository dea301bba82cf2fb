"""module_utils/sysctl: which kernel settings differ (the common role's check)."""

from ansible_collections.k8s_lab.lab.plugins.filter.sysctl_differences import FilterModule, sysctl_differences

WANTED = {"net.bridge.bridge-nf-call-iptables": 1, "net.ipv4.ip_forward": 1, "vm.swappiness": "0"}


def test_what_matches_differs_in_nothing():
    lines = ["net.bridge.bridge-nf-call-iptables = 1", "net.ipv4.ip_forward = 1", "vm.swappiness = 0"]
    assert sysctl_differences(lines, WANTED) == []


def test_another_value_or_a_key_the_kernel_lacks_differs_in_the_wanted_order():
    lines = ["net.ipv4.ip_forward = 0", "vm.swappiness = 0"]
    assert sysctl_differences(lines, WANTED) == ["net.bridge.bridge-nf-call-iptables", "net.ipv4.ip_forward"]


def test_values_compare_as_strings_and_keep_their_spaces():
    assert sysctl_differences(["net.ipv4.ip_local_port_range = 32768\t60999"],
                              {"net.ipv4.ip_local_port_range": "32768\t60999"}) == []
    assert sysctl_differences(["a = 1"], {"a": True}) == ["a"]


def test_no_output_and_no_settings():
    assert sysctl_differences([], {"a": 1}) == ["a"]
    assert sysctl_differences(["a = 1"], {}) == []


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"sysctl_differences": sysctl_differences}
