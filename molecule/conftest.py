"""Shared by every scenario's testinfra tests (pytest loads it for all of molecule/*/tests).

testinfra's ansible backend has no native mapping for ansible's podman connection, so every
command would start a whole ansible run. Commands go through `podman exec` into the same
container instead, and host.ansible (variables, modules) stays on the ansible backend.
"""

import pytest
import testinfra


@pytest.fixture(scope="module")
def host(_testinfra_host):
    backend = _testinfra_host.backend
    if backend.NAME != "ansible":
        return _testinfra_host
    hostvars = backend.get_variables()
    if hostvars.get("ansible_connection") not in ("podman", "containers.podman.podman"):
        return _testinfra_host
    fast = testinfra.get_host(f"podman://{backend.host}")
    fast.ansible = _testinfra_host.ansible
    return fast
