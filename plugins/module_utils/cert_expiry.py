"""When the lab's certificates end: PEM files and kubeconfigs read on a node, with no library the node
lacks (a node's Python has no cryptography package, and kubelet's and kubeadm's files may hold keys
that must not leave it).

A certificate is DER (X.509): Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
OPTIONAL, serialNumber INTEGER, signature SEQUENCE, issuer SEQUENCE, validity SEQUENCE { notBefore,
notAfter }, ... } ... }. Only that path is walked."""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import datetime, timezone

# Nodes on EL 9 run Python 3.9, which has no datetime.UTC.
UTC = timezone.utc  # noqa: UP017

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "str"},
    "threshold_days": {"type": "int", "default": 30},
}

# A kubeadm node's certificates, under the names `kubeadm certs check-expiration` gives them, and
# what renews each: kubeadm (`kubeadm certs renew all`), the kubelet, or nobody but a new CA.
# Workers hold only the kubelet's.
KUBEADM_NODE_FILES = (
    ("/etc/kubernetes/admin.conf", "admin.conf", "kubeadm"),
    ("/etc/kubernetes/super-admin.conf", "super-admin.conf", "kubeadm"),
    ("/etc/kubernetes/controller-manager.conf", "controller-manager.conf", "kubeadm"),
    ("/etc/kubernetes/scheduler.conf", "scheduler.conf", "kubeadm"),
    ("/etc/kubernetes/pki/apiserver.crt", "apiserver", "kubeadm"),
    ("/etc/kubernetes/pki/apiserver-etcd-client.crt", "apiserver-etcd-client", "kubeadm"),
    ("/etc/kubernetes/pki/apiserver-kubelet-client.crt", "apiserver-kubelet-client", "kubeadm"),
    ("/etc/kubernetes/pki/front-proxy-client.crt", "front-proxy-client", "kubeadm"),
    ("/etc/kubernetes/pki/etcd/healthcheck-client.crt", "etcd-healthcheck-client", "kubeadm"),
    ("/etc/kubernetes/pki/etcd/peer.crt", "etcd-peer", "kubeadm"),
    ("/etc/kubernetes/pki/etcd/server.crt", "etcd-server", "kubeadm"),
    ("/etc/kubernetes/pki/ca.crt", "ca", "ca"),
    ("/etc/kubernetes/pki/front-proxy-ca.crt", "front-proxy-ca", "ca"),
    ("/etc/kubernetes/pki/etcd/ca.crt", "etcd-ca", "ca"),
    # The kubelet's client certificate, through its kubeconfig (embedded, or the rotated file).
    ("/etc/kubernetes/kubelet.conf", "kubelet-client", "kubelet"),
    # Its serving certificate: self-signed by the kubelet at its first start.
    ("/var/lib/kubelet/pki/kubelet.crt", "kubelet-serving", "kubelet"),
)

PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.S)
KUBECONFIG_CERT_RE = re.compile(r"^\s*client-certificate-data:\s*(\S+)\s*$", re.M)
KUBECONFIG_CERT_FILE_RE = re.compile(r"^\s*client-certificate:\s*(\S+)\s*$", re.M)
SECONDS_PER_DAY = 86400


class CertificateError(ValueError):
    """A file is not what it claims to be; the message names it."""


def _element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at offset."""
    if offset + 2 > len(data):
        raise CertificateError("truncated DER")
    tag, length = data[offset], data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise CertificateError("bad DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise CertificateError("truncated DER")
    return tag, offset, offset + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found, offset = [], start
    while offset < end:
        tag, content, stop = _element(data, offset)
        found.append((tag, content, stop))
        offset = stop
    return found


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ, years 1950-2049
        parsed = datetime.strptime(text, "%y%m%d%H%M%SZ")
        if parsed.year >= 2050:
            parsed = parsed.replace(year=parsed.year - 100)
    elif tag == 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        parsed = datetime.strptime(text, "%Y%m%d%H%M%SZ")
    else:
        raise CertificateError(f"validity holds no time (tag {tag:#x})")
    return parsed.replace(tzinfo=UTC)


def not_after(der: bytes) -> datetime:
    """The end of a DER certificate's validity."""
    tag, start, end = _element(der, 0)
    if tag != 0x30:
        raise CertificateError("not a certificate (no outer SEQUENCE)")
    tbs_tag, tbs_start, tbs_end = _children(der, start, end)[0]
    if tbs_tag != 0x30:
        raise CertificateError("not a certificate (no tbsCertificate)")
    fields = _children(der, tbs_start, tbs_end)
    if fields and fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    if len(fields) < 4 or fields[3][0] != 0x30:
        raise CertificateError("not a certificate (no validity)")
    times = _children(der, fields[3][1], fields[3][2])
    if len(times) != 2:
        raise CertificateError("validity must hold two times")
    return _time(times[1][0], der[times[1][1]:times[1][2]])


def pem_certificates(text: str) -> list[bytes]:
    """DER of every CERTIFICATE block in a PEM text (a private key beside them is skipped)."""
    try:
        return [base64.b64decode("".join(block.split()), validate=True) for block in PEM_RE.findall(text)]
    except (binascii.Error, ValueError) as exc:
        raise CertificateError(f"bad PEM: {exc}") from exc


def file_certificates(path: str) -> list[bytes]:
    """The certificates a file holds: PEM blocks, or a kubeconfig's client certificate (embedded,
    or the file it names, as the kubelet's kubeconfig does)."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if "-----BEGIN CERTIFICATE-----" in text:
        return pem_certificates(text)[:1]
    embedded = KUBECONFIG_CERT_RE.findall(text)
    if embedded:
        try:
            return pem_certificates(base64.b64decode(embedded[0]).decode("ascii"))[:1]
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise CertificateError(f"bad client-certificate-data: {exc}") from exc
    named = KUBECONFIG_CERT_FILE_RE.findall(text)
    if named:
        target = named[0] if os.path.isabs(named[0]) else os.path.join(os.path.dirname(path), named[0])
        return file_certificates(target)
    raise CertificateError("holds no certificate")


def status(days_left: float, threshold_days: int) -> str:
    if days_left <= 0:
        return "EXPIRED"
    return "expiring" if days_left < threshold_days else "ok"


def check(paths: list[str] | None, threshold_days: int, now: datetime | None = None) -> dict:
    """Each existing file's certificate: its end, days left and status; files that do not exist.
    Without paths, the kubeadm node's own files (KUBEADM_NODE_FILES)."""
    now = now or datetime.now(UTC)
    files = KUBEADM_NODE_FILES if paths is None else [(path, os.path.basename(path), "other") for path in paths]
    found, missing = [], []
    for path, name, renewed_by in files:
        if not os.path.exists(path):
            missing.append(path)
            continue
        try:
            ders = file_certificates(path)
            if not ders:
                raise CertificateError("holds no certificate")
            end = not_after(ders[0])
        except (OSError, CertificateError) as exc:
            raise CertificateError(f"{path}: {exc}") from exc
        days = round((end - now).total_seconds() / SECONDS_PER_DAY, 2)
        found.append({"path": path, "name": name, "renewed_by": renewed_by,
                      "not_after": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "days_left": days,
                      "status": status(days, threshold_days)})
    return {
        "certificates": found,
        "missing": missing,
        "expiring": [c["name"] for c in found if c["status"] == "expiring"],
        "expired": [c["name"] for c in found if c["status"] == "EXPIRED"],
    }
