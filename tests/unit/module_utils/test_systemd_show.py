"""module_utils/systemd_show: `systemctl show` by unit (the recover role's service repair)."""

from ansible_collections.k8s_lab.lab.plugins.filter.systemd_units import FilterModule, systemd_units

SHOWN = """Id=kubelet.service
LoadState=loaded
UnitFileState=enabled
ActiveState=inactive

Id=containerd.service
LoadState=loaded
UnitFileState=disabled
ActiveState=active

Id=docker.service
LoadState=not-found
UnitFileState=
ActiveState=inactive"""


def test_each_unit_by_its_name_without_the_suffix():
    units = systemd_units(SHOWN)
    assert list(units) == ["kubelet", "containerd", "docker"]
    assert units["kubelet"] == {"Id": "kubelet.service", "LoadState": "loaded", "UnitFileState": "enabled",
                                "ActiveState": "inactive"}
    assert units["docker"]["UnitFileState"] == ""


def test_a_value_with_an_equals_sign_is_kept_whole():
    assert systemd_units("Id=a.service\nExecStart=/bin/x --opt=1")["a"]["ExecStart"] == "/bin/x --opt=1"


def test_a_block_without_an_id_and_no_output_give_nothing():
    assert systemd_units("LoadState=loaded") == {}
    assert systemd_units("") == {}


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"systemd_units": systemd_units}
