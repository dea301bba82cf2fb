"""containerd (CRI for kubeadm), Docker Engine and crictl on the node, checked live."""

import json
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

ROLE_DEFAULTS = Path(__file__).resolve().parents[3] / "roles" / "docker" / "defaults" / "main.yml"
HELPERS = "/usr/local/libexec/k8s-lab-test"
WORK_DIR = "/var/lib/k8s-lab-test"
ROOTFS_TAR = f"{WORK_DIR}/test-double-rootfs.tar"
OCI_TAR = f"{WORK_DIR}/test-double-oci.tar"
CTR_NAMESPACE = "k8s-lab-test"


@pytest.fixture(scope="module")
def role_vars(host):
    """The role's defaults overlaid with the scenario's inventory, as the role sees them."""
    values = yaml.safe_load(ROLE_DEFAULTS.read_text(encoding="utf-8"))
    values.update(host.ansible.get_variables())
    return values


@pytest.fixture(scope="module")
def test_image(host, role_vars):
    """Build the test-double image on the node (no registry is reachable) and return its name."""
    reference = role_vars["docker_test_image"]
    build = host.run(f"{HELPERS}/build_test_double_image.py /bin/busybox {reference} {ROOTFS_TAR} {OCI_TAR}")
    assert build.rc == 0, build.stderr
    return reference


def run_ok(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.stdout


def cri_runtime_options(config):
    """runc's options in a containerd config (schema 2 or 3), as parsed from TOML."""
    plugins = config["plugins"]
    if config.get("version", 1) >= 3:
        runtime = plugins["io.containerd.cri.v1.runtime"]
    else:
        runtime = plugins["io.containerd.grpc.v1.cri"]
    return runtime["containerd"]["runtimes"]["runc"]["options"]


def sandbox_image(config):
    plugins = config["plugins"]
    if config.get("version", 1) >= 3:
        return plugins["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"]
    return plugins["io.containerd.grpc.v1.cri"]["sandbox_image"]


@pytest.mark.parametrize("service", ["containerd", "docker"])
def test_service_running_and_enabled(host, service):
    unit = host.service(service)
    assert unit.is_running
    assert unit.is_enabled


def test_containerd_live_config_is_kubeadm_ready(host, role_vars):
    config = tomllib.loads(run_ok(host, "containerd config dump"))
    assert "cri" not in config.get("disabled_plugins", [])
    assert "io.containerd.grpc.v1.cri" not in config.get("disabled_plugins", [])
    assert cri_runtime_options(config)["SystemdCgroup"] is True
    assert sandbox_image(config) == role_vars["docker_containerd_sandbox_image"]


def test_cri_plugin_loaded(host):
    rows = [line.split() for line in run_ok(host, "ctr plugins ls").splitlines()]
    cri = [row for row in rows if row[:2] == ["io.containerd.grpc.v1", "cri"]]
    assert cri and cri[0][-1] == "ok", cri


def test_crictl_config_points_at_containerd(host, role_vars):
    config = yaml.safe_load(host.file("/etc/crictl.yaml").content_string)
    endpoint = "unix://" + role_vars["docker_containerd_socket"]
    assert config["runtime-endpoint"] == endpoint
    assert config["image-endpoint"] == endpoint


def test_crictl_installed_from_archive(host, role_vars):
    crictl = f"{role_vars['docker_crictl_install_dir']}/crictl"
    assert host.file(crictl).mode == 0o755
    assert run_ok(host, f"{crictl} --version").split()[-1] == role_vars["docker_crictl_version"]


def test_cri_socket_answers_version(host):
    # crictl here is the test double: the answer itself comes from containerd's CRI over gRPC.
    lines = dict(line.split(":", 1) for line in run_ok(host, "crictl version").splitlines() if ":" in line)
    assert lines["RuntimeName"].strip() == "containerd"
    assert lines["RuntimeApiVersion"].strip() == "v1"


def test_cri_reports_ready_runtime_with_configured_settings(host, role_vars):
    info = json.loads(run_ok(host, "crictl info"))
    conditions = {c["type"]: c["status"] for c in info["status"]["conditions"]}
    assert conditions["RuntimeReady"] is True
    config = info["config"]
    assert config["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert config["containerd"]["snapshotter"] == role_vars["docker_containerd_snapshotter"]
    assert config["sandboxImage"] == role_vars["docker_containerd_sandbox_image"]
    assert config["registry"]["configPath"] == role_vars["docker_containerd_registry_config_dir"]


def test_containerd_registry_hosts(host, role_vars):
    base = role_vars["docker_containerd_registry_config_dir"]
    mirrors = tomllib.loads(host.file(f"{base}/docker.io/hosts.toml").content_string)
    assert list(mirrors["host"]) == role_vars["docker_registry_mirrors"]
    for registry in role_vars["docker_insecure_registries"]:
        hosts = tomllib.loads(host.file(f"{base}/{registry}/hosts.toml").content_string)
        assert hosts["host"][f"https://{registry}"]["skip_verify"] is True


def test_docker_daemon_uses_configured_settings(host, role_vars):
    info = json.loads(run_ok(host, "docker info --format '{{json .}}'"))
    assert info["CgroupDriver"] == "systemd"
    assert info["LoggingDriver"] == "json-file"
    mirrors = [m.rstrip("/") for m in info["RegistryConfig"]["Mirrors"]]
    assert mirrors == role_vars["docker_registry_mirrors"]
    for registry in role_vars["docker_insecure_registries"]:
        assert info["RegistryConfig"]["IndexConfigs"][registry]["Secure"] is False


def test_container_runs_through_docker(host, role_vars, test_image):
    run_ok(host, f"docker import {ROOTFS_TAR} {test_image}")
    name = f"k8s-lab-test-{uuid.uuid4().hex[:8]}"
    try:
        out = run_ok(host, f"docker run --name {name} {test_image} /bin/busybox echo {name}")
        assert out.strip() == name
        log_config = json.loads(run_ok(host, f"docker inspect --format '{{{{json .HostConfig.LogConfig}}}}' {name}"))
        assert log_config["Type"] == "json-file"
        assert log_config["Config"] == {
            "max-size": str(role_vars["docker_log_max_size"]),
            "max-file": str(role_vars["docker_log_max_file"]),
        }
    finally:
        host.run(f"docker rm -f {name}")


def test_container_runs_through_containerd(host, role_vars, test_image):
    run_ok(host, f"ctr -n {CTR_NAMESPACE} images import {OCI_TAR}")
    name = f"k8s-lab-test-{uuid.uuid4().hex[:8]}"
    # The systemd cgroup manager, as the CRI plugin is configured to use for the kubelet.
    out = run_ok(
        host,
        f"ctr -n {CTR_NAMESPACE} run --rm --snapshotter {role_vars['docker_containerd_snapshotter']}"
        f" --runc-systemd-cgroup --cgroup system.slice:k8s-lab-test:{name}"
        f" {test_image} {name} /bin/busybox cat /proc/self/cgroup",
    )
    assert f"/system.slice/k8s-lab-test-{name}.scope" in out


def test_docker_users_run_docker_without_sudo(host, role_vars, test_image):
    run_ok(host, f"docker import {ROOTFS_TAR} {test_image}")
    assert role_vars["docker_users"], "the scenario must check at least one docker user"
    for user in role_vars["docker_users"]:
        assert "docker" in host.user(user).groups
        assert run_ok(host, f"runuser -u {user} -- id -u").strip() != "0"
        run_ok(host, f"runuser -u {user} -- docker ps")
        out = run_ok(host, f"runuser -u {user} -- docker run --rm {test_image} /bin/busybox echo {user}")
        assert out.strip() == user
