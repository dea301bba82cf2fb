"""The order of the reboot scenario's checks, said here rather than left to file names:
test_reboot.py first (the persistence checks see the VM exactly as the reboot left it), then
test_recover.py (it breaks what a reboot or a suspend breaks, and recovers it)."""

ORDER = ["test_reboot.py", "test_recover.py"]


def pytest_collection_modifyitems(items):
    # Stable: the tests of one file keep their order. A file not in ORDER stops the run here.
    unknown = sorted({item.path.name for item in items} - set(ORDER))
    if unknown:
        raise ValueError(f"molecule/reboot/tests/conftest.py: place {', '.join(unknown)} in ORDER")
    items.sort(key=lambda item: ORDER.index(item.path.name))
