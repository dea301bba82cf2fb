"""module_utils/bundle_gate: bundle_install's copies and gate, from what sha256sum printed."""

import pytest

from ansible_collections.k8s_lab.lab.plugins.filter.bundle_differences import FilterModule as Differences
from ansible_collections.k8s_lab.lab.plugins.filter.sha256sum_map import FilterModule as Sha256sumMap
from ansible_collections.k8s_lab.lab.plugins.filter.sha256sum_map import sha256sum_map
from ansible_collections.k8s_lab.lab.plugins.module_utils.bundle_gate import NO_FILE, differences

A, B, C = "a" * 64, "b" * 64, "c" * 64
ROOT = "/var/lib/k8s-lab/bundle"
SUMS = {"bin/runc": A, "images/pause.tar": B, "bin/crictl": C}


def test_sha256sums_lines_become_a_mapping():
    assert sha256sum_map([f"{A}  {ROOT}/bin/runc", f"{B} *{ROOT}/images/pause.tar"]) == {
        f"{ROOT}/bin/runc": A, f"{ROOT}/images/pause.tar": B}
    assert sha256sum_map([]) == {}
    assert sha256sum_map(None) == {}


@pytest.mark.parametrize("line", ["sha256sum: /x: No such file or directory", f"{A}", f"{A}x  /p", f"{A}  ", "xyz  /p"])
def test_a_line_of_another_shape_is_refused(line):
    with pytest.raises(Exception, match="not a sha256sum line"):
        sha256sum_map([line])


def test_what_matches_is_no_difference():
    hashes = {f"{ROOT}/{path}": digest for path, digest in SUMS.items()}
    assert differences(list(SUMS), ROOT, SUMS, hashes) == []


def test_a_missing_or_changed_file_is_named_with_what_the_node_has_in_order():
    hashes = {f"{ROOT}/bin/runc": B, f"{ROOT}/images/pause.tar": B}
    assert differences(["bin/runc", "images/pause.tar", "bin/crictl"], ROOT, SUMS, hashes) == [
        ["bin/runc", B], ["bin/crictl", NO_FILE]]


def test_a_path_sha256sums_does_not_list_always_differs():
    assert differences(["bin/other"], ROOT, SUMS, {f"{ROOT}/bin/other": A}) == [["bin/other", A]]


def test_hashes_under_another_root_do_not_count():
    hashes = {f"/opt/k8s-lab/bundle/{path}": digest for path, digest in SUMS.items()}
    assert [path for path, _ in differences(list(SUMS), ROOT, SUMS, hashes)] == list(SUMS)


def test_the_filters_are_registered():
    assert Differences().filters()["bundle_differences"](["bin/runc"], ROOT, SUMS, {}) == [["bin/runc", NO_FILE]]
    assert Sha256sumMap().filters() == {"sha256sum_map": sha256sum_map}
