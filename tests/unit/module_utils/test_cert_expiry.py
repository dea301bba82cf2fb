"""cert_expiry: the end of a certificate read from PEM files and kubeconfigs without a crypto library,
checked against what the cryptography package writes."""

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.k8s_lab.lab.plugins.filter.cert_summary import cert_summary
from ansible_collections.k8s_lab.lab.plugins.module_utils.cert_expiry import (
    CertificateError,
    check,
    file_certificates,
    not_after,
    status,
)

NOW = dt.datetime(2026, 12, 7, 12, 0, 0, tzinfo=dt.UTC)
KEY = ec.generate_private_key(ec.SECP256R1())


def certificate(end: dt.datetime, cn: str = "kube-apiserver") -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(KEY.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(end - dt.timedelta(days=400))
            .not_valid_after(end).sign(KEY, hashes.SHA256()))


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem() -> str:
    return KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("end", [
    dt.datetime(2027, 12, 7, 11, 59, 59, tzinfo=dt.UTC),   # UTCTime
    dt.datetime(2036, 2, 29, 0, 0, 0, tzinfo=dt.UTC),      # a CA's ten years
    dt.datetime(2051, 1, 1, 0, 0, 0, tzinfo=dt.UTC),       # GeneralizedTime from 2050 on
])
def test_not_after_agrees_with_cryptography(end):
    cert = certificate(end)
    assert not_after(cert.public_bytes(serialization.Encoding.DER)) == cert.not_valid_after_utc == end


def test_a_pem_file_with_a_key_gives_its_certificate(tmp_path):
    """kubelet-client-current.pem holds the certificate and its key."""
    path = tmp_path / "kubelet-client-current.pem"
    path.write_text(pem(certificate(NOW + dt.timedelta(days=3))) + key_pem())
    assert len(file_certificates(str(path))) == 1


def test_a_kubeconfig_with_an_embedded_certificate(tmp_path):
    data = base64.b64encode(pem(certificate(NOW + dt.timedelta(days=10))).encode()).decode()
    path = tmp_path / "admin.conf"
    path.write_text(f"apiVersion: v1\nusers:\n- name: kubernetes-admin\n  user:\n"
                    f"    client-certificate-data: {data}\n    client-key-data: c2VjcmV0\n")
    result = check([str(path)], 30, now=NOW)
    assert [(c["name"], c["days_left"], c["status"]) for c in result["certificates"]] == \
        [("admin.conf", 10.0, "expiring")]


def test_a_kubeconfig_that_names_its_certificate_file(tmp_path):
    """The kubelet's kubeconfig after rotation points at kubelet-client-current.pem."""
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "client.pem").write_text(pem(certificate(NOW - dt.timedelta(hours=1))) + key_pem())
    path = tmp_path / "kubelet.conf"
    path.write_text("users:\n- name: default-auth\n  user:\n    client-certificate: pki/client.pem\n"
                    "    client-key: pki/client.pem\n")
    assert check([str(path)], 30, now=NOW)["expired"] == ["kubelet.conf"]


def test_missing_files_are_listed_and_a_bad_one_fails(tmp_path):
    good = tmp_path / "ca.crt"
    good.write_text(pem(certificate(NOW + dt.timedelta(days=3650))))
    result = check([str(good), str(tmp_path / "absent.crt")], 30, now=NOW)
    assert result["missing"] == [str(tmp_path / "absent.crt")]
    assert (result["expiring"], result["expired"]) == ([], [])
    bad = tmp_path / "bad.crt"
    bad.write_text("-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertificateError, match=r"bad.crt: "):
        check([str(bad)], 30, now=NOW)
    empty = tmp_path / "empty.conf"
    empty.write_text("apiVersion: v1\n")
    with pytest.raises(CertificateError, match=r"empty.conf: holds no certificate"):
        check([str(empty)], 30, now=NOW)


@pytest.mark.parametrize(("days", "expected"), [(400, "ok"), (30, "ok"), (29.9, "expiring"), (0.01, "expiring"),
                                                (0, "EXPIRED"), (-3, "EXPIRED")])
def test_status_by_days_left(days, expected):
    assert status(days, 30) == expected


def test_the_health_cell():
    def entry(name, days, state):
        return {"name": name, "days_left": days, "status": state}

    assert cert_summary({"certificates": []}) == "none"
    assert cert_summary({"certificates": [entry("ca.crt", 3600.5, "ok"), entry("apiserver.crt", 364.2, "ok")]}) \
        == "ok (364 d)"
    assert cert_summary({"certificates": [entry("apiserver.crt", 12.5, "expiring"), entry("ca.crt", 3000, "ok")]}) \
        == "expiring apiserver.crt (12 d)"
    assert cert_summary({"certificates": [entry("etcd-server.crt", -0.1, "EXPIRED"), entry("admin.conf", -1, "EXPIRED"),
                                          entry("kubelet.crt", 2.0, "expiring")]}) \
        == "EXPIRED admin.conf, etcd-server.crt; expiring kubelet.crt (2 d)"


def test_without_paths_the_kubeadm_node_files_are_read(tmp_path, monkeypatch):
    """A worker: only the kubelet's files exist; each is named and says what renews it."""
    from ansible_collections.k8s_lab.lab.plugins.module_utils import cert_expiry

    kubelet_conf = tmp_path / "kubelet.conf"
    kubelet_conf.write_text(f"users:\n- user:\n    client-certificate: {tmp_path}/client.pem\n")
    (tmp_path / "client.pem").write_text(pem(certificate(NOW + dt.timedelta(days=300))) + key_pem())
    serving = tmp_path / "kubelet.crt"
    serving.write_text(pem(certificate(NOW - dt.timedelta(days=1))))
    files = [(str(tmp_path / "apiserver.crt"), "apiserver", "kubeadm"),
             (str(kubelet_conf), "kubelet-client", "kubelet"), (str(serving), "kubelet-serving", "kubelet")]
    monkeypatch.setattr(cert_expiry, "KUBEADM_NODE_FILES", tuple(files))
    result = check(None, 30, now=NOW)
    assert [(c["name"], c["renewed_by"], c["status"]) for c in result["certificates"]] == [
        ("kubelet-client", "kubelet", "ok"), ("kubelet-serving", "kubelet", "EXPIRED")]
    assert result["missing"] == [str(tmp_path / "apiserver.crt")]


def test_the_kubeadm_node_files_name_every_certificate_once():
    from ansible_collections.k8s_lab.lab.plugins.module_utils.cert_expiry import KUBEADM_NODE_FILES

    names = [name for _, name, _ in KUBEADM_NODE_FILES]
    assert len(names) == len(set(names)) == len({path for path, _, _ in KUBEADM_NODE_FILES})
    assert {kind for _, _, kind in KUBEADM_NODE_FILES} == {"kubeadm", "ca", "kubelet"}
