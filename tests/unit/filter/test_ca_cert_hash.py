"""The ca_cert_hash filter: kubeadm's pin of a PEM CA, from module_utils/kubeadm_pki, as a filter."""

import pytest
from ansible.errors import AnsibleFilterError
from fixtures.ca import KEYS, make_ca, openssl_pin

from ansible_collections.k8s_lab.lab.plugins.filter.ca_cert_hash import FilterModule, pem_ca_cert_hash


@pytest.mark.parametrize("key", ["rsa2048", "ec-p256"])
def test_pin_matches_openssl(key):
    pem = make_ca(KEYS[key]())
    assert pem_ca_cert_hash(pem.decode()) == openssl_pin(pem)


@pytest.mark.parametrize("text", ["garbage", "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"])
def test_rejects_what_is_not_a_certificate(text):
    with pytest.raises(AnsibleFilterError, match="not a PEM certificate"):
        pem_ca_cert_hash(text)


def test_registered():
    assert FilterModule().filters() == {"ca_cert_hash": pem_ca_cert_hash}
