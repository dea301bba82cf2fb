"""The cluster on nodes in the shape of Vagrant VMs (podman_nat_interface in this scenario's topology):
a NAT interface first, with the default route, and the lab network second. Labs on Vagrant classically
break by letting kubelet, the API server or the pod network pick the NAT side; here every part of the
cluster must stay on the lab network. MetalLB's L2 answers are proven by test_apps.py, whose requests
from this host reach the load-balancer address over the lab network's bridge only."""

import ipaddress
import json

import pytest
from cluster import MASTER, NODES, TOPOLOGY, kubectl, kubectl_json, node

LAB = ipaddress.IPv4Network(TOPOLOGY.group_vars["lab_subnet"])


def interfaces(name: str) -> dict[str, list[ipaddress.IPv4Interface]]:
    links = json.loads(node(name).check_output("ip -j -4 address show"))
    return {link["ifname"]: [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}") for a in link["addr_info"]]
            for link in links}


def nat_address(name: str) -> ipaddress.IPv4Address:
    return interfaces(name)["eth0"][0].ip


def test_the_scenario_asks_for_the_vagrant_shape():
    assert TOPOLOGY.nat_interface is True


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_nat_interface_is_first_and_holds_the_default_route(name):
    found = interfaces(name)
    assert [i.ip for i in found["eth1"]] == [ipaddress.IPv4Address(NODES[name].ip)]
    assert found["eth0"] and not any(i.ip in LAB for i in found["eth0"])
    default = json.loads(node(name).check_output("ip -j -4 route show default"))
    assert [(r["dev"], ipaddress.IPv4Address(r["gateway"]) in found["eth0"][0].network) for r in default] == \
        [("eth0", True)]


def test_every_node_address_is_on_the_lab_network():
    for item in kubectl_json("get", "nodes")["items"]:
        addresses = [a["address"] for a in item["status"]["addresses"] if a["type"].endswith("IP")]
        assert addresses == [NODES[item["metadata"]["name"]].ip], item["metadata"]["name"]


def test_the_api_server_advertises_its_lab_address():
    endpoints = kubectl_json("-n", "default", "get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes")
    advertised = {a for s in endpoints["items"] for e in s["endpoints"] for a in e["addresses"]}
    assert advertised == {NODES[MASTER].ip}


@pytest.mark.parametrize("name", sorted(NODES))
def test_the_api_server_reaches_each_kubelet(name):
    """kubectl logs goes from the API server to the node's kubelet, at the address the node reports."""
    pods = kubectl_json("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy",
                        "--field-selector", f"spec.nodeName={name}")["items"]
    assert len(pods) == 1
    assert kubectl("-n", "kube-system", "logs", "--tail", "5", pods[0]["metadata"]["name"]).strip()


@pytest.mark.parametrize("name", sorted(NODES))
def test_kube_proxy_takes_the_lab_address_as_its_node_ip(name):
    pod = kubectl_json("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-proxy",
                       "--field-selector", f"spec.nodeName={name}")["items"][0]
    log = kubectl("-n", "kube-system", "logs", pod["metadata"]["name"])
    assert NODES[name].ip in log
    assert str(nat_address(name)) not in log


@pytest.mark.parametrize("name", sorted(NODES))
def test_routes_to_other_nodes_pods_go_over_the_lab_network(name):
    routes = json.loads(node(name).check_output("ip -j -4 route show"))
    others = {item["metadata"]["name"]: item["spec"]["podCIDR"] for item in kubectl_json("get", "nodes")["items"]
              if item["metadata"]["name"] != name}
    for other, cidr in others.items():
        assert [(r.get("gateway"), r.get("dev")) for r in routes if r["dst"] == cidr] == \
            [(NODES[other].ip, "eth1")], other
