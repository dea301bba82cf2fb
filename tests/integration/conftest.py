"""Integration tests run the project's scripts against real artifacts (the built bundle, real nodes)."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
# bundler.versions checks the topology with the collection's inventory plugin.
sys.path.insert(0, str(ROOT / "collections"))
sys.path.insert(0, str(ROOT / "tests"))


@pytest.fixture(scope="session")
def bundle_dir() -> Path:
    """The bundle `make bundle` built; `make test` builds it before the tests run."""
    path = Path(os.environ.get("LAB_BUNDLE_DIR") or ROOT / ".cache" / "bundle")
    assert (path / "manifest.json").is_file(), f"no bundle in {path}: run `make bundle` first"
    return path
