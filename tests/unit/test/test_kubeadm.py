"""The Jinja tests join_token and ca_pin: the formats of module_utils/kubeadm_pki, for the roles."""

import pytest

from ansible_collections.k8s_lab.lab.plugins.test.kubeadm import TestModule as KubeadmTests
from ansible_collections.k8s_lab.lab.plugins.test.kubeadm import ca_pin, join_token


@pytest.mark.parametrize(("value", "ok"), [
    ("abcdef.0123456789abcdef", True),
    ("abcdef.0123456789ABCDEF", False),
    ("", False),
    (None, False),
    (["abcdef.0123456789abcdef"], False),
])
def test_join_token(value, ok):
    assert join_token(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("sha256:" + "0a" * 32, True),
    ("sha256:" + "0A" * 32, False),
    ("sha256:" + "0" * 63, False),
    ("md5:" + "0" * 64, False),
    (None, False),
])
def test_ca_pin(value, ok):
    assert ca_pin(value) is ok


def test_registered():
    assert KubeadmTests().tests() == {"join_token": join_token, "ca_pin": ca_pin}
