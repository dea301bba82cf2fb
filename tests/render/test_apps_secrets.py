"""Admin passwords: generated on the controller, stored in Secrets, never a default or empty."""

from __future__ import annotations

import base64
import re
import stat

import pytest
from apps_lib import VARIANTS, containers, documents, find, manifest_files, pod_specs, render, secret_value

ADMIN_SECRETS = {
    "jenkins": (("jenkins", "jenkins-admin"), "jenkins-admin"),
    "grafana": (("monitoring", "grafana-admin"), "grafana-admin"),
}
WEAK = {"", "admin", "password", "changeme", "jenkins", "grafana", "prom-operator"}


@pytest.mark.parametrize("app", sorted(ADMIN_SECRETS))
def test_the_secret_holds_the_password_generated_on_the_controller(app):
    (namespace, name), password_file = ADMIN_SECRETS[app]
    secret = find(documents(), "Secret", name, namespace)
    generated = (render() / "secrets" / password_file).read_text().strip()
    assert secret_value(secret, "password") == generated
    assert secret_value(secret, "username") == "admin"
    assert len(generated) >= 24 and generated.lower() not in WEAK
    assert re.fullmatch(r"[A-Za-z0-9]+", generated)


def test_jenkins_and_grafana_get_different_passwords():
    docs = documents()
    passwords = {secret_value(find(docs, "Secret", name, ns), "password")
                 for (ns, name), _ in ADMIN_SECRETS.values()}
    assert len(passwords) == len(ADMIN_SECRETS)


def test_password_files_and_rendered_secrets_are_private():
    out = render()
    files = list((out / "secrets").iterdir()) + [p for p in manifest_files() if p.name.endswith("secret.yaml")]
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_no_manifest_carries_a_default_or_empty_password(variant):
    for path in manifest_files(variant):
        text = path.read_text()
        assert not re.search(r"admin\s*/\s*admin", text, re.IGNORECASE), path
        assert not re.search(r"""password["']?\s*[:=]\s*(""|''|admin\b|$)""", text, re.IGNORECASE | re.MULTILINE), path
    docs = documents(variant)
    for secret in (d for d in docs if d["kind"] == "Secret"):
        for key, value in secret.get("data", {}).items():
            decoded = base64.b64decode(value).decode()
            assert decoded.strip(), f"{secret['metadata']['name']}.{key} is empty"
            if "password" in key:
                assert decoded.lower() not in WEAK
        assert "stringData" not in secret
    # Passwords reach the containers only through Secrets, never as literal values.
    for _, template in pod_specs(docs):
        for container in containers(template):
            for env in container.get("env", []):
                if "PASSWORD" in env["name"]:
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]


def test_jcasc_takes_the_admin_from_the_environment():
    jcasc = find(documents(), "ConfigMap", "jenkins-config", "jenkins")["data"]["jenkins.yaml"]
    assert '- id: "${JENKINS_ADMIN_ID}"' in jcasc
    assert 'password: "${JENKINS_ADMIN_PASSWORD}"' in jcasc
