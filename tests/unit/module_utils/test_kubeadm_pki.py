"""The CA pin, computed two ways here (cryptography on the controller, a DER walk on the nodes),
checked against openssl as an independent computation."""

import base64
import datetime as dt
import hashlib
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible.module_utils.kubeadm_pki import CertificateError, ca_cert_hash, pem_to_der, spki_from_certificate
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from k8s_lab_pki import ca_cert_hash as filter_ca_cert_hash


def make_ca(key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.UTC)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, algorithm)
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def openssl_pin(pem: bytes) -> str:
    """The pipeline of the kubeadm docs, with `openssl pkey` so that EC keys work too."""
    pubkey = subprocess.run(["openssl", "x509", "-pubkey", "-noout"], input=pem, capture_output=True, check=True)
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pubkey.stdout, capture_output=True, check=True
    )
    return "sha256:" + hashlib.sha256(der.stdout).hexdigest()


KEYS = {
    "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "rsa4096": lambda: rsa.generate_private_key(public_exponent=65537, key_size=4096),
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


@pytest.fixture(scope="module", params=sorted(KEYS))
def ca_pem(request):
    return make_ca(KEYS[request.param]())


def test_filter_pin_matches_openssl(ca_pem):
    assert filter_ca_cert_hash(ca_pem.decode()) == openssl_pin(ca_pem)


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


def test_filter_rejects_garbage():
    with pytest.raises(AnsibleFilterError, match="not a PEM certificate"):
        filter_ca_cert_hash("garbage")
