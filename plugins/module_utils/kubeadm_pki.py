"""What a kubeadm join is made of, in one place: the bootstrap token's and the CA pin's formats,
and the CA pin itself as kubeadm computes it, without third-party libraries.

kubeadm pins a cluster CA by "sha256:" + hex(sha256(DER SubjectPublicKeyInfo)). This module runs
on the nodes (inside the kubeadm_join module), where python3-cryptography may be missing, and on
the controller (the ca_cert_hash filter), so it walks the certificate's DER by hand: only the few
ASN.1 elements that lead to the SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import hashlib
import re

PIN_PREFIX = "sha256:"
# A bootstrap token as `kubeadm token create` prints it: <6-character id>.<16-character secret>.
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
# A CA pin as kubeadm writes and reads it.
CA_CERT_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_PEM_CERT_RE = re.compile(
    r"-----BEGIN CERTIFICATE-----\s*(?P<body>[A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----"
)


class CertificateError(ValueError):
    """The input is not a certificate this module can read."""


def _read_tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """Return (tag, start of contents, end of element) of the DER element at offset."""
    if offset + 2 > len(data):
        raise CertificateError("truncated DER element")
    tag = data[offset]
    first = data[offset + 1]
    pos = offset + 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        # DER forbids the indefinite form (count 0); four length bytes are far beyond any cert.
        if count == 0 or count > 4 or pos + count > len(data):
            raise CertificateError("unsupported DER length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise CertificateError("DER element runs past the end of the data")
    return tag, pos, end


def pem_to_der(pem: str | bytes) -> bytes:
    """Return the DER bytes of the first certificate in a PEM text."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", errors="replace")
    match = _PEM_CERT_RE.search(pem)
    if not match:
        raise CertificateError("no PEM certificate found")
    return base64.b64decode("".join(match.group("body").split()), validate=True)


def spki_from_certificate(der: bytes) -> bytes:
    """Return the DER SubjectPublicKeyInfo (tag, length and contents) of an X.509 certificate."""
    sequence = 0x30
    tag, cert_start, _ = _read_tlv(der, 0)
    if tag != sequence:
        raise CertificateError("certificate is not a DER SEQUENCE")
    tag, pos, _ = _read_tlv(der, cert_start)
    if tag != sequence:
        raise CertificateError("tbsCertificate is not a DER SEQUENCE")
    # tbsCertificate: [0] version (optional), serialNumber, signature, issuer, validity, subject,
    # subjectPublicKeyInfo.
    tag, _, end = _read_tlv(der, pos)
    if tag == 0xA0:
        pos = end
    for _field in ("serialNumber", "signature", "issuer", "validity", "subject"):
        _, _, pos = _read_tlv(der, pos)
    tag, _, end = _read_tlv(der, pos)
    if tag != sequence:
        raise CertificateError("subjectPublicKeyInfo is not a DER SEQUENCE")
    return der[pos:end]


def ca_cert_hash(certificate: str | bytes) -> str:
    """Return kubeadm's pin ("sha256:<hex>") of a PEM or DER certificate."""
    if isinstance(certificate, str) or b"-----BEGIN" in certificate:
        certificate = pem_to_der(certificate)
    return PIN_PREFIX + hashlib.sha256(spki_from_certificate(certificate)).hexdigest()
