"""The application roles as code: documented, images pinned and tabled, playbooks that parse.

ansible-lint runs over the whole repository in the lint stage (scripts/run-tests.sh lint).
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml
from apps_lib import APP_ROLES, REPO, containers, documents, find, pod_specs, role_defaults, tool

IMAGE_ROW = re.compile(r"^\| `([a-z_.]+)` \| `([^`]+)` \|$", re.MULTILINE)
PINNED = re.compile(r"^[^\s@]+/[^\s@:]+:(?!latest$)[A-Za-z0-9_.-]+$")


def readme(role):
    return (REPO / "roles" / role / "README.md").read_text()


def image_table(role):
    return dict(IMAGE_ROW.findall(readme(role).split("## Images", 1)[1].split("\n## ", 1)[0]))


def default_image(role, variable):
    defaults = role_defaults(role)
    value = defaults
    for part in variable.split("."):
        value = value[part]
    # The only templating in an image default: MetalLB's images follow its release.
    return value.replace("{{ metallb_version }}", defaults.get("metallb_version", ""))


@pytest.mark.parametrize("role", [r for r in APP_ROLES if r != "storage"])
def test_the_readme_image_table_is_the_defaults(role):
    table = image_table(role)
    assert table
    for variable, image in table.items():
        assert default_image(role, variable) == image, variable
        assert PINNED.match(image), image
    image_variables = {k for k, v in role_defaults(role).items()
                       if k.endswith("_image") or k == "metallb_images"}
    assert image_variables == {v.split(".")[0] for v in table}


def test_every_rendered_image_is_in_an_image_table():
    listed = {image for role in APP_ROLES if role != "storage" for image in image_table(role).values()}
    docs = documents()
    used = {c["image"] for _, template in pod_specs(docs) for c in containers(template)}
    jcasc = yaml.safe_load(find(docs, "ConfigMap", "jenkins-config", "jenkins")["data"]["jenkins.yaml"])
    used |= {c["image"] for t in jcasc["jenkins"]["clouds"][0]["kubernetes"]["templates"] for c in t["containers"]}
    assert used
    assert used <= listed


@pytest.mark.parametrize("role", APP_ROLES)
def test_every_default_is_documented_and_prefixed(role):
    text = readme(role)
    for variable in role_defaults(role):
        assert variable.startswith(f"{role}_")
        assert f"| `{variable}` |" in text, f"{variable} is missing from roles/{role}/README.md"


def test_the_playbooks_pass_syntax_check():
    result = subprocess.run(
        [tool("ansible-playbook"), "--syntax-check", "-i", "localhost,",
         "playbooks/apps.yml", "playbooks/verify-apps.yml", "tests/render/apps_render.yml"],
        cwd=REPO, env={**os.environ, "ANSIBLE_ROLES_PATH": str(REPO / "roles")},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
