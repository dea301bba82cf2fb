"""The CA pin as module_utils/kubeadm_pki walks the DER (the one implementation, used by the
kubeadm_join module on the nodes and the ca_cert_hash filter on the controller), checked against
openssl as an independent computation; and the token and pin formats."""

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fixtures.ca import KEYS, make_ca, openssl_pin

from ansible_collections.k8s_lab.lab.plugins.module_utils.kubeadm_pki import (
    CA_CERT_HASH_RE,
    TOKEN_RE,
    CertificateError,
    ca_cert_hash,
    pem_to_der,
    spki_from_certificate,
)


@pytest.fixture(scope="module", params=sorted(KEYS))
def ca_pem(request):
    return make_ca(KEYS[request.param]())


def test_der_walk_pin_matches_openssl(ca_pem):
    assert ca_cert_hash(ca_pem.decode()) == openssl_pin(ca_pem)


def test_der_walk_accepts_der_and_bytes(ca_pem):
    der = pem_to_der(ca_pem)
    assert ca_cert_hash(der) == ca_cert_hash(ca_pem) == openssl_pin(ca_pem)


def test_spki_is_the_public_key_der(ca_pem):
    cert = x509.load_pem_x509_certificate(ca_pem)
    expected = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert spki_from_certificate(pem_to_der(ca_pem)) == expected


def test_pin_format(ca_pem):
    pin = ca_cert_hash(ca_pem)
    assert pin.startswith("sha256:") and len(pin) == 7 + 64
    assert pin[7:] == pin[7:].lower()


def test_different_keys_give_different_pins():
    first, second = make_ca(KEYS["ec-p256"]()), make_ca(KEYS["ec-p256"]())
    assert ca_cert_hash(first) != ca_cert_hash(second)


def test_der_walk_rejects_text_without_certificate():
    with pytest.raises(CertificateError):
        ca_cert_hash("not a certificate")


def test_der_walk_rejects_truncated_der(ca_pem):
    der = pem_to_der(ca_pem)
    with pytest.raises(CertificateError):
        ca_cert_hash(der[: len(der) // 2])


def test_der_walk_rejects_non_sequence():
    bogus = b"-----BEGIN CERTIFICATE-----\n" + base64.b64encode(b"\x02\x01\x05") + b"\n-----END CERTIFICATE-----\n"
    with pytest.raises(CertificateError):
        ca_cert_hash(bogus)


def test_pin_format_is_what_ca_cert_hash_returns(ca_pem):
    assert CA_CERT_HASH_RE.match(ca_cert_hash(ca_pem))


@pytest.mark.parametrize(("value", "ok"), [
    ("abcdef.0123456789abcdef", True),
    ("abcdef.0123456789ABCDEF", False),
    ("abcde.0123456789abcdef", False),
    ("abcdef0123456789abcdef", False),
    (" abcdef.0123456789abcdef", False),
])
def test_token_format(value, ok):
    assert bool(TOKEN_RE.match(value)) is ok
