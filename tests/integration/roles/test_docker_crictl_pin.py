"""The docker role downloads crictl only when a checksum pins the archive: its crictl checks
(tasks/validate-crictl.yml) run by real Ansible on the controller. Nothing is downloaded here."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml
from fixtures.role_tasks import run_role_tasks

ROLE = Path(__file__).resolve().parents[3] / "roles" / "docker"
PIN_TASK = "Check that the crictl download is pinned by its checksum"
SRC_TASK = "Check the crictl archive on the controller against its checksum"


def check(tmp_path, **variables):
    return run_role_tasks(tmp_path, "docker", "validate-crictl.yml", **{"__docker_arch": "amd64", **variables})


def test_the_labs_crictl_version_is_pinned():
    """The lab asks for crictl v<minor>.0 of the topology's Kubernetes: that one must have a pin."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    checksums = defaults["docker_crictl_archive_checksums"]
    assert defaults["docker_crictl_version"] in checksums
    wiring = yaml.safe_load((ROLE.parents[1] / "inventory" / "group_vars" / "all.yml").read_text())
    assert wiring["docker_crictl_version"] == "v{{ lab_kubernetes_minor }}.0"
    pinned = yaml.safe_load((ROLE.parents[1] / "bundle" / "versions.yml").read_text())["kubernetes"]
    assert "v" + pinned[1:].rsplit(".", 1)[0] + ".0" in checksums
    for version, checksum in checksums.items():
        assert re.fullmatch(r"v\d+\.\d+\.\d+", version)
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", checksum), version


def test_the_pinned_version_passes_with_its_checksum(tmp_path):
    run = check(tmp_path)
    assert run.code == 0, run.output
    assert not run.results[PIN_TASK].get("skipped"), run.output


@pytest.mark.parametrize(
    "variables",
    [
        {"docker_crictl_version": "v1.99.0"},
        # No pin for another architecture's archive: the amd64 one would not match it.
        {"__docker_arch": "arm64"},
        {"docker_crictl_archive_checksum": ""},
    ],
)
def test_a_download_without_a_pin_is_refused_with_how_to_add_it(tmp_path, variables):
    run = check(tmp_path, **variables)
    assert run.code != 0
    assert list(run.failed) == [PIN_TASK], run.output
    message = run.failed[PIN_TASK]
    assert "docker_crictl_archive_checksums" in message
    assert ".sha256" in message


def test_another_version_with_its_own_pin_passes(tmp_path):
    run = check(tmp_path, docker_crictl_version="v1.38.0",
                docker_crictl_archive_checksums={"v1.38.0": "sha256:" + "a" * 64})
    assert run.code == 0, run.output


def test_a_malformed_checksum_is_refused(tmp_path):
    run = check(tmp_path, docker_crictl_archive_checksum="sha256:abc")
    assert run.code != 0
    assert list(run.failed) == ["Check the crictl settings"], run.output


@pytest.mark.parametrize("variables", [{"docker_crictl_source": "package"}, {"docker_crictl_source": "none"}])
def test_no_pin_is_needed_when_nothing_is_downloaded(tmp_path, variables):
    run = check(tmp_path, docker_crictl_version="v1.99.0", **variables)
    assert run.code == 0, run.output


def test_an_archive_on_the_controller_is_checked_against_a_pin(tmp_path):
    archive = tmp_path / "crictl.tar.gz"
    archive.write_bytes(b"not crictl")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()

    good = check(tmp_path, docker_crictl_archive_src=str(archive), docker_crictl_archive_checksum=f"sha256:{digest}")
    assert good.code == 0, good.output
    assert not good.results[SRC_TASK].get("skipped")

    # The default pin of v1.37.0 is the release's archive, which these bytes are not.
    bad = check(tmp_path, docker_crictl_archive_src=str(archive))
    assert bad.code != 0
    assert list(bad.failed) == [SRC_TASK], bad.output

    # Without a pin for its version (the Molecule scenario's test double) the file is used as given.
    unpinned = check(tmp_path, docker_crictl_archive_src=str(archive), docker_crictl_version="v0.0.0-test-double")
    assert unpinned.code == 0, unpinned.output
