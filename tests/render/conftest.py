"""The application renders (apps_lib) go to pytest's temporary directory of the run: under pytest-xdist
the one all workers share (each worker's own is a directory in it), so a variant is rendered once."""

import os

import apps_lib
import pytest


@pytest.fixture(scope="session", autouse=True)
def apps_render_root(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    apps_lib.RENDER_ROOT = base / "apps-render"
