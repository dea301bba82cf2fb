"""command_flags: a static pod's settings read from its command."""

from ansible_collections.k8s_lab.lab.plugins.filter.command_flags import command_flags


def test_the_flags_of_kubeadms_etcd_command():
    command = ["etcd", "--advertise-client-urls=https://192.168.1.10:2379", "--data-dir=/var/lib/etcd",
               "--initial-cluster=m-k8s=https://192.168.1.10:2380", "--name=m-k8s", "--snapshot-count=10000",
               "--client-cert-auth=true"]
    flags = command_flags(command)
    assert flags["name"] == "m-k8s"
    assert flags["data-dir"] == "/var/lib/etcd"
    # The value keeps its own '=' signs.
    assert flags["initial-cluster"] == "m-k8s=https://192.168.1.10:2380"
    assert "etcd" not in flags


def test_bare_flags_repeats_and_other_words():
    assert command_flags(["kube-apiserver", "--v", "-x", "--", "plain", "--a=1", "--a=2", 7]) == {"v": True, "a": "2"}
    assert command_flags(None) == {}
