"""The calico role's CRD file is checksum-pinned: crds.yml run by real Ansible, its download from a
loopback release server, its CRDs applied to the API server test double. Nothing reaches the API
unless its bytes are the ones calico_crds_checksum pins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from doubles.kube_apiserver import FakeApiServer
from fixtures.calico_role import run_tasks
from fixtures.release_server import serve

ROLE = Path(__file__).resolve().parents[3] / "roles" / "calico"
CRDS = "".join(
    f"""---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {plural}.crd.projectcalico.org
spec:
  group: crd.projectcalico.org
  names: {{kind: {kind}, listKind: {kind}List, plural: {plural}, singular: {kind.lower()}}}
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}
"""
    for plural, kind in (("ippools", "IPPool"), ("felixconfigurations", "FelixConfiguration"))
).encode()
CRDS_SHA256 = hashlib.sha256(CRDS).hexdigest()
NAMES = ["felixconfigurations.crd.projectcalico.org", "ippools.crd.projectcalico.org"]


@pytest.fixture
def api():
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def release(tmp_path):
    """A loopback server with a crds.yaml that is not Calico's (so no pinned checksum matches it)."""
    root = tmp_path / "www"
    (root / "manifests").mkdir(parents=True)
    (root / "manifests" / "crds.yaml").write_bytes(CRDS)
    with serve(root) as base:
        yield f"{base}/manifests/crds.yaml"


def applied(api):
    return sorted(crd["metadata"]["name"] for crd in api.list("apiextensions.k8s.io", "customresourcedefinitions"))


def test_the_pinned_version_has_its_checksum():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    checksums = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__calico_crds_checksums"]
    assert checksums[defaults["calico_version"]].startswith("sha256:")
    assert len(bytes.fromhex(checksums[defaults["calico_version"]].removeprefix("sha256:"))) == 32


def test_a_download_with_other_bytes_is_refused_and_nothing_applied(api, release, tmp_path):
    """The role's defaults: the file served is not Calico's crds.yaml of the pinned version."""
    path = tmp_path / "cache" / "crds.yaml"
    path.parent.mkdir()
    code, failed, _, out = run_tasks(api, tmp_path, "crds.yml", calico_crds_url=release, calico_crds_path=str(path))
    assert code != 0, out
    assert list(failed) == ["Download the CRDs of the release"], out
    assert "checksum" in failed["Download the CRDs of the release"].lower()
    assert not path.exists()
    assert applied(api) == []


def test_a_download_that_matches_its_checksum_is_applied_once(api, release, tmp_path):
    """Another version or a mirror, with its own checksum: downloaded, applied; the next run uses the copy."""
    path = tmp_path / "cache" / "crds.yaml"
    path.parent.mkdir()
    pinned = {"calico_crds_url": release, "calico_crds_path": str(path),
              "calico_crds_checksum": f"sha256:{CRDS_SHA256}"}
    code, _, results, out = run_tasks(api, tmp_path, "crds.yml", **pinned)
    assert code == 0, out
    assert results["Download the CRDs of the release"]["changed"] is True
    assert path.read_bytes() == CRDS
    assert applied(api) == NAMES

    offline = pinned | {"calico_crds_url": "http://127.0.0.1:9/gone"}
    code, _, results, out = run_tasks(api, tmp_path, "crds.yml", **offline)
    assert code == 0, out
    assert results["Download the CRDs of the release"].get("skipped") is True
    # The copy was checked, not just taken.
    assert results["Check the CRDs on the controller against calico_crds_checksum"]["msg"] == "All assertions passed"
    assert applied(api) == NAMES


def test_a_local_copy_with_other_bytes_is_refused_before_anything_is_applied(api, tmp_path):
    """A file left at calico_crds_path (air-gapped, or an unchecked download of an earlier run)."""
    path = tmp_path / "cache" / "crds.yaml"
    path.parent.mkdir()
    path.write_bytes(CRDS)
    code, failed, _, out = run_tasks(api, tmp_path, "crds.yml", calico_crds_path=str(path))
    assert code != 0, out
    message = failed["Check the CRDs on the controller against calico_crds_checksum"]
    assert message.startswith(f"calico: {path} has sha256 {CRDS_SHA256}, not ")
    assert "Delete it to download" in message
    assert path.read_bytes() == CRDS
    assert applied(api) == []
