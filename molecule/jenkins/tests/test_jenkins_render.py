"""What the jenkins role renders, checked on the controller it rendered on."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

EXPECTED = {"namespace", "rbac", "configmap", "pvc", "deployment", "service", "secret"}

# What the book used, and what charts default to.
DEFAULTS = {"admin", "password", "changeme", "jenkins", "grafana"}


@pytest.fixture(scope="module")
def ansible_vars(host):
    return host.ansible.get_variables()


@pytest.fixture(scope="module")
def defaults():
    path = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "roles" / "jenkins" / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text())


def load(host, directory, name):
    return [d for d in yaml.safe_load_all(host.file(f"{directory}/jenkins-{name}.yaml").content_string) if d]


def test_every_manifest_is_written_and_valid_for_kubernetes_1_37(host, ansible_vars):
    directory = ansible_vars["jenkins_render_dir"]
    assert host.file(directory).is_directory
    written = {f.removeprefix("jenkins-").removesuffix(".yaml") for f in host.file(directory).listdir()}
    assert written == EXPECTED
    for name in EXPECTED:
        for doc in load(host, directory, name):
            kubernetes_validate.validate(doc, "1.37.0", strict=True)


def test_the_admin_password_is_generated_private_and_in_the_secret(host, ansible_vars):
    password_file = host.file(ansible_vars["jenkins_admin_password_file"])
    assert password_file.is_file and password_file.mode == 0o600
    password = password_file.content_string.strip()
    assert len(password) >= 24 and password.lower() not in DEFAULTS
    (secret,) = load(host, ansible_vars["jenkins_render_dir"], "secret")
    assert base64.b64decode(secret["data"]["password"]).decode() == password
    assert host.file(f"{ansible_vars['jenkins_render_dir']}/jenkins-secret.yaml").mode == 0o600


def test_a_later_run_keeps_the_password(host, ansible_vars):
    first = load(host, ansible_vars["jenkins_render_dir"], "secret")
    again = load(host, ansible_vars["jenkins_rerender_dir"], "secret")
    assert first == again
    deployments = [load(host, d, "deployment") for d in (ansible_vars["jenkins_render_dir"],
                                                          ansible_vars["jenkins_rerender_dir"])]
    # Same configuration, same checksum: a rerun does not restart the controller.
    assert deployments[0] == deployments[1]


def test_the_agents_use_the_pinned_inbound_agent(host, ansible_vars, defaults):
    (config_map,) = load(host, ansible_vars["jenkins_render_dir"], "configmap")
    jcasc = yaml.safe_load(config_map["data"]["jenkins.yaml"])
    cloud = jcasc["jenkins"]["clouds"][0]["kubernetes"]
    (template,) = cloud["templates"]
    assert template["containers"][0]["image"] == defaults["jenkins_agent_image"]
    plugins = config_map["data"]["plugins.txt"].split()
    assert plugins == defaults["jenkins_plugins"]
