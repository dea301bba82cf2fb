"""Which checks run in which of the scenario's two verifies.

converge builds the cluster at the topology's release, the previous minor (inventory/topology.yml:
"1.36", v1.36.3). The first verify sees the cluster exactly as site.yml built it; the second follows
side_effect.yml (every node container restarted, the lab after a laptop reboot) and starts with
test_upgrade.py, which upgrades the cluster to the bundle's pin (v1.37.2) with playbooks/upgrade.yml:
every check after it runs on the upgraded cluster (cluster.RELEASE says which release to expect).
test_cluster.py runs in both: on the built cluster, then on the upgraded one.
test_bundle.py runs in the first only: the installed files and images do not change with a restart,
and its tampered-bundle run needs doing once; so does test_network_shape.py (the nodes' interfaces).
test_guards.py too, after test_cluster.py: its refused resets need doing once, and the control plane
it takes down and brings back is checked again by the second verify's test_cluster.py.
test_upgrade.py, the day-2 checks (DAY2: one feature a file, day2.py holds what they share) and then
test_apps.py run in the second only: the day-2 checks drain nodes, stop services and roll
workloads, so they start from the restarted, upgraded lab, and MetalLB comes after them (ORDER, not
the files' names) so that its pods change nothing they drain.
test_etcd.py then restores etcd, and test_cert_expiry.py, last, lets every certificate end and has
recover.yml bring the lab back.
side_effect.yml leaves a mark in Molecule's ephemeral directory; create.yml removes it. Molecule
names every test file on pytest's command line, which collect_ignore does not filter, so the files
are deselected here (pytest reports them as deselected, never as skipped)."""

import pytest
from cluster import RESTARTED, WORKERS, import_test_image

FIRST_VERIFY_ONLY = {"test_bundle.py", "test_network_shape.py", "test_guards.py"}
# The day-2 checks, one feature a file, in this order.
DAY2 = ["test_drain.py", "test_exercises.py", "test_health_recover.py", "test_maintenance.py",
        "test_add_remove_reset.py"]
SECOND_VERIFY_ONLY = {"test_upgrade.py", *DAY2, "test_apps.py", "test_etcd.py", "test_cert_expiry.py"}
ORDER = ["test_bundle.py", "test_network_shape.py", "test_upgrade.py", "test_cluster.py", "test_guards.py",
         *DAY2, "test_apps.py", "test_etcd.py", "test_cert_expiry.py"]


def pytest_collection_modifyitems(config, items):
    elsewhere = FIRST_VERIFY_ONLY if RESTARTED.exists() else SECOND_VERIFY_ONLY
    later = [item for item in items if item.path.name in elsewhere]
    if later:
        items[:] = [item for item in items if item.path.name not in elsewhere]
        config.hook.pytest_deselected(items=later)
    # Stable: the tests of one file keep their order.
    items.sort(key=lambda item: ORDER.index(item.path.name))


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Both tags of the local test image on every worker (the day-2 checks' workloads)."""
    workdir = tmp_path_factory.mktemp("images")
    for tag in ("v1", "v2"):
        import_test_image(tag, WORKERS, workdir)
